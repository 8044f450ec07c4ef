"""``mammokit explain``: a Grad-CAM heatmap of a run's model over one preprocessed image."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="Grad-CAM heatmap of the model's last convolutional stage over one image",
        description="Preprocess IMAGE with the run's saved configuration, run the model and "
        "write a Grad-CAM heatmap of its last convolutional stage overlaid on the "
        "preprocessed image (RGB PNG). Prints the model's probability.",
    )
    parser.add_argument("--run", required=True, metavar="RUN_DIR", help="a training run directory")
    parser.add_argument("image", metavar="IMAGE", help="a DICOM (or PNG/JPEG/TIFF) file")
    parser.add_argument("--out", required=True, metavar="PNG", help="the heatmap PNG to write")
    parser.add_argument(
        "--layer", metavar="NAME", help="explain this layer (default: the last 4-D one)"
    )
    parser.add_argument("--alpha", type=float, default=0.4, help="heatmap opacity (default 0.4)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mammokit.evaluate.gradcam import explain_image

    result = explain_image(args.run, args.image, args.out, layer=args.layer, alpha=args.alpha)
    flipped = " (image mirrored by preprocessing)" if result.flipped else ""
    print(f"{args.out}: score {result.score:.4f}{flipped}")
    return 0
