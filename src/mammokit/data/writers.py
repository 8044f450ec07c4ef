"""Output writers: greyscale PNG files and TFRecord shards of ``tf.train.Example``.

TFRecord records are written in pure Python (the TFRecord framing with masked CRC-32C, and
the ``tf.train.Example`` protobuf wire format), so writing shards needs neither TensorFlow
nor protobuf; only :func:`tfrecord_dataset`, the reader, imports TensorFlow.

Feature spec of every record (one record per successfully preprocessed image):

=================  =========  ====================================================
feature            type       value
=================  =========  ====================================================
``image``          bytes      the PNG-encoded (H, W) image (8- or 16-bit greyscale)
``height``         int64      H (config.size[0])
``width``          int64      W (config.size[1])
``bit_depth``      int64      8 or 16
``crop_y0`` ...    int64      ``crop_y0, crop_x0, crop_y1, crop_x1``: the crop box in
                              full-resolution source pixels
``flipped``        int64      1 if mirrored left-right, else 0
``source_rows``    int64      full-resolution rows of the source
``source_cols``    int64      full-resolution columns of the source
``roi_method``     bytes      the ROI path used ("breast_mask", "profile_crop", "otsu",
                              "full")
``decoder``        bytes      the decoder used
``laterality_...`` bytes      ``laterality_source``: what decided the side ("header",
                              "table", "pixels"); ``laterality_conflict``: the sources
                              that disagree (e.g. "pixels R"), empty when none
table column       see below  every column of the input table, under its own name
=================  =========  ====================================================

Table columns are typed from the whole table (:func:`infer_column_types`): ``int64`` when
every value is a canonical integer (``"12"``, not ``"012"`` or ``""``), else ``float`` when
every value is a plain decimal number (no leading zeros) or empty (empty becomes NaN),
else ``bytes`` (UTF-8 text as
written). The types chosen are stored in ``<out>/shards/features.json`` and used by the
reader.
"""

from __future__ import annotations

import io
import json
import math
import re
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mammokit.core.atomic import atomic_write_bytes
from mammokit.core.errors import ConfigError

__all__ = [
    "DEFAULT_SHARD_BYTES",
    "FEATURES_FILE",
    "OUTPUT_FEATURES",
    "crc32c",
    "encode_example",
    "encode_png",
    "frame_record",
    "infer_column_types",
    "iter_framed_records",
    "tfrecord_dataset",
    "write_features_file",
    "write_png",
]

#: Target shard size: shards close once they would pass this many bytes (~150 MB).
DEFAULT_SHARD_BYTES = 150 * 1024 * 1024
#: The file in ``<out>/shards/`` that records the feature types.
FEATURES_FILE = "features.json"
#: The features mammokit adds to each record, with their types.
OUTPUT_FEATURES: dict[str, str] = {
    "image": "bytes",
    "height": "int64",
    "width": "int64",
    "bit_depth": "int64",
    "crop_y0": "int64",
    "crop_x0": "int64",
    "crop_y1": "int64",
    "crop_x1": "int64",
    "flipped": "int64",
    "source_rows": "int64",
    "source_cols": "int64",
    "roi_method": "bytes",
    "decoder": "bytes",
    "laterality_source": "bytes",
    "laterality_conflict": "bytes",
}


# --------------------------------------------------------------------------- PNG


def encode_png(pixels: np.ndarray) -> bytes:
    """(H, W) uint8 or uint16 -> PNG bytes (8- or 16-bit greyscale), deterministic."""
    from PIL import Image

    if pixels.ndim != 2 or pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(
            f"expected an (H, W) uint8/uint16 array, got {pixels.shape} {pixels.dtype}"
        )
    array = np.ascontiguousarray(pixels)
    image = Image.fromarray(array) if array.dtype == np.uint8 else _image_16(array)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _image_16(array: np.ndarray) -> Any:
    from PIL import Image

    return Image.frombuffer("I;16", (array.shape[1], array.shape[0]), array.astype("<u2").tobytes())


def write_png(path: str | Path, pixels: np.ndarray) -> None:
    """Write (H, W) uint8/uint16 pixels as a greyscale PNG, atomically."""
    atomic_write_bytes(Path(path), encode_png(pixels))


# --------------------------------------------------------------------- TFRecord


def _crc_tables() -> list[list[int]]:
    base = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        base.append(c)
    tables = [base]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(v >> 8) ^ base[v & 0xFF] for v in prev])
    return tables


_CRC = _crc_tables()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data`` (slicing-by-8, pure Python)."""
    t0, t1, t2, t3, t4, t5, t6, t7 = _CRC
    crc = 0xFFFFFFFF
    whole = len(data) // 8 * 8
    for (word,) in struct.iter_unpack("<Q", memoryview(data)[:whole]):
        x = crc ^ (word & 0xFFFFFFFF)
        hi = word >> 32
        crc = (
            t7[x & 0xFF]
            ^ t6[(x >> 8) & 0xFF]
            ^ t5[(x >> 16) & 0xFF]
            ^ t4[x >> 24]
            ^ t3[hi & 0xFF]
            ^ t2[(hi >> 8) & 0xFF]
            ^ t1[(hi >> 16) & 0xFF]
            ^ t0[hi >> 24]
        )
    for byte in data[whole:]:
        crc = t0[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    """One TFRecord: uint64 length, masked CRC of the length, data, masked CRC of the data."""
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", _masked_crc(length))
        + data
        + struct.pack("<I", _masked_crc(data))
    )


def iter_framed_records(blob: bytes, *, source: str = "shard") -> Iterator[bytes]:
    """Split TFRecord file bytes back into framed records (checking both CRCs).

    Raises:
        ConfigError: truncated data or a CRC mismatch, naming ``source``.
    """
    offset = 0
    while offset < len(blob):
        if offset + 12 > len(blob):
            raise ConfigError(f"{source}: truncated TFRecord header at byte {offset}")
        length_bytes = blob[offset : offset + 8]
        (length,) = struct.unpack("<Q", length_bytes)
        (length_crc,) = struct.unpack("<I", blob[offset + 8 : offset + 12])
        end = offset + 12 + length + 4
        if length_crc != _masked_crc(length_bytes) or end > len(blob):
            raise ConfigError(f"{source}: corrupt TFRecord at byte {offset}")
        data = blob[offset + 12 : offset + 12 + length]
        (data_crc,) = struct.unpack("<I", blob[end - 4 : end])
        if data_crc != _masked_crc(data):
            raise ConfigError(f"{source}: TFRecord data CRC mismatch at byte {offset}")
        yield blob[offset:end]
        offset = end


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _feature(kind: str, value: Any) -> bytes:
    if kind == "bytes":
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
        return _field(1, _field(1, raw))  # Feature.bytes_list = BytesList(value=[raw])
    if kind == "float":
        number = float(value) if str(value) != "" else math.nan
        return _field(2, _field(1, struct.pack("<f", number)))  # packed FloatList
    if kind == "int64":
        return _field(3, _field(1, _varint(int(value))))  # packed Int64List
    raise ValueError(f"unknown feature type {kind!r}")


def encode_example(features: Mapping[str, tuple[str, Any]]) -> bytes:
    """A serialised ``tf.train.Example`` from ``name -> (type, value)``, keys sorted.

    Types are "bytes" (bytes or text), "int64" and "float" (float32; "" becomes NaN), each a
    single value.
    """
    entries = b"".join(
        _field(1, _field(1, name.encode("utf-8")) + _field(2, _feature(kind, value)))
        for name, (kind, value) in sorted(features.items())
    )
    return _field(1, entries)


def _is_int(text: str) -> bool:
    try:
        return str(int(text)) == text
    except ValueError:
        return False


_NUMBER = re.compile(r"-?((0|[1-9][0-9]*)(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?")


def _is_float(text: str) -> bool:
    """Empty, or a plain decimal number without leading zeros (so "007" stays text)."""
    return text == "" or _NUMBER.fullmatch(text) is not None


def infer_column_types(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> dict[str, str]:
    """Feature type per table column: "int64", "float" or "bytes" (see the module doc).

    Raises:
        ConfigError: a table column has the name of a feature mammokit adds.
    """
    clash = sorted(set(columns) & set(OUTPUT_FEATURES))
    if clash:
        raise ConfigError(
            f"table column(s) {', '.join(clash)} clash with TFRecord features mammokit adds"
        )
    values: list[list[str]] = [[] for _ in columns]
    for row in rows:
        for i, value in enumerate(row):
            values[i].append(value)
    types = {}
    for name, column in zip(columns, values, strict=True):
        if column and all(_is_int(v) and -(2**63) <= int(v) < 2**63 for v in column):
            types[name] = "int64"
        elif column and all(_is_float(v) for v in column) and any(v != "" for v in column):
            types[name] = "float"
        else:
            types[name] = "bytes"
    return types


def write_features_file(shard_dir: Path, column_types: Mapping[str, str], bit_depth: int) -> None:
    """Record the feature spec of a TFRecord folder (``features.json``), atomically."""
    spec = {
        "columns": dict(column_types),
        "outputs": OUTPUT_FEATURES,
        "bit_depth": bit_depth,
    }
    atomic_write_bytes(
        shard_dir / FEATURES_FILE, (json.dumps(spec, indent=1, sort_keys=True) + "\n").encode()
    )


def tfrecord_dataset(out_dir: str | Path, *, decode: bool = True) -> Any:
    """A ``tf.data.Dataset`` of the records in ``<out_dir>/shards/*.tfrecord``, in order.

    Each element is a dict of scalar tensors named as in the feature spec; with
    ``decode=True`` ``"image"`` is decoded to an (H, W, 1) uint8 or uint16 tensor.
    Imports TensorFlow (through :func:`mammokit.core.tf.import_tf`).

    Raises:
        ConfigError: the folder holds no ``shards/features.json``.
    """
    from mammokit.core.tf import import_tf

    shard_dir = Path(out_dir) / "shards"
    spec_path = shard_dir / FEATURES_FILE
    shards = sorted(str(p) for p in shard_dir.glob("shard-*.tfrecord"))
    if not spec_path.exists():
        raise ConfigError(f"{shard_dir}: no {FEATURES_FILE}; not a mammokit TFRecord folder")
    spec = json.loads(spec_path.read_text())
    tf = import_tf()
    dtypes = {"bytes": tf.string, "int64": tf.int64, "float": tf.float32}
    types = {**spec["columns"], **spec["outputs"]}
    feature_spec = {name: tf.io.FixedLenFeature([], dtypes[kind]) for name, kind in types.items()}
    image_dtype = tf.uint16 if spec["bit_depth"] == 16 else tf.uint8

    def parse(record: Any) -> Any:
        example = tf.io.parse_single_example(record, feature_spec)
        if decode:
            example["image"] = tf.io.decode_png(example["image"], channels=1, dtype=image_dtype)
        return example

    return tf.data.TFRecordDataset(shards).map(parse)
