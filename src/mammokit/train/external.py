"""External training-only datasets: ``ddsm`` and ``image_folder`` (no TensorFlow).

A dataset is given as ``NAME:PATH`` or ``NAME:PATH?key=value&key=value`` (e.g.
``image_folder:/data/films?labels=my.csv&laterality=side``); :func:`parse_external` splits
it, and the options go to the factory, checked like every component's options. A dataset
factory ``factory(path, **options)`` returns a table with ``path`` (absolute image file),
``cancer`` (the 0/1 training target), ``patient_id`` and ``source``, and optionally
``laterality`` (L/R; the breast is then ``<patient>_<laterality>``). :func:`load_external` then runs
every image through the *same* :class:`~mammokit.Pipeline` preprocessing as the main data
(the images are ordinary PNG/JPEG/TIFF files, treated as already windowed, so windowing is
skipped), writes the results under ``<run>/external/<name>/`` and returns training rows.
These rows are added to training only, never to validation.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import pandas as pd
import pluggy

from mammokit.core.config import PreprocessConfig
from mammokit.core.errors import ConfigError
from mammokit.plugins import manager_or_shared
from mammokit.plugins.components import Component
from mammokit.plugins.protocols import ExternalDataset

__all__ = ["ddsm", "external_components", "image_folder", "load_external", "parse_external"]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".pgm")
_COLUMNS = ("path", "cancer", "patient_id", "source")


def parse_external(spec: str) -> tuple[str, str, dict[str, str]]:
    """``"NAME:PATH?key=value&..."`` -> ``(name, path, options)``.

    Raises:
        ConfigError: no ``:``, an empty name or path, or an option without ``=`` or given
            twice.
    """
    from urllib.parse import parse_qsl

    name, sep, rest = spec.partition(":")
    path, _, query = rest.partition("?")
    if not sep or not name.strip() or not path.strip():
        raise ConfigError(f"external dataset must be NAME:PATH[?key=value&...], got {spec!r}")
    options: dict[str, str] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as err:
        raise ConfigError(f"external dataset {spec!r}: options must be key=value&...") from err
    for key, value in pairs:
        if key in options:
            raise ConfigError(f"external dataset {spec!r}: option {key!r} given twice")
        options[key] = value
    return name.strip(), path, options


def _laterality(table: pd.DataFrame, column: str | None, where: str) -> pd.DataFrame:
    """Copy ``column`` (L/R per image) into ``laterality``."""
    if column is None:
        return table
    if column not in table.columns:
        raise ConfigError(f"{where}: no laterality column {column!r}")
    values = table[column].astype(str).str.strip().str.upper()
    bad = ~values.isin(["L", "R"])
    if bad.any():
        raise ConfigError(
            f"{where}: laterality column {column!r} must hold L or R, "
            f"got {table[column][bad].iloc[0]!r}"
        )
    return cast("pd.DataFrame", table.assign(laterality=values))


def _folder(path: str | Path) -> Path:
    root = Path(path)
    if not root.is_dir():
        raise ConfigError(f"{root}: external dataset folder not found")
    return root


def _images_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def ddsm(
    path: str | Path, *, metadata: str | None = None, laterality: str | None = None
) -> pd.DataFrame:
    """The DDSM positive-case layout: ``<root>/<case>/.../<image>.png``, every image a
    positive. The case folder (first path component) is the patient id. An optional
    metadata CSV (``metadata``, relative to ``root`` or absolute) with a ``path`` column
    (relative to ``root``) adds its other columns; ``laterality`` names its L/R column.

    Returns:
        DataFrame with ``path, cancer, patient_id, source`` (+ metadata columns).
    """
    root = _folder(path)
    files = _images_under(root)
    if not files:
        raise ConfigError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) for ddsm")
    rel = [f.relative_to(root) for f in files]
    table = pd.DataFrame(
        {
            "path": [str(f) for f in files],
            "rel": [r.as_posix() for r in rel],
            "cancer": 1,
            "patient_id": [r.parts[0] if len(r.parts) > 1 else r.stem for r in rel],
            "source": "ddsm",
        }
    )
    if metadata:
        meta_path = Path(metadata) if Path(metadata).is_absolute() else root / metadata
        if not meta_path.is_file():
            raise ConfigError(f"{meta_path}: ddsm metadata CSV not found")
        meta = pd.read_csv(meta_path, dtype=str, keep_default_na=False)
        if "path" not in meta.columns:
            raise ConfigError(f"{meta_path}: metadata CSV needs a 'path' column")
        extra = meta.rename(columns={"path": "rel"}).drop(
            columns=[c for c in _COLUMNS if c in meta.columns], errors="ignore"
        )
        table = table.merge(extra, on="rel", how="left")
        table = _laterality(table, laterality, str(meta_path))
    elif laterality is not None:
        raise ConfigError("ddsm: laterality needs a metadata CSV holding that column")
    return cast("pd.DataFrame", table.drop(columns="rel"))


def image_folder(
    path: str | Path,
    *,
    labels: str = "labels.csv",
    label: str = "cancer",
    laterality: str | None = None,
) -> pd.DataFrame:
    """Any folder of images with a CSV of labels (``labels``, relative to the folder or
    absolute) having ``path`` (relative to the folder) and the 0/1 ``label`` column
    (default ``cancer``), and optionally ``patient_id`` (default: the file name without
    suffix) and an L/R column named by ``laterality``.

    Returns:
        DataFrame with ``path, cancer, patient_id, source``.
    """
    root = _folder(path)
    csv_path = Path(labels) if Path(labels).is_absolute() else root / labels
    if not csv_path.is_file():
        raise ConfigError(f"{csv_path}: labels CSV not found for image_folder")
    table = pd.read_csv(csv_path, dtype={"path": str, "patient_id": str})
    missing = [c for c in ("path", label) if c not in table.columns]
    if missing:
        raise ConfigError(f"{csv_path}: missing column(s) {', '.join(missing)}")
    if not table[label].isin([0, 1]).all():
        raise ConfigError(f"{csv_path}: {label!r} must be 0 or 1")
    if label != "cancer":
        table = table.drop(columns=["cancer"], errors="ignore").rename(columns={label: "cancer"})
    table = _laterality(table, laterality, str(csv_path))
    absent = [p for p in table["path"] if not (root / p).is_file()]
    if absent:
        raise ConfigError(f"{csv_path}: {len(absent)} listed image(s) not found, e.g. {absent[0]}")
    if "patient_id" not in table.columns:
        table["patient_id"] = [Path(p).stem for p in table["path"]]
    table["path"] = [str(root / p) for p in table["path"]]
    table["source"] = "image_folder"
    return table


def load_external(
    specs: Sequence[str],
    preprocess: PreprocessConfig,
    out_dir: Path,
    *,
    manager: pluggy.PluginManager | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Read and preprocess every ``"name:path[?options]"`` external dataset into
    ``out_dir/<name>/``, through the same batch runner as the main table (parallel,
    resumable, atomic; ``index.csv`` and ``failures.csv`` there as for any preprocessed
    folder).

    The runner reads ``<images>/<patient_id>/<image_id>.<ext>``: each image is linked under
    ``out_dir/.sources/<name>/`` with the id it gets here (``<name>-<row:06d>``, patients
    ``<name>-<patient_id>``), so the reader's own paths stay as they are.

    Returns:
        Training rows: ``image_id, patient_id, laterality, prediction_id, cancer,
        abs_path, source`` (empty when ``specs`` is empty). Images that fail to
        preprocess are listed in ``out_dir/<name>/failures.csv`` and logged.

    Raises:
        ConfigError: unknown dataset name, bad table, or no image preprocessed at all.
    """
    if not specs:
        return cast("pd.DataFrame", pd.DataFrame())
    from mammokit.data import preprocess_dataset, read_index
    from mammokit.preprocess.pipeline import ImagePipeline

    plugins = manager_or_shared(manager)
    pipeline = ImagePipeline(preprocess, manager=plugins)
    frames = []
    for spec in specs:
        name, path, options = parse_external(spec)
        # The hook's contract is a pandas DataFrame; its Protocol checks the columns only.
        table = cast("pd.DataFrame", plugins.build_external_dataset(name, path, **options))
        missing = [c for c in _COLUMNS if c not in table.columns]
        if missing:
            raise ConfigError(f"external dataset {name!r} lacks column(s) {', '.join(missing)}")
        rows = _runner_rows(name, table)
        sources = out_dir / ".sources" / name
        for row, item in zip(rows, table.itertuples(index=False), strict=True):
            _link(Path(str(item.path)), sources / row["patient_id"] / row["image_id"])
        target = out_dir / name
        result = preprocess_dataset(
            pipeline, sources, pd.DataFrame(rows), target, workers=workers, quiet=True,
            table_kind="external",
        )  # fmt: skip
        if result.failures:
            logger.warning(
                "external %s: %d of %d images failed to preprocess (see %s)",
                name, len(result.failures), len(table), target / "failures.csv",
            )  # fmt: skip
        done = read_index(target) if result.succeeded else pd.DataFrame()
        if done.empty:
            raise ConfigError(
                f"external dataset {name!r} at {path}: no image could be preprocessed"
            )
        done["prediction_id"] = [
            f"{patient}_{side or image_id}"
            for patient, side, image_id in zip(
                done["patient_id"], done["laterality"], done["image_id"], strict=True
            )
        ]
        done["cancer"] = done["cancer"].astype(int)
        done["abs_path"] = [str(target / p) for p in done["path"]]
        frames.append(done[["image_id", "patient_id", "laterality", "prediction_id", "cancer",
                            "abs_path", "source"]])  # fmt: skip
    return cast("pd.DataFrame", pd.concat(frames, ignore_index=True))


def _runner_rows(name: str, table: pd.DataFrame) -> list[dict[str, str]]:
    """The runner's table for an external dataset: ids, laterality ("" = unknown), label."""
    return [
        {
            "patient_id": f"{name}-{item.patient_id}",
            "image_id": f"{name}-{index:06d}",
            "laterality": str(getattr(item, "laterality", "") or ""),
            "cancer": str(int(cast("int", item.cancer))),
            "source": str(item.source),
        }
        for index, item in enumerate(table.itertuples(index=False))
    ]


def _link(source: Path, stem: Path) -> None:
    """``stem + source's suffix`` -> ``source``: a hard link, or a copy across file systems.

    Not a symbolic link: the runner refuses links that leave the images folder.
    """
    link = stem.with_name(stem.name + source.suffix.lower())
    if link.exists():
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    if not source.is_file():
        return  # the runner records the missing file as a failure, naming it
    try:
        os.link(source, link)
    except OSError:
        shutil.copyfile(source, link)


def external_components() -> list[Component[ExternalDataset]]:
    """The built-in external dataset readers."""
    return [
        Component(
            "ddsm", "DDSM positive cases: a folder of PNG images (+ optional metadata CSV)", ddsm
        ),
        Component(
            "image_folder", "Any image folder with a labels CSV (path, cancer)", image_folder
        ),
    ]
