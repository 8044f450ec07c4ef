"""``mammokit preprocess``: exit codes, failure listing, synth output, SIGKILL and resume."""

from __future__ import annotations

from pathlib import Path

import pytest
from dataset_helpers import CLI_SIZE as _SIZE
from dataset_helpers import assert_same_tree, kill_cli_after, start_cli
from dataset_helpers import cli_args as _args

from mammokit.app.cli import main
from mammokit.data import read_table


def test_all_ok_exits_0(synth: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_args(synth, tmp_path / "out", "--workers", "0")) == 0
    # --quiet drops the progress bar, never the one-line summary
    err = capsys.readouterr().err.splitlines()
    out = tmp_path / "out"
    assert err == [f"12 of 12 images preprocessed into {out} (0 already done, 0 failed)"]
    assert len(read_table(tmp_path / "out" / "index.csv", kind="train")) == 12


def test_failures_exit_1_and_are_listed(
    synth: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = read_table(synth / "train.csv")
    victim = table.iloc[3]
    (synth / "train_images" / victim["patient_id"] / f"{victim['image_id']}.dcm").write_bytes(b"")
    assert main(_args(synth, tmp_path / "out", "--workers", "0")) == 1
    err = capsys.readouterr().err
    assert "1 image(s) failed" in err and f"  {victim['image_id']} (" in err
    assert "failures.csv" in err


def test_usage_errors_exit_2(
    synth: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    table = read_table(synth / "train.csv")
    table.loc[2, "patient_id"] = "../outside"
    bad_csv = tmp_path / "bad.csv"
    table.to_csv(bad_csv, index=False)
    bad = _args(synth, out, "--workers", "0")
    bad[bad.index("--csv") + 1] = str(bad_csv)
    assert main(bad) == 2
    assert "row 3 (line 4), column 'patient_id'" in capsys.readouterr().err
    assert main([*_args(synth, out, "--workers", "0"), "--size", "4x4"]) == 2
    assert main(_args(synth, out, "--workers", "-1")) == 2
    with pytest.raises(SystemExit) as info:
        main(["preprocess", "--images", str(synth)])
    assert info.value.code == 2
    assert main(_args(synth, out, "--workers", "0")) == 0
    changed = _args(synth, out, "--workers", "0")
    changed[changed.index("--size") + 1] = "48x32"
    assert main(changed) == 2
    assert "different configuration" in capsys.readouterr().err
    assert main([*changed, "--overwrite"]) == 0


def test_config_file_and_tfrecord_format(synth: Path, tmp_path: Path) -> None:
    config = tmp_path / "my.toml"
    config.write_text('[preprocess]\nsize = [48, 24]\noutput_dtype = "uint16"\n')
    out = tmp_path / "out"
    args = [*_args(synth, out, "--workers", "0", "--format", "tfrecord"), "--config", str(config)]
    args.remove("--size")
    args.remove(_SIZE)
    assert main(args) == 0
    assert "size = [\n    48,\n    24,\n]" in (out / "preprocess.toml").read_text()
    assert list((out / "shards").glob("shard-00000-of-00001.tfrecord"))


def test_synth_output_is_accepted_unchanged(tmp_path: Path) -> None:
    data = tmp_path / "synth"
    synth = ["synth", "--out", str(data), "--patients", "2", "--test-patients", "1"]
    assert main([*synth, "--size", "96x80"]) == 0
    assert main(_args(data, tmp_path / "train", "--workers", "0")) == 0
    test_args = _args(data, tmp_path / "test", "--workers", "0")
    test_args[test_args.index("--images") + 1] = str(data / "test_images")
    test_args[test_args.index("--csv") + 1] = str(data / "test.csv")
    assert main(test_args) == 0
    index = read_table(tmp_path / "test" / "index.csv", kind="any")
    assert len(index) == 4
    assert (index["prediction_id"] == index["patient_id"] + "_" + index["laterality"]).all()


@pytest.mark.parametrize("output", ["png", "tfrecord"])
def test_sigkill_then_rerun_equals_an_uninterrupted_run(
    synth: Path, tmp_path: Path, output: str
) -> None:
    """Kill the whole process group once some images are finished, rerun, compare bytes."""
    reference = tmp_path / "reference"
    assert main(_args(synth, reference, "--workers", "0", "--format", output)) == 0
    out = tmp_path / "killed"
    args = _args(synth, out, "--workers", "2", "--format", output)
    records = out / ".mammokit" / "records"
    log = tmp_path / "stderr.txt"
    kill_cli_after(log, args, records, finished=3)
    assert not (out / "index.csv").exists()
    rerun = start_cli(log, *args)
    assert rerun.wait(timeout=300) == 0, log.read_text()
    assert_same_tree(out, reference)
