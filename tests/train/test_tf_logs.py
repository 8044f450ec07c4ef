"""TensorFlow's C++ and absl start-up logs are quiet by default and shown with ``-v``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mammokit.core.tf import TF_LOGS_ENV

pytestmark = pytest.mark.train

_START_TF = (
    "from mammokit.core.tf import import_tf\n"
    "tf = import_tf()\n"
    "print(float(tf.reduce_sum(tf.ones(3))))\n"
)
#: Lines TensorFlow 2.21 writes on a CPU-only machine (two libraries, then device start).
_NATIVE_MARKERS = ("absl::InitializeLog", "I0000", "E0000", "cuInit", "oneDNN")


def _start(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (TF_LOGS_ENV, "TF_CPP_MIN_LOG_LEVEL")}
    return subprocess.run(
        [sys.executable, "-c", _START_TF],
        env={**env, **extra_env},
        capture_output=True,
        text=True,
        check=True,
    )


def test_tensorflow_starts_silently_by_default() -> None:
    done = _start({})
    assert done.stdout.strip() == "3.0"
    assert not [m for m in _NATIVE_MARKERS if m in done.stderr], done.stderr


def test_the_logs_come_back_when_asked_for() -> None:
    done = _start({TF_LOGS_ENV: "1"})
    assert done.stdout.strip() == "3.0"
    assert [m for m in _NATIVE_MARKERS if m in done.stderr], done.stderr


def test_verbose_flag_asks_for_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from mammokit.app.cli import main

    monkeypatch.delenv(TF_LOGS_ENV, raising=False)
    assert main(["-v", "plugins", "--json"]) == 0
    assert os.environ.get(TF_LOGS_ENV) == "1"
