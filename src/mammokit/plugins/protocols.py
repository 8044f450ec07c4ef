"""What each kind of component must be: one Protocol per registry hook.

A hook returns :class:`~mammokit.Component` records; ``factory(...)`` builds the component,
and the built object must satisfy the Protocol of its hook (:data:`HOOK_PROTOCOLS`). The
manager checks it when a component is first built (:func:`check_contract`), so a plugin
author meets a mismatch as a :class:`~mammokit.PluginError` naming the plugin, the hook and
what is missing, not deep in a batch. The Protocols are also what mypy checks a plugin
against.

Besides the hook contracts, a component may declare a *capability*: a further Protocol
that the image chain (:mod:`mammokit.preprocess.chain`) tests with ``isinstance`` and then
uses, for a faster or different order of the stages: :class:`ValuesRoiExtractor`,
:class:`CropWindowing`, :class:`MeanTableWindowing`, :class:`PaddingWindowing`,
:class:`PlacingPadder`. The built-ins
declare them exactly as a plugin would; a component that declares none gets the exact order.

These are contracts only; this module imports no image or training library.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mammokit.core.images import CropBox, DecodedImage, ImageMeta, WindowedImage
    from mammokit.dicom.safety import Limits

__all__ = [
    "HOOK_PROTOCOLS",
    "Backbone",
    "CropWindowing",
    "Decoder",
    "ExternalDataset",
    "Loss",
    "MeanTableWindowing",
    "Metric",
    "Padder",
    "PaddingWindowing",
    "PlacingPadder",
    "PretrainingMethod",
    "RoiExtractor",
    "SamplingStrategy",
    "ThresholdPolicy",
    "ValuesRoiExtractor",
    "WindowingMethod",
    "check_contract",
    "contract_problems",
]


@runtime_checkable
class Decoder(Protocol):
    """``mammokit_decoders``: reads one file's stored pixel values."""

    def decode(
        self,
        path: Path,
        *,
        min_shape: tuple[int, int] | None = None,
        limits: Limits | None = None,
    ) -> DecodedImage:
        """``path`` -> :class:`~mammokit.DecodedImage`: ``(H, W)`` stored values in
        pydicom's dtype; raises ``DicomDecodeError(path, cause)``."""
        ...


@runtime_checkable
class WindowingMethod(Protocol):
    """``mammokit_windowing_methods``: stored values -> display values."""

    def __call__(self, decoded: DecodedImage, /) -> WindowedImage:
        """``(H, W)`` stored values -> ``(H, W)`` uint8/uint16, 0 is black."""
        ...


@runtime_checkable
class RoiExtractor(Protocol):
    """``mammokit_roi_extractors``: where the breast is. May carry a ``fallback`` tuple of
    extractor names to try when it returns None."""

    def __call__(self, pixels: np.ndarray, /) -> CropBox | None:
        """``(H, W)`` uint8/uint16, breast on the left -> a box, or None (no usable box)."""
        ...


@runtime_checkable
class Padder(Protocol):
    """``mammokit_padders``: pads a crop to the target aspect."""

    def __call__(self, pixels: np.ndarray, aspect: float, background: int, /) -> np.ndarray:
        """``(H, W)`` -> ``(H', W')`` of the same dtype with ``H' / W' == aspect``, new
        pixels set to ``background``."""
        ...


# --- capabilities: what the image chain may use when a component declares it ---------------


@runtime_checkable
class ValuesRoiExtractor(Protocol):
    """An ROI extractor that finds the breast on the *modality values*, before windowing.

    The chain then decodes, calls :meth:`reduce`, :meth:`mask` and :meth:`box`, and windows
    only the crop; the side comes from the mask (or the reduced values). Its fallbacks run
    on the same reduced values. Without it, the whole image is windowed first and the
    extractor is called on display values.
    """

    def reduce(self, decoded: DecodedImage, /) -> tuple[np.ndarray, int]:
        """``(H, W)`` stored values -> ``((h, w)`` values with the breast bright, ``step)``:
        a copy of every ``step``-th row and column."""
        ...

    def mask(self, values: np.ndarray, /) -> np.ndarray | None:
        """``(h, w)`` reduced values (either breast side) -> ``(h, w)`` bool breast mask, or
        None when none is found."""
        ...

    def box(self, values: np.ndarray, mask: np.ndarray | None, /) -> CropBox | None:
        """Reduced values and mask, both breast-left -> the box in them, or None."""
        ...


@runtime_checkable
class CropWindowing(Protocol):
    """A windowing method that can window a crop exactly as its whole image.

    A method whose window depends on the pixels (a default window from percentiles) would
    window a crop differently from the whole image. The chain, which windows only the crop,
    first asks it for the window of the whole image written into the header.
    """

    def whole_image_meta(self, decoded: DecodedImage, /) -> ImageMeta:
        """``decoded.meta`` with whatever windowing all of ``decoded`` would compute from
        its pixels written in (or unchanged when nothing is)."""
        ...


@runtime_checkable
class MeanTableWindowing(Protocol):
    """A windowing method that can window *block means* of stored values through a table.

    Then the chain averages the stored values of each block of a crop that is reduced
    before resizing and windows the means, instead of windowing the full-resolution crop
    and averaging display values (the same up to blocks straddling a bend of the window).
    """

    def table_of_means(self, meta: ImageMeta, means: np.ndarray, /) -> np.ndarray | None:
        """``(N,) float`` mean stored values -> ``(N,)`` uint8 (max 255) or uint16 (max
        65535) display values, or None when it cannot (the chain windows the pixels)."""
        ...


@runtime_checkable
class PaddingWindowing(Protocol):
    """A :class:`MeanTableWindowing` method that names the stored values it shows as 0
    (Pixel Padding Value: background).

    Then its ``table_of_means`` windows the means of blocks without padding (it need not
    return None for a file with padding), and the chain sets blocks of padding only to 0 and
    windows the blocks that mix padding and tissue pixel by pixel, in the exact order.
    """

    def padding_range(self, meta: ImageMeta, /) -> tuple[int, int] | None:
        """The stored values ``(low, high)``, both included, shown as 0; None when none is."""
        ...


@runtime_checkable
class PlacingPadder(Protocol):
    """A padder that says where a crop goes on its padded canvas (background 0 around it).

    Then the chain may box-reduce a large crop and resize it in place on the canvas
    (:func:`~mammokit.preprocess.resize.resize_placed`) without building the padded crop.
    """

    def placement(
        self, shape: tuple[int, int], aspect: float, /
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        """A crop of ``shape`` ``(h, w)`` padded to ``aspect`` -> ``((H', W'), (y, x))``: the
        padded frame and the crop's top-left corner in it, as ``__call__`` pads."""
        ...


@runtime_checkable
class SamplingStrategy(Protocol):
    """``mammokit_sampling_strategies``: which rows an epoch trains on."""

    @property
    def class_weight(self) -> Mapping[int, float] | None:
        """``{0: w0, 1: w1}`` loss weights per class, or None."""
        ...

    def plan(self, labels: np.ndarray, *, epoch: int, seed: int, batch_size: int) -> np.ndarray:
        """``(N,) int`` labels -> ``(M,)`` row indices, deterministic in seed and epoch."""
        ...


@runtime_checkable
class ExternalDataset(Protocol):
    """``mammokit_external_datasets``: the factory returns the dataset's table, a pandas
    DataFrame with at least ``path``, ``cancer``, ``patient_id`` and ``source``."""

    @property
    def columns(self) -> pd.Index:
        """The table's column names."""
        ...


@runtime_checkable
class Backbone(Protocol):
    """``mammokit_backbones``: a Keras model ``(B, H, W, 3) float32 -> (B, h, w, F)``."""

    @property
    def layers(self) -> list[Any]:
        """The model's layers (Grad-CAM explains the last 4-D one)."""
        ...

    def __call__(self, inputs: Any, /) -> Any:
        """A batch of images -> the feature map."""
        ...


@runtime_checkable
class Loss(Protocol):
    """``mammokit_losses``: a Keras loss on probabilities."""

    def __call__(self, y_true: Any, y_pred: Any, /) -> Any:
        """``(B, 1)`` targets and ``(B, 1)`` probabilities -> a scalar."""
        ...


@runtime_checkable
class ThresholdPolicy(Protocol):
    """``mammokit_threshold_policies``: the breast-score threshold."""

    def __call__(self, scores: np.ndarray, /) -> float | None:
        """``(N,) float`` breast scores -> the threshold (positive above it), or None to
        write probabilities."""
        ...


@runtime_checkable
class Metric(Protocol):
    """``mammokit_metrics``: a score of predictions against labels (NaN when undefined)."""

    def __call__(self, labels: np.ndarray, scores: np.ndarray, /) -> float:
        """``(N,) {0, 1}`` labels and ``(N,) float`` scores -> a float."""
        ...


@runtime_checkable
class PretrainingMethod(Protocol):
    """``mammokit_pretraining_methods``: a self-supervised objective around an encoder."""

    def build(self, encoder: Any, stem: Any, /, *, seed: int) -> Any:
        """The self-supervised Keras model around ``encoder`` (the backbone, ``(B, H, W, 3)
        -> (B, h, w, F)``), built; ``stem`` is the layer ``(B, H, W, 1) -> (B, H, W, 3)``
        that fine-tuning puts in front of it. Its ``train_step`` takes ``(B, H, W, 1)
        float32`` images in [0, 1] and returns ``{"loss": ...}``; its randomness comes from
        ``(seed, optimizer.iterations)``."""
        ...


#: The Protocol the built component of each registry hook must satisfy.
HOOK_PROTOCOLS: dict[str, type] = {
    "mammokit_decoders": Decoder,
    "mammokit_windowing_methods": WindowingMethod,
    "mammokit_roi_extractors": RoiExtractor,
    "mammokit_padders": Padder,
    "mammokit_sampling_strategies": SamplingStrategy,
    "mammokit_external_datasets": ExternalDataset,
    "mammokit_backbones": Backbone,
    "mammokit_losses": Loss,
    "mammokit_threshold_policies": ThresholdPolicy,
    "mammokit_metrics": Metric,
    "mammokit_pretraining_methods": PretrainingMethod,
}


def _members(protocol: type) -> tuple[list[str], list[str]]:
    """``(methods, attributes)`` a Protocol declares, ``__call__`` included."""
    methods, attributes = [], []
    for name, value in vars(protocol).items():
        if name.startswith("_") and name != "__call__":
            continue
        if isinstance(value, property):
            attributes.append(name)
        elif inspect.isfunction(value):
            methods.append(name)
    attributes += [a for a in getattr(protocol, "__annotations__", {}) if not a.startswith("_")]
    return methods, attributes


def _call_shape(method: Any) -> tuple[int, list[str]]:
    """How the contract calls ``method``: ``(required positional count, required
    keyword-only names)``; parameters with defaults are not required."""
    positional, keywords = 0, []
    for parameter in list(inspect.signature(method).parameters.values())[1:]:  # skip self
        if parameter.default is not inspect.Parameter.empty:
            continue
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            positional += 1
        elif parameter.kind is parameter.KEYWORD_ONLY:
            keywords.append(parameter.name)
    return positional, keywords


def contract_problems(built: object, protocol: type) -> list[str]:
    """What ``built`` lacks to satisfy ``protocol``: missing methods or attributes, and
    methods that cannot be called the way the contract calls them. Empty when it fits."""
    methods, attributes = _members(protocol)
    problems = [f"attribute {a!r} is missing" for a in attributes if not hasattr(built, a)]
    for name in methods:
        member = built if name == "__call__" else getattr(built, name, None)
        if not callable(member):
            what = "it is not callable" if name == "__call__" else f"method {name!r} is missing"
            problems.append(what)
            continue
        positional, keywords = _call_shape(getattr(protocol, name))
        try:
            signature = inspect.signature(member)
        except (TypeError, ValueError):  # a builtin without a signature: cannot check
            continue
        try:
            signature.bind(*[None] * positional, **dict.fromkeys(keywords))
        except TypeError as err:
            shown = "__call__" if name == "__call__" else name
            expected = str(inspect.signature(getattr(protocol, name))).replace("self, ", "")
            problems.append(f"{shown}{signature} cannot be called as {shown}{expected}: {err}")
    return problems


def check_contract(built: object, hook_name: str) -> list[str]:
    """:func:`contract_problems` of ``built`` against its hook's Protocol."""
    return contract_problems(built, HOOK_PROTOCOLS[hook_name])
