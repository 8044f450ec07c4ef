"""Count the mammokit modules one image passes through in ``mammokit.Pipeline().preprocess``.

After one warm-up call, one more call of ``Pipeline().preprocess(path)`` runs under
``sys.setprofile``; every Python function call whose code is in one of mammokit's own
source files is attributed to its module. Printed: the modules entered (with their call
counts, in order of first entry) and the *switches*: consecutive mammokit calls whose
modules differ (calls into other libraries are not counted and do not break the sequence).
Issue 24's target: at most 16 modules and at most 60 switches.

The default input is a full-size (5355x4915) JPEG 2000 lossless phantom mammogram from
:mod:`mammokit.synthetic` (MONOCHROME1, SIGMOID window, breast on the right, like many RSNA
files), generated once into ``--cache``; ``PATH`` traces another file instead (e.g.
``tests/corpus/pydicom-data/RG3_J2KI.dcm``, a real JPEG 2000 radiograph).

Usage::

    python benchmarks/trace_modules.py [PATH] [--cache DIR] [--calls] [--built]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from itertools import pairwise
from pathlib import Path
from types import FrameType
from typing import Any

TARGET_MODULES, TARGET_SWITCHES = 16, 60


def phantom(cache: Path) -> Path:
    """A 5355x4915 JPEG 2000 phantom mammogram, generated once into ``cache``."""
    path = cache / "trace-j2k-5355x4915.dcm"
    if not path.exists():
        from mammokit.synthetic import Encoding, make_phantom, write_dicom

        cache.mkdir(parents=True, exist_ok=True)
        image = make_phantom((5355, 4915), view="MLO", breast_on_right=True, seed=24)
        encoding = Encoding(
            photometric="MONOCHROME1",
            voi_function="SIGMOID",
            bits_stored=12,
            transfer_syntax="jpeg2000",
            extra_windows=1,
        )
        write_dicom(path, image, encoding, patient_id="24", laterality="R", view="MLO")
    return path


def trace(path: Path, *, built: bool = False) -> list[str]:
    """The mammokit module of every Python call in one ``Pipeline().preprocess(path)`` (with
    ``built``, in ``preprocess(path)`` of a Pipeline built beforehand)."""
    import mammokit

    root = Path(mammokit.__file__).parent
    prefix = str(root) + "/"
    names: dict[str, str | None] = {}

    def module_of(filename: str) -> str | None:
        if filename not in names:
            if filename.startswith(prefix) and filename.endswith(".py"):
                parts = Path(filename).relative_to(root.parent).with_suffix("").parts
                names[filename] = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            else:
                names[filename] = None
        return names[filename]

    calls: list[str] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            module = module_of(frame.f_code.co_filename)
            if module is not None:
                calls.append(module)

    mammokit.Pipeline().preprocess(path)  # warm-up: imports, caches
    pipe = mammokit.Pipeline() if built else None
    sys.setprofile(profile)
    try:
        (pipe or mammokit.Pipeline()).preprocess(path)
    finally:
        sys.setprofile(None)
    return calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, help="the file (default: a phantom)")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "mammokit-bench"
    )
    parser.add_argument("--calls", action="store_true", help="also print every switch")
    parser.add_argument(
        "--built", action="store_true", help="trace only preprocess(), not Pipeline()"
    )
    args = parser.parse_args(argv)
    path = args.path or phantom(args.cache)
    calls = trace(path, built=args.built)
    counts = Counter(calls)
    order = list(dict.fromkeys(calls))
    switches = [(a, b) for a, b in pairwise(calls) if a != b]
    what = "Pipeline() built before" if args.built else "Pipeline().preprocess(path)"
    print(f"{path}, {what}: {len(calls)} mammokit calls")
    for module in order:
        print(f"  {counts[module]:6d}  {module}")
    if args.calls:
        for a, b in switches:
            print(f"    {a} -> {b}")
    modules_ok = len(order) <= TARGET_MODULES
    switches_ok = len(switches) <= TARGET_SWITCHES
    print(f"modules: {len(order)} (target <= {TARGET_MODULES}: {'ok' if modules_ok else 'MISSED'})")
    print(
        f"switches: {len(switches)} (target <= {TARGET_SWITCHES}: "
        f"{'ok' if switches_ok else 'MISSED'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
