"""The recipe's defaults on the validation fold: ConvNeXtV2 Atto trained on one real task's
training split with a few ``[train]`` overrides, scored only on the run's own validation
fold (never the held-out split), as a markdown table for docs/benchmarks.md.

Every configuration uses the same task, seed, fold and size; the runs are those of
``benchmarks/quality.py`` (same folders, same run tags: a ``quality.py`` ``atto`` run with
the same settings is reused, and one made here is reused there). The runs train with
``monitor_smoothing = 1``, which changes only the weights kept, not the training; the kept
epoch printed here is the one the library's default smoothing keeps, recomputed from each
epoch's validation breast AUC.

    python benchmarks/recipe.py --workdir /tmp/quality --task cbis-malignancy \\
        --configs baseline,lr-5e-4,lr-5e-4+augment-off --out recipe.md
    # "+" combines configurations; the first one given is the reference of the last column
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd
from quality import (
    DATA,
    TASK_DATA,
    TASKS,
    bootstrap_interval,
    breast_auc,
    dataset_split,
    preprocess,
    train_settings,
    trained_run,
)

from mammokit.train.config import AugmentConfig

#: No augmentation: ``AugmentConfig.off()``, every probability and range at 0.
AUGMENT_OFF = attrs.asdict(AugmentConfig.off())
#: Twice the defaults' rotation, zoom and contrast, more shift, and a cutout (15% of H and W)
#: on a quarter of the images.
AUGMENT_STRONG = {"rotate_degrees": 10.0, "scale": 0.1, "translate": 0.05, "contrast": 0.2,
                  "cutout": 0.25}  # fmt: skip
#: configuration name -> its [train] overrides of the recipe's defaults
CONFIGS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "lr-5e-4": {"learning_rate": 5e-4},  # the default before issue 25
    "lr-1e-3": {"learning_rate": 1e-3},
    "lr-2e-4": {"learning_rate": 2e-4},
    "lr-1e-4": {"learning_rate": 1e-4},
    "augment-off": {"augment": AUGMENT_OFF},
    "augment-strong": {"augment": AUGMENT_STRONG},
    "input-imagenet": {"input_mode": "imagenet"},
    "input-grey": {"input_mode": "grey"},
    "epochs-20": {"epochs": 20},
}


def overrides(spec: str) -> dict[str, Any]:
    """The merged overrides of ``spec``'s configurations (``name+name``)."""
    merged: dict[str, Any] = {}
    for name in spec.split("+"):
        merged.update(CONFIGS[name])
    return merged


def default_smoothing() -> int:
    """The recipe's default ``monitor_smoothing``."""
    from mammokit.train.config import TrainConfig

    return int(TrainConfig(label="label").monitor_smoothing)


def validation_row(run: Path, smoothing: int) -> dict[str, str]:
    """The run's validation breast AUC: at the epoch the default smoothing keeps, its best
    over epochs, every epoch's; the last epoch's training AUC and seconds per epoch."""
    from mammokit.train.epochs import choose_epoch

    history = pd.read_csv(run / "history.csv")
    values = [float(v) for v in history["val_breast_auc"]]
    kept = choose_epoch(values, "max", smoothing) or len(values)
    window = values[max(0, kept - smoothing) : kept]
    best = max(range(len(values)), key=values.__getitem__)
    seconds = pd.read_csv(run / "epochs.csv")["seconds"]
    return {
        "kept epoch": str(kept),
        "val AUC at kept epoch": f"{values[kept - 1]:.3f}",
        f"mean of {smoothing} there": f"{sum(window) / len(window):.3f}",
        "best val AUC (epoch)": f"{values[best]:.3f} ({best + 1})",
        "val AUC by epoch": " ".join(f"{v:.2f}" for v in values),
        "train AUC, last epoch": f"{float(history['auc'].iloc[-1]):.2f}",
        "s / epoch": f"{seconds.mean():.0f}",
    }


def validation_breasts(run: Path, label: str) -> pd.DataFrame:
    """The run's validation breasts (``oof.csv``: the kept model's scores) by
    ``prediction_id``: ``patient_id``, ``label``, ``score`` (the mean of its images')."""
    oof = pd.read_csv(run / "oof.csv", dtype={"patient_id": str, "prediction_id": str})
    return oof.groupby("prediction_id").agg(
        patient_id=("patient_id", "first"), label=(label, "max"), score=("score", "mean")
    )


def paired_difference(run: Path, base: Path, label: str, n_boot: int = 2000, seed: int = 0) -> str:
    """``run``'s validation breast AUC minus ``base``'s (same fold, each run's kept model)
    with a 95% interval over ``n_boot`` paired resamples of the validation patients."""
    both = validation_breasts(run, label).join(
        validation_breasts(base, label)["score"].rename("base")
    )
    labels, scores, bases = (both[c].to_numpy(dtype=np.float64) for c in ("label", "score", "base"))

    def difference(rows: np.ndarray) -> float:
        return breast_auc(labels[rows], scores[rows]) - breast_auc(labels[rows], bases[rows])

    point, low, high = bootstrap_interval(both["patient_id"].to_numpy(), difference, n_boot, seed)
    return f"{point:+.3f} [{low:+.3f}, {high:+.3f}]"


def describe(spec: str) -> str:
    """``spec``'s overrides as JSON, ``AugmentConfig.off()`` by that name."""
    if spec == "baseline":
        return "the defaults"
    text = json.dumps(overrides(spec))
    return text.replace(json.dumps(AUGMENT_OFF), "AugmentConfig.off()")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", choices=TASKS, default="cbis-malignancy")
    parser.add_argument(
        "--configs", default="baseline", help=f"comma-separated, '+' combines: {', '.join(CONFIGS)}"
    )
    parser.add_argument("--epochs", type=int, default=10, help="epochs unless a config sets them")
    parser.add_argument("--size", default="256x128", help="preprocessed and model size HxW")
    parser.add_argument("--limit", type=int, default=0, help="about this many images (0: all)")
    parser.add_argument("--seed", type=int, default=0, help="the split's and training's seed")
    parser.add_argument("--workdir", type=Path, default=Path("quality-work"))
    parser.add_argument("--data", type=Path, default=DATA, help="the real-labelled folder")
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    args = parser.parse_args(argv)
    args.configs = [c for c in args.configs.split(",") if c]
    unknown = sorted({n for c in args.configs for n in c.split("+")} - set(CONFIGS))
    if unknown:
        parser.error(f"unknown configuration {', '.join(unknown)}; known: {', '.join(CONFIGS)}")
    args.workdir = args.workdir.resolve()
    # what quality.py's train_settings and dataset_split read
    args.monitor_smoothing, args.train_option = 1, []
    args.mask_column, args.mask_weight = "lesion_mask", 0.0
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    dataset, label = TASK_DATA[args.task]
    folder = args.workdir / f"{dataset}-n{args.limit or 'all'}-s{args.seed}"
    train_prep = folder / f"prep-train-{args.size}"
    if not (train_prep / "index.csv").exists():  # a finished one is reused as it is
        dataset_split(dataset, folder, args)
        train_prep = preprocess(folder, "train", args.size)
    smoothing = default_smoothing()
    started, rows, runs = time.perf_counter(), [], {}
    for spec in args.configs:
        print(f"{args.task}: {spec} ...", file=sys.stderr, flush=True)
        settings = {**train_settings("atto", label, args, None), **overrides(spec)}
        run = runs[spec] = trained_run(args.task, "atto", settings, train_prep, args, score=None)
        rows.append({"configuration": spec, "[train] overrides": describe(spec),
                     **validation_row(run, smoothing)})  # fmt: skip
        print(rows[-1], file=sys.stderr, flush=True)
    against = "kept model - first row's, val AUC [95% CI]"
    first = args.configs[0]
    for row in rows[1:]:
        row[against] = paired_difference(runs[row["configuration"]], runs[first], label)
    fold = validation_breasts(next(iter(runs.values())), label)
    columns = list(dict.fromkeys(c for row in rows for c in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row.get(c, "") for c in columns) + " |" for row in rows]
    command = "python benchmarks/recipe.py " + " ".join(sys.argv[1:] if argv is None else argv)
    note = (
        f"\n`{command}` ({time.perf_counter() - started:.0f} s). ConvNeXtV2 Atto, {args.task}, "
        f"validation fold only (fold 0 of 5 of the training split, seed {args.seed}: "
        f"{len(fold)} breasts, {int(fold['label'].sum())} positive); breast ROC AUC. kept "
        f"epoch: the one monitor_smoothing = {smoothing} keeps. {against}: each run's "
        "model.keras (the epoch of the best raw value) against the first row's, on the same "
        "breasts, with a 95% interval from 2000 paired resamples of the validation patients.\n"
    )
    text = "\n".join(lines) + "\n" + note
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
