"""Decode time per transfer syntax and decoder, and what the automatic choice gains.

Two parts:

1. **Corpus** (``../shared/data/dicom-corpus``): every monochrome file pydicom decodes,
   grouped by transfer syntax. For each group, the summed per-file median decode time of
   each available decoder that handles it (``mammokit.dicom.decode_file`` with that name),
   of ``auto``, and of plain ``pydicom.dcmread(path).pixel_array``; ratios are against the
   plain pydicom time. Corpus files are small (most under 1 MP), so these mostly measure
   per-file overhead.
2. **Full-size phantoms** (``mammokit.synthetic`` stored values, default 5355x4915, 12 bits),
   written once per transfer syntax (JPEG lossless SV1 with mammokit's test encoder, RLE,
   JPEG 2000 lossless, explicit VR little endian) into ``--cache``. Medians of ``--repeat``
   decodes per decoder; JPEG 2000 also at 1/4 (``min_shape`` = a quarter of each side).

Every timed decode is also checked against pydicom's pixels (identical at full size).
Targets: dicomsdl (through ``decode_file``, i.e. ``Pipeline.decode``) at least 3x faster
than plain pydicom on JPEG lossless and RLE at full size. The automatic choice gives RLE to
``pylibjpeg_rle`` (pylibjpeg-rle without pydicom's copies; dicomsdl decodes RLE only when
named), so for RLE the script prints the automatic choice and dicomsdl against both
pydicom paths: the default (pylibjpeg-rle, a mammokit core dependency) and pydicom's own
numpy RLE decoder (the path without pylibjpeg-rle).

Usage::

    python benchmarks/decoders.py [--repeat 5] [--shape 5355x4915] [--cache DIR]
                                  [--skip-corpus] [--skip-phantoms]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pydicom
from pydicom.pixels import pixel_array

from mammokit.core.errors import MammokitError
from mammokit.dicom import decode_file
from mammokit.dicom.decode import candidates
from mammokit.dicom.decoders._dicomsdl_table import VERIFIED_TRANSFER_SYNTAXES
from mammokit.dicom.header import read_checked
from mammokit.dicom.safety import DEFAULT_LIMITS
from mammokit.plugins import get_components, get_plugin_manager
from mammokit.plugins.components import DecoderComponent

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "dicom-corpus"
PLAIN = "plain pydicom"
TARGET = 3.0


class Timing(NamedTuple):
    wall: float
    cpu: float

    def __add__(self, other: object) -> Timing:
        if isinstance(other, Timing):
            return Timing(self.wall + other.wall, self.cpu + other.cpu)
        return NotImplemented


ZERO = Timing(0.0, 0.0)
PHANTOM_SYNTAXES = {
    "JPEG lossless SV1": "1.2.840.10008.1.2.4.70",
    "RLE lossless": "1.2.840.10008.1.2.5",
    "JPEG 2000 lossless": "1.2.840.10008.1.2.4.90",
    "Explicit VR LE": "1.2.840.10008.1.2.1",
}


def _pair(text: str) -> tuple[int, int]:
    height, width = (int(v) for v in text.lower().split("x"))
    return height, width


def _median_time(function: Callable[[], Any], repeat: int) -> tuple[Timing, Any]:
    """Median wall-clock and process CPU seconds of ``repeat`` calls, after one warm-up."""
    result = function()  # warm-up (imports, caches)
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return Timing(statistics.median(walls), statistics.median(cpus)), result


def _plain(path: Path, frame: int | None) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pixels = pydicom.dcmread(path).pixel_array
    return pixels[frame] if frame is not None else pixels


def _decoders_for(decoders: dict[str, Any], path: Path, frame: int | None) -> list[str]:
    """The available decoders that handle this file: the automatic choice's candidates, and
    decoders that take its transfer syntax only when named (dicomsdl for RLE)."""
    meta = read_checked(path, DEFAULT_LIMITS, frame=frame)[1]
    names = candidates(decoders, meta, None)
    names += [
        name
        for name, component in decoders.items()
        if isinstance(component, DecoderComponent)
        and meta.transfer_syntax in component.named_only
        and component.is_available()
    ]
    # dicomsdl only where verified: elsewhere it may crash the benchmark process.
    return [
        n for n in names if n != "dicomsdl" or meta.transfer_syntax in VERIFIED_TRANSFER_SYNTAXES
    ]


def _time_file(
    decoders: dict[str, Any], path: Path, frame: int | None, repeat: int
) -> dict[str, Timing]:
    options = {} if frame is None else {"frame": frame}
    plain_time, reference = _median_time(lambda: _plain(path, frame), repeat)
    reference = reference.astype(reference.dtype.newbyteorder("="))
    times = {PLAIN: plain_time}
    for name in [*_decoders_for(decoders, path, frame), "auto"]:
        try:
            elapsed, decoded = _median_time(
                lambda name=name: decode_file(path, decoders=decoders, name=name, options=options),
                repeat,
            )
        except MammokitError as err:
            print(f"  {name} fails on {path.name}: {err.cause}", file=sys.stderr)
            continue
        if not np.array_equal(decoded.pixels, reference) or decoded.pixels.dtype != reference.dtype:
            print(f"  MISMATCH: {name} on {path}", file=sys.stderr)
        times[f"auto -> {decoded.decoder}" if name == "auto" else name] = elapsed
    return times


def _merge_auto(times: dict[str, Timing]) -> dict[str, Timing]:
    """Sum the ``auto -> X`` entries of a group into one ``auto -> X+Y`` entry."""
    auto = {k: v for k, v in times.items() if k.startswith("auto -> ")}
    merged = {k: v for k, v in times.items() if k not in auto}
    if auto:
        chosen = sorted({k.removeprefix("auto -> ") for k in auto})
        merged[f"auto -> {'+'.join(chosen)}"] = sum(auto.values(), ZERO)
    return merged


def _table(title: str, rows: list[tuple[str, str, Timing, Timing, int]]) -> None:
    """Rows of (syntax, decoder, time, plain pydicom time, files); ratios = plain / time."""
    print(f"\n{title}")
    print(
        f"{'transfer syntax':44} {'decoder':28} {'wall s':>8} {'cpu s':>8} "
        f"{'x plain (wall)':>14} {'x plain (cpu)':>13} files"
    )
    for syntax, decoder, seconds, plain, files in rows:
        print(
            f"{syntax[:44]:44} {decoder[:28]:28} {seconds.wall:8.4f} {seconds.cpu:8.4f} "
            f"{plain.wall / seconds.wall:14.2f} {plain.cpu / max(seconds.cpu, 1e-9):13.2f} "
            f"{files:5d}"
        )


def corpus_part(decoders: dict[str, Any], repeat: int) -> None:
    manifest = CORPUS / "MANIFEST.csv"
    if not manifest.exists():
        print(f"corpus not found at {CORPUS}; skipped")
        return
    with manifest.open(newline="") as handle:
        rows = [
            r
            for r in csv.DictReader(handle)
            if r["PhotometricInterpretation"].startswith("MONOCHROME") and r["decoded"]
        ]
    totals: dict[str, dict[str, Timing]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        path = CORPUS / row["source"] / row["relpath"]
        frame = 0 if row["NumberOfFrames"] not in ("", "1") else None
        for label, seconds in _time_file(decoders, path, frame, repeat).items():
            totals[row["ts_name"]][label] += seconds
        counts[row["ts_name"]] += 1
    table = []
    for syntax in sorted(totals):
        group = _merge_auto(totals[syntax])
        plain = group[PLAIN]
        for label, seconds in sorted(group.items(), key=lambda kv: kv[1].cpu):
            table.append((syntax, label, seconds, plain, counts[syntax]))
    _table("Corpus: summed per-file median decode time per transfer syntax", table)


def phantom_files(cache: Path, shape: tuple[int, int]) -> dict[str, Path]:
    """One full-size phantom per transfer syntax, written once into ``cache``."""
    from mammokit.synthetic import Encoding, make_phantom
    from mammokit.synthetic.dicom import stored_values
    from mammokit.synthetic.encoders.write import write_dicom

    folder = cache / f"decoders-{shape[0]}x{shape[1]}"
    files = {label: folder / f"{uid}.dcm" for label, uid in PHANTOM_SYNTAXES.items()}
    if all(path.exists() for path in files.values()):
        return files
    rng = np.random.default_rng(0)
    phantom = make_phantom(shape, view="MLO", density="C", seed=0)
    pixels, centers, widths, _ = stored_values(phantom, Encoding(bits_stored=12), rng)
    for label, uid in PHANTOM_SYNTAXES.items():
        path = files[label]
        if path.exists():
            continue
        started = time.perf_counter()
        write_dicom(
            path,
            pixels,
            transfer_syntax=uid,
            bits_stored=12,
            WindowCenter=centers,
            WindowWidth=widths,
        )
        print(f"  wrote {label} phantom in {time.perf_counter() - started:.1f} s", flush=True)
    return files


def phantom_part(
    decoders: dict[str, Any], cache: Path, shape: tuple[int, int], repeat: int
) -> None:
    table = []
    for label, path in phantom_files(cache, shape).items():
        times = _time_file(decoders, path, None, repeat)
        if label.startswith("JPEG 2000"):
            quarter = (shape[0] // 4, shape[1] // 4)
            for name in ("j2k_reduced", "auto"):
                elapsed, decoded = _median_time(
                    lambda name=name, path=path, quarter=quarter: decode_file(
                        path, decoders=decoders, name=name, min_shape=quarter
                    ),
                    repeat,
                )
                tag = f"auto -> {decoded.decoder}" if name == "auto" else name
                times[f"{tag} at 1/{decoded.scale}"] = elapsed
        if label.startswith("RLE"):
            # pydicom's own numpy RLE decoder, for comparison with the figures
            times["plain pydicom, numpy RLE"], _ = _median_time(
                lambda path=path: pixel_array(path, decoding_plugin="pydicom"), repeat
            )
        plain = times[PLAIN]
        for decoder, seconds in sorted(times.items(), key=lambda kv: kv[1].cpu):
            table.append((label, decoder, seconds, plain, 1))
    _table(f"Full-size phantoms {shape[0]}x{shape[1]}, 12 bits stored", table)
    print()
    for label in ("JPEG lossless SV1", "RLE lossless"):
        rows = {decoder: seconds for syntax, decoder, seconds, _p, _f in table if syntax == label}
        baselines = [PLAIN]
        if "plain pydicom, numpy RLE" in rows:
            baselines.append("plain pydicom, numpy RLE")
        for decoder, seconds in rows.items():
            if not (decoder.startswith("auto") or decoder == "dicomsdl"):
                continue
            for baseline in baselines:
                wall = rows[baseline].wall / seconds.wall
                cpu = rows[baseline].cpu / seconds.cpu
                verdict = "met" if min(wall, cpu) >= TARGET else "NOT met"
                print(
                    f"target: {decoder} >= {TARGET:g}x {baseline} on {label}: "
                    f"{wall:.2f}x wall, {cpu:.2f}x cpu ({verdict})"
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--shape", type=_pair, default=(5355, 4915))
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "mammokit-bench"
    )
    parser.add_argument("--skip-corpus", action="store_true")
    parser.add_argument("--skip-phantoms", action="store_true")
    args = parser.parse_args(argv)
    decoders = get_components(get_plugin_manager(load_entry_points=False), "mammokit_decoders")
    available = [n for n, c in decoders.items() if getattr(c, "is_available", lambda: True)()]
    print(f"available decoders: {', '.join(available)}")
    if not args.skip_corpus:
        corpus_part(decoders, max(1, args.repeat // 2))
    if not args.skip_phantoms:
        phantom_part(decoders, args.cache, args.shape, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
