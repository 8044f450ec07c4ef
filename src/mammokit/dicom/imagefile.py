"""Ordinary image files (PNG, PGM, JPEG, TIFF), e.g. external datasets such as DDSM.

They are treated as already windowed: 8-bit files give uint8, 16-bit files uint16, and
``meta.is_dicom`` is False. Colour files are accepted only when every pixel is grey
(R == G == B), since some datasets store greyscale that way; a real colour image is an error.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from mammokit.core.errors import ImageReadError, ResourceLimitError
from mammokit.core.images import DecodedImage, ImageMeta
from mammokit.dicom.safety import DEFAULT_LIMITS, Limits, check_file_size, check_size, guard

__all__ = ["IMAGE_DECODER", "read_image", "read_image_meta"]

IMAGE_DECODER = "pillow"


def _open(path: Path, limits: Limits) -> Image.Image:
    check_file_size(path, limits)
    with guard(path, "cannot read the image", error=ImageReadError), warnings.catch_warnings():
        # Our own limits apply; Pillow's bomb check still raises past 2x its limit.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except Image.DecompressionBombError as err:
            raise ResourceLimitError(path, f"image too large: {err}") from err
    frames = int(getattr(image, "n_frames", 1) or 1)
    if frames > 1:
        image.close()
        raise ImageReadError(path, f"multi-page image ({frames} pages) is not supported")
    width, height = image.size
    samples = len(image.getbands())
    try:
        check_size(
            path, rows=height, columns=width, frames=1, samples=samples, bits=16, limits=limits
        )
    except ResourceLimitError:
        image.close()
        raise
    return image


def _meta(path: Path, image: Image.Image, bits: int) -> ImageMeta:
    width, height = image.size
    return ImageMeta(
        path=str(path),
        image_id=path.stem,
        photometric="MONOCHROME2",
        bits_stored=bits,
        bits_allocated=bits,
        rows=height,
        columns=width,
        is_dicom=False,
    )


def _bits(image: Image.Image) -> int:
    return 16 if image.mode.startswith("I") else 8


def read_image_meta(path: Path, limits: Limits = DEFAULT_LIMITS) -> ImageMeta:
    """ImageMeta of an ordinary image without decoding its pixels."""
    path = Path(path)
    with _open(path, limits) as image:
        return _meta(path, image, _bits(image))


def read_image(path: Path, limits: Limits = DEFAULT_LIMITS) -> DecodedImage:
    """Decode a greyscale image file.

    Returns:
        DecodedImage: (H, W) uint8 (8-bit and bilevel files) or uint16 (16-bit files),
        ``meta.is_dicom`` False, ``decoder`` ``"pillow"``.

    Raises:
        ImageReadError: unreadable, not an image, colour, float or multi-page.
        ResourceLimitError: larger than ``limits``.
    """
    path = Path(path)
    with _open(path, limits) as image:
        with guard(path, "cannot decode the image", error=ImageReadError):
            image.load()
            pixels, bits = _greyscale(path, image)
        return DecodedImage(pixels=pixels, meta=_meta(path, image, bits), decoder=IMAGE_DECODER)


def _greyscale(path: Path, image: Image.Image) -> tuple[np.ndarray, int]:
    mode = image.mode
    if mode in ("L", "LA"):
        return np.asarray(image.getchannel(0), dtype=np.uint8), 8
    if mode == "1":
        return np.asarray(image.convert("L"), dtype=np.uint8), 8
    if mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16, copy=False), 16
    if mode == "I":
        values = np.asarray(image)
        if values.size and (values.min() < 0 or values.max() > 0xFFFF):
            raise ImageReadError(path, "32-bit integer image with values outside 0..65535")
        return values.astype(np.uint16), 16
    if mode in ("RGB", "RGBA", "P", "PA", "CMYK", "YCbCr"):
        rgb = np.asarray(image.convert("RGB"))
        grey = rgb[..., 0]
        if not (np.array_equal(grey, rgb[..., 1]) and np.array_equal(grey, rgb[..., 2])):
            raise ImageReadError(path, f"colour image (mode {mode}); only greyscale is supported")
        return np.ascontiguousarray(grey), 8
    raise ImageReadError(path, f"unsupported image mode {mode!r} (8/16-bit greyscale only)")
