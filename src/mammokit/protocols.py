"""What each kind of component must be: one Protocol per registry hook.

A hook returns :class:`~mammokit.Component` records; ``factory(...)`` builds the component,
and the built object must satisfy the Protocol of its hook (:data:`HOOK_PROTOCOLS`). The
manager checks it when a component is first built (:func:`check_contract`), so a plugin
author meets a mismatch as a :class:`~mammokit.PluginError` naming the plugin, the hook and
what is missing, not deep in a batch. The Protocols are also what mypy checks a plugin
against.

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

    from mammokit.dicom.limits import Limits
    from mammokit.images import CropBox, DecodedImage, WindowedImage

__all__ = [
    "HOOK_PROTOCOLS",
    "Backbone",
    "Decoder",
    "ExternalDataset",
    "Loss",
    "Metric",
    "Padder",
    "RoiExtractor",
    "SamplingStrategy",
    "ThresholdPolicy",
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
