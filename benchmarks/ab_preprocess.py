"""Time ``Pipeline().preprocess`` of two source trees side by side, on a busy machine.

``benchmarks/preprocess.py`` measures one tree; on a shared machine the load changes from
one run to the next, so two runs of it compare badly. This script alternates fresh
processes of tree A and tree B (``PYTHONPATH``), ``--rounds`` times, each timing
``Pipeline().preprocess`` on the same files (``--repeat`` times each, after a warm-up),
and prints the median per image of each tree and the ratio B/A per round and overall.

Usage::

    python benchmarks/ab_preprocess.py A_SRC B_SRC FILE... [--rounds 5] [--repeat 3]

e.g. ``python benchmarks/ab_preprocess.py /work/main/src src
/tmp/mammokit-bench/preprocess-j2k-5355x4915/*.dcm``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, statistics, sys, time
import mammokit
paths = sys.argv[2:]
repeat = int(sys.argv[1])
pipe = mammokit.Pipeline()
for path in paths:
    pipe.preprocess(path)  # warm-up
times = []
for path in paths:
    for _ in range(repeat):
        started = time.perf_counter()
        pipe.preprocess(path)
        times.append(time.perf_counter() - started)
print(json.dumps({"median": statistics.median(times), "from": mammokit.__file__}))
"""


def run(src: Path, files: list[Path], repeat: int) -> dict[str, float | str]:
    env = {**os.environ, "PYTHONPATH": str(src.resolve())}
    command = [sys.executable, "-c", CHILD, str(repeat), *map(str, files)]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    result: dict[str, float | str] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="source folder of tree A")
    parser.add_argument("b", type=Path, help="source folder of tree B")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    medians: dict[str, list[float]] = {"a": [], "b": []}
    for number in range(args.rounds):
        first, second = ("a", "b") if number % 2 == 0 else ("b", "a")
        for which in (first, second):
            result = run(getattr(args, which), args.files, args.repeat)
            medians[which].append(float(result["median"]))
        a, b = medians["a"][-1], medians["b"][-1]
        print(f"round {number + 1}: A {a:.3f} s, B {b:.3f} s, B/A {b / a:.3f}", flush=True)
    a, b = statistics.median(medians["a"]), statistics.median(medians["b"])
    ratios = [y / x for x, y in zip(medians["a"], medians["b"], strict=True)]
    print(f"median per image: A ({args.a}) {a:.3f} s, B ({args.b}) {b:.3f} s")
    spread = f"rounds {min(ratios):.3f} - {max(ratios):.3f}"
    print(f"B/A: median {statistics.median(ratios):.3f} ({spread})")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
