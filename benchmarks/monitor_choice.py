"""Which epoch does each checkpoint monitor choose, and how good is that model on held-out
patients?

Makes a synthetic dataset (``mammokit synth``), holds out a patient-grouped test split
(``mammokit.split_table``), preprocesses both, then trains the same run (same seed, so the
same weights every epoch) once per monitor. Each run's ``model.keras`` holds the epoch its
monitor chose; the script prints that epoch and the held-out breast ROC AUC and
best-threshold pF1 of that model, and the epoch the same monitor averaged over 3 epochs
(``--monitor-smoothing 3``) would keep (benchmarks/quality.py scores both on real data).
The finding is recorded in docs/decisions.md.

    python benchmarks/monitor_choice.py [--patients 48] [--epochs 8] [--seeds 0,1]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

MONITORS = ("breast_pf1", "breast_auc", "breast_pf1_best_threshold", "val_loss")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--contrast", type=float, default=0.25)
    args = parser.parse_args()

    import numpy as np
    import pandas as pd

    from mammokit import (
        Pipeline,
        PredictConfig,
        PredictOptions,
        SynthConfig,
        preprocess_dataset,
        split_table,
        write_dataset,
    )
    from mammokit.evaluate.predict import predict
    from mammokit.scoring.aggregate import aggregate_scores
    from mammokit.scoring.metrics import f1_curve, roc_auc
    from mammokit.train import TrainConfig, train
    from mammokit.train.epochs import choose_epoch

    root = Path(tempfile.mkdtemp(prefix="monitor-choice-"))
    for seed in (int(s) for s in args.seeds.split(",")):
        data = root / f"synth-{seed}"
        write_dataset(
            data,
            SynthConfig(patients=args.patients, image_size=(256, 208), seed=seed,
                        lesion_contrast=args.contrast),
        )  # fmt: skip
        table = pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False)
        train_rows, test_rows = split_table(table, test_fraction=0.25, seed=seed)
        train_rows.to_csv(root / f"train-{seed}.csv", index=False)
        test_rows.to_csv(root / f"test-{seed}.csv", index=False)
        prep = root / f"prep-{seed}"
        preprocess_dataset(Pipeline(size=(128, 64)), data / "train_images",
                           root / f"train-{seed}.csv", prep, workers=1, quiet=True)  # fmt: skip
        labels = test_rows.assign(cancer=test_rows["cancer"].astype(int))
        for monitor in MONITORS:
            run = root / f"run-{seed}-{monitor}"
            config = TrainConfig(
                backbone="simple_cnn", image_size=(64, 32), epochs=args.epochs, batch_size=8,
                strategy="cpu", seed=seed, n_folds=4, monitor=monitor,
            )  # fmt: skip
            result = train(prep, run, config, verbose=0)
            options = PredictOptions(
                scores_path=run / "image_scores.csv",
                cache_dir=root / "cache",
                workers=1,
                progress=False,
            )
            predict([run], data / "train_images", root / f"test-{seed}.csv",
                    run / "submission.csv", config=PredictConfig(threshold="none"),
                    options=options)  # fmt: skip
            scores = pd.read_csv(run / "image_scores.csv", dtype={"image_id": str})
            images = scores[["image_id", "score"]].merge(labels, on="image_id")
            breasts = aggregate_scores(images, "mean")
            y = breasts["cancer"].to_numpy()
            s = breasts["score"].to_numpy(dtype=np.float64)
            _, f1 = f1_curve(y, s)
            values = ", ".join(f"{v:.3f}" for v in result.history["monitor"])
            smoothed = choose_epoch(
                list(result.history["monitor"]), config.resolved_monitor_mode, 3
            )
            print(
                f"seed {seed} {monitor:26s} epoch {result.best_epoch}/{args.epochs} "
                f"(mean of 3: {smoothed})  "
                f"test breast AUC {roc_auc(y, s):.3f}  best-threshold pF1 {f1.max():.3f}  "
                f"score range {s.min():.3f}-{s.max():.3f}  [{values}]",
                flush=True,
            )


if __name__ == "__main__":
    main()
