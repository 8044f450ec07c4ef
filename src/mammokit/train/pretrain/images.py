"""The images a pretraining run reads: one or more preprocessed folders pooled, no labels
(pandas only, no TensorFlow)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from mammokit.core.config import PreprocessConfig
from mammokit.core.errors import ConfigError

__all__ = ["read_image_folders"]


def _one_folder(folder: Path) -> tuple[pd.DataFrame, PreprocessConfig]:
    from mammokit.data import read_index
    from mammokit.data.folder import read_preprocess_config

    preprocess = read_preprocess_config(folder)
    table = read_index(folder)
    if table.empty:
        raise ConfigError(f"{folder / 'index.csv'}: no images")
    if table["path"].str.endswith(".tfrecord").any():
        raise ConfigError(
            f"{folder}: pretraining reads PNG preprocessed folders; this one holds TFRecord "
            "shards (preprocess it again with --format png)"
        )
    paths = [str(folder.resolve() / path) for path in table["path"]]
    return pd.DataFrame({"abs_path": paths, "image_id": table["image_id"].astype(str)}), preprocess


def read_image_folders(folders: Sequence[str | Path]) -> tuple[pd.DataFrame, PreprocessConfig]:
    """Every image of the preprocessed ``folders`` (``abs_path``, ``image_id``, ``folder``
    columns, in folder then index order) and the first folder's PreprocessConfig. Labels
    are not read: the folders need none.

    Raises:
        ConfigError: no folder, a folder that is not a preprocessed PNG folder or holds no
            image, or folders of different image sizes or pixel types (naming them).
    """
    if not folders:
        raise ConfigError("pretraining needs at least one preprocessed folder (--data)")
    tables, first = [], None
    for folder in map(Path, folders):
        table, preprocess = _one_folder(folder)
        if first is None:
            first = (folder, preprocess)
        elif (preprocess.size, preprocess.output_dtype) != (
            first[1].size,
            first[1].output_dtype,
        ):
            raise ConfigError(
                f"{folder}: images of {preprocess.size} {preprocess.output_dtype}, but "
                f"{first[0]} holds {first[1].size} {first[1].output_dtype}; pool folders "
                "preprocessed to the same size and pixel type"
            )
        tables.append(table.assign(folder=str(folder)))
    assert first is not None
    return pd.concat(tables, ignore_index=True), first[1]
