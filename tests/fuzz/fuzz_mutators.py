"""Mutations of DICOM files, as pure functions ``bytes -> bytes`` (no pydicom mocks).

Each mutator takes the bytes of a real DICOM file (a corpus file or a generated phantom)
and returns a broken variant, or ``None`` when the mutation does not apply to that file
(e.g. broken encapsulation on an uncompressed file). They are used by the hypothesis
suite in ``tests/fuzz`` and by the atheris harness ``fuzz/atheris_harness.py``.

Byte-level mutators (bit flips, truncation, transfer syntax, encapsulation, codec headers)
leave every other byte of the file untouched; header mutators (tag deletion, lying values)
rewrite the dataset through pydicom with validation switched off, keeping the pixel data
bytes as they were.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pydicom
from pydicom import config as pydicom_config
from pydicom.dataelem import DataElement
from pydicom.tag import Tag

__all__ = [
    "CODEC_LIES",
    "DELETABLE",
    "ENCAPSULATION_BREAKS",
    "LIES",
    "TRANSFER_SYNTAXES",
    "break_encapsulation",
    "delete_tag",
    "flip_bits",
    "is_encapsulated",
    "lie",
    "lie_in_codec_header",
    "set_transfer_syntax",
    "truncate",
    "zero_pixel_data",
]

_PREAMBLE = 128 + 4  # preamble + b"DICM"
_LONG_VRS = {
    b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"
}  # fmt: skip
_PIXEL_DATA_LE = b"\xe0\x7f\x10\x00"
_ITEM = b"\xfe\xff\x00\xe0"
_SEQ_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_UNDEFINED = 0xFFFFFFFF

#: Transfer syntax UIDs a lying file meta may claim (including nonsense).
TRANSFER_SYNTAXES = (
    "1.2.840.10008.1.2",  # implicit VR little endian
    "1.2.840.10008.1.2.1",  # explicit VR little endian
    "1.2.840.10008.1.2.1.99",  # deflated
    "1.2.840.10008.1.2.2",  # explicit VR big endian
    "1.2.840.10008.1.2.4.50",  # JPEG baseline
    "1.2.840.10008.1.2.4.51",  # JPEG extended
    "1.2.840.10008.1.2.4.57",  # JPEG lossless
    "1.2.840.10008.1.2.4.70",  # JPEG lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.201",  # HTJ2K lossless
    "1.2.840.10008.1.2.5",  # RLE lossless
    "1.2.840.10008.1.2.4.100",  # MPEG2 (video, no pixel decoder)
    "1.2.3.4",  # not a transfer syntax
    "",  # empty value
)

#: Tags whose deletion a decoder must survive (keyword or (group, element)).
DELETABLE = (
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PhotometricInterpretation",
    "SamplesPerPixel",
    "PixelData",
    "NumberOfFrames",
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
    "RescaleSlope",
    "RescaleIntercept",
    "PixelPaddingValue",
    "VOILUTSequence",
    "ModalityLUTSequence",
    "PlanarConfiguration",
    "ImageLaterality",
)

#: Lying header values: keyword -> (VR, candidate values). The values keep to the VR's
#: encodable range, since a writer could not produce anything else.
LIES: dict[str, tuple[str, tuple[Any, ...]]] = {
    "Rows": ("US", (0, 1, 2, 3, 7, 63, 65, 511, 1023, 4096, 60000, 65535)),
    "Columns": ("US", (0, 1, 2, 3, 7, 63, 65, 511, 1023, 4096, 60000, 65535)),
    "BitsAllocated": ("US", (0, 1, 2, 7, 8, 12, 15, 16, 17, 24, 32, 64, 65535)),
    "BitsStored": ("US", (0, 1, 2, 7, 8, 9, 12, 15, 16, 17, 24, 32, 64, 65535)),
    "HighBit": ("US", (0, 7, 11, 15, 16, 31, 65535)),
    "PixelRepresentation": ("US", (0, 1, 2, 65535)),
    "SamplesPerPixel": ("US", (0, 1, 2, 3, 4, 65535)),
    "NumberOfFrames": (
        "IS",
        ("0", "-1", "1", "2", "3", "1000", "2147483647", "abc", "", " 1 ", "1.5"),
    ),
    "PhotometricInterpretation": (
        "CS",
        ("MONOCHROME1", "MONOCHROME2", "RGB", "PALETTE COLOR", "YBR_FULL", "", "monochrome2 "),
    ),
    "PlanarConfiguration": ("US", (0, 1, 2, 65535)),
    "WindowCenter": ("DS", ("0", "-1e300", "1e300", "nan", "inf", "-inf", "abc", "", "1\\2\\3")),
    "WindowWidth": ("DS", ("0", "-1", "1", "1e-300", "1e300", "nan", "inf", "abc", "", "0\\0")),
    "VOILUTFunction": ("CS", ("LINEAR", "LINEAR_EXACT", "SIGMOID", "BOGUS", "")),
    "RescaleSlope": ("DS", ("0", "-1", "1e-300", "1e300", "nan", "inf", "abc", "")),
    "RescaleIntercept": ("DS", ("-1e300", "1e300", "nan", "-inf", "abc", "")),
    "PixelPaddingValue": ("US", (0, 1, 255, 4095, 32768, 65535)),
    "PixelPaddingRangeLimit": ("US", (0, 1, 65535)),
}

#: The ways :func:`break_encapsulation` can break encapsulated pixel data.
ENCAPSULATION_BREAKS = (
    "item_tag",
    "item_length_huge",
    "item_length_odd",
    "item_length_zero",
    "item_length_short",
    "offset_table_garbage",
    "offset_table_huge_length",
    "no_sequence_delimiter",
    "no_fragments",
    "duplicate_fragment",
    "empty_fragment",
    "truncated_fragment",
)

#: The codec header fields :func:`lie_in_codec_header` can set.
CODEC_LIES = (
    "j2k_size",
    "j2k_tile",
    "j2k_components",
    "j2k_precision",
    "j2k_levels",
    "jpeg_size",
    "jpeg_components",
    "jpeg_precision",
    "rle_segments",
    "rle_offsets",
)


@contextmanager
def _lenient() -> Iterator[None]:
    """pydicom without value validation and without warnings (to write broken files)."""
    settings = pydicom_config.settings
    saved = (settings.reading_validation_mode, settings.writing_validation_mode)
    settings.reading_validation_mode = pydicom_config.IGNORE
    settings.writing_validation_mode = pydicom_config.IGNORE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        settings.reading_validation_mode, settings.writing_validation_mode = saved


def _rewrite(data: bytes, edit: Any) -> bytes | None:
    """Read ``data`` with pydicom, apply ``edit(ds)`` and write it back like the original.

    Returns None when pydicom cannot read or write the file (nothing to mutate).
    """
    with _lenient():
        try:
            ds = pydicom.dcmread(io.BytesIO(data), force=True)
            ds.read_encoding  # noqa: B018 - touch a property to make sure it parsed
            if edit(ds) is False:
                return None
            out = io.BytesIO()
            ds.save_as(out, enforce_file_format=False)
        except Exception:
            return None
    return out.getvalue()


# --- byte-level mutations ---------------------------------------------------------------


def flip_bits(data: bytes, positions: list[int]) -> bytes:
    """Flip the bits at ``positions`` (bit indices, taken modulo the file's bit count)."""
    if not data:
        return data
    out = bytearray(data)
    for position in positions:
        position %= 8 * len(out)
        out[position // 8] ^= 1 << (position % 8)
    return bytes(out)


def truncate(data: bytes, length: int) -> bytes:
    """The first ``length`` bytes (modulo the file size)."""
    return data[: length % max(1, len(data))]


def _meta_elements(data: bytes) -> tuple[list[tuple[int, bytes, bytes]], int] | None:
    """The file meta elements ``(element, vr, value)`` and the offset where the body starts."""
    if data[128:132] != b"DICM":
        return None
    pos, elements = _PREAMBLE, []
    while pos + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, pos)
        if group != 0x0002:
            break
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            (length,) = struct.unpack_from("<I", data, pos + 8)
            start = pos + 12
        else:
            (length,) = struct.unpack_from("<H", data, pos + 6)
            start = pos + 8
        if length == _UNDEFINED or start + length > len(data):
            return None
        elements.append((element, vr, data[start : start + length]))
        pos = start + length
    return elements, pos


def _encode_meta(elements: list[tuple[int, bytes, bytes]]) -> bytes:
    body = b""
    for element, vr, value in elements:
        if element == 0x0000:
            continue
        if vr in _LONG_VRS:
            body += struct.pack("<HH2sHI", 2, element, vr, 0, len(value)) + value
        else:
            body += struct.pack("<HH2sH", 2, element, vr, len(value)) + value
    group_length = struct.pack("<HH2sHI", 2, 0, b"UL", 4, len(body))
    return group_length + body


def set_transfer_syntax(data: bytes, uid: str) -> bytes | None:
    """Claim ``uid`` in the file meta; the dataset body is left as it was encoded."""
    parsed = _meta_elements(data)
    if parsed is None:
        return None
    elements, body_start = parsed
    value = uid.encode("ascii")
    if len(value) % 2:
        value += b"\x00"
    found = False
    for i, (element, vr, _) in enumerate(elements):
        if element == 0x0010:
            elements[i] = (element, vr, value)
            found = True
    if not found:
        elements.append((0x0010, b"UI", value))
        elements.sort(key=lambda item: item[0])
    return data[:_PREAMBLE] + _encode_meta(elements) + data[body_start:]


def _pixel_items(data: bytes) -> tuple[int, list[tuple[int, int]], int] | None:
    """For encapsulated pixel data: (offset of the first item, [(item offset, length)],
    offset just past the last item). None if the file is not encapsulated little endian."""
    tag = data.rfind(_PIXEL_DATA_LE)
    while tag >= 0:
        # explicit VR: tag OB 0000 FFFFFFFF; implicit VR: tag FFFFFFFF
        if data[tag + 4 : tag + 12] in (
            b"OB\x00\x00\xff\xff\xff\xff",
            b"OW\x00\x00\xff\xff\xff\xff",
        ):
            start = tag + 12
            break
        if data[tag + 4 : tag + 8] == b"\xff\xff\xff\xff":
            start = tag + 8
            break
        tag = data.rfind(_PIXEL_DATA_LE, 0, tag)
    else:
        return None
    items, pos = [], start
    while pos + 8 <= len(data) and data[pos : pos + 4] == _ITEM:
        (length,) = struct.unpack_from("<I", data, pos + 4)
        if pos + 8 + length > len(data):
            return None
        items.append((pos, length))
        pos += 8 + length
    if not items:
        return None
    return start, items, pos


def is_encapsulated(data: bytes) -> bool:
    """True when the file holds little-endian encapsulated (compressed) pixel data."""
    return _pixel_items(data) is not None


def break_encapsulation(data: bytes, how: str, which: int = 0, value: int = 0) -> bytes | None:
    """Break encapsulated pixel data in one of the :data:`ENCAPSULATION_BREAKS` ways.

    Args:
        data: the file.
        how: the kind of damage.
        which: selects the item (modulo the item count; 0 is the basic offset table).
        value: a free number some kinds use (garbage offsets, a truncation point).
    """
    parsed = _pixel_items(data)
    if parsed is None:
        return None
    _, items, end = parsed
    out = bytearray(data)
    item_pos, item_len = items[which % len(items)]
    fragments = items[1:]
    if how == "item_tag":
        out[item_pos : item_pos + 4] = struct.pack("<I", value | 1)  # never a valid item tag
    elif how == "item_length_huge":
        out[item_pos + 4 : item_pos + 8] = struct.pack("<I", 0xFFFFFFF0 - (value % 64) * 2)
    elif how == "item_length_odd":
        out[item_pos + 4 : item_pos + 8] = struct.pack("<I", item_len | 1)
    elif how == "item_length_zero":
        out[item_pos + 4 : item_pos + 8] = b"\x00\x00\x00\x00"
    elif how == "item_length_short":
        out[item_pos + 4 : item_pos + 8] = struct.pack("<I", item_len // 2 & ~1)
    elif how == "offset_table_garbage":
        count = 1 + value % 8
        garbage = ((value * (i + 7919)) & 0xFFFFFFFF for i in range(count))
        offsets = struct.pack(f"<{count}I", *garbage)
        bot_pos, bot_len = items[0]
        out[bot_pos : bot_pos + 8 + bot_len] = _ITEM + struct.pack("<I", len(offsets)) + offsets
    elif how == "offset_table_huge_length":
        bot_pos, _ = items[0]
        out[bot_pos + 4 : bot_pos + 8] = struct.pack("<I", 0x7FFFFFF0)
    elif how == "no_sequence_delimiter":
        if out[end : end + 8] != _SEQ_DELIMITER:
            return None
        del out[end : end + 8]
    elif how == "no_fragments":
        if not fragments:
            return None
        del out[fragments[0][0] : end]
    elif how == "duplicate_fragment":
        if not fragments:
            return None
        pos, length = fragments[which % len(fragments)]
        out[end:end] = data[pos : pos + 8 + length]
    elif how == "empty_fragment":
        if not fragments:
            return None
        pos, length = fragments[which % len(fragments)]
        out[pos : pos + 8 + length] = _ITEM + b"\x00\x00\x00\x00"
    elif how == "truncated_fragment":
        if not fragments:
            return None
        pos, length = fragments[which % len(fragments)]
        keep = (value % max(1, length)) & ~1
        kept = data[pos + 8 : pos + 8 + keep]
        out[pos : pos + 8 + length] = _ITEM + struct.pack("<I", keep) + kept
    else:
        raise ValueError(f"unknown encapsulation break {how!r}")
    return bytes(out)


def zero_pixel_data(data: bytes) -> bytes | None:
    """The same file with an empty (zero-length) Pixel Data element."""
    parsed = _pixel_items(data)
    if parsed is not None:  # encapsulated: pydicom refuses to write it empty, so edit bytes
        start = parsed[0]
        explicit = data[start - 8 : start - 4] in (b"OB\x00\x00", b"OW\x00\x00")
        tag = start - (12 if explicit else 8)
        return data[:tag] + data[tag : start - 4] + b"\x00\x00\x00\x00"

    def edit(ds: Any) -> bool:
        if "PixelData" not in ds:
            return False
        ds["PixelData"] = DataElement(Tag(0x7FE00010), ds["PixelData"].VR, b"")
        return True

    return _rewrite(data, edit)


def lie_in_codec_header(data: bytes, field: str, value: int) -> bytes | None:
    """Overwrite a field of the first JPEG 2000 / JPEG / RLE frame header in the file.

    The DICOM header is left alone, so the codestream and the header disagree (or the
    codestream claims something absurd, e.g. a 60000x60000 image in a 4 kB fragment).
    """
    parsed = _pixel_items(data)
    if parsed is None:
        return None
    _, items, _ = parsed
    if len(items) < 2:
        return None
    frag_pos, frag_len = items[1]
    frag = frag_pos + 8
    if frag_len < 64:  # too short for any codec header worth lying in
        return None
    out = bytearray(data)
    big = (0, 1, 3, 65535, 60000, 0x7FFFFFFF, 0xFFFFFFFF)[value % 7]
    if field.startswith("j2k"):
        soc = data.find(b"\xff\x4f\xff\x51", frag, frag + frag_len)
        if soc < 0:
            return None
        siz = soc + 4  # Lsiz(2) Rsiz(2) Xsiz Ysiz XOsiz YOsiz XTsiz YTsiz XTOsiz YTOsiz Csiz
        if field == "j2k_size":
            struct.pack_into(">II", out, siz + 4, big, big ^ (value & 0xFF))
        elif field == "j2k_tile":
            struct.pack_into(">II", out, siz + 20, big, big)
        elif field == "j2k_components":
            struct.pack_into(">H", out, siz + 36, (0, 3, 4, 16384, 65535)[value % 5])
        elif field == "j2k_precision":
            out[siz + 38] = (0x7F, 0x25, 0x80, 0x8F, 0xFF, 0x00)[value % 6]
        else:  # j2k_levels: the COD decomposition levels
            cod = data.find(b"\xff\x52", siz, frag + frag_len)
            if cod < 0:
                return None
            out[cod + 4 + 5] = (0, 32, 33, 255)[value % 4]
    elif field.startswith("jpeg"):
        for marker in (b"\xff\xc0", b"\xff\xc1", b"\xff\xc3", b"\xff\xf7", b"\xff\xc2"):
            sof = data.find(marker, frag, frag + frag_len)
            if sof >= 0:
                break
        else:
            return None
        # SOF: marker(2) length(2) precision(1) lines(2) samples per line(2) components(1)
        if field == "jpeg_size":
            struct.pack_into(">HH", out, sof + 5, big & 0xFFFF, (big >> 3) & 0xFFFF)
        elif field == "jpeg_components":
            out[sof + 9] = (0, 2, 3, 4, 255)[value % 5]
        else:
            out[sof + 4] = (0, 1, 2, 17, 32, 255)[value % 6]
    else:  # RLE: a 64-byte header of 16 little-endian uint32 (segment count, offsets)
        if field == "rle_segments":
            struct.pack_into("<I", out, frag, (0, 2, 3, 15, 16, 255, 0xFFFFFFFF)[value % 7])
        else:
            struct.pack_into("<I", out, frag + 4 + 4 * (value % 15), big)
    return bytes(out)


# --- header mutations through pydicom -----------------------------------------------------


def delete_tag(data: bytes, keyword: str) -> bytes | None:
    """The same file without ``keyword`` (None if the file does not have it)."""

    def edit(ds: Any) -> bool:
        if keyword == "TransferSyntaxUID":
            if "TransferSyntaxUID" not in ds.file_meta:
                return False
            del ds.file_meta.TransferSyntaxUID
            return True
        if keyword not in ds:
            return False
        delattr(ds, keyword)
        return True

    return _rewrite(data, edit)


def lie(data: bytes, keyword: str, value: Any) -> bytes | None:
    """The same file with ``keyword`` set to ``value`` (added if absent), VR from :data:`LIES`."""
    vr = LIES[keyword][0]

    def edit(ds: Any) -> bool:
        tag = Tag(keyword)
        ds[tag] = DataElement(tag, vr, value)
        return True

    return _rewrite(data, edit)
