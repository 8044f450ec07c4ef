"""Every TrainConfig field has a ``mammokit train`` flag, generated from the class, and each
flag sets its field (field by field); ``-v`` works after the command too."""

from __future__ import annotations

import argparse
from typing import Any

import attrs
import pytest

from mammokit.app.cli import build_parser, main
from mammokit.app.cli._options import CLEARED, config_overrides, field_help, parse_mapping
from mammokit.train.config import AugmentConfig, TrainConfig, load_train_config

#: A value for each field that differs from its default, as typed, and as the config holds it.
GIVEN: dict[str, tuple[list[str], Any]] = {
    "backbone": (["simple_cnn"], "simple_cnn"),
    "backbone_options": (["drop_path_rate=0.1"], {"drop_path_rate": 0.1}),
    "pretrained": (["/w.h5"], "/w.h5"),
    "input_mode": (["grey"], "grey"),
    "head_dropout": (["0.1"], 0.1),
    "head_hidden": (["8"], 8),
    "image_size": (["64x32"], (64, 32)),
    "epochs": (["3"], 3),
    "batch_size": (["4"], 4),
    "label": (["abnormal"], "abnormal"),
    "aux": (["density=categorical,biopsy=binary"], {"density": "categorical", "biopsy": "binary"}),
    "aux_weights": (['{"x": 0.5}'], {"x": 0.5}),
    "n_folds": (["4"], 4),
    "fold": (["2"], 2),
    "seed": (["7"], 7),
    "stratify": (["site_id,density"], ("site_id", "density")),
    "sampling": (["none"], "none"),
    "sampling_options": (["keep=0.5"], {"keep": 0.5}),
    "loss": (["focal"], "focal"),
    "loss_options": (["gamma=2.5,alpha=0.3"], {"gamma": 2.5, "alpha": 0.3}),
    "metrics": (["pf1,auc,pr_auc"], ("pf1", "auc", "pr_auc")),
    "metric_options": (["pf1.beta=2"], {"pf1": {"beta": 2}}),
    "learning_rate": (["0.001"], 0.001),
    "weight_decay": (["0"], 0.0),
    "warmup_epochs": (["0"], 0.0),
    "min_lr_ratio": (["0.1"], 0.1),
    "ema": ([], True),
    "ema_momentum": (["0.9"], 0.9),
    "mixed_precision": (["bf16"], "bf16"),
    "clipnorm": (["1.5"], 1.5),
    "augment": (['{"hflip": 0, "cutout": 0.5}'], AugmentConfig(hflip=0, cutout=0.5)),
    "strategy": (["cpu"], "cpu"),
    "external": (["image_folder:/x?labels=l.csv"], ("image_folder:/x?labels=l.csv",)),
    "cache": ([], True),
    "monitor": (["val_loss"], "val_loss"),
    "monitor_mode": (["min"], "min"),
    "monitor_smoothing": (["5"], 5),
    "early_stopping_patience": (["2"], 2),
    "final_weights": (["last"], "last"),
    "steps_per_execution": (["2"], 2),
    "mask_weight": (["0.5"], 0.5),
    "mask_loss": (["bce"], "bce"),
    "save_mask_model": ([], True),
}


#: Fields that are valid only together with another one.
NEEDS: dict[str, dict[str, Any]] = {
    "aux_weights": {"aux": {"x": "binary"}},
    "save_mask_model": {"mask_weight": 0.5},
}


def _train_args(*extra: str) -> argparse.Namespace:
    return build_parser().parse_args(["train", "--data", "d", "--out", "o", *extra])


def test_every_field_has_a_value_in_this_test() -> None:
    assert set(GIVEN) == {f.name for f in attrs.fields(TrainConfig)}


def test_every_field_has_a_flag_with_help() -> None:
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
    flags = {opt: action for action in train._actions for opt in action.option_strings}
    helps = field_help(TrainConfig)
    for field in attrs.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        assert flag in flags, flag
        assert flags[flag].dest == field.name
        assert helps.get(field.name), f"{field.name} is not described in TrainConfig's docstring"


@pytest.mark.parametrize("name", sorted(GIVEN))
def test_each_flag_sets_its_field(name: str) -> None:
    values, expected = GIVEN[name]
    flag = "--" + name.replace("_", "-")
    args = _train_args(flag, *values)
    overrides = config_overrides(args, TrainConfig)
    assert set(overrides) == {name}
    config = load_train_config(None, overrides={**NEEDS.get(name, {}), **overrides})
    assert getattr(config, name) == expected
    assert getattr(TrainConfig(), name) != expected


def test_no_flag_given_means_no_override_and_none_clears() -> None:
    assert config_overrides(_train_args(), TrainConfig) == {}
    args = _train_args("--pretrained", "none", "--clipnorm", "none")
    assert args.pretrained == CLEARED
    overrides = config_overrides(args, TrainConfig)
    assert overrides == {"pretrained": None, "clipnorm": None}
    assert load_train_config(None, overrides=overrides).pretrained is None


def test_boolean_flags_turn_off_too() -> None:
    overrides = config_overrides(_train_args("--no-cache", "--no-ema"), TrainConfig)
    assert overrides == {"cache": False, "ema": False}


def test_repeated_external() -> None:
    args = _train_args("--external", "ddsm:/a", "--external", "image_folder:/b?labels=x.csv")
    assert config_overrides(args, TrainConfig)["external"] == (
        "ddsm:/a", "image_folder:/b?labels=x.csv",
    )  # fmt: skip


def test_mapping_syntax() -> None:
    assert parse_mapping("a=1, b=x, c.d=true, e=\"p,q\", f=[1, 2]") == {
        "a": 1, "b": "x", "c": {"d": True}, "e": "p,q", "f": [1, 2],
    }  # fmt: skip
    assert parse_mapping('{"a": {"b": 2}}') == {"a": {"b": 2}}
    for bad in ("novalue", "=3", "[1]"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_mapping(bad)


def test_a_bad_mapping_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", "d", "--out", "o", "--loss-options", "gamma"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: mammokit train" in err and "--loss-options" in err


def test_an_option_a_factory_refuses_fails_before_the_run_exists(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"),
                   "--loss-options", "nonsense=1"])  # fmt: skip
    assert status == 2
    assert not (tmp_path / "run").exists()
    assert "nonsense" in capsys.readouterr().err


def test_verbose_after_the_command_counts() -> None:
    parser = build_parser()
    assert parser.parse_args(["plugins", "-v"]).command_verbose == 1
    after = parser.parse_args(["train", "-v", "--data", "d", "--out", "o"])
    assert after.command_verbose == 1 and after.verbose == 0
    both = parser.parse_args(["-v", "split", "--csv", "t.csv", "--out", "o", "-vv"])
    assert both.verbose + both.command_verbose == 3


def test_train_help_lists_the_generated_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "--n-folds N" in out and "--monitor" in out and "(default: 5)" in out


def test_an_unknown_flag_shows_the_commands_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", "d", "--out", "o", "--n-fold", "4", "--nope"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: mammokit train" in err
    assert "mammokit train: error: unrecognized arguments: --nope" in err


@pytest.mark.parametrize(
    ("given", "monitor"),
    [("auc", "breast_auc"), ("pf1", "breast_pf1"), ("val_auc", "breast_auc"),
     ("image_auc", "image_auc"), ("val_loss", "val_loss"), ("pr_auc", "breast_pr_auc")],
)  # fmt: skip
def test_a_bare_metric_name_monitors_the_breast_level(given: str, monitor: str) -> None:
    overrides = config_overrides(_train_args("--monitor", given), TrainConfig)
    assert load_train_config(None, overrides=overrides).monitor == monitor


def test_the_monitor_help_says_a_bare_name_is_the_breast_level(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert '"auc" is "breast_auc"' in " ".join(capsys.readouterr().out.split())
