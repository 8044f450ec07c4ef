"""``mammokit predict``: DICOMs + test.csv -> submission.csv, with one run or an ensemble."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mammokit.app.cli.evaluate import add_scoring_arguments

#: How many failures are printed on stderr before pointing at the failures file.
_LISTED = 20


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="predict every breast of a test table and write submission.csv",
        description="Preprocess the images with the configuration saved in each run (the "
        "same code and parameters as training), predict per image (optionally with "
        "horizontal-flip TTA), average the runs, aggregate per prediction_id, apply the "
        "threshold policy and write submission.csv (prediction_id,cancer; sorted), plus "
        "image_scores.csv and breast_scores.csv beside it. Exit status: 0 all images "
        "scored, 1 some failed (listed in predict_failures.csv), 2 usage.",
    )
    add_scoring_arguments(
        parser, runs_help="a training run directory; repeat for an ensemble (scores averaged)"
    )
    parser.add_argument(
        "--images",
        required=True,
        metavar="DIR",
        help="<patient_id>/<image_id>.<ext> (dcm, png, pgm, jpg, tif)",
    )
    parser.add_argument("--csv", required=True, metavar="CSV", help="test.csv")
    parser.add_argument("--out", required=True, metavar="CSV", help="submission.csv to write")
    parser.add_argument("--tta", choices=("none", "hflip"), default="none")
    parser.add_argument(
        "--probabilities",
        action="store_true",
        help="write probabilities (same as --threshold none)",
    )
    parser.add_argument(
        "--scores", metavar="CSV", help="per-image score file (default beside --out)"
    )
    parser.add_argument(
        "--cache", metavar="DIR", help="keep the preprocessed images here (reused when rerun)"
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="preprocessing processes (default: one per core)"
    )
    parser.add_argument("--batch-size", type=int, default=16, metavar="N")
    parser.add_argument(
        "--extension", metavar="EXT",
        help="the images' file extension, e.g. png (default: find <image_id>.dcm, .png, "
        ".pgm, .jpg, .jpeg, .tif or .tiff)",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mammokit.app.run import Ensemble
    from mammokit.core.config import PredictConfig, PredictOptions

    config = PredictConfig(
        threshold="none" if args.probabilities else args.threshold,
        aggregate=args.aggregate,
        calibration=args.calibration,
        tta=args.tta,
    )
    options = PredictOptions(
        scores_path=args.scores,
        cache_dir=args.cache,
        workers=args.workers,
        batch_size=args.batch_size,
        progress=not args.quiet,
        extension=args.extension,
    )
    ensemble = Ensemble.open(args.runs, predict=config)
    result = ensemble.write_predictions(args.images, args.csv, args.out, options)
    threshold = "probabilities" if result.threshold is None else f"threshold {result.threshold:.6g}"
    print(f"{result.submission}: {result.n_images} images scored, {threshold}")
    if not result.failures:
        return 0
    for image_id, message in result.failures[:_LISTED]:
        print(f"failed: {image_id}: {message}", file=sys.stderr)
    more = len(result.failures) - _LISTED
    if more > 0:
        print(f"... and {more} more", file=sys.stderr)
    print(
        f"{len(result.failures)} image(s) failed (see predict_failures.csv); "
        f"{len(result.missing_breasts)} breast(s) had no scored image and were written as "
        "negative (or the prior with probabilities)",
        file=sys.stderr,
    )
    return 1
