"""``mammokit train``: a preprocessed folder -> a run directory with a trained model."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model on a preprocessed folder (needs the `train` extra)",
        description="Train the configured backbone on the images of `mammokit preprocess` "
        "output, validating on one patient-grouped fold. Writes RUN_DIR/config.toml, "
        "checkpoints/, history.csv, tb/, oof.csv and model.keras. Options given here "
        "override the [train] table of --config. One line of progress per epoch.",
    )
    parser.add_argument("--data", required=True, metavar="DIR", help="preprocessed folder")
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory")
    parser.add_argument("--config", metavar="TOML", help="a TOML with a [train] table")
    from mammokit.app.cli._options import add_config_flags
    from mammokit.train.config import TrainConfig

    options = parser.add_argument_group(
        "training options",
        "one flag per [train] field (generated from TrainConfig); dict options take "
        "key=value[,key=value...] (values read as TOML, dotted keys nest) or a JSON object",
    )
    add_config_flags(options, TrainConfig)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue RUN_DIR from its last checkpoint with its saved config",
    )
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mammokit.app.cli._options import config_overrides
    from mammokit.train.config import TrainConfig, load_train_config
    from mammokit.train.rundir import RunDir

    overrides = config_overrides(args, TrainConfig)
    config_path = args.config
    resume = bool(args.resume)
    if resume:
        saved = RunDir(Path(args.out)).config
        given = bool(args.config) or any(k != "epochs" for k in overrides)
        if saved.exists():
            # the saved config, unless the run's own options are given again (train()
            # refuses any that differ from the saved ones, --epochs aside)
            config_path = config_path if given else str(saved)
        elif given:
            # killed before its config was saved: nothing was trained, so start afresh
            resume = False
    config = load_train_config(config_path, overrides=overrides)
    from mammokit.app.run import Pipeline

    result = Pipeline(train=config).train(args.data, args.out, resume=resume, quiet=args.quiet)
    print(
        f"trained {result.epochs_run} epoch(s) on label {config.label!r}; {result.summary}; "
        f"model: {Path(result.run_dir) / 'model.keras'}"
    )
    return 0
