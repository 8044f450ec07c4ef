"""What a Python user meets, run as a user runs it: a script in its own process.

The other Python-user items have their script tests beside their code:
``tests/data/test_main_guard.py`` (an unguarded script that starts workers) and
``tests/train/test_tf_logs.py`` (TensorFlow's C++ and absl logs in a library call).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """\
from mammokit import TrainConfig

for name in ("auc", "pf1", "val_auc", "image_auc", "val_loss"):
    print(TrainConfig(monitor=name).monitor)
"""


def test_a_bare_metric_name_monitors_the_breast_level(tmp_path: Path) -> None:
    script = tmp_path / "monitor.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "breast_auc",
        "breast_pf1",
        "breast_auc",
        "image_auc",
        "val_loss",
    ]


def test_the_train_help_says_what_a_bare_name_means() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mammokit", "train", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert 'A bare metric name means the breast level ("auc" is "breast_auc")' in text
