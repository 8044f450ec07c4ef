"""The option records that group a function's keywords, and ``config.options_with`` that
applies a function's ``**changes`` to them."""

from __future__ import annotations

from pathlib import Path

import pytest

import mammokit
from mammokit.app.demo import DemoOptions, run_demo
from mammokit.core.config import ReportOptions, options_with
from mammokit.data import DatasetOptions


def test_options_with_sets_the_named_fields_none_included() -> None:
    base = DatasetOptions(workers=2)
    changed = options_with(DatasetOptions, base, {"image_timeout": None, "quiet": True})
    assert changed == DatasetOptions(workers=2, image_timeout=None, quiet=True)
    assert options_with(DatasetOptions, base, {}) is base
    assert options_with(DatasetOptions, None, {}) == DatasetOptions()


def test_an_unknown_keyword_names_the_closest_field(tmp_path: Path) -> None:
    with pytest.raises(mammokit.ConfigError, match=r"worker \(did you mean workers\?\)"):
        mammokit.Pipeline(size=(64, 32)).preprocess_dataset(tmp_path, "t.csv", tmp_path / "o",
                                                            worker=0)  # fmt: skip
    with pytest.raises(mammokit.ConfigError, match=r"patient \(did you mean patients\?\)"):
        run_demo(tmp_path / "demo", patient=12)
    assert not (tmp_path / "o").exists() and not (tmp_path / "demo").exists()


def test_a_value_the_record_refuses_is_a_config_error() -> None:
    with pytest.raises(mammokit.ConfigError, match="invalid PredictOptions"):
        options_with(mammokit.PredictOptions, None, {"batch_size": 0})


def test_dataset_options_check_their_values() -> None:
    assert DatasetOptions(workers=3).check() == 3
    for bad, message in (
        ({"format": "jpeg"}, "unknown format"),
        ({"executor": "threads"}, "unknown executor"),
        ({"scheduler": "tcp://x:1"}, "needs executor 'dask'"),
        ({"workers": -1}, "workers must be >= 0"),
        ({"image_timeout": 0}, "image_timeout must be positive"),
        ({"executor": "dask", "workers": 0}, "needs at least one worker"),
    ):
        with pytest.raises(mammokit.ConfigError, match=message):
            DatasetOptions(**bad).check()


def test_report_options_read_metric_names_as_the_cli_gives_them() -> None:
    assert ReportOptions(metrics="pf1, auc").metrics == ("pf1", "auc")
    assert ReportOptions(metrics=["brier"]).metrics == ("brier",)
    assert ReportOptions().metrics is None  # the default set
    assert DemoOptions(patients=12).patients == 12
