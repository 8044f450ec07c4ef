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
    parser.add_argument("--backbone", metavar="NAME", help="e.g. convnextv2_atto")
    parser.add_argument("--epochs", type=int, metavar="N")
    parser.add_argument("--batch-size", type=int, metavar="N", help="global batch size")
    parser.add_argument("--fold", type=int, metavar="K", help="validation fold")
    parser.add_argument("--image-size", metavar="HxW", help="model input size (default: data)")
    parser.add_argument(
        "--strategy", choices=("auto", "tpu", "mirrored", "multi_worker", "cpu"), default=None
    )
    parser.add_argument(
        "--external",
        action="append",
        metavar="NAME:PATH",
        help="extra training-only dataset, e.g. ddsm:/data/ddsm (repeatable)",
    )
    parser.add_argument(
        "--metrics", metavar="NAME[,NAME...]",
        help="mammokit_metrics for the validation columns of history.csv, per image and per "
        "breast (default: pf1,auc; must include pf1, which picks the best weights)",
    )  # fmt: skip
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue RUN_DIR from its last checkpoint with its saved config",
    )
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mammokit.train.config import load_train_config
    from mammokit.train.rundir import RunDir

    overrides = {
        "backbone": args.backbone,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "fold": args.fold,
        "image_size": args.image_size,
        "strategy": args.strategy,
        "external": tuple(args.external) if args.external else None,
        "metrics": args.metrics,
    }
    config_path = args.config
    if args.resume:
        saved = RunDir(Path(args.out)).config
        given = {k: v for k, v in overrides.items() if v is not None and k != "epochs"}
        if given or args.config:
            from mammokit.errors import ConfigError

            raise ConfigError(
                "--resume uses the run's saved config; only --epochs may be given with it"
            )
        config_path = str(saved)
    config = load_train_config(config_path, **overrides)
    from mammokit.train.fit import train

    result = train(args.data, args.out, config, resume=args.resume, verbose=0 if args.quiet else 2)
    print(
        f"trained {result.epochs_run} epoch(s); best validation breast pF1 "
        f"{result.best:.4f}; model: {Path(result.run_dir) / 'model.keras'}"
    )
    return 0
