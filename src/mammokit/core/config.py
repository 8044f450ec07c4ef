"""Configuration records and their TOML form.

One :class:`PreprocessConfig` drives preprocessing at training *and* at inference; it is
written to every preprocessed folder and every run directory and read back from there.
"""

from __future__ import annotations

import re
import sys
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import attrs

from mammokit.core.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "PredictConfig",
    "PredictOptions",
    "PreprocessConfig",
    "ReportOptions",
    "as_names",
    "as_size",
    "config_from_dict",
    "config_to_dict",
    "config_with",
    "load_toml",
    "name_hints",
    "options_with",
    "parse_size",
    "save_toml",
    "toml_value",
]

C = TypeVar("C")


_SIZE_TEXT = re.compile(r"^\s*(\d+)\s*[x\u00d7]\s*(\d+)\s*$", re.IGNORECASE)


def parse_size(
    value: Any, *, name: str = "size", minimum: tuple[int, int] = (8, 8)
) -> tuple[int, int]:
    """``"HxW"`` (or ``"H\u00d7W"``) or a pair of integers -> ``(H, W)``.

    Raises:
        ValueError: not two integers, or smaller than ``minimum``; the message names
            ``name`` and shows the expected form.
    """
    if isinstance(value, str):
        match = _SIZE_TEXT.match(value)
        if match is None:
            raise ValueError(f"{name} must be HEIGHTxWIDTH in pixels, e.g. 1024x512, got {value!r}")
        value = match.groups()
    try:
        height, width = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be HEIGHTxWIDTH or [height, width] in pixels, got {value!r}"
        ) from None
    if height < minimum[0] or width < minimum[1]:
        raise ValueError(f"{name} must be at least {minimum[0]}x{minimum[1]}, got {height}x{width}")
    return (height, width)


def as_size(value: Any) -> tuple[int, int]:
    return parse_size(value)


def _options(value: Any) -> dict[str, Any]:
    return dict(value or {})


def as_names(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"pf1, auc"`` or ``["pf1", "auc"]`` -> ``("pf1", "auc")`` (blanks dropped)."""
    items = value.split(",") if isinstance(value, str) else (value or ())
    return tuple(name for name in (str(item).strip() for item in items) if name)


def one_of(literal: Any) -> Any:
    """An attrs validator that accepts exactly the values of a ``Literal[...]`` type, so the
    type a checker sees and the values a config may hold are one list."""
    return attrs.validators.in_(typing.get_args(literal))


#: The preprocessed images' dtype.
OutputDtype = Literal["uint8", "uint16"]
#: Which side the breast is put on ("none": as stored).
FlipSide = Literal["left", "right", "none"]
#: Which source of the chest-wall side is trusted first (see ``PreprocessConfig.side_policy``).
SidePolicy = Literal["header", "table", "pixels"]
#: What is done with a FOR PROCESSING image (see ``PreprocessConfig.for_processing``).
ForProcessing = Literal["refuse", "window"]


@attrs.frozen
class PreprocessConfig:
    """How an image becomes model input. Every field is saved with the outputs.

    Attributes:
        size: output (height, width) in pixels.
        output_dtype: "uint8" or "uint16".
        decoder: a decoder name, or "auto" to pick per file the fastest correct one.
        window: the windowing method; ``window_options`` are passed to its factory.
        roi: the ROI extractor; ``roi_options`` are passed to its factory.
        padder: the padder; ``padder_options`` are passed to its factory.
        aspect: the height/width ratio to pad to; None means ``size[0] / size[1]``.
        flip: put the breast on the "left" or "right" side, or "none" to never flip.
        side_policy: which source says where the chest wall is in the stored image:
            "header" (default: the header's laterality, else the table's, else the
            pixels), "table" (the table, else the header, else the pixels) or "pixels"
            (the pixel rule always, e.g. for a dataset already flipped so that every chest
            wall is on the left whatever its laterality). Every disagreement is recorded
            in ``index.csv`` (``laterality_conflict``) and counted at the end of a run.
        for_processing: what to do with a ``FOR PROCESSING`` image (PresentationIntentType:
            raw detector values, meant for a vendor's own image processing, common in
            research archives): "refuse" (default: the image fails with a message naming
            this option) or "window" (window it as a FOR PRESENTATION image: its header's
            window if it has one, else the default window from its own values). The
            intent and the Presentation LUT Shape of every image are in ``index.csv``.
        roi_margin: extra margin around the crop, as a fraction of its size.
        output_mask: also return the breast mask (``Preprocessed.mask``), aligned with
            the output pixels; only ROI extractors with a mask (``breast_mask``) give one.
        max_pixels: largest rows*columns*frames accepted, checked from the header.
        max_bytes: largest decoded pixel data size in bytes, checked from the header.
    """

    size: tuple[int, int] = attrs.field(default=(1024, 512), converter=as_size)
    output_dtype: OutputDtype = attrs.field(default="uint8", validator=one_of(OutputDtype))
    decoder: str = "auto"
    decoder_options: dict[str, Any] = attrs.field(factory=dict, converter=_options)
    window: str = "voi_lut"
    window_options: dict[str, Any] = attrs.field(factory=dict, converter=_options)
    roi: str = "breast_mask"
    roi_options: dict[str, Any] = attrs.field(factory=dict, converter=_options)
    padder: str = "aspect_pad"
    padder_options: dict[str, Any] = attrs.field(factory=dict, converter=_options)
    aspect: float | None = attrs.field(default=None)
    flip: FlipSide = attrs.field(default="left", validator=one_of(FlipSide))
    side_policy: SidePolicy = attrs.field(default="header", validator=one_of(SidePolicy))
    for_processing: ForProcessing = attrs.field(default="refuse", validator=one_of(ForProcessing))
    roi_margin: float = attrs.field(default=0.0, converter=float)
    output_mask: bool = attrs.field(default=False, converter=bool)
    max_pixels: int = attrs.field(
        default=100_000_000, converter=int, validator=attrs.validators.gt(0)
    )
    max_bytes: int = attrs.field(default=1 << 30, converter=int, validator=attrs.validators.gt(0))

    @aspect.validator
    def _check_aspect(self, attribute: attrs.Attribute[float | None], value: float | None) -> None:
        if value is not None and not value > 0:
            raise ValueError(f"aspect must be positive, got {value}")

    @property
    def target_aspect(self) -> float:
        """The height/width ratio crops are padded to."""
        return float(self.aspect) if self.aspect is not None else self.size[0] / self.size[1]


#: Image -> breast score aggregation.
Aggregate = Literal["mean", "max"]
#: Score calibration fitted on a run's out-of-fold breasts.
Calibration = Literal["none", "platt", "isotonic"]
#: Test-time augmentation.
Tta = Literal["none", "hflip"]


@attrs.frozen
class PredictConfig:
    """How a run's image scores become breast predictions: a run's ``[predict]`` table.

    Attributes:
        threshold: a threshold policy ``NAME[:ARG]`` (``mammokit_threshold_policies``);
            "none" writes probabilities.
        aggregate: image -> breast score, "mean" or "max".
        calibration: "none", "platt" or "isotonic", fitted on the run's ``oof.csv``.
        tta: test-time augmentation, "none" or "hflip" (mean with the mirrored image).
    """

    threshold: str = "prior_quantile"
    aggregate: Aggregate = attrs.field(default="mean", validator=one_of(Aggregate))
    calibration: Calibration = attrs.field(default="none", validator=one_of(Calibration))
    tta: Tta = attrs.field(default="none", validator=one_of(Tta))


def _metric_names(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    return None if value is None else as_names(value)


def _metric_options(value: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    return {str(name): dict(options) for name, options in (value or {}).items()}


@attrs.frozen
class ReportOptions:
    """How an evaluation report's numbers are computed and its worst cases drawn
    (:func:`mammokit.evaluate.report.write_report`, :meth:`mammokit.Run.evaluate`).

    Attributes:
        n_boot, seed: bootstrap resamples (by patient) and their seed; the breakdown
            tables use ``min(n_boot, 200)`` resamples per group.
        metrics: ``mammokit_metrics`` names for the summary and the breakdown tables, in
            order (``"pf1,auc"`` or a sequence); None shows pf1, auc, pr_auc, f1,
            sensitivity and specificity (and the breakdowns auc, pf1, f1, sensitivity,
            specificity). Metrics that need a threshold get the policy's, and are left out
            when the policy writes probabilities.
        metric_options: metric name -> options for its factory (e.g. ``{"pf1": {"beta":
            2}}``).
        n_worst: cases per row of the worst-case grid.
    """

    n_boot: int = 1000
    seed: int = 0
    metrics: tuple[str, ...] | None = attrs.field(default=None, converter=_metric_names)
    metric_options: Mapping[str, Mapping[str, Any]] = attrs.field(
        factory=dict, converter=_metric_options
    )
    n_worst: int = 6


@attrs.frozen
class PredictOptions:
    """How a prediction runs and where its extra files go (the decisions themselves are
    the :class:`PredictConfig`'s).

    Attributes:
        scores_path: the per-image score file; None writes ``image_scores.csv`` beside
            the submission.
        cache_dir: keep the preprocessed images there (reused by a rerun); None uses a
            temporary folder removed afterwards.
        workers: preprocessing processes (None: one per core; 0: in this process).
        batch_size: images per model call.
        progress: show progress bars.
        extension: the images' file extension (e.g. "png"); None finds each
            ``<image_id>`` among dcm, png, pgm, jpg, jpeg, tif and tiff.
    """

    scores_path: str | Path | None = None
    cache_dir: str | Path | None = None
    workers: int | None = None
    batch_size: int = attrs.field(default=16, validator=attrs.validators.gt(0))
    progress: bool = True
    extension: str | None = None


def config_to_dict(config: Any) -> dict[str, Any]:
    """An attrs config as plain TOML-ready values (tuples become lists, None is dropped)."""

    def convert(value: Any) -> Any:
        if attrs.has(type(value)):
            return config_to_dict(value)
        if isinstance(value, tuple | list):
            return [convert(v) for v in value]
        if isinstance(value, Mapping):
            return {str(k): convert(v) for k, v in value.items() if v is not None}
        return value

    return {
        field.name: convert(getattr(config, field.name))
        for field in attrs.fields(type(config))
        if getattr(config, field.name) is not None
    }


def config_from_dict(cls: type[C], data: Mapping[str, Any], *, where: str = "") -> C:
    """Build ``cls`` from a mapping, rejecting unknown keys and invalid values.

    Raises:
        ConfigError: naming the offending key (and ``where`` it came from).
    """
    known = {field.name: field for field in attrs.fields(cls)}  # type: ignore[arg-type]
    prefix = f"{where}: " if where else ""
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(
            f"{prefix}unknown {cls.__name__} key(s) {', '.join(unknown)}; "
            f"valid keys: {', '.join(known)}"
        )
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        field_type = known[key].type
        if attrs.has(field_type) and isinstance(value, Mapping):
            value = config_from_dict(field_type, value, where=f"{where}.{key}".strip("."))
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{prefix}invalid {cls.__name__}: {err}") from err


def config_with(cls: type[C], base: C | None, changes: Mapping[str, Any], *, where: str = "") -> C:
    """``base`` (``cls()`` when None) with ``changes`` applied, checked as
    :func:`config_from_dict` checks a TOML table; ``base`` itself when nothing changes.

    Raises:
        ConfigError: an unknown key or an invalid value.
    """
    if base is None:
        base = cls()
    if not changes:
        return base
    data = config_to_dict(base)
    data.update(changes)
    return config_from_dict(cls, data, where=where)


def name_hints(unknown: Iterable[str], known: Iterable[str]) -> list[str]:
    """Each unknown name, sorted, with the closest known one: ``["epoch (did you mean
    epochs?)", "zzz"]``."""
    from difflib import get_close_matches

    choices = list(known)
    return [
        f"{key} (did you mean {close[0]}?)" if (close := get_close_matches(key, choices, 1))
        else key
        for key in sorted(unknown)
    ]  # fmt: skip


def options_with(cls: type[C], base: C | None, changes: Mapping[str, Any], *, where: str = "") -> C:
    """``base`` (``cls()`` when None) with the fields named in ``changes`` set, values
    taken as given (None included): how a function's ``**changes`` keywords reach its
    options record.

    Raises:
        ConfigError: a name that is not a field of ``cls`` (with the closest one), or a
            value its converter or validator refuses.
    """
    if base is None:
        base = cls()
    if not changes:
        return base
    known = [field.name for field in attrs.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(changes) - set(known))
    prefix = f"{where}: " if where else ""
    if unknown:
        raise ConfigError(
            f"{prefix}unknown {cls.__name__} option(s) {', '.join(name_hints(unknown, known))}; "
            f"choose from: {', '.join(known)}"
        )
    try:
        return attrs.evolve(base, **changes)  # type: ignore[misc]
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{prefix}invalid {cls.__name__}: {err}") from err


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file into a dict. Raises ConfigError naming the file on a syntax error."""
    try:
        with open(path, "rb") as handle:
            return cast("dict[str, Any]", tomllib.load(handle))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config: {err.strerror or err}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from err


def toml_value(text: str) -> Any:
    """``text`` read as one TOML value (``3`` -> 3, ``[1, 2]`` -> [1, 2], ``"a"`` -> "a"),
    or the text itself when it is not TOML (``abc`` -> "abc")."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def save_toml(data: Mapping[str, Any], path: str | Path) -> None:
    """Write ``data`` as TOML atomically (temporary file, then rename)."""
    import tomli_w

    from mammokit.core.atomic import atomic_write_bytes

    atomic_write_bytes(Path(path), tomli_w.dumps(dict(data)).encode("utf-8"))
