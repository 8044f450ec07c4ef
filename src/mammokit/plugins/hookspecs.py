"""Every hook specification of mammokit, in one place.

All hooks are *registry hooks*: each plugin returns a list of named component records, the
manager collects them all (calling mode "all results are collected"), rejects duplicate
names, and a config picks one by name. No hook uses ``firstresult``: mammokit never lets
registration order decide which component runs. The automatic decoder choice, for example,
ranks the registered decoders by what they declare (see :class:`DecoderComponent`).

Hooks are called with keyword arguments only. A hook may gain arguments in a later
release, never lose them; an implementation may accept a subset of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from mammokit.plugins.components import Component, DecoderComponent
    from mammokit.plugins.protocols import (
        Backbone,
        ExternalDataset,
        Loss,
        Metric,
        Padder,
        PretrainingMethod,
        RoiExtractor,
        SamplingStrategy,
        ThresholdPolicy,
        WindowingMethod,
    )

PROJECT_NAME = "mammokit"

_hookspec = pluggy.HookspecMarker(PROJECT_NAME)

#: Marker for hook implementations: ``@mammokit.hookimpl``. It lives beside the spec
#: marker, so a plugin module imports only the specs, never the manager.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: The names of the registry hooks, which are the stable API, mapped to the
#: singular noun used in messages.
REGISTRY_HOOKS: dict[str, str] = {
    "mammokit_decoders": "decoder",
    "mammokit_windowing_methods": "windowing method",
    "mammokit_roi_extractors": "ROI extractor",
    "mammokit_padders": "padder",
    "mammokit_sampling_strategies": "sampling strategy",
    "mammokit_external_datasets": "external dataset",
    "mammokit_backbones": "backbone",
    "mammokit_losses": "loss",
    "mammokit_threshold_policies": "threshold policy",
    "mammokit_metrics": "metric",
    "mammokit_pretraining_methods": "pretraining method",
}


@_hookspec
def mammokit_decoders() -> Sequence[DecoderComponent]:
    """Register pixel decoders.

    Calling mode: all results are collected; names must be unique across plugins.

    Contract: the built component is a :class:`mammokit.plugins.protocols.Decoder`,
    checked when it is first built (a mismatch is a :class:`~mammokit.PluginError`).

    Arguments: none yet (a hook may gain keyword arguments, never lose them).

    Returns:
        A list of :class:`~mammokit.DecoderComponent`. ``factory()`` returns an object with
        ``decode(path, *, min_shape=None, limits=None) -> DecodedImage``.

    .. versionadded:: 0.1.0

    Example::

        @mammokit.hookimpl
        def mammokit_decoders():
            return [DecoderComponent("mydec", "My fast decoder", MyDecoder,
                                     transfer_syntaxes={"1.2.840.10008.1.2.5"})]
    """


@_hookspec
def mammokit_windowing_methods() -> Sequence[Component[WindowingMethod]]:
    """Register windowing methods (stored values to display values).

    Calling mode: all results are collected; names must be unique across plugins.

    Contract: the built component is a :class:`mammokit.plugins.protocols.WindowingMethod`,
    checked when it is first built (a mismatch is a :class:`~mammokit.PluginError`).

    Arguments: none yet (a hook may gain keyword arguments, never lose them).

    Returns:
        A list of :class:`~mammokit.WindowingMethodComponent` (or plain
        :class:`~mammokit.Component`). ``factory(**options)`` returns a callable
        ``(DecodedImage) -> WindowedImage`` whose output has a dark background.

    .. versionadded:: 0.1.0

    Example::

        @mammokit.hookimpl
        def mammokit_windowing_methods():
            return [Component("clahe", "CLAHE after VOI LUT", make_clahe)]
    """


@_hookspec
def mammokit_roi_extractors() -> Sequence[Component[RoiExtractor]]:
    """Register region-of-interest extractors (where the breast is).

    Calling mode: all results are collected; names must be unique across plugins.

    Contract: the built component is a :class:`mammokit.plugins.protocols.RoiExtractor`,
    checked when it is first built (a mismatch is a :class:`~mammokit.PluginError`).

    Arguments: none yet (a hook may gain keyword arguments, never lose them).

    Returns:
        A list of :class:`~mammokit.RoiExtractorComponent` (or plain
        :class:`~mammokit.Component`). ``factory(**options)`` returns a callable
        ``(pixels: (H, W) uint8|uint16) -> CropBox | None``; None means "no usable box".

    .. versionadded:: 0.1.0

    Example::

        @mammokit.hookimpl
        def mammokit_roi_extractors():
            return [Component("yolox", "YOLOX breast detector", make_detector)]
    """


@_hookspec
def mammokit_padders() -> Sequence[Component[Padder]]:
    """Register padders, which bring a crop to the target aspect ratio.

    Calling mode: all results are collected; names must be unique across plugins.

    Contract: the built component is a :class:`mammokit.plugins.protocols.Padder`,
    checked when it is first built (a mismatch is a :class:`~mammokit.PluginError`).

    Arguments: none yet (a hook may gain keyword arguments, never lose them).

    Returns:
        A list of :class:`~mammokit.PadderComponent` (or plain
        :class:`~mammokit.Component`). ``factory(**options)`` returns a callable
        ``(pixels: (H, W), aspect: float, background: int) -> (H', W')`` of the same dtype.

    .. versionadded:: 0.1.0

    Example::

        @mammokit.hookimpl
        def mammokit_padders():
            return [Component("center_pad", "Pad on both sides", make_center_pad)]
    """


@_hookspec
def mammokit_sampling_strategies() -> Sequence[Component[SamplingStrategy]]:
    """Register sampling strategies that turn a training table into an epoch plan.

    Calling mode: all results are collected; names must be unique across plugins.

    Contract: the built component is a :class:`mammokit.plugins.protocols.SamplingStrategy`,
    checked when it is first built (a mismatch is a :class:`~mammokit.PluginError`).

    Arguments: none yet (a hook may gain keyword arguments, never lose them).

    Returns:
        A list of :class:`~mammokit.SamplingStrategyComponent` (or plain
        :class:`~mammokit.Component`). ``factory(**options)`` returns an object
        with ``plan(labels: (N,) int array, *, epoch: int, seed: int, batch_size: int)``
        giving the row order for that epoch, and a ``class_weight`` mapping or None.

    .. versionadded:: 0.1.0

    Example::

        @mammokit.hookimpl
        def mammokit_sampling_strategies():
            return [Component("oversample", "Repeat positives", Oversample)]
    """


@_hookspec
def mammokit_external_datasets() -> Sequence[Component[ExternalDataset]]:
    """Register external datasets whose images are added to training only.

    Calling mode: all results are collected; names must be unique across plugins.

    Contract: the built component is a :class:`mammokit.plugins.protocols.ExternalDataset`,
    checked when it is first built (a mismatch is a :class:`~mammokit.PluginError`).

    Arguments: none yet (a hook may gain keyword arguments, never lose them).

    Returns:
        A list of :class:`~mammokit.ExternalDatasetComponent` (or plain
        :class:`~mammokit.Component`). ``factory(path, **options)`` returns a
        table (pandas DataFrame) with at least ``path``, ``cancer``, ``patient_id`` and
        ``source`` columns.

    .. versionadded:: 0.1.0

    Example::

        @mammokit.hookimpl
        def mammokit_external_datasets():
            return [Component("cmmd", "The CMMD collection", read_cmmd)]
    """


@_hookspec
def mammokit_backbones() -> Sequence[Component[Backbone]]:
    """Register model backbones.

    Calling mode: all results are collected; names must be unique across plugins.

    Contract: the built component is a :class:`mammokit.plugins.protocols.Backbone`,
    checked when it is first built (a mismatch is a :class:`~mammokit.PluginError`).

    Arguments: none yet (a hook may gain keyword arguments, never lose them).

    Returns:
        A list of :class:`~mammokit.BackboneComponent` (or plain
        :class:`~mammokit.Component` when the backbone has only standard Keras layers).
        ``factory(input_shape, *, pretrained=None, **options)`` returns a Keras model
        mapping ``(B, H, W, C) float32`` to features. TensorFlow must be imported inside the
        factory, never at module import. A backbone with custom layers declares what loading
        its saved model needs (``load_modules``, ``custom_objects``), so that
        ``mammokit predict`` loads the run in a new process.

    .. versionadded:: 0.1.0

    Example::

        @mammokit.hookimpl
        def mammokit_backbones():
            return [BackboneComponent("effnet_b0", "EfficientNetB0", make_effnet,
                                      load_modules=("my_plugin.layers",))]
    """


@_hookspec
def mammokit_losses() -> Sequence[Component[Loss]]:
    """Register training losses.

    Calling mode: all results are collected; names must be unique across plugins.

    Contract: the built component is a :class:`mammokit.plugins.protocols.Loss`,
    checked when it is first built (a mismatch is a :class:`~mammokit.PluginError`).

    Arguments: none yet (a hook may gain keyword arguments, never lose them).

    Returns:
        A list of :class:`~mammokit.LossComponent` (or plain
        :class:`~mammokit.Component`). ``factory(**options)`` returns a Keras loss
        ``(y_true (B, 1), y_pred (B, 1) probabilities) -> scalar``.

    .. versionadded:: 0.1.0

    Example::

        @mammokit.hookimpl
        def mammokit_losses():
            return [Component("dice", "Soft Dice loss", make_dice)]
    """


@_hookspec
def mammokit_threshold_policies() -> Sequence[Component[ThresholdPolicy]]:
    """Register threshold policies that turn breast scores into 0/1 predictions.

    Calling mode: all results are collected; names must be unique across plugins.

    Contract: the built component is a :class:`mammokit.plugins.protocols.ThresholdPolicy`,
    checked when it is first built (a mismatch is a :class:`~mammokit.PluginError`).

    Arguments: none yet (a hook may gain keyword arguments, never lose them).

    Returns:
        A list of :class:`~mammokit.ThresholdPolicyComponent` (or plain
        :class:`~mammokit.Component`). ``factory(arg: str | None, *,
        positive_rate: float | None, oof_labels: (M,) int | None, oof_scores: (M,) float |
        None)`` returns a callable ``(scores: (N,) float) -> float | None``; None means
        "write probabilities". ``arg`` is the text after the colon in ``NAME:ARG``; the
        out-of-fold arrays are breast-level, aggregated like the scores.

    .. versionadded:: 0.1.0

    Example::

        @mammokit.hookimpl
        def mammokit_threshold_policies():
            return [Component("top_k", "Top k breasts positive", make_top_k)]
    """


@_hookspec
def mammokit_metrics() -> Sequence[Component[Metric]]:
    """Register evaluation metrics (plain numpy, no TensorFlow).

    Calling mode: all results are collected; names must be unique across plugins.

    Contract: the built component is a :class:`mammokit.plugins.protocols.Metric`,
    checked when it is first built (a mismatch is a :class:`~mammokit.PluginError`).

    Arguments: none yet (a hook may gain keyword arguments, never lose them).

    Returns:
        A list of :class:`~mammokit.MetricComponent` (or plain :class:`~mammokit.Component`).
        ``factory(**options)`` returns a callable ``(y_true: (N,) int {0, 1}, scores: (N,)
        float) -> float``, NaN when undefined; a ``MetricComponent`` with
        ``needs_threshold`` is called as ``factory(threshold=T, **options)`` with the
        threshold policy's ``T``. ``evaluate --metrics`` and ``TrainConfig.metrics`` choose
        metrics by name; they are computed per breast (and per image in training).

    .. versionadded:: 0.1.0

    Example::

        @mammokit.hookimpl
        def mammokit_metrics():
            return [MetricComponent("brier", "Brier score", lambda: brier_score,
                                    label="Brier score")]
    """


@_hookspec
def mammokit_pretraining_methods() -> Sequence[Component[PretrainingMethod]]:
    """Register self-supervised pretraining methods (``mammokit pretrain --method NAME``).

    Calling mode: all results are collected; names must be unique across plugins.

    Contract: the built component is a :class:`mammokit.plugins.protocols.PretrainingMethod`,
    checked when it is first built (a mismatch is a :class:`~mammokit.PluginError`).

    Arguments: none yet (a hook may gain keyword arguments, never lose them).

    Returns:
        A list of :class:`~mammokit.PretrainingMethodComponent` (or plain
        :class:`~mammokit.Component`). ``factory(**method_options)`` returns an object with
        ``build(encoder, stem, *, seed)``: a built Keras model around ``encoder`` (the
        backbone, ``(B, H, W, 3) -> (B, h, w, F)``; ``stem`` turns ``(B, H, W, 1)`` images
        in [0, 1] into its input) whose ``train_step`` takes a batch of images ``(B, H, W,
        1) float32``, computes its own loss and returns ``{"loss": ...}``, its randomness
        drawn from ``(seed, optimizer.iterations)`` so that a resumed run is exact. The
        encoder's weights are what the run writes. TensorFlow is imported inside ``build``.

    .. versionadded:: 0.1.0

    Example::

        @mammokit.hookimpl
        def mammokit_pretraining_methods():
            return [PretrainingMethodComponent("simclr", "SimCLR contrastive", SimCLR)]
    """
