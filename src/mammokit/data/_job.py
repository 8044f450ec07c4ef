"""One image's job, run in a worker process (pool or Dask) or in the calling process.

A job resolves the input path, runs ``Pipeline.preprocess``, writes the output atomically,
then writes its *record* (``<out>/.mammokit/records/<patient_id>/<image_id>.json``,
atomically, after the output). The record is the proof that the image is finished; the
index and failure tables are rebuilt from records alone, so a run killed at any moment and
rerun gives the same files.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pickle
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import numpy as np

from mammokit.core.atomic import atomic_write_bytes
from mammokit.core.errors import ConfigError, ImageReadError, MammokitError, PluginError

__all__ = [
    "MASKS_DIR",
    "STATE_DIR",
    "Job",
    "Outcome",
    "PipelineSpec",
    "crash_outcome",
    "mask_path",
    "payload_path",
    "read_record",
    "record_path",
    "row_digest",
    "run_job",
    "timeout_outcome",
]

#: mammokit's private bookkeeping folder inside an output folder.
STATE_DIR = ".mammokit"
#: The folder of the preprocessed lesion masks: ``<out>/masks/<patient_id>/<image_id>.png``.
MASKS_DIR = "masks"


@attrs.frozen
class _ModuleRef:
    """A plugin module, sent to workers by name (modules do not pickle)."""

    name: str


@attrs.frozen
class PipelineSpec:
    """What a worker process needs to rebuild the caller's :class:`Pipeline`.

    Attributes:
        config: ``config_to_dict(pipeline.config)``.
        builtins: the built-in plugin modules the caller's manager registered.
        plugins: every other registered plugin (modules by name, other objects pickled).
        cls: the pipeline's class (a :class:`Pipeline` subclass is sent by reference).
    """

    config: dict[str, Any]
    builtins: tuple[str, ...]
    plugins: tuple[Any, ...]
    cls: type | None = None

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> PipelineSpec:
        """Describe ``pipeline`` so that another process can rebuild it.

        Raises:
            ConfigError: a registered plugin cannot be sent to another process (e.g. a
                class defined inside a function); use ``workers=0`` for such pipelines.
        """
        from mammokit.core.config import config_to_dict
        from mammokit.plugins import manager_or_shared

        manager = manager_or_shared(pipeline.manager)
        dists = manager.distributions
        builtins: list[str] = []
        plugins: list[Any] = []
        for name, plugin in manager.list_name_plugin():
            if plugin is None:
                continue
            if dists.get(name, ("",))[0] == "mammokit" and isinstance(plugin, ModuleType):
                builtins.append(plugin.__name__)
            elif isinstance(plugin, ModuleType):
                plugins.append(_ModuleRef(plugin.__name__))
            else:
                try:
                    pickle.dumps(plugin)
                except Exception as err:
                    raise ConfigError(
                        f"plugin {name!r} cannot be sent to worker processes ({err}); make it "
                        "importable or run in-process with workers=0"
                    ) from err
                plugins.append(plugin)
        try:
            pickle.dumps(type(pipeline))
        except Exception as err:
            raise ConfigError(
                f"pipeline class {type(pipeline).__qualname__} cannot be sent to worker "
                f"processes ({err}); define it at module level or use workers=0"
            ) from err
        return cls(config_to_dict(pipeline.config), tuple(builtins), tuple(plugins), type(pipeline))

    def key(self) -> str:
        """A digest identifying this spec (worker-side pipeline cache key)."""
        return hashlib.sha256(pickle.dumps(self)).hexdigest()

    def build(self) -> Any:
        """The :class:`Pipeline` this spec describes."""
        from mammokit.core.config import PreprocessConfig, config_from_dict
        from mammokit.plugins import get_plugin_manager
        from mammokit.preprocess.pipeline import ImagePipeline

        plugins = [
            importlib.import_module(p.name) if isinstance(p, _ModuleRef) else p
            for p in self.plugins
        ]
        manager = get_plugin_manager(
            builtins=self.builtins, plugins=plugins, load_entry_points=False
        )
        pipeline_cls = self.cls or ImagePipeline
        return pipeline_cls(config_from_dict(PreprocessConfig, self.config), manager=manager)


@attrs.frozen
class Job:
    """One table row to preprocess.

    Attributes:
        images_dir, out_dir: absolute folders.
        patient_id, image_id: the validated ids.
        format: "png" or "tfrecord".
        features: for tfrecord, ``column -> (type, value)`` of the table row.
        digest: :func:`row_digest` of the row, stored in the record.
        laterality: the row's ``laterality`` ("" when the table has none); the header's
            wins, and a disagreement is recorded.
        extension: the input file extension ("png"...); "" searches the known ones.
        with_masks: the table names lesion masks: a mask is written for this image
            (all background when ``masks`` is empty).
        masks: the lesion mask files of this image (absolute paths), united.
    """

    images_dir: str
    out_dir: str
    patient_id: str
    image_id: str
    format: str
    features: dict[str, tuple[str, str]] = attrs.field(factory=dict)
    digest: str = ""
    laterality: str = ""
    extension: str = ""
    with_masks: bool = False
    masks: tuple[str, ...] = ()


@attrs.frozen
class Outcome:
    """What a job reports back (besides its record on disk).

    Attributes:
        image_id: the row.
        ok: True if the output was written.
        error_type, message: why it failed ("" when ok).
        worker: the worker process id.
        peak_rss: the worker's peak resident memory so far, in bytes.
        cpu_seconds: CPU time the job took in its worker.
    """

    image_id: str
    ok: bool
    error_type: str = ""
    message: str = ""
    worker: int = 0
    peak_rss: int = 0
    cpu_seconds: float = 0.0


def row_digest(row: Mapping[str, str]) -> str:
    """A digest of a table row's values (changes when any value changes)."""
    text = json.dumps(dict(row), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def record_path(out_dir: Path, patient_id: str, image_id: str) -> Path:
    return out_dir / STATE_DIR / "records" / patient_id / f"{image_id}.json"


def payload_path(out_dir: Path, patient_id: str, image_id: str) -> Path:
    """Where a tfrecord job leaves its framed record until the shards are built."""
    return out_dir / STATE_DIR / "payloads" / patient_id / f"{image_id}.tfrecord"


def mask_path(patient_id: str, image_id: str) -> str:
    """Where an image's preprocessed lesion mask goes, relative to the output folder."""
    return f"{MASKS_DIR}/{patient_id}/{image_id}.png"


def _write_mask(pipeline: Any, job: Job, result: Any, source: Path) -> str:
    """Write the image's preprocessed lesion mask (uint8 0/255 PNG); its relative path.

    Raises:
        ImageReadError: a mask file missing, unreadable or of another size than its
            image, naming the image and the mask file.
    """
    from mammokit.data.writers import encode_png

    try:
        mask = pipeline.lesion_mask(result, job.masks)
    except ImageReadError as err:
        raise ImageReadError(source, f"lesion mask {err.path}: {err.cause}") from err
    relative = mask_path(job.patient_id, job.image_id)
    atomic_write_bytes(Path(job.out_dir) / relative, encode_png(mask.astype(np.uint8) * 255))
    return relative


def read_record(out_dir: Path, patient_id: str, image_id: str) -> dict[str, Any] | None:
    """The record of one image, or None if absent or unreadable (then it is redone)."""
    try:
        data = json.loads(record_path(out_dir, patient_id, image_id).read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("image_id") == image_id else None


def _write_record(out_dir: Path, job: Job, record: dict[str, Any]) -> None:
    text = json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write_bytes(record_path(out_dir, job.patient_id, job.image_id), text.encode("utf-8"))


def _failure_record(job: Job, error_type: str, message: str) -> dict[str, Any]:
    return {
        "status": "failed",
        "image_id": job.image_id,
        "patient_id": job.patient_id,
        "path": f"{job.patient_id}/{job.image_id}.dcm",
        "error_type": error_type,
        "message": message,
        "digest": job.digest,
    }


def _peak_rss() -> int:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


_PIPELINES: dict[str, Any] = {}


def _pipeline(spec: PipelineSpec | Any) -> Any:
    if not isinstance(spec, PipelineSpec):
        return spec  # an in-process Pipeline (workers=0)
    key = spec.key()
    if key not in _PIPELINES:
        _PIPELINES.clear()
        _PIPELINES[key] = spec.build()
    return _PIPELINES[key]


def _preprocess(pipeline: Any, job: Job) -> dict[str, Any]:
    from mammokit.data.tables import resolve_image_path
    from mammokit.data.writers import encode_example, encode_png, frame_record

    out_dir = Path(job.out_dir)
    source = resolve_image_path(job.images_dir, job.patient_id, job.image_id, job.extension or None)
    result = pipeline.preprocess(source, laterality=job.laterality)
    config = pipeline.config
    pixels = result.pixels
    if tuple(pixels.shape) != tuple(config.size) or pixels.dtype != np.dtype(config.output_dtype):
        raise PluginError(
            f"preprocess returned {pixels.shape} {pixels.dtype}, expected "
            f"{tuple(config.size)} {config.output_dtype}"
        )
    box = result.crop_box
    record: dict[str, Any] = {
        "status": "ok",
        "image_id": job.image_id,
        "patient_id": job.patient_id,
        "crop_y0": int(box.y0),
        "crop_x0": int(box.x0),
        "crop_y1": int(box.y1),
        "crop_x1": int(box.x1),
        "flipped": int(bool(result.flipped)),
        "source_rows": int(result.source_shape[0]),
        "source_cols": int(result.source_shape[1]),
        "roi_method": str(result.roi_method),
        "decoder": str(result.decoder),
        "laterality_source": str(result.laterality_source),
        "laterality_conflict": str(result.laterality_conflict),
        "side_confidence": (
            "" if result.side_confidence is None else f"{result.side_confidence:.3f}"
        ),
        "laterality_found": str(result.laterality),
        "presentation_intent": str(result.meta.presentation_intent),
        "presentation_lut_shape": str(result.meta.presentation_lut_shape),
        "digest": job.digest,
    }
    if job.with_masks:
        record["mask_path"] = _write_mask(pipeline, job, result, source)
    png = encode_png(pixels)
    if job.format == "png":
        record["path"] = f"{job.patient_id}/{job.image_id}.png"
        atomic_write_bytes(out_dir / record["path"], png)
    else:
        ours = {k: v for k, v in record.items() if k.startswith(("crop_", "source_"))}
        features: dict[str, tuple[str, Any]] = {k: ("int64", v) for k, v in ours.items()}
        features.update(
            image=("bytes", png),
            height=("int64", pixels.shape[0]),
            width=("int64", pixels.shape[1]),
            bit_depth=("int64", pixels.dtype.itemsize * 8),
            flipped=("int64", record["flipped"]),
            roi_method=("bytes", record["roi_method"]),
            decoder=("bytes", record["decoder"]),
            laterality_source=("bytes", record["laterality_source"]),
            laterality_conflict=("bytes", record["laterality_conflict"]),
        )
        features.update(job.features)
        framed = frame_record(encode_example(features))
        atomic_write_bytes(payload_path(out_dir, job.patient_id, job.image_id), framed)
        record["path"] = ""  # the shard is known only once every image is done
    return record


def run_job(spec: PipelineSpec | Any, job: Job) -> Outcome:
    """Preprocess one row, write its output and record; never raises for bad input.

    ``spec`` is a :class:`PipelineSpec` (in a worker) or the Pipeline itself (in-process).
    Bad input (any :class:`MammokitError`, or running out of memory) becomes a failure
    record; any other exception is a bug and propagates.
    """
    cpu = time.process_time()
    try:
        record = _preprocess(_pipeline(spec), job)
    except (MammokitError, MemoryError) as err:
        cause = err.cause if isinstance(err, ImageReadError) else str(err) or type(err).__name__
        record = _failure_record(job, type(err).__name__, cause)
    _write_record(Path(job.out_dir), job, record)
    return Outcome(
        image_id=job.image_id,
        ok=record["status"] == "ok",
        error_type=record.get("error_type", ""),
        message=record.get("message", ""),
        worker=os.getpid(),
        peak_rss=_peak_rss(),
        cpu_seconds=time.process_time() - cpu,
    )


def crash_outcome(job: Job, detail: str) -> Outcome:
    """Record a job whose worker process died (crash or out-of-memory kill) as a failure."""
    message = f"the worker process died while preprocessing this image ({detail})"
    _write_record(Path(job.out_dir), job, _failure_record(job, "WorkerCrash", message))
    return Outcome(image_id=job.image_id, ok=False, error_type="WorkerCrash", message=message)


def timeout_outcome(job: Job, seconds: float) -> Outcome:
    """Record a job whose worker was killed after ``seconds`` as a ``Timeout`` failure."""
    message = f"preprocessing this image took longer than {seconds:g} s; its worker was killed"
    _write_record(Path(job.out_dir), job, _failure_record(job, "Timeout", message))
    return Outcome(image_id=job.image_id, ok=False, error_type="Timeout", message=message)
