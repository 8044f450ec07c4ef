"""Decoder ``pylibjpeg_rle``: RLE Lossless straight through pylibjpeg-rle.

pydicom decodes RLE with the same library (its ``pylibjpeg`` plugin calls pylibjpeg-rle's
``decode_frame``), but around it it copies the fragments out of the dataset, copies the
decoded bytes into a new array and re-validates the options: on a 12.7-megapixel CBIS-DDSM
film scan that wraps a 16 - 21 ms decode into 45 - 60 ms (``benchmarks/decoders.py``,
``docs/benchmarks.md``). This decoder reads only the frame's fragments, checks their
segment table against the header (:func:`~mammokit.dicom.codestream.checked_frame`), decodes
them once, and views the decoded bytes as the image.

The result is exactly ``ds.pixel_array``: pydicom's dtype (from Bits Allocated and Pixel
Representation), native byte order, and pydicom's correction of the unused high bits when
Bits Stored < Bits Allocated (sign-extended for signed data, cleared for unsigned). The
decoder is memory-safe Rust, and it refuses a segment whose runs decode to more or fewer
bytes than Rows x Columns, so a corrupt file raises a ``DicomDecodeError`` naming it.

Bits Allocated other than 8, 16 or 32 (1-bit RLE) is left to ``pydicom``: this decoder
refuses it, and the automatic choice falls back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mammokit.core.errors import DicomDecodeError
from mammokit.core.images import DecodedImage, ImageMeta
from mammokit.dicom._uids import RLE
from mammokit.dicom.codestream import checked_frame
from mammokit.dicom.decoders.base import FrameDecoder, as_pydicom_values
from mammokit.dicom.safety import guard

__all__ = ["PylibjpegRleDecoder"]

NAME = "pylibjpeg_rle"
_BITS = (8, 16, 32)


class PylibjpegRleDecoder(FrameDecoder):
    """RLE Lossless decoding with pylibjpeg-rle, without pydicom's copies.

    Args:
        frame: the frame to take from a multi-frame file; None (default) rejects them.

    ``decode`` ignores ``min_shape`` and returns (H, W) stored values identical to
    ``ds.pixel_array`` (or ``ds.pixel_array[frame]``).
    """

    name = NAME

    def decode_frame(
        self, path: Path, meta: ImageMeta, min_shape: tuple[int, int] | None
    ) -> DecodedImage:
        from rle.rle import decode_frame

        if meta.transfer_syntax != RLE:
            raise DicomDecodeError(
                path, f"transfer syntax {meta.transfer_syntax} is not RLE Lossless ({NAME})"
            )
        if meta.bits_allocated not in _BITS:
            raise DicomDecodeError(
                path, f"{NAME} decodes 8, 16 or 32 bits allocated, not {meta.bits_allocated}"
            )
        data = checked_frame(path, meta, self.frame or 0)  # its segment table checked
        with guard(path, "cannot decode the RLE frame"):
            decoded = decode_frame(data, meta.rows * meta.columns, meta.bits_allocated, "<")
        little = np.dtype(f"<u{meta.bits_allocated // 8}")
        if len(decoded) != meta.rows * meta.columns * little.itemsize:
            raise DicomDecodeError(
                path, f"the RLE frame decoded to {len(decoded)} bytes, not Rows x Columns"
            )
        samples = np.frombuffer(decoded, little).reshape(meta.rows, meta.columns)
        if not little.isnative:  # a big-endian machine
            samples = samples.astype(little.newbyteorder("="))
        return self._result(path, as_pydicom_values(samples, meta), meta)
