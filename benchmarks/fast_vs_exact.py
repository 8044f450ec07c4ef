"""How far the chain's fast order is from the exact order, per file.

For each DICOM, ``Pipeline(size=...).preprocess`` (the fast order: the crop box-reduced,
block means windowed through the method's table, placed and resized) against the exact
order on the same box: the same pipeline whose windowing method and padder are wrapped so
that they declare no speed capability (window the crop at full resolution, with the whole
image's window, pad, exact Lanczos).
Prints the block factors, the largest and the mean absolute difference of the output
pixels (0..255) and SSIM.

Usage::

    python benchmarks/fast_vs_exact.py FILE_OR_FOLDER ... [--size 1024x512]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import attrs
import numpy as np


class Plain:
    """A component without capabilities: only its ``__call__``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, *args: Any) -> Any:
        return self.inner(*args)


class WholeImageWindow(Plain):
    """A windowing method that keeps only the ``CropWindowing`` capability (the window of
    the whole image for a crop), so that both orders window with the same window."""

    def whole_image_meta(self, decoded: Any) -> Any:
        return self.inner.whole_image_meta(decoded)


def _files(items: list[Path]) -> list[Path]:
    out: list[Path] = []
    for item in items:
        if item.is_dir():
            out += sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() == ".dcm")
        else:
            out.append(item)
    return out


def main(argv: list[str] | None = None) -> int:
    from skimage.metrics import structural_similarity

    from mammokit import Pipeline
    from mammokit.preprocess import chain

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--size", default="1024x512")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    fast = Pipeline(size=size)
    exact = Pipeline(size=size)
    stages = exact.stages
    exact.stages = attrs.evolve(
        stages, window_method=WholeImageWindow(stages.window_method), pad=Plain(stages.pad)
    )
    factors: dict[str, tuple[int, int]] = {}
    original = chain.window_crop

    def recording(stages: Any, decoded: Any, stored: Any, aspect: float) -> Any:
        result = original(stages, decoded, stored, aspect)
        factors["last"] = result[2]
        return result

    chain.window_crop = recording
    worst_max, means = 0, []
    for path in _files(args.paths):
        a = fast.preprocess(path)
        kyx = factors.get("last", (1, 1))
        c = exact.preprocess(path)
        if a.crop_box != c.crop_box:
            print(f"  {path.name}: different boxes {a.crop_box} / {c.crop_box}")
            continue
        diff = np.abs(a.pixels.astype(int) - c.pixels.astype(int))
        ssim = structural_similarity(a.pixels, c.pixels, data_range=255)
        worst_max = max(worst_max, int(diff.max()))
        means.append(float(diff.mean()))
        print(
            f"  {path.name} {a.source_shape[0]}x{a.source_shape[1]}: blocks {kyx[0]}x{kyx[1]}  "
            f"max |a - c| {diff.max()}  mean {diff.mean():.3f}  SSIM {ssim:.4f}",
            flush=True,
        )
    if means:
        print(f"worst max {worst_max}, worst mean {max(means):.3f} over {len(means)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
