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
    from mammokit.app.cli._options import add_run_flags
    from mammokit.train.config import TrainConfig

    add_run_flags(parser, TrainConfig, "train", "training options")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mammokit.app.cli._options import run_config_source
    from mammokit.train.config import TrainConfig, load_train_config

    config_path, overrides, resume = run_config_source(args, TrainConfig)
    config = load_train_config(config_path, overrides=overrides)
    from mammokit.app.run import Pipeline

    result = Pipeline(train=config).train(args.data, args.out, resume=resume, quiet=args.quiet)
    print(
        f"trained {result.epochs_run} epoch(s) on label {config.label!r}; {result.summary}; "
        f"model: {Path(result.run_dir) / 'model.keras'}"
    )
    return 0
