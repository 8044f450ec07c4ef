"""PNG and TFRecord writers: bytes that other tools read back."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mammokit.core.errors import ConfigError
from mammokit.data.writers import (
    crc32c,
    encode_example,
    encode_png,
    frame_record,
    infer_column_types,
    iter_framed_records,
    write_features_file,
    write_png,
)


def test_crc32c_known_values() -> None:
    assert crc32c(b"") == 0
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4: 32 bytes of zeros
    assert crc32c(b"\xff" * 32) == 0x62A8AB43


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_round_trip(tmp_path: Path, dtype: type) -> None:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, np.iinfo(dtype).max, size=(24, 17), endpoint=True).astype(dtype)
    path = tmp_path / "a" / "x.png"
    write_png(path, pixels)
    with Image.open(path) as image:
        assert image.mode == ("L" if dtype == np.uint8 else "I;16")
        back = np.asarray(image)
    np.testing.assert_array_equal(back.astype(dtype), pixels)
    assert encode_png(pixels) == path.read_bytes()  # deterministic
    assert [p.name for p in path.parent.iterdir()] == ["x.png"]  # no temporary file left


def test_png_rejects_other_arrays() -> None:
    with pytest.raises(ValueError, match="uint8/uint16"):
        encode_png(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError):
        encode_png(np.zeros((4, 4, 3), np.uint8))


def test_framing_round_trip_and_corruption() -> None:
    records = [b"", b"abc", bytes(range(256)) * 9]
    blob = b"".join(frame_record(r) for r in records)
    framed = list(iter_framed_records(blob))
    assert [f[12:-4] for f in framed] == records
    (length,) = struct.unpack("<Q", framed[1][:8])
    assert length == 3
    corrupt = bytearray(blob)
    corrupt[len(frame_record(b"")) + 13] ^= 1
    with pytest.raises(ConfigError, match="CRC mismatch"):
        list(iter_framed_records(bytes(corrupt), source="s.tfrecord"))
    with pytest.raises(ConfigError, match="s.tfrecord"):
        list(iter_framed_records(blob[:-2], source="s.tfrecord"))


def test_example_encoding_is_deterministic_protobuf() -> None:
    a = encode_example({"b": ("int64", -1), "a": ("bytes", "é")})
    b = encode_example({"a": ("bytes", "é"), "b": ("int64", -1)})
    assert a == b
    # Example{features{feature{key:"a" value{bytes_list{value:"é"}}} ...}}: field 1, LEN.
    assert a[0] == 0x0A and b"\xc3\xa9" in a
    assert bytes([0xFF] * 9 + [0x01]) in a  # -1 as a 10-byte varint


def test_infer_column_types() -> None:
    columns = ["i", "f", "s", "z", "e"]
    rows = [["1", "2.5", "x", "01", ""], ["-3", "", "y", "1", ""], ["7", "1e3", "z", "2", ""]]
    assert infer_column_types(columns, rows) == {
        "i": "int64",
        "f": "float",
        "s": "bytes",
        "z": "bytes",  # "01" is not a canonical integer: kept as text, lossless
        "e": "bytes",
    }
    with pytest.raises(ConfigError, match="clash"):
        infer_column_types(["image"], [["1"]])


@pytest.mark.train
def test_tensorflow_reads_our_records(tmp_path: Path) -> None:
    from mammokit.core.tf import import_tf

    tf = import_tf()
    pixels = np.arange(12 * 10, dtype=np.uint16).reshape(12, 10) * 500
    features = {
        "image": ("bytes", encode_png(pixels)),
        "age": ("float", ""),
        "weight": ("float", "61.5"),
        "site_id": ("int64", "-2"),
        "big": ("int64", str(2**40)),
        "density": ("bytes", "B"),
    }
    path = tmp_path / "x.tfrecord"
    path.write_bytes(frame_record(encode_example(features)) * 2)
    spec = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "age": tf.io.FixedLenFeature([], tf.float32),
        "weight": tf.io.FixedLenFeature([], tf.float32),
        "site_id": tf.io.FixedLenFeature([], tf.int64),
        "big": tf.io.FixedLenFeature([], tf.int64),
        "density": tf.io.FixedLenFeature([], tf.string),
    }
    items = list(
        tf.data.TFRecordDataset([str(path)]).map(lambda r: tf.io.parse_single_example(r, spec))
    )
    assert len(items) == 2
    item = items[0]
    assert math.isnan(float(item["age"])) and float(item["weight"]) == 61.5
    assert int(item["site_id"]) == -2 and int(item["big"]) == 2**40
    assert item["density"].numpy() == b"B"
    image = tf.io.decode_png(item["image"], channels=1, dtype=tf.uint16).numpy()[..., 0]
    np.testing.assert_array_equal(image, pixels)


def test_features_file(tmp_path: Path) -> None:
    write_features_file(tmp_path, {"age": "float"}, 16)
    spec = json.loads((tmp_path / "features.json").read_text())
    assert spec["columns"] == {"age": "float"} and spec["bit_depth"] == 16
    assert spec["outputs"]["image"] == "bytes"
