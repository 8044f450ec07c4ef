"""``mammokit split``: a labelled table -> train.csv, test.csv and test_labels.csv."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "split",
        help="hold out a patient-grouped, stratified test set of a labelled table",
        description="Split a train.csv-like table into DIR/train.csv (to preprocess and "
        "train on), DIR/test.csv (the test rows with only the RSNA test.csv input columns - "
        "site_id, patient_id, image_id, laterality, view, age, implant, machine_id - and "
        "the --keep columns, any case, plus prediction_id) and DIR/test_labels.csv (every "
        "other column: the label and all outcomes, for `mammokit evaluate --labels`). All "
        "images of a patient stay on one "
        "side; patients are stratified on the label and the --stratify columns; the same "
        "--seed gives the same split.",
    )
    parser.add_argument("--csv", required=True, metavar="CSV", help="the labelled table")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the 3 tables")
    parser.add_argument(
        "--test-fraction", type=float, default=0.2, metavar="F",
        help="share of the patients of each stratum held out (default 0.2)",
    )  # fmt: skip
    parser.add_argument("--label", default="cancer", metavar="COLUMN", help="the 0/1 label")
    parser.add_argument(
        "--stratify", default="", metavar="COLUMN[,COLUMN...]",
        help="more columns to stratify on, e.g. site_id,machine_id,density",
    )  # fmt: skip
    parser.add_argument(
        "--keep", default="", metavar="COLUMN[,COLUMN...]",
        help="more columns test.csv may hold (model inputs beyond the RSNA test schema); "
        "every column not kept goes to test_labels.csv",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=42, help="the split's seed (default 42)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mammokit.core.config import as_names
    from mammokit.data.split import write_split

    files = write_split(
        args.csv,
        args.out,
        test_fraction=args.test_fraction,
        seed=args.seed,
        label=args.label,
        stratify=as_names(args.stratify),
        keep=as_names(args.keep),
    )
    print(
        f"{files.train} ({files.train_patients} patients, {files.train_positive_breasts} "
        f"positive breasts), {files.test} ({files.test_patients} patients, "
        f"{files.test_positive_breasts} positive breasts), {files.test_labels}"
    )
    return 0
