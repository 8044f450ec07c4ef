"""Datasets: RSNA tables, the batch runner, and the preprocessed-folder readers and writers.

TensorFlow is imported only by :func:`tfrecord_dataset`; Dask only by the ``dask`` executor.
"""

from __future__ import annotations

from mammokit.data.index import read_failures, read_index
from mammokit.data.runner import (
    DatasetOptions,
    DatasetResult,
    Failure,
    OutputWriteError,
    preprocess_dataset,
)
from mammokit.data.split import split_table, write_split
from mammokit.data.tables import read_table, resolve_image_path, validate_table
from mammokit.data.writers import tfrecord_dataset

__all__ = [
    "DatasetOptions",
    "DatasetResult",
    "Failure",
    "OutputWriteError",
    "preprocess_dataset",
    "read_failures",
    "read_index",
    "read_table",
    "resolve_image_path",
    "split_table",
    "tfrecord_dataset",
    "validate_table",
    "write_split",
]
