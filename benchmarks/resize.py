"""The resize filter: ``separable_resize`` (Pillow's kernels as banded matrix products)
against Pillow's own ``Image.resize``, side by side in one process.

Shapes: the resize inputs of the shared GE Senographe files (``real-dicom/omama``) as
``Pipeline.preprocess`` builds them for a 1024x512 output (dcm01's padded 1844x922 crop,
which takes the exact order; the 3062-row crops' 2x2 block means, about 1531x766), plus
a 1147x574 canvas and a 2000x1000 crop. Each shape is a real image when the shared data is
there (``Pipeline(size=(4096, 2048))`` of dcm01, resized by Pillow to the shape), else
random values.

For each shape and filter it prints the median time of (a) ``separable_resize`` on float32,
(b) Pillow's "F" resize and (c) Pillow's "L" resize (what ``resize`` used for uint8 before),
the ratios b / a and c / a, and the largest difference between (a) and (b) in grey levels.

Usage::

    python benchmarks/resize.py [--data /work/shared/data] [--repeat 30] [--size 1024x512]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from mammokit.preprocess.resize import RESAMPLE, separable_resize

ROOT = Path(__file__).resolve().parents[1]
SHAPES = [(1844, 922), (1531, 766), (1147, 574), (2000, 1000)]
PILLOW = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "box": Image.Resampling.BOX,
}


def _pair(text: str) -> tuple[int, int]:
    height, width = (int(v) for v in text.lower().split("x"))
    return height, width


def _median_ms(function: Callable[[], object], repeat: int) -> float:
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def source(data: Path) -> np.ndarray:
    """A large real mammogram (uint8), or random values without the shared data."""
    path = data / "real-dicom" / "omama" / "dcm01.DCM"
    if path.is_file():
        from mammokit import Pipeline

        return Pipeline(size=(4096, 2048)).preprocess(path).pixels
    return (np.random.default_rng(0).random((4096, 2048)) * 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--size", type=_pair, default=(1024, 512))
    args = parser.parse_args(argv)
    big = Image.fromarray(source(args.data))
    size = args.size
    print(f"(a) separable_resize vs (b) Pillow 'F' and (c) Pillow 'L', to {size[0]}x{size[1]}")
    for shape in SHAPES:
        pixels = np.asarray(big.resize(shape[::-1], Image.Resampling.LANCZOS))
        values = pixels.astype(np.float32)
        as_f, as_l = Image.fromarray(values, mode="F"), Image.fromarray(pixels)
        for name in RESAMPLE:
            ours = _median_ms(partial(separable_resize, values, size, None, name), args.repeat)
            f_mode = _median_ms(partial(as_f.resize, size[::-1], PILLOW[name]), args.repeat)
            l_mode = _median_ms(partial(as_l.resize, size[::-1], PILLOW[name]), args.repeat)
            diff = np.abs(
                separable_resize(values, size, None, name)
                - np.asarray(as_f.resize(size[::-1], PILLOW[name]))
            ).max()
            print(
                f"  {shape[0]}x{shape[1]} {name:8s} (a) {ours:5.1f} ms  (b) {f_mode:5.1f} ms"
                f"  (c) {l_mode:5.1f} ms  b/a {f_mode / ours:4.1f}  c/a {l_mode / ours:4.1f}"
                f"  max |a - b| {diff:.4f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
