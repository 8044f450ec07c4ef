"""``mammokit evaluate``: metrics with confidence intervals and a report, from a run."""

from __future__ import annotations

import argparse
from typing import Any


def add_scoring_arguments(
    parser: argparse.ArgumentParser, *, runs_help: str, runs_required: bool = True
) -> None:
    """The options ``predict`` and ``evaluate`` share: runs, aggregation, threshold policy
    and calibration."""
    parser.add_argument(
        "--run", action="append", required=runs_required, metavar="RUN_DIR", dest="runs",
        default=[], help=runs_help,
    )  # fmt: skip
    parser.add_argument("--aggregate", choices=("mean", "max"), default="mean")
    parser.add_argument(
        "--threshold", default="prior_quantile", metavar="NAME[:ARG]",
        help="threshold policy: prior_quantile[:P] (default; P = the runs' training positive "
        "rate), fixed:T, best_pf1 (on the runs' oof.csv), none (probabilities)",
    )  # fmt: skip
    parser.add_argument(
        "--calibration", choices=("none", "platt", "isotonic"), default="none",
        help="map each run's breast scores with a calibration fitted on its oof.csv "
        "(saved in the run as calibration/<method>-<aggregate>.json)",
    )  # fmt: skip


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="write report.html (ROC/PR, pF1 vs threshold, calibration, worst cases, CIs)",
        description="Evaluate a run's out-of-fold predictions (oof.csv), or a predictions "
        "file (image_scores.csv / breast_scores.csv from `mammokit predict`, or a probability "
        "submission) against a labels table, at a threshold policy. Writes report.html, its "
        "PNG figures and metrics.json into --out. Confidence intervals are 95% bootstrap "
        "intervals resampling patients.",
    )
    add_scoring_arguments(
        parser,
        runs_help="a training run directory (repeat for several); optional with --predictions "
        "and --labels (then give the threshold policy its argument, e.g. prior_quantile:0.02 "
        "or fixed:0.5)",
        runs_required=False,
    )
    parser.add_argument("--predictions", metavar="FILE", help="scores to evaluate")
    parser.add_argument(
        "--labels", metavar="CSV", help="labels: prediction_id,cancer or a train.csv-like table"
    )
    parser.add_argument(
        "--label", metavar="COLUMN",
        help="the label column of --labels (default: the one the runs were trained on)",
    )  # fmt: skip
    parser.add_argument("--out", required=True, metavar="REPORT_DIR", help="report folder")
    parser.add_argument(
        "--images", metavar="DIR", dest="crops",
        help="a preprocessed folder (index.csv + PNGs) to show the worst cases' crops from "
        "(and, with one --run, the Grad-CAM gallery)",
    )  # fmt: skip
    parser.add_argument("--n-boot", type=int, default=1000, metavar="N", help="resamples")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument(
        "--metrics", metavar="NAME[,NAME...]",
        help="mammokit_metrics to report per breast, in order (default: pf1,auc,pr_auc,f1,"
        "sensitivity,specificity); f1, sensitivity and specificity use the policy's "
        "threshold; `mammokit plugins` lists the names",
    )  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mammokit.app.run import Ensemble
    from mammokit.core.config import PredictConfig, ReportOptions

    config = PredictConfig(
        threshold=args.threshold, aggregate=args.aggregate, calibration=args.calibration
    )
    files = Ensemble.open(args.runs, predict=config).report(
        args.out,
        predictions=args.predictions,
        labels=args.labels,
        label=args.label,
        crops=args.crops,
        options=ReportOptions(n_boot=args.n_boot, seed=args.seed, metrics=args.metrics),
    )
    print(files.html)
    return 0
