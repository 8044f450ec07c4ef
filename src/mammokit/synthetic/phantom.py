"""Phantom mammograms as display values: ``make_phantom(...) -> Phantom`` with (H, W) float32.

A phantom is drawn with the chest wall on the left and mirrored when the breast belongs on
the right. It has a compressed-breast thickness profile with a skin-line falloff,
multi-scale fibroglandular texture (denser for density C/D), a pectoral muscle on MLO views,
burned-in marker blocks in the background, optionally a lesion (a mass or a cluster of
calcifications) and optionally the traits of hard real images (:class:`Traits`).

Everything is float32 and built from (H, 1) x (1, W) broadcasts and Pillow upsampling of
small noise, so a 128x96 phantom takes about a millisecond and a 5355x4915 one a few seconds.
"""

from __future__ import annotations

import math
from typing import cast

import attrs
import numpy as np
from PIL import Image

__all__ = [
    "BACKGROUND",
    "DENSITY_TEXTURE",
    "Lesion",
    "Phantom",
    "Traits",
    "make_phantom",
    "random_lesion",
]

#: Display value of the bare background (noise-free).
BACKGROUND = 0.02
#: Fibroglandular texture amplitude per BI-RADS density class ("" = unknown, like B).
DENSITY_TEXTURE = {"A": 0.05, "B": 0.09, "C": 0.14, "D": 0.19, "": 0.09}
_LESION_KINDS = ("mass", "calcification")
_BANDS = ("", "paddle", "text")


@attrs.frozen
class Lesion:
    """A lesion placed in breast coordinates, so both views of a breast can carry it.

    Attributes:
        kind: "mass" (a soft-edged blob) or "calcification" (a cluster of bright dots).
        radius: fraction of the breast's radius along the chest wall (0.02 - 0.5): the mass
            radius or the cluster radius.
        depth: 0 at the chest wall, 1 at the skin: how far towards the nipple.
        height: -1 (top) to 1 (bottom) across the breast.
        contrast: display-value increase at the centre (0 - 1).
        seed: seeds the calcification pattern and the mass outline.
    """

    kind: str = attrs.field(validator=attrs.validators.in_(_LESION_KINDS))
    radius: float = attrs.field(default=0.12, converter=float)
    depth: float = attrs.field(default=0.45, converter=float)
    height: float = attrs.field(default=0.0, converter=float)
    contrast: float = attrs.field(default=0.25, converter=float)
    seed: int = 0

    @radius.validator
    def _check_radius(self, attribute: attrs.Attribute[float], value: float) -> None:
        if not 0.02 <= value <= 0.5:
            raise ValueError(f"lesion radius must be in [0.02, 0.5], got {value}")

    @contrast.validator
    def _check_contrast(self, attribute: attrs.Attribute[float], value: float) -> None:
        if not 0 < value <= 1:
            raise ValueError(f"lesion contrast must be in (0, 1], got {value}")


@attrs.frozen
class Traits:
    """Traits of hard real images (for tests). All off by default.

    Attributes:
        no_window: write the DICOM without any window tags (used by the DICOM writer).
        bright_band: "paddle" (a band across the top brighter than the breast, like a
            compression paddle edge), "text" (a column of burned-in text brighter than the
            breast on the far side), or "" for none.
        partial: the breast touches two or three edges of the frame (a partial view).
        film_border: a bright unexposed-film border around the frame (scanned film).
        markers: burned-in marker blocks in the background (on by default).
        faint_skin: a wide, faint skin line and a faint nipple at the tip (both in
            ``breast_mask``), which a threshold on display values cuts.
        canvas: the fraction of the width (0 - 0.3) of dark film canvas between the
            chest-wall edge and the breast.
        labels: a large burned-in label block (brighter than the breast) in the
            background, apart from the breast.
        edge_strip: a bright film-edge strip down the whole far edge (away from the chest
            wall), brighter than the breast: it also makes the published edge-sum rule
            put the breast on the wrong side.
        far_line: a thin bright vertical line (a film edge) down the whole height near the
            far edge, with dark canvas beyond it (not on the frame edge).
        tilt: degrees (-25 - 25) by which the drawn film and its canvas are turned about
            the frame's centre (a film scanned askew): the chest wall is then a slanted
            straight edge, and the corners left bare are background.
    """

    no_window: bool = False
    bright_band: str = attrs.field(default="", validator=attrs.validators.in_(_BANDS))
    partial: bool = False
    film_border: bool = False
    markers: bool = True
    faint_skin: bool = False
    canvas: float = attrs.field(default=0.0, converter=float)
    labels: bool = False
    edge_strip: bool = False
    far_line: bool = False
    tilt: float = attrs.field(default=0.0, converter=float)

    @canvas.validator
    def _check_canvas(self, attribute: attrs.Attribute[float], value: float) -> None:
        if not 0 <= value <= 0.3:
            raise ValueError(f"canvas must be in [0, 0.3], got {value}")

    @tilt.validator
    def _check_tilt(self, attribute: attrs.Attribute[float], value: float) -> None:
        if not -25 <= value <= 25:
            raise ValueError(f"tilt must be in [-25, 25] degrees, got {value}")


@attrs.frozen
class Phantom:
    """A phantom mammogram in display values.

    Attributes:
        image: (H, W) float32 in [0, 1]; background dark, breast about 0.3 - 0.8.
        breast_mask: (H, W) bool, the breast (pectoral muscle included) as visible.
        lesion_mask: (H, W) bool, the lesion (all False when there is none).
        breast_on_right: True if the chest wall is on the right edge.
    """

    image: np.ndarray = attrs.field(eq=False)
    breast_mask: np.ndarray = attrs.field(eq=False)
    lesion_mask: np.ndarray = attrs.field(eq=False)
    breast_on_right: bool = False


def random_lesion(
    rng: np.random.Generator,
    *,
    kinds: tuple[str, ...] = _LESION_KINDS,
    radius: float = 0.12,
    contrast: float = 0.25,
) -> Lesion:
    """A lesion of a random kind among ``kinds`` at a random place well inside the breast."""
    return Lesion(
        kind=str(rng.choice(list(kinds))),
        radius=radius * float(rng.uniform(0.85, 1.15)),
        depth=float(rng.uniform(0.25, 0.6)),
        height=float(rng.uniform(-0.45, 0.45)),
        contrast=contrast,
        seed=int(rng.integers(0, 2**31 - 1)),
    )


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """(H, W) float32 noise of unit-ish amplitude varying over about ``cells`` per side."""
    height, width = shape
    small_h = max(2, min(height, cells))
    small_w = max(2, min(width, round(cells * width / height)))
    small = rng.standard_normal((small_h, small_w)).astype(np.float32)
    image = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float32)


def _upsample(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(h, w) float32 -> ``shape`` float32 by bilinear interpolation (no-op when equal)."""
    if values.shape == shape:
        return values.astype(np.float32, copy=False)
    image = Image.fromarray(values.astype(np.float32, copy=False))
    return np.asarray(image.resize(shape[::-1], Image.Resampling.BILINEAR), dtype=np.float32)


def _thickness(r: np.ndarray, faint: bool = False) -> np.ndarray:
    """Compressed thickness from the elliptic radius: flat inside, falling off over the
    outer ~15% (the skin line; with ``faint``, linearly over the outer 20%, so the rim is
    close to the background); float32 in [0, 1], 0 outside the breast."""
    width = np.float32(0.2 if faint else 0.15)
    thickness = np.clip((1 - r) / width, 0, 1).astype(np.float32, copy=False)
    if not faint:
        np.sqrt(thickness, out=thickness)
        return cast("np.ndarray", thickness)
    # The skin itself: a thin line, denser than the fat under it, but still faint.
    np.maximum(thickness, np.float32(0.07) * ((r > 0.985) & (r < 1)), out=thickness)
    return cast("np.ndarray", thickness)


def _nipple(shape: _Shape, size: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: a small half-disc just past the breast's tip (a nipple in profile)."""
    height, width = size
    y, x = _grid(size)
    tip_x = shape.ax * 0.97
    tip_y = shape.cy + shape.tilt * tip_x
    radius = 0.025
    dy, dx = (y - tip_y) * height, (x - tip_x) * width
    inside: np.ndarray = (dy * dy + dx * dx < (radius * height) ** 2) & (x > tip_x)
    return inside


def _label_block(
    rng: np.random.Generator, image: np.ndarray, breast: np.ndarray, level: float
) -> None:
    """Burn a large label (big glyphs, like "LCC" on film) into the background."""
    height, width = image.shape
    cell = max(1, round(0.02 * height))
    h, w = 5 * cell, 12 * cell
    for top, left in (
        (int(0.05 * height), int(0.72 * width)),
        (int(0.8 * height), int(0.7 * width)),
    ):
        area = breast[max(0, top - cell) : top + h + cell, max(0, left - cell) : left + w + cell]
        if not area.any() and left + w < width:
            _glyph_block(rng, image, (top, left, h, w), cell, level)
            return


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates in [0, 1] as (H, 1) and (1, W) float32 arrays."""
    height, width = shape
    y = (np.arange(height, dtype=np.float32)[:, None] + 0.5) / height
    x = (np.arange(width, dtype=np.float32)[None, :] + 0.5) / width
    return y, x


@attrs.frozen
class _Shape:
    """The breast outline in normalised coordinates (chest wall at x = 0)."""

    cy: float  # centre row on the chest wall
    ay: float  # half extent along the chest wall
    ax: float  # extent towards the nipple
    tilt: float  # MLO: how far the tip droops per unit x
    wobble: tuple[float, float, float, float]


def _outline(rng: np.random.Generator, view: str, partial: bool) -> _Shape:
    wobble = (
        float(rng.uniform(0.01, 0.035)),
        float(rng.uniform(0, 2 * math.pi)),
        float(rng.uniform(0.005, 0.015)),
        float(rng.uniform(0, 2 * math.pi)),
    )
    mlo = view == "MLO"
    if partial:
        if rng.random() < 0.5:  # left, top and bottom edges
            return _Shape(0.5, 0.62, float(rng.uniform(0.7, 0.85)), 0.0, wobble)
        return _Shape(0.3, 0.5, float(rng.uniform(0.75, 0.9)), 0.0, wobble)  # left and top
    return _Shape(
        cy=float(rng.uniform(0.44, 0.52)) - (0.04 if mlo else 0.0),
        ay=float(rng.uniform(0.36, 0.43)) + (0.05 if mlo else 0.0),
        ax=float(rng.uniform(0.52, 0.7)),
        tilt=float(rng.uniform(0.12, 0.25)) if mlo else 0.0,
        wobble=wobble,
    )


def _radius(shape: _Shape, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Normalised elliptic radius: 0 at the chest-wall centre, 1 on the skin line."""
    u = x / shape.ax
    v = (y - shape.cy - shape.tilt * x) / shape.ay
    r = np.sqrt(u * u + v * v)
    theta = np.arctan2(v, u)
    a1, p1, a2, p2 = shape.wobble
    r /= 1 + a1 * np.sin(2 * theta + p1) + a2 * np.sin(5 * theta + p2)
    result: np.ndarray = r.astype(np.float32, copy=False)
    return result


def _lesion_patch(
    lesion: Lesion, shape: _Shape, size: tuple[int, int]
) -> tuple[tuple[slice, slice], np.ndarray]:
    """The lesion's relative brightness in [0, 1] as (where, float32 patch) in an image of
    ``size``; only the patch around the lesion is computed."""
    height, width = size
    # The lesion centre in pixels, from breast coordinates.
    cx = lesion.depth * shape.ax
    cy = shape.cy + shape.tilt * cx + lesion.height * shape.ay * math.sqrt(1 - lesion.depth**2)
    cy_px, cx_px = cy * height, cx * width
    r_px = lesion.radius * shape.ay * height
    reach = int(r_px * 1.6) + 4
    y0, y1 = max(0, int(cy_px) - reach), min(height, int(cy_px) + reach)
    x0, x1 = max(0, int(cx_px) - reach), min(width, int(cx_px) + reach)
    y1, x1 = max(y1, y0 + 1), max(x1, x0 + 1)
    where = (slice(y0, y1), slice(x0, x1))
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - cy_px
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - cx_px
    patch = np.zeros((y1 - y0, x1 - x0), np.float32)
    rng = np.random.default_rng(lesion.seed)
    if lesion.kind == "mass":
        stretch = float(rng.uniform(0.75, 1.0))
        angle = float(rng.uniform(0, math.pi))
        cos, sin = math.cos(angle), math.sin(angle)
        rho = np.sqrt((dx * cos + dy * sin) ** 2 + ((dy * cos - dx * sin) / stretch) ** 2)
        edge = max(1.0, 0.15 * r_px)
        patch[...] = 1 / (1 + np.exp(np.clip((rho - r_px) / edge, -30, 30)))
        return where, patch
    dot = max(1.0, 0.008 * height)
    for _ in range(int(rng.integers(6, 13))):
        ang = rng.uniform(0, 2 * math.pi)
        dist = r_px * math.sqrt(rng.uniform(0, 1))
        py, px = dist * math.sin(ang), dist * math.cos(ang)
        r_dot = dot * float(rng.uniform(0.7, 1.3))
        spot = np.exp(-((dy - py) ** 2 + (dx - px) ** 2) / (2 * r_dot * r_dot))
        np.maximum(patch, spot, out=patch)
    return where, patch


def _glyph_block(
    rng: np.random.Generator,
    image: np.ndarray,
    box: tuple[int, int, int, int],
    cell: int,
    level: float,
) -> None:
    """Burn lines of glyph-like characters (3x5 cells each) into ``box`` of ``image``.

    ``box`` is (top, left, height, width); ``cell`` is the stroke size in pixels.
    """
    top, left, h, w = box
    for line_top in range(top, top + max(1, h - 5 * cell + 1), 7 * cell):
        for char_left in range(left, left + max(1, w - 3 * cell + 1), 4 * cell):
            bits = rng.random((5, 3)) < 0.55
            for (i, j), on in np.ndenumerate(bits):
                if on:
                    y0, x0 = line_top + i * cell, char_left + j * cell
                    image[y0 : y0 + cell, x0 : x0 + cell] = level


def _markers(rng: np.random.Generator, image: np.ndarray, breast: np.ndarray, level: float) -> None:
    """Burn a laterality/view marker block into the background, if there is room."""
    height, width = image.shape
    cell = _cell(height)
    h, w = 5 * cell, max(3 * cell, int(0.14 * width))
    left = int(width * rng.uniform(0.78, 0.84))
    for top in (int(0.04 * height), int(0.9 * height)):
        area = breast[max(0, top - 2) : top + h + 2, max(0, left - 2) : left + w + 2]
        if not area.any():
            _glyph_block(rng, image, (top, left, h, w), cell, level)
            return


def _cell(height: int) -> int:
    """Stroke size of burned-in characters: 0.8% of the image height, at least 1 pixel."""
    return max(1, round(0.008 * height))


def _tissue(
    rng: np.random.Generator, outline: _Shape, shape: tuple[int, int], density: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The smooth parts: ``(r, tissue, pectoral_level)``, each (H, W) float32.

    They are rendered at most 1024 pixels a side and upsampled to ``shape``.
    """
    height, width = shape
    factor = max(1, -(-max(height, width) // 1024))
    small = (-(-height // factor), -(-width // factor))
    y, x = _grid(small)
    r = _radius(outline, y, x)
    base = float(rng.uniform(0.42, 0.52))
    texture = 0.6 * _smooth_noise(rng, small, 6) + 0.4 * _smooth_noise(rng, small, 24)
    fine = _smooth_noise(rng, small, min(96, max(8, height // 4)))
    gland = np.exp(-(((r - 0.45) / 0.38) ** 2))
    amplitude = DENSITY_TEXTURE.get(density, DENSITY_TEXTURE[""])
    tissue = base + amplitude * (np.tanh(texture) + 0.35 * fine) * gland
    pectoral_level = base + 0.16 + 0.03 * fine
    r, tissue, pectoral_level = (_upsample(a, shape) for a in (r, tissue, pectoral_level))
    return r, tissue, pectoral_level


def _add_quantum_noise(rng: np.random.Generator, image: np.ndarray) -> None:
    """Add (H, W) float32 noise in place that grows with the signal.

    None on the bare background (as on detectors that clip it), which also keeps JPEG 2000
    files near real sizes.
    """
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    signal = np.clip(image - np.float32(BACKGROUND), 0, 1)
    np.sqrt(signal, out=signal)
    noise *= signal
    noise *= np.float32(0.008)
    image += noise


def _shift_canvas(
    image: np.ndarray, breast: np.ndarray, lesion_mask: np.ndarray, canvas: float
) -> None:
    """Move the picture right by ``canvas`` of the width, in place, leaving bare background."""
    width = image.shape[1]
    shift = int(canvas * width)
    image[:, shift:] = image[:, : width - shift].copy()
    breast[:, shift:] = breast[:, : width - shift].copy()
    lesion_mask[:, shift:] = lesion_mask[:, : width - shift].copy()
    image[:, :shift] = BACKGROUND
    breast[:, :shift] = False
    lesion_mask[:, :shift] = False


def _turn(
    image: np.ndarray, breast: np.ndarray, lesion_mask: np.ndarray, degrees: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The picture and its masks turned by ``degrees`` about the centre (bare corners are
    background): (H, W) float32, bool, bool."""
    from scipy.ndimage import rotate

    turned = rotate(image, degrees, reshape=False, order=1, cval=BACKGROUND)
    masks = (rotate(m, degrees, reshape=False, order=0, cval=False) for m in (breast, lesion_mask))
    return turned.astype(np.float32, copy=False), *masks


def _add_hard_cases(
    rng: np.random.Generator,
    traits: Traits,
    image: np.ndarray,
    breast: np.ndarray,
    lesion_mask: np.ndarray,
    level: float,
) -> None:
    """Draw the traits' markers, labels, edge strip, bright band and film border in place."""
    height, width = image.shape
    if traits.markers:
        _markers(rng, image, breast, level)
    if traits.labels:
        _label_block(rng, image, breast, min(1.0, level + 0.05))
    if traits.edge_strip:
        strip = max(2, int(0.05 * width))
        image[:, width - strip :] = 0.9 + 0.01 * rng.standard_normal((height, strip)).astype(
            np.float32
        )
        breast[:, width - strip :] = False
        lesion_mask[:, width - strip :] = False
    if traits.far_line:
        left, thick = int(0.93 * width), max(1, round(0.008 * width))
        image[:, left : left + thick] = 0.95
        breast[:, left : left + thick] = False
        lesion_mask[:, left : left + thick] = False
    if traits.bright_band == "paddle":
        band = max(2, int(0.03 * height))
        image[:band, :] = level + 0.02 * rng.standard_normal((band, width)).astype(np.float32)
        breast[:band, :] = False
    elif traits.bright_band == "text":
        box = (int(0.08 * height), int(0.9 * width), int(0.5 * height), int(0.07 * width))
        _glyph_block(rng, image, box, _cell(height), level)
    if traits.film_border:
        edge = max(2, int(0.03 * min(height, width)))
        frame = np.ones(image.shape, bool)
        frame[edge:-edge, edge:-edge] = False
        image[frame] = 0.9 + 0.01 * rng.standard_normal(int(frame.sum())).astype(np.float32)
        breast &= ~frame
        lesion_mask &= ~frame


def make_phantom(
    shape: tuple[int, int],
    *,
    view: str = "CC",
    breast_on_right: bool = False,
    density: str = "B",
    lesion: Lesion | None = None,
    traits: Traits | None = None,
    seed: int = 0,
) -> Phantom:
    """Draw one phantom mammogram.

    Args:
        shape: (H, W) in pixels, at least 32 x 24.
        view: "CC" or "MLO" (MLO has a pectoral muscle and a drooping outline); other
            views are drawn like CC.
        breast_on_right: put the chest wall on the right edge.
        density: BI-RADS density "A" - "D" (or "") setting the texture amplitude.
        lesion: a lesion to add, or None.
        traits: hard-case traits; None means the defaults (markers only).
        seed: seeds everything random in this image.

    Returns:
        :class:`Phantom` with (H, W) float32 display values in [0, 1].
    """
    height, width = shape
    if height < 32 or width < 24:
        raise ValueError(f"phantom shape must be at least 32x24, got {height}x{width}")
    traits = traits or Traits()
    rng = np.random.default_rng(seed)
    outline = _outline(rng, view, traits.partial)
    r, tissue, pectoral_level = _tissue(rng, outline, shape, density)
    y, x = _grid(shape)
    breast = r < 1
    image = _thickness(r, traits.faint_skin)
    image *= tissue - BACKGROUND
    image += BACKGROUND
    if traits.faint_skin:
        nipple = _nipple(outline, shape) & ~breast
        image[nipple] = BACKGROUND + 0.05
        breast |= nipple
    if view == "MLO":
        depth = float(rng.uniform(0.28, 0.42))
        reach = float(rng.uniform(0.45, 0.65))
        pectoral = x / depth + y / reach < 1
        np.copyto(image, np.maximum(image, pectoral_level), where=pectoral)
        breast |= pectoral
    lesion_mask = np.zeros(shape, bool)
    if lesion is not None:
        where, patch = _lesion_patch(lesion, outline, shape)
        patch *= breast[where] * _thickness(r[where])
        image[where] += lesion.contrast * patch
        lesion_mask[where] = patch > 0.5
    _add_quantum_noise(rng, image)
    level = float(min(0.98, image[breast].max() + 0.08)) if breast.any() else 0.9
    if traits.canvas:
        _shift_canvas(image, breast, lesion_mask, traits.canvas)
    if traits.tilt:
        image, breast, lesion_mask = _turn(image, breast, lesion_mask, traits.tilt)
    _add_hard_cases(rng, traits, image, breast, lesion_mask, level)
    np.clip(image, 0, 1, out=image)
    if breast_on_right:
        image, breast, lesion_mask = image[:, ::-1], breast[:, ::-1], lesion_mask[:, ::-1]
    return Phantom(
        image=np.ascontiguousarray(image),
        breast_mask=np.ascontiguousarray(breast),
        lesion_mask=np.ascontiguousarray(lesion_mask),
        breast_on_right=breast_on_right,
    )
