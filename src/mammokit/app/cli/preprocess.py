"""``mammokit preprocess``: a whole RSNA table of DICOMs to model-ready images, resumably."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

#: How many failures are printed on stderr before pointing at failures.csv.
_LISTED = 20


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "preprocess",
        help="preprocess every image of a train.csv/test.csv into PNGs or TFRecord shards",
        description="Decode, window, crop, pad and resize every image listed in an RSNA-style "
        "table (<images>/<patient_id>/<image_id>.dcm, or .png, .pgm, .jpg, .tif) into --out, "
        "with index.csv, failures.csv and preprocess.toml. Interrupted runs resume where they "
        "stopped: rerun the same command. Exit status: 0 all images done, 1 some failed "
        "(listed), 2 usage.",
    )
    parser.add_argument("--images", required=True, metavar="DIR", help="the images folder")
    parser.add_argument("--csv", required=True, metavar="CSV", help="train.csv or test.csv")
    parser.add_argument("--out", required=True, metavar="DIR", help="the output folder")
    parser.add_argument("--size", metavar="HxW", help="output size, e.g. 1024x512")
    parser.add_argument(
        "--for-processing", choices=("refuse", "window"),
        help="FOR PROCESSING images (raw detector values): refuse (default) or window them "
        "as FOR PRESENTATION ones",
    )  # fmt: skip
    parser.add_argument(
        "--side-policy", choices=("header", "table", "pixels"),
        help="which source says where the chest wall is: header (default: the header, else "
        "the table, else the pixels), table (the table first) or pixels (always the pixel "
        "rule, e.g. for a dataset already flipped to the left)",
    )  # fmt: skip
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes (default: one per core; 0: in this process)",
    )
    parser.add_argument(
        "--format",
        choices=("png", "tfrecord"),
        default="png",
        help="one PNG per image, or TFRecord shards (default png)",
    )
    parser.add_argument(
        "--config",
        metavar="TOML",
        help="a preprocess.toml (or any TOML with a [preprocess] table); --size overrides it",
    )
    parser.add_argument(
        "--executor",
        choices=("process", "dask"),
        default="process",
        help="a local process pool, or Dask (extra 'dask'; default process)",
    )
    parser.add_argument(
        "--scheduler", metavar="ADDR", help="Dask scheduler address (default: a LocalCluster)"
    )
    parser.add_argument(
        "--shard-size",
        type=float,
        metavar="MB",
        default=150.0,
        help="TFRecord shard size target in MB (default 150)",
    )
    parser.add_argument(
        "--image-timeout",
        type=float,
        metavar="S",
        default=300.0,
        help="seconds one image may take in a worker before the worker is killed and the "
        "image is listed as a Timeout failure (default 300; 0: no limit; not applied with "
        "--workers 0)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="discard the results already in --out (needed to change its configuration)",
    )
    parser.add_argument(
        "--extension", metavar="EXT",
        help="the images' file extension, e.g. png (default: find <image_id>.dcm, .png, "
        ".pgm, .jpg, .jpeg, .tif or .tiff; two files for one id is a failure naming both)",
    )  # fmt: skip
    parser.add_argument(
        "--mask-column", metavar="COLUMN", default="auto",
        help="the table column naming each image's lesion mask files (drawn on the source "
        "image; several joined by ';' are united; an empty cell = no lesion): a mask is "
        "written beside each image through the same crop, flip, padding and resize "
        "(masks/<patient_id>/<image_id>.png, index.csv's mask_path); default: the "
        "lesion_mask column if the table has one; '' for none",
    )  # fmt: skip
    parser.add_argument(
        "--mask-root", metavar="DIR",
        help="the folder relative mask paths start from (default: the table's folder)",
    )  # fmt: skip
    parser.add_argument(
        "--quiet", action="store_true",
        help="no progress bar (the closing summary and any failures are still printed)",
    )  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mammokit.app.run import Pipeline
    from mammokit.core.config import PreprocessConfig, config_from_dict, load_toml
    from mammokit.core.errors import ConfigError

    settings: dict[str, Any] = {}
    if args.config:
        data = load_toml(args.config)
        settings = dict(data.get("preprocess", data))
    if args.size:
        settings["size"] = args.size
    if args.side_policy:
        settings["side_policy"] = args.side_policy
    if args.for_processing:
        settings["for_processing"] = args.for_processing
    if args.image_timeout < 0:
        raise ConfigError(f"--image-timeout must be >= 0, got {args.image_timeout}")
    if args.shard_size <= 0:
        raise ConfigError(f"--shard-size must be positive, got {args.shard_size}")
    config = config_from_dict(PreprocessConfig, settings, where=args.config or "--size")
    result = Pipeline(config).preprocess_dataset(
        args.images,
        args.csv,
        args.out,
        workers=args.workers,
        format=args.format,
        executor=args.executor,
        scheduler=args.scheduler,
        overwrite=args.overwrite,
        quiet=args.quiet,
        shard_bytes=max(1, int(args.shard_size * 1024 * 1024)),
        image_timeout=args.image_timeout or None,
        extension=args.extension,
        mask_column=args.mask_column,
        mask_root=args.mask_root,
    )
    print(
        f"{result.succeeded} of {result.total} images preprocessed into {result.out_dir} "
        f"({result.skipped} already done, {result.failed} failed)",
        file=sys.stderr,
    )
    if result.masks:
        print(f"{result.masks} lesion mask(s) written (mask_path in index.csv)", file=sys.stderr)
    _report_side_conflicts(result.side_conflicts, config.side_policy)
    _report_unsure_sides(result.unsure_sides)
    if result.for_processing:
        print(
            f"{result.for_processing} FOR PROCESSING image(s) windowed as FOR PRESENTATION "
            f"ones (--for-processing {config.for_processing}; presentation_intent in "
            "index.csv)",
            file=sys.stderr,
        )
    if result.failures:
        print(f"{result.failed} image(s) failed:", file=sys.stderr)
        for failure in result.failures[:_LISTED]:
            print(
                f"  {failure.image_id} ({failure.path}): {failure.error_type}: {failure.message}",
                file=sys.stderr,
            )
        if result.failed > _LISTED:
            print(f"  ... and {result.failed - _LISTED} more", file=sys.stderr)
        print(f"see {result.out_dir / 'failures.csv'}", file=sys.stderr)
        return 1
    return 0


#: How many side conflicts are shown as examples.
_EXAMPLES = 5


def _report_examples(found: Sequence[tuple[str, str]], what: str, then: str) -> None:
    """On stderr: how many images ``what`` says, a few ``(image_id, detail)`` examples and
    ``then``; nothing when ``found`` is empty."""
    if not found:
        return
    examples = ", ".join(f"{image_id} ({detail})" for image_id, detail in found[:_EXAMPLES])
    print(f"{len(found)} image(s) {what}, e.g. {examples}; {then}", file=sys.stderr)


def _report_side_conflicts(conflicts: Sequence[tuple[str, str]], policy: str) -> None:
    """Count the images whose side sources disagree, with a few examples, on stderr."""
    _report_examples(
        conflicts,
        "whose header, table and pixels disagree on the side",
        f"the side used follows --side-policy {policy} "
        "(laterality_source and laterality_conflict in index.csv)",
    )


def _report_unsure_sides(unsure: Sequence[tuple[str, str]]) -> None:
    """Count the images whose side the pixels decided with a low confidence, on stderr."""
    _report_examples(
        unsure,
        "whose side the pixels decided with a low confidence",
        "check them, or give their side in the table's laterality "
        "(laterality_source and side_confidence in index.csv)",
    )
