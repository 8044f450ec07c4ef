"""Decoder ``pydicom``: pydicom 3's pixel pipeline with the pylibjpeg plugins.

It handles every transfer syntax pydicom has an available decoder for (raw little/big
endian, deflate, RLE, JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000, HTJ2K) and is the
reference: every other decoder must give the same pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pydicom.pixels
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import pixel_array
from pydicom.uid import UID

from mammokit.core.errors import DicomDecodeError
from mammokit.core.images import DecodedImage, ImageMeta
from mammokit.dicom import _uids
from mammokit.dicom.codestream import check_codestream
from mammokit.dicom.decoders.base import FrameDecoder
from mammokit.dicom.safety import BoundedFile, guard

__all__ = ["PydicomDecoder", "describe_uid", "native", "pydicom_can_decode"]


def pydicom_can_decode(uid: str) -> bool:
    """True when pydicom has a decoder for ``uid`` whose plugins are installed."""
    try:
        return bool(get_decoder(UID(uid)).is_available)
    except (NotImplementedError, ValueError):
        return False


def native(pixels: np.ndarray) -> np.ndarray:
    """The same values in native byte order (big endian files decode to '>u2' otherwise)."""
    if pixels.dtype.byteorder not in ("=", "|"):
        return pixels.astype(pixels.dtype.newbyteorder("="))
    return pixels


def describe_uid(uid: str) -> str:
    """``"1.2.840.10008.1.2.5 (RLE Lossless)"``."""
    name = UID(uid).name if uid else ""
    return f"{uid} ({name})" if name and name != uid else uid or "(none)"


class PydicomDecoder(FrameDecoder):
    """Full-resolution decode through ``pydicom.pixels.pixel_array``.

    Args:
        frame: the frame to take from a multi-frame file; None (default) rejects them.

    ``decode`` ignores ``min_shape`` and returns (H, W) stored values in pydicom's dtype
    (native byte order): exactly ``ds.pixel_array`` (or ``ds.pixel_array[frame]``).
    """

    name = "pydicom"

    def decode_frame(
        self, path: Path, meta: ImageMeta, min_shape: tuple[int, int] | None
    ) -> DecodedImage:
        if not pydicom_can_decode(meta.transfer_syntax):
            raise DicomDecodeError(
                path,
                f"unsupported transfer syntax {describe_uid(meta.transfer_syntax)}: "
                "no installed pydicom decoder plugin handles it",
            )
        check_codestream(path, meta, self.frame)
        with (
            guard(path, f"cannot decode pixel data ({describe_uid(meta.transfer_syntax)})"),
            BoundedFile(path) as handle,  # a lying item length must not allocate GiBs
        ):
            if meta.transfer_syntax == _uids.DEFLATED:
                # pixel_array(path) reads the file raw; a deflated dataset must be inflated.
                source: Any = pydicom.dcmread(handle)
            else:
                source = handle
            pixels = pixel_array(source, index=self.frame)
        return self._result(path, native(pixels), meta)
