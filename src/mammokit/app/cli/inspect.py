"""``mammokit inspect``: a static HTML page to check a preprocessed folder by eye."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="write a static HTML page of a preprocessed folder (crops, flips, failures)",
        description="Write <PREP_DIR>/inspect/index.html (or --out): one card per image with "
        "the source and its crop box (with --images) and the output, filters by ROI method, "
        "flip, decoder, laterality disagreement (when index.csv has that column) and "
        "failure, and the failures with their messages. Static files only; thumbnails are "
        "made once and reused.",
    )
    parser.add_argument("prep_dir", metavar="PREP_DIR", help="a preprocessed folder")
    parser.add_argument(
        "--images", metavar="DIR",
        help="the source images folder (<patient_id>/<image_id>.dcm) to draw crop boxes on",
    )  # fmt: skip
    parser.add_argument("--out", metavar="DIR", help="page folder (default PREP_DIR/inspect)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mammokit.data.inspect import write_inspect_page

    result = write_inspect_page(args.prep_dir, args.out, images_dir=args.images)
    print(
        f"{result.html}: {result.images} images, {result.failures} failures, "
        f"{result.thumbnails_made} thumbnails made, {result.seconds:.1f} s"
    )
    return 0
