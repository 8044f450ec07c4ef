"""Is the input pipeline ever the bottleneck of training?

Prints training images/s of a small backbone fed by the real input pipeline (PNG files:
read + decode in parallel + augmentation + prefetch) against the same model fed from
tensors already in memory (same augmentation, no file I/O or decoding), their ratio
(target >= 0.95), and the CPU training step rate of ConvNeXtV2 Atto and Tiny.

    python benchmarks/train_input.py [--size 128x64] [--batch 16] [--steps 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def write_pngs(folder: Path, count: int, size: tuple[int, int]) -> list[str]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[: size[0], : size[1]]
    paths = []
    for i in range(count):
        breast = ((yy - size[0] / 2) / (0.45 * size[0])) ** 2 + (xx / (0.8 * size[1])) ** 2 < 1
        pixels = np.where(breast, rng.normal(140, 25, size), 0).clip(0, 255).astype(np.uint8)
        path = folder / f"{i}.png"
        Image.fromarray(pixels).save(path)
        paths.append(str(path))
    return paths


def images_per_second(model: Any, dataset: Any, steps: int, batch: int) -> float:
    model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0)  # trace + warm up
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch / (time.perf_counter() - start)


def make_model(backbone: str, size: tuple[int, int]) -> Any:
    from mammokit.core.tf import import_keras
    from mammokit.train.config import TrainConfig
    from mammokit.train.model import build_model
    from mammokit.train.optim import build_optimizer

    keras = import_keras()
    config = TrainConfig(backbone=backbone)
    model = build_model(config, size)
    model.compile(
        optimizer=build_optimizer(config, steps_per_epoch=100, model=model),
        loss=keras.losses.BinaryCrossentropy(),
        jit_compile=False,
    )
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="128x64")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--tiny-size", default="256x128")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    from mammokit.train.config import AugmentConfig
    from mammokit.train.data import ImageSource, Targets, load_images, train_dataset

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_pngs(Path(tmp), args.images, size)
        labels = np.arange(args.images) % 2
        weights = np.ones(args.images, np.float32)
        rng = np.random.default_rng(0)
        rows = np.concatenate([rng.permutation(args.images) for _ in range(40)])
        targets = Targets(labels, weights)
        common = dict(batch_size=args.batch, augment=AugmentConfig(), seed=0)
        from_files = train_dataset(rows, ImageSource(paths=paths), targets, **common)
        in_memory = train_dataset(
            rows, ImageSource(images=load_images(paths, bit_depth=8)), targets, **common
        )
        model = make_model("convnextv2_atto", size)
        memory_rate = images_per_second(model, in_memory, args.steps, args.batch)
        file_rate = images_per_second(model, from_files, args.steps, args.batch)
        memory_rate_2 = images_per_second(model, in_memory, args.steps, args.batch)
        memory_rate = max(memory_rate, memory_rate_2)
        print(f"ConvNeXtV2Atto {args.size} batch {args.batch}, CPU")
        print(f"  in-memory tensors : {memory_rate:7.1f} img/s")
        print(f"  PNG input pipeline: {file_rate:7.1f} img/s")
        print(f"  ratio pipeline / in-memory: {file_rate / memory_rate:.3f} (target >= 0.95)")

    tiny_size = tuple(int(v) for v in args.tiny_size.split("x"))
    x = np.random.default_rng(0).random((args.batch * 4, *tiny_size, 1), dtype=np.float32)
    y = (np.arange(len(x)) % 2).astype(np.float32)[:, None]
    from mammokit.core.tf import import_tf

    tf = import_tf()
    data = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(args.batch)
    for backbone in ("convnextv2_atto", "convnextv2_tiny"):
        rate = images_per_second(make_model(backbone, tiny_size), data, 5, args.batch)
        print(
            f"{backbone} {args.tiny_size} batch {args.batch}, CPU training: "
            f"{rate:6.1f} img/s = {rate / args.batch:5.2f} steps/s"
        )


if __name__ == "__main__":
    main()
