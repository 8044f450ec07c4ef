"""Decoder ``imagecodecs``: JPEG lossless (process 14 and SV1) through libjpeg-turbo 3.

libjpeg-turbo decodes lossless JPEG since version 3.0; imagecodecs (the ``fast`` extra)
bundles it (``imagecodecs.jpeg8_decode``). On the CBIS-DDSM images re-encoded as JPEG
lossless it decodes 12.7 megapixels in 66 - 72 ms, against 100 - 116 ms for dicomsdl and
about 400 ms for pydicom's pylibjpeg-libjpeg (``docs/benchmarks.md``).

Before it runs, :func:`~mammokit.dicom.codestream.checked_frame` compares the frame's
SOF (size, precision) with the DICOM header, as before dicomsdl, and the decoded shape is
checked again after. The result is exactly ``ds.pixel_array``: pydicom's dtype (from Bits
Allocated and Pixel Representation) and pydicom's correction of the unused high bits when
Bits Stored < Bits Allocated. Only monochrome 8- and 16-bit data is taken; the automatic
choice falls back to the next decoder for anything this one refuses.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from mammokit.core.errors import DicomDecodeError
from mammokit.core.images import DecodedImage, ImageMeta
from mammokit.dicom._uids import JPEG_LOSSLESS, JPEG_LOSSLESS_SV1
from mammokit.dicom.codestream import checked_frame
from mammokit.dicom.decoders.base import FrameDecoder, as_pydicom_values
from mammokit.dicom.safety import guard

__all__ = ["IMAGECODECS_TRANSFER_SYNTAXES", "ImagecodecsDecoder", "imagecodecs_available"]

NAME = "imagecodecs"

#: JPEG lossless, process 14 (any predictor) and its selection value 1 (SV1).
IMAGECODECS_TRANSFER_SYNTAXES = frozenset({JPEG_LOSSLESS, JPEG_LOSSLESS_SV1})


def imagecodecs_available() -> bool:
    """Whether imagecodecs is installed with a libjpeg-turbo that decodes lossless JPEG
    (3.0 or later); a cheap check first, so listing the plugins stays light."""
    if importlib.util.find_spec("imagecodecs") is None:
        return False
    try:
        import imagecodecs

        version = str(imagecodecs.jpeg8_version())  # "libjpeg_turbo 3.1.3/8.0"
        major = int(version.split()[1].split(".")[0])
    except Exception:  # a broken or unexpected build means "not available"
        return False
    return bool(imagecodecs.JPEG8.available) and version.startswith("libjpeg_turbo") and major >= 3


class ImagecodecsDecoder(FrameDecoder):
    """Full-resolution JPEG lossless decoding with imagecodecs (libjpeg-turbo 3).

    Args:
        frame: the frame to take from a multi-frame file; None (default) rejects them.

    ``decode`` ignores ``min_shape`` and returns (H, W) stored values identical to
    ``ds.pixel_array`` (or ``ds.pixel_array[frame]``).
    """

    name = NAME

    def decode_frame(
        self, path: Path, meta: ImageMeta, min_shape: tuple[int, int] | None
    ) -> DecodedImage:
        if meta.transfer_syntax not in IMAGECODECS_TRANSFER_SYNTAXES:
            raise DicomDecodeError(
                path, f"transfer syntax {meta.transfer_syntax} is not JPEG lossless ({NAME})"
            )
        if meta.bits_allocated not in (8, 16):
            raise DicomDecodeError(
                path, f"{NAME} decodes 8 or 16 bits allocated, not {meta.bits_allocated}"
            )
        data = checked_frame(path, meta, self.frame or 0)  # its SOF against the header
        with guard(path, "imagecodecs cannot decode the JPEG lossless frame"):
            import imagecodecs

            decoded = np.asarray(imagecodecs.jpeg8_decode(data))
        if decoded.ndim != 2 or decoded.dtype.kind != "u":
            raise DicomDecodeError(
                path, f"{NAME} gave a {decoded.dtype} array of shape {decoded.shape}"
            )
        return self._result(path, as_pydicom_values(decoded, meta), meta)
