"""Errors that a user meets read well and do not escape as tracebacks (issue 13, point 4).

Each check runs the command the way a user does (``python -m mammokit`` in a new process
where the process matters), and asserts the words of the message.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import mammokit
from installed_plugins import env_with, install_plugin
from mammokit.app.cli import main
from mammokit.core.config import save_toml
from mammokit.data import validate_table
from mammokit.plugins import DISABLE_ENV, STRICT_ENV, get_plugin_manager

#: Runs the CLI in a new process and reports whether TensorFlow got imported.
_RUN_AND_REPORT_TF = (
    "import sys\n"
    "from mammokit.app.cli import main\n"
    "status = main(sys.argv[1:])\n"
    "print('tensorflow imported:', 'tensorflow' in sys.modules)\n"
    "sys.exit(status)\n"
)


def _cli(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _RUN_AND_REPORT_TF, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def prep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real preprocessed folder (2 synthetic patients at 64x32)."""
    root = tmp_path_factory.mktemp("messages")
    mammokit.write_dataset(root / "data", mammokit.SynthConfig(patients=2, image_size=(128, 96)))
    mammokit.preprocess_dataset(
        mammokit.Pipeline(size=(64, 32)),
        root / "data" / "train_images",
        root / "data" / "train.csv",
        root / "prep",
        workers=1,
        quiet=True,
    )
    return root / "prep"


@pytest.mark.parametrize(
    ("train_table", "expected"),
    [
        (
            {"loss": "bce_smooth", "loss_options": {"label_smoothing": 1.5}},
            "invalid options for loss 'bce_smooth' (label_smoothing=1.5): ValueError: "
            "label_smoothing must be in [0, 1)",
        ),
        (
            {"backbone": "convnextv2_atoo"},
            "Unknown backbone 'convnextv2_atoo'; choose one of: convnextv2_atto,",
        ),
        (
            {"backbone": "simple_cnn", "backbone_options": {"widht": 3}},
            "invalid options for backbone 'simple_cnn' (widht=3): TypeError:",
        ),
        ({"sampling": "undersampel"}, "Unknown sampling strategy 'undersampel'"),
        (
            {"sampling": "undersample", "sampling_options": {"ratio": "many"}},
            "invalid options for sampling strategy 'undersample' (ratio='many')",
        ),
        ({"external": ["ddms:/nowhere"]}, "Unknown external dataset 'ddms'"),
    ],
)
def test_a_bad_training_component_fails_before_tensorflow_and_writes_nothing(
    prep: Path, tmp_path: Path, train_table: dict[str, object], expected: str
) -> None:
    save_toml({"train": train_table}, tmp_path / "train.toml")
    done = _cli("train", "--data", prep, "--out", tmp_path / "run", "--config",
                tmp_path / "train.toml", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert "tensorflow imported: False" in done.stdout
    assert not (tmp_path / "run").exists()


def test_evaluate_help_shows_a_plain_percent(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "95% bootstrap" in out and "%%" not in out


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("any", "for an image table (the id columns of train.csv or test.csv)"),
        ("test", "for a test table (test.csv)"),
        ("train", "for a training table (train.csv)"),
    ],
)
def test_a_missing_column_names_the_kind_of_table_in_words(kind: str, words: str) -> None:
    frame = pd.DataFrame({"patient_id": ["1"], "image_id": ["2"]})
    with pytest.raises(mammokit.ConfigError) as caught:
        validate_table(frame, kind=kind, source="test.csv")
    assert words in str(caught.value) and "a any" not in str(caught.value)


@pytest.mark.parametrize("size", ["128*64", "128x", "x64", "128x64x3", "big"])
def test_a_malformed_size_shows_the_expected_form(
    size: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["preprocess", "--images", str(tmp_path), "--csv", str(tmp_path / "t.csv"),
                   "--out", str(tmp_path / "out"), "--size", size])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2
    assert "size must be HEIGHTxWIDTH" in err and repr(size) in err
    assert "invalid literal" not in err


def test_a_misspelt_disabled_plugin_is_reported(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(DISABLE_ENV, "mammokit-clahee")
    with caplog.at_level(logging.WARNING, logger="mammokit.plugins"):
        get_plugin_manager()
    assert "MAMMOKIT_DISABLE_PLUGINS names 'mammokit-clahee', which is no installed plugin" in (
        caplog.text
    )
    caplog.clear()
    monkeypatch.setenv(DISABLE_ENV, "mammokit-clahe")
    with caplog.at_level(logging.WARNING, logger="mammokit.plugins"):
        get_plugin_manager()
    assert "no installed plugin" not in caplog.text


_MISSING_DECODER = """
import mammokit


@mammokit.hookimpl
def mammokit_decoders():
    return [
        mammokit.DecoderComponent(
            "absent_codec", "A decoder whose library is missing", object,
            is_available=lambda: False,
        )
    ]
"""


def test_plugins_says_which_decoders_are_not_installed(tmp_path: Path) -> None:
    site = install_plugin(tmp_path, "absent_codec_plugin", _MISSING_DECODER,
                          distribution="absent-codec")  # fmt: skip
    command = [sys.executable, "-m", "mammokit", "plugins"]
    text = subprocess.run(command, env=env_with(site), capture_output=True, text=True, check=True)
    line = next(row for row in text.stdout.splitlines() if "absent_codec " in row)
    assert line.endswith("[not available: its dependencies are not installed]")
    listing = subprocess.run(
        [*command, "--json"], env=env_with(site), capture_output=True, text=True, check=True
    )
    unavailable = {p["name"]: p["unavailable"] for p in json.loads(listing.stdout)}
    assert unavailable["absent-codec"] == ["absent_codec"]
    decoders = mammokit.get_components(get_plugin_manager(), "mammokit_decoders")
    for name, component in decoders.items():  # dicomsdl: missing in the `lowest` session
        assert (name in unavailable["mammokit.dicom.plugin"]) == (not component.is_available())


def test_a_broken_plugin_is_reported_and_commands_go_on(tmp_path: Path) -> None:
    site = install_plugin(tmp_path / "site", "broken_mammokit_plugin",
                          "import no_such_dependency_anywhere\n",
                          distribution="broken-plugin")  # fmt: skip
    mammokit.write_dataset(tmp_path / "data", mammokit.SynthConfig(patients=1, image_size=(64, 48)))
    preprocess = [sys.executable, "-m", "mammokit", "preprocess", "--images",
                  "data/train_images", "--csv", "data/train.csv", "--out", "prep",
                  "--size", "32x16", "--workers", "1", "--quiet"]  # fmt: skip
    env = env_with(site)
    env.pop(STRICT_ENV, None)
    done = subprocess.run(preprocess, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Error loading plugin 'broken-plugin'" in done.stderr
    assert "MAMMOKIT_DISABLE_PLUGINS=broken-plugin" in done.stderr
    assert (tmp_path / "prep" / "index.csv").is_file()

    listing = subprocess.run([sys.executable, "-m", "mammokit", "plugins", "--json"], env=env,
                             capture_output=True, text=True, check=True)  # fmt: skip
    broken = {p["name"]: p for p in json.loads(listing.stdout)}["broken-plugin"]
    assert broken["status"] == "failed" and "ModuleNotFoundError" in broken["error"]
    text = subprocess.run([sys.executable, "-m", "mammokit", "plugins"], env=env,
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "broken-plugin  (broken-plugin 0.1.0)  [failed]" in text

    strict_env = {**env, STRICT_ENV: "1"}
    strict = subprocess.run([*preprocess, "--overwrite"], cwd=tmp_path, env=strict_env,
                            capture_output=True, text=True)  # fmt: skip
    assert strict.returncode == 1
    assert "mammokit preprocess: error: Error loading plugin 'broken-plugin'" in strict.stderr
    assert "Traceback" not in strict.stderr
