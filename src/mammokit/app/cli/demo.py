"""``mammokit demo``: synthetic data -> preprocess -> train -> predict -> scores and report."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    from mammokit.app.demo import (
        DEFAULT_MINUTES,
        DEFAULT_OUT,
        DEFAULT_PATIENTS,
        DEFAULT_TEST_PATIENTS,
    )

    parser = subparsers.add_parser(
        "demo",
        help="run the whole pipeline end to end on generated synthetic data (needs `train`)",
        description="Generate an RSNA-shaped synthetic dataset with lesions in the positive "
        "breasts (nothing is downloaded), preprocess it, train a small model on CPU on a "
        "patient-grouped split, predict the held-out patients, print the breast-level AUC, "
        "the pF1 and the chosen threshold, and write submission.csv, the evaluation report "
        "and Grad-CAM overlays under --out. The number of epochs is chosen to fit --minutes. "
        "An --out folder left by an earlier demo is emptied of its outputs and the demo "
        "starts again; any other non-empty folder is refused. Exit status: 0 done, 1 a "
        "failure, 2 usage.",
    )
    parser.add_argument(
        "--out", default=DEFAULT_OUT, metavar="DIR", help=f"output folder (./{DEFAULT_OUT})"
    )
    parser.add_argument(
        "--patients",
        type=int,
        default=DEFAULT_PATIENTS,
        metavar="N",
        help=f"synthetic training patients, 4 images each ({DEFAULT_PATIENTS})",
    )
    parser.add_argument(
        "--test-patients",
        type=int,
        default=DEFAULT_TEST_PATIENTS,
        metavar="N",
        help="synthetic held-out patients, scored against their hidden labels "
        f"({DEFAULT_TEST_PATIENTS})",
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=DEFAULT_MINUTES,
        metavar="M",
        help=f"time budget; epochs are chosen to fit it ({DEFAULT_MINUTES:g})",
    )
    parser.add_argument(
        "--backbone",
        metavar="NAME",
        help="backbone to train (default: simple_cnn, printed with the reason)",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (0)")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mammokit.app.demo import run_demo

    run_demo(
        args.out,
        patients=args.patients,
        test_patients=args.test_patients,
        minutes=args.minutes,
        seed=args.seed,
        backbone=args.backbone,
        quiet=args.quiet,
    )
    return 0
