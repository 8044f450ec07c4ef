"""Where dicomsdl may be used: the verified and excluded transfer syntaxes (import-light).

Measured with dicomsdl 0.109.4 against pydicom 3.0.2 + pylibjpeg on every monochrome file of
the public corpus (``../shared/data/dicom-corpus``), each file decoded in a subprocess.
"""

from __future__ import annotations

import importlib.util

from mammokit.dicom import _uids

__all__ = [
    "EXCLUDED_TRANSFER_SYNTAXES",
    "NAMED_ONLY",
    "VERIFIED_TRANSFER_SYNTAXES",
    "dicomsdl_available",
]

#: Transfer syntax -> the corpus evidence that dicomsdl 0.109 matches pydicom there
#: (every monochrome 8/16-bit file, pixel values and dtype).
VERIFIED_TRANSFER_SYNTAXES: dict[str, str] = {
    _uids.JPEG_LOSSLESS: "JPEG Lossless P14: 2/2 corpus files identical",
    _uids.JPEG_LOSSLESS_SV1: "JPEG Lossless SV1: 5/5 corpus files identical",
    _uids.RLE: "RLE Lossless: 2/2 corpus 16-bit files identical (32-bit data excluded)",
}

#: Verified transfer syntaxes dicomsdl decodes only when named (``decoder="dicomsdl"``), never
#: by the automatic choice: its RLE decoder never bounds the bytes a segment's runs write, so
#: a corrupted RLE stream overflows the heap (24 of 600 mutated corpus files crashed it), and
#: it is at most 1.3x faster than pylibjpeg-rle (memory-safe Rust) called by ``pylibjpeg_rle``.
NAMED_ONLY: frozenset[str] = frozenset({_uids.RLE})

#: Transfer syntax -> (why dicomsdl is not used, a corpus file that shows it). An empty
#: file means no corpus file of that syntax disagrees: it shares the decoding path (and the
#: flaw) of another excluded syntax, which its reason names.
EXCLUDED_TRANSFER_SYNTAXES: dict[str, tuple[str, str]] = {
    _uids.EXPLICIT_LITTLE: (
        "no unused-bit sign extension (differs); segfaults on truncated data; no faster",
        "pydicom-data/mlut_18.dcm",
    ),
    _uids.IMPLICIT_LITTLE: (
        "raw data as explicit VR little endian; 32-bit data comes back as uint16",
        "pydicom/rtdose_1frame.dcm",
    ),
    _uids.EXPLICIT_BIG: (
        "raw data as explicit VR little endian; 1-bit data differs",
        "pydicom/liver_expb_1frame.dcm",
    ),
    _uids.DEFLATED: (
        "same raw path as explicit VR little endian once inflated; no faster",
        "",
    ),
    _uids.JPEG_BASELINE: (
        "another libjpeg build: lossy values differ",
        "pylibjpeg-data/JPEGBaseline/JPEGBaseline_1s_1f_u_08_08.dcm",
    ),
    _uids.JPEG_EXTENDED: ("lossy values differ", "pydicom/JPGExtended.dcm"),
    _uids.JPEG_LS_LOSSLESS: (
        "no sign correction of signed data below 16 bits (differs)",
        "pydicom-data/JLSL_16_15_1_1F.dcm",
    ),
    _uids.JPEG_LS_NEAR_LOSSLESS: (
        "same CharLS path as JPEG-LS lossless, without the sign correction",
        "",
    ),
    _uids.J2K_LOSSLESS: (
        "no J2K/Pixel Representation sign correction (differs); no faster than pydicom",
        "pydicom/J2K_pixelrep_mismatch.dcm",
    ),
    _uids.J2K: (
        "same OpenJPEG path as J2K lossless, without the sign correction; no faster",
        "",
    ),
}


def dicomsdl_available() -> bool:
    """True when the ``dicomsdl`` module can be imported (the ``fast`` extra)."""
    return importlib.util.find_spec("dicomsdl") is not None
