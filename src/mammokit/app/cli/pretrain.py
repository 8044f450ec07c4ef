"""``mammokit pretrain``: preprocessed folders (no labels) -> a run folder with a
self-supervised encoder for ``mammokit train --pretrained RUN_DIR``."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "pretrain",
        help="pretrain the backbone self-supervised on unlabelled images (FCMAE; needs "
        "the `train` extra)",
        description="Pretrain the backbone on the images of one or more `mammokit "
        "preprocess` folders, no labels needed, with a self-supervised method (FCMAE by "
        "default: reconstruct masked patches). Writes RUN_DIR/config.toml, encoder.h5 "
        "(after every epoch), checkpoints/, history.csv and tb/. Fine-tune with `mammokit "
        "train --pretrained RUN_DIR`. Options given here override the [pretrain] table of "
        "--config. One line of progress per epoch.",
    )
    parser.add_argument(
        "--data", required=True, action="append", metavar="DIR",
        help="a preprocessed folder (give --data again to pool several)",
    )  # fmt: skip
    from mammokit.app.cli._options import add_run_flags
    from mammokit.train.pretrain.config import PretrainConfig

    add_run_flags(parser, PretrainConfig, "pretrain", "pretraining options")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mammokit.app.cli._options import run_config_source
    from mammokit.app.run import Pipeline
    from mammokit.train.pretrain.config import PretrainConfig, load_pretrain_config

    config_path, overrides, resume = run_config_source(args, PretrainConfig)
    config = load_pretrain_config(config_path, overrides=overrides)
    result = Pipeline().pretrain(args.data, args.out, config, resume=resume, quiet=args.quiet)
    print(
        f"pretrained {result.epochs_run} epoch(s) of {config.method} on "
        f"{len(args.data)} folder(s); encoder: {result.encoder} "
        f"(fine-tune with: mammokit train --pretrained {Path(args.out)})"
    )
    return 0
