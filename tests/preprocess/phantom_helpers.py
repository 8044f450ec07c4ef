"""Helpers shared by the geometry tests: phantoms as display arrays, DICOMs and PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from mammokit import CropBox, ImageMeta, WindowedImage
from mammokit.synthetic import Encoding, Lesion, Phantom, Traits, make_phantom, write_dicom


def display(phantom: Phantom, max_value: int = 65535) -> np.ndarray:
    """The phantom as (H, W) uint16 display values in [0, max_value]."""
    return np.rint(phantom.image * max_value).astype(np.uint16)


def windowed(phantom: Phantom) -> WindowedImage:
    pixels = display(phantom)
    meta = ImageMeta(rows=pixels.shape[0], columns=pixels.shape[1])
    return WindowedImage(pixels=pixels, meta=meta, max_value=65535)


def kept(mask: np.ndarray, box: CropBox) -> float:
    """The fraction of ``mask`` inside ``box``."""
    inside = mask[box.y0 : box.y1, box.x0 : box.x1].sum()
    return float(inside) / float(mask.sum())


def background_cut(mask: np.ndarray, box: CropBox) -> float:
    """The fraction of the non-``mask`` pixels outside ``box``."""
    background = ~mask
    inside = background[box.y0 : box.y1, box.x0 : box.x1].sum()
    return 1.0 - float(inside) / float(background.sum())


def phantom(
    shape: tuple[int, int] = (160, 128),
    *,
    seed: int = 0,
    view: str = "CC",
    right: bool = False,
    lesion: Lesion | None = None,
    traits: Traits | None = None,
) -> Phantom:
    return make_phantom(
        shape, view=view, breast_on_right=right, lesion=lesion, traits=traits, seed=seed
    )


def dicom(
    path: Path, ph: Phantom, encoding: Encoding | None = None, *, laterality: str | None = None
) -> Path:
    """``ph`` as a DICOM; ImageLaterality is the phantom's side unless ``laterality`` says."""
    if laterality is None:
        laterality = "R" if ph.breast_on_right else "L"
    return write_dicom(
        path,
        ph,
        encoding or Encoding(),
        patient_id="1",
        laterality=laterality,
        view="CC",
    )


def png(path: Path, ph: Phantom, bits: int) -> Path:
    """Write the phantom as an 8- or 16-bit greyscale PNG."""
    if bits == 8:
        Image.fromarray(np.rint(ph.image * 255).astype(np.uint8)).save(path)
    else:
        Image.fromarray(display(ph)).save(path)
    return path
