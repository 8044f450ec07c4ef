"""A script that starts worker processes from its unguarded top level gets one error that
names the fix, before any image is tried; the same script with the guard runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mammokit.data.mainguard import unguarded_call_line
from mammokit.synthetic import SynthConfig, write_dataset

BODY = """\
import mammokit

pipe = mammokit.Pipeline(size=(64, 32))
{indent}result = pipe.preprocess_dataset("{images}", "{table}", "{out}", workers=2, quiet=True)
{indent}print("done", result.succeeded, len(result.worker_peak_rss))
"""


def _script(tmp_path: Path, name: str, guarded: bool) -> Path:
    data = tmp_path / "data"
    if not data.exists():
        write_dataset(data, SynthConfig(patients=1, image_size=(256, 208), seed=1))
    body = BODY.format(
        indent="    " if guarded else "",
        images=data / "train_images", table=data / "train.csv", out=tmp_path / f"out-{name}",
    )  # fmt: skip
    if guarded:
        head, _, tail = body.partition("\n    result")
        body = head + '\nif __name__ == "__main__":\n    result' + tail
    script = tmp_path / f"{name}.py"
    script.write_text(body, encoding="utf-8")
    return script


def _run(script: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300,
        cwd=script.parent, check=False,
    )  # fmt: skip


def test_an_unguarded_script_gets_one_error_naming_the_fix(tmp_path: Path) -> None:
    done = _run(_script(tmp_path, "unguarded", guarded=False))
    assert done.returncode != 0
    assert "unguarded.py:4 starts 2 worker process(es)" in done.stderr
    assert 'if __name__ == "__main__":' in done.stderr and "workers=0" in done.stderr
    assert "bootstrapping" not in done.stderr  # no worker was started
    assert done.stderr.count("Traceback") == 1
    assert not (tmp_path / "out-unguarded" / "index.csv").exists()  # no image tried


def test_the_guarded_script_runs_its_workers(tmp_path: Path) -> None:
    done = _run(_script(tmp_path, "guarded", guarded=True))
    assert done.returncode == 0, done.stderr
    assert "done 4 2" in done.stdout  # 4 images by 2 worker processes


def test_a_call_from_a_test_or_a_guarded_block_is_not_flagged() -> None:
    assert unguarded_call_line() is None  # pytest's __main__ runs its calls under a guard


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("x.run()\n", True),
        ('if __name__ == "__main__":\n    x.run()\n', False),
        ("if '__main__' == __name__:\n    x.run()\n", False),
        ("def main():\n    x.run()\n\nmain()\n", True),
        ('def main():\n    x.run()\n\nif __name__ == "__main__":\n    main()\n', False),
    ],
)
def test_the_guard_is_read_from_the_source(tmp_path: Path, source: str, flagged: bool) -> None:
    script = tmp_path / "s.py"
    script.write_text(
        "import sys\nfrom mammokit.data.mainguard import unguarded_call_line\n"
        "class X:\n    def run(self):\n        print(unguarded_call_line() is not None)\n"
        "x = X()\n" + textwrap.dedent(source),
        encoding="utf-8",
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(flagged)
