"""What makes ConvNeXtV2 learn from random initialisation on grey images?

Trains ConvNeXtV2Atto from scratch on a synthetic soft-lesion task (smooth grey
background, 50% of images carry a faint Gaussian blob) with each input mode of the model's
stem, and prints train and validation ROC AUC after a few epochs. The finding is recorded
in docs/decisions.md.

    python benchmarks/convnext_from_scratch.py [--size 64x32] [--train 512] [--epochs 6]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def soft_lesions(
    count: int, size: tuple[int, int], contrast: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(N, H, W, 1) float32`` smooth grey images and ``(N,)`` labels (blob or not)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    height, width = size
    yy, xx = np.mgrid[:height, :width]
    images = np.empty((count, height, width), np.float32)
    labels = (np.arange(count) % 2).astype(np.float32)
    for i in range(count):
        base = gaussian_filter(rng.uniform(0.2, 0.6, size), 2.0) + rng.uniform(-0.1, 0.1)
        if labels[i]:
            cy, cx = rng.uniform(0.25, 0.75) * height, rng.uniform(0.25, 0.75) * width
            radius = width / rng.uniform(8, 14)
            base += contrast * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))
        images[i] = np.clip(base, 0, 1)
    return images[..., None], labels


def run(mode: str, args: argparse.Namespace, data: tuple) -> tuple[float, float, float]:  # type: ignore[type-arg]
    from mammokit.core.tf import import_keras
    from mammokit.scoring.metrics import roc_auc
    from mammokit.train.config import TrainConfig
    from mammokit.train.model import build_model
    from mammokit.train.optim import build_optimizer

    keras = import_keras()
    keras.utils.set_random_seed(0)
    (x, y), (vx, vy) = data
    steps = len(x) // args.batch
    config = TrainConfig(
        input_mode=mode, epochs=args.epochs, learning_rate=args.lr, warmup_epochs=args.warmup
    )
    model = build_model(config, args.size_hw)
    model.compile(
        optimizer=build_optimizer(config, steps_per_epoch=steps, model=model),
        loss=keras.losses.BinaryCrossentropy(),
    )
    start = time.perf_counter()
    model.fit(x, y, batch_size=args.batch, epochs=args.epochs, verbose=0, shuffle=True)
    seconds = time.perf_counter() - start
    train_auc = roc_auc(y, model.predict(x, verbose=0).ravel())
    val_auc = roc_auc(vy, model.predict(vx, verbose=0).ravel())
    return train_auc, val_auc, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="64x32")
    parser.add_argument("--train", type=int, default=512)
    parser.add_argument("--val", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--contrast", type=float, default=0.12)
    parser.add_argument("--warmup", type=float, default=1.0, help="warmup epochs")
    parser.add_argument("--modes", default="contrast,grey,imagenet")
    args = parser.parse_args()
    args.size_hw = tuple(int(v) for v in args.size.split("x"))
    data = (
        soft_lesions(args.train, args.size_hw, args.contrast, seed=1),
        soft_lesions(args.val, args.size_hw, args.contrast, seed=2),
    )
    print(
        f"ConvNeXtV2Atto from scratch, {args.size}, {args.train} train / {args.val} val images, "
        f"lesion contrast {args.contrast}, {args.epochs} epochs, AdamW lr {args.lr}, "
        f"{args.warmup:g} warmup epoch(s) + cosine, no decay on 1-D variables"
    )
    for mode in args.modes.split(","):
        train_auc, val_auc, seconds = run(mode, args, data)
        print(
            f"  input_mode={mode:9s} train AUC {train_auc:.3f}  "
            f"val AUC {val_auc:.3f}  ({seconds:.0f} s)"
        )


if __name__ == "__main__":
    main()
