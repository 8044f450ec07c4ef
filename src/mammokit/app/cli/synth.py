"""``mammokit synth``: write an RSNA-shaped synthetic dataset of phantom mammograms."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="write a synthetic RSNA-shaped dataset (phantom DICOMs + train.csv/test.csv)",
        description="Write train_images/<patient_id>/<image_id>.dcm and train.csv (and, with "
        "--test-patients, test_images/, test.csv and the hidden test_labels.csv) with the "
        "RSNA column schema. Each patient has 4 images (L/R x CC/MLO); a seeded fraction of "
        "breasts carries a lesion. The same arguments always give the same files.",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--patients", type=int, required=True, help="training patients")
    parser.add_argument("--test-patients", type=int, default=0, help="test patients (0)")
    parser.add_argument("--size", default="512x416", help="image size HxW (512x416)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument(
        "--positive-fraction", type=float, default=0.25, help="fraction of breasts with a lesion"
    )
    parser.add_argument(
        "--lesion-contrast", type=float, default=0.25, help="lesion brightness (0-1, 0.25)"
    )
    parser.add_argument(
        "--lesion-size", type=float, default=0.12, help="lesion radius / breast half-height"
    )
    parser.add_argument(
        "--hard-case-fraction",
        type=float,
        default=0.0,
        help="fraction of images with a hard-case trait (no window, bright band, partial "
        "view, film border)",
    )
    parser.add_argument(
        "--lesion-masks", action="store_true",
        help="also write each training image's lesion mask (train_masks/) and the "
        "lesion_mask column of train.csv, which `mammokit preprocess` reads",
    )  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mammokit.core.errors import ConfigError
    from mammokit.synthetic import SynthConfig, write_dataset

    try:
        cfg = SynthConfig(
            patients=args.patients,
            test_patients=args.test_patients,
            image_size=args.size,
            seed=args.seed,
            positive_fraction=args.positive_fraction,
            lesion_contrast=args.lesion_contrast,
            lesion_size=args.lesion_size,
            hard_case_fraction=args.hard_case_fraction,
            lesion_masks=args.lesion_masks,
        )
    except (TypeError, ValueError) as err:
        raise ConfigError(f"invalid synth options: {err}") from err
    root = write_dataset(args.out, cfg)
    images = 4 * (cfg.patients + cfg.test_patients)
    print(f"wrote {images} images of {cfg.image_size[0]}x{cfg.image_size[1]} to {root}")
    return 0
