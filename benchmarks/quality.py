"""Held-out quality on real labelled mammograms: per task and model, the breast ROC AUC on a
held-out split with a 95% bootstrap CI over patients, as a markdown table for
docs/benchmarks.md.

Tasks (``../shared/data/real-labelled``, see its README):

- ``cbis-malignancy``: CBIS-DDSM mass cases, MALIGNANT against BENIGN(_WITHOUT_CALLBACK),
  the official split (``train/`` trains and validates, ``test/`` is held out);
- ``cbis-density``: the same images, density 3-4 against 1-2;
- ``cesm-density``: CDD-CESM low-energy (``_DM_``) images, ACR C-D against A-B (unknown
  density left out), a patient-grouped split made by ``mammokit split`` (25% held out).

CBIS-DDSM images all have the chest wall on the left: the table says ``L`` for every
image (so nothing is mirrored) while ``prediction_id`` keeps the real breast
(``P_00001_RIGHT``). Every step runs as a user runs it, each in its own process:
``mammokit split``, ``mammokit preprocess`` (once per dataset, split and size; cached in
``--workdir``), the training run (``mammokit.train.train`` with the row's ``[train]`` TOML,
as ``mammokit train --config ROW.toml``, plus a handler that copies each epoch's weights),
``mammokit predict --threshold none`` on the held-out images. Rows (``--models``):

- ``hist``: a 32-bin intensity histogram of each preprocessed image + logistic regression
  (scikit-learn), fitted on the whole training split;
- ``simple_cnn``, ``atto`` (ConvNeXtV2 Atto from random weights);
- ``atto_fcmae``: Atto fine-tuned from ``mammokit pretrain`` (FCMAE) on the pooled
  training-split images of every task (never a held-out image), or ``--pretrain-run``;
- ``atto_mask``: Atto with the lesion-mask auxiliary target (``--mask-weight``; the mask
  files in the table's ``--mask-column``); ``atto_fcmae_mask``: both; ``simple_cnn_mask``:
  ``simple_cnn`` with the mask target.

A row whose feature this mammokit lacks stops with a message naming the missing command or
option. The held-out split is used once per configuration: the model a run keeps is chosen
on its validation fold only. With ``--compare-smoothing K`` (default 3) each epoch's
weights are also scored on the held-out split *after* training, to report which epoch the
raw monitor and its mean over K epochs (``--monitor-smoothing K``) would have kept and how
good each was; those figures never choose anything.

    python benchmarks/quality.py --workdir /tmp/quality --epochs 10 --size 256x128 \\
        --models hist,simple_cnn,atto --out quality.md
    # smoke run: --limit 60 --size 64x32 --epochs 2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: The shared real data beside the project (``MAMMOKIT_REAL_DATA`` names another place).
DATA = Path(
    os.environ.get("MAMMOKIT_REAL_DATA")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "real-labelled"
)
TASKS = ("cbis-malignancy", "cbis-density", "cesm-density")
#: task -> (dataset, label column)
TASK_DATA = {
    "cbis-malignancy": ("cbis", "malignant"),
    "cbis-density": ("cbis", "dense"),
    "cesm-density": ("cesm", "dense"),
}
MODELS = (
    "hist",
    "simple_cnn",
    "simple_cnn_mask",
    "atto",
    "atto_fcmae",
    "atto_mask",
    "atto_fcmae_mask",
)
#: model row -> its [train] settings
ROW_TRAIN = {
    "simple_cnn": {"backbone": "simple_cnn"},
    "simple_cnn_mask": {"backbone": "simple_cnn"},
    "atto": {"backbone": "convnextv2_atto"},
    "atto_fcmae": {"backbone": "convnextv2_atto"},
    "atto_mask": {"backbone": "convnextv2_atto"},
    "atto_fcmae_mask": {"backbone": "convnextv2_atto"},
}
TEST_COLUMNS = ["patient_id", "image_id", "laterality", "view", "prediction_id"]
BINS = 32


def mammokit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m mammokit ARGS`` in its own process; raises with its output on failure."""
    command = [sys.executable, "-m", "mammokit", *args]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
    return done


# --- feature checks ---------------------------------------------------------------------


def _help(*command: str) -> str | None:
    done = subprocess.run(
        [sys.executable, "-m", "mammokit", *command, "--help"], capture_output=True, text=True
    )
    return done.stdout if done.returncode == 0 else None


def check_features(models: Sequence[str]) -> None:
    """Stop with a clear message when a row needs a command or option this mammokit lacks."""
    missing = []
    train_help = _help("train") or ""
    if any("fcmae" in m for m in models):
        if _help("pretrain") is None:
            missing.append("`mammokit pretrain` (FCMAE pretraining) is not a command here")
        if "--pretrained" not in train_help:
            missing.append("`mammokit train --pretrained` is missing")
    if any("mask" in m for m in models) and "--mask-weight" not in train_help:
        missing.append("`mammokit train --mask-weight` (the lesion-mask target) is missing")
    if missing:
        rows = ", ".join(m for m in models if "fcmae" in m or "mask" in m)
        raise SystemExit(f"rows {rows} need features this mammokit lacks: " + "; ".join(missing))


# --- tables and images ------------------------------------------------------------------


def _limit(table: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    """Whole patients in a seeded random order until ``limit`` images (all: None)."""
    if not limit:
        return table
    patients = table["patient_id"].drop_duplicates().to_numpy()
    order = np.random.default_rng(seed).permutation(patients)
    counts = table.groupby("patient_id").size()
    keep = order[: int(np.searchsorted(np.cumsum(counts[order].to_numpy()), limit)) + 1]
    return table[table["patient_id"].isin(keep)].reset_index(drop=True)


def cbis_table(root: Path) -> pd.DataFrame:
    """CBIS-DDSM rows: ids, ``split``, ``malignant``, ``dense``, ``source`` and ``mask``."""
    raw = pd.read_csv(root / "labels.csv", dtype=str, keep_default_na=False)
    side = raw["laterality"].str[0]
    patient = raw["case"].str.extract(r"(P_\d+)")[0]
    return pd.DataFrame(
        {
            "patient_id": patient,
            "image_id": raw["case"],
            "laterality": "L",  # every image has its chest wall on the left already
            "view": raw["view"],
            "prediction_id": patient + "_" + side,  # the real breast
            "split": raw["split"],
            "malignant": (raw["image_pathology"] == "MALIGNANT").astype(int),
            "dense": (raw["breast_density"].astype(int) >= 3).astype(int),
            "source": [str(root / f) for f in raw["file"]],
            "mask": [";".join(str(root / m) for m in v.split(";") if m) for v in raw["mask_files"]],
        }
    )


def cesm_table(root: Path) -> pd.DataFrame:
    """CDD-CESM low-energy rows with a known density: ids, ``dense``, ``source``, ``mask``."""
    raw = pd.read_csv(root / "labels.csv", dtype=str, keep_default_na=False)
    raw = raw[(raw["type"] == "DM") & raw["density_acr"].isin(list("ABCD"))]
    stem = raw["file"].str.rsplit(".", n=1).str[0]
    return pd.DataFrame(
        {
            "patient_id": "P" + raw["patient_id"],
            "image_id": stem,
            "laterality": raw["side"],  # the side in the name is the chest wall's
            "view": raw["view"],
            "prediction_id": "P" + raw["patient_id"] + "_" + raw["side"],
            "dense": raw["density_acr"].isin(["C", "D"]).astype(int),
            "source": [str(root / "images" / f) for f in raw["file"]],
            "mask": [str(root / "masks" / f) for f in raw["file"]],
        }
    ).reset_index(drop=True)


def link_images(table: pd.DataFrame, images: Path) -> None:
    """``images/<patient_id>/<image_id>.<ext>``: hard links to the source files, or copies
    (mammokit refuses a symbolic link that leaves the images folder)."""
    for patient, image, source in table[["patient_id", "image_id", "source"]].itertuples(
        index=False
    ):
        target = images / patient / f"{image}{Path(source).suffix}"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)


def dataset_split(name: str, folder: Path, args: argparse.Namespace) -> dict[str, pd.DataFrame]:
    """The dataset's ``train`` and ``test`` rows (written as ``train.csv``/``test.csv`` in
    ``folder`` with their images linked under ``folder/images``)."""
    folder.mkdir(parents=True, exist_ok=True)
    if name == "cbis":
        table = _limit(cbis_table(args.data / "cbis-ddsm-mass-256"), args.limit, args.seed)
        parts = {"train": table[table["split"] == "train"], "test": table[table["split"] == "test"]}
    else:
        table = _limit(cesm_table(args.data / "cdd-cesm-512"), args.limit, args.seed)
        table.drop(columns=["source", "mask"]).to_csv(folder / "all.csv", index=False)
        split = ["--label", "dense", "--test-fraction", "0.25", "--seed", str(args.seed)]
        mammokit("split", "--csv", str(folder / "all.csv"), "--out", str(folder / "split"), *split)
        held = set(pd.read_csv(folder / "split" / "test.csv", dtype=str)["image_id"])
        parts = {
            "train": table[~table["image_id"].isin(held)],
            "test": table[table["image_id"].isin(held)],
        }
    link_images(table, folder / "images")
    train_rows = parts["train"].drop(columns=["source", "split"], errors="ignore")
    train_rows.rename(columns={"mask": args.mask_column}).to_csv(folder / "train.csv", index=False)
    parts["test"][TEST_COLUMNS].to_csv(folder / "test.csv", index=False)
    return {k: v.reset_index(drop=True) for k, v in parts.items()}


def preprocess(folder: Path, split: str, size: str) -> Path:
    """``mammokit preprocess`` of ``folder/<split>.csv`` at ``size`` (resumed, so cached)."""
    out = folder / f"prep-{split}-{size}"
    table = str(folder / f"{split}.csv")
    mammokit("preprocess", "--images", str(folder / "images"), "--csv", table,
             "--out", str(out), "--size", size, "--workers", "1", "--quiet")  # fmt: skip
    return out


# --- scores -----------------------------------------------------------------------------


def breast_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores)) if len(set(labels)) == 2 else math.nan


def bootstrap_interval(
    patients: np.ndarray, statistic: Callable[[np.ndarray], float], n_boot: int, seed: int
) -> tuple[float, float, float]:
    """``statistic`` of the rows (it takes their indices) and its 95% percentile interval
    over ``n_boot`` resamples of the ``patients`` (one id per row, drawn in sorted order;
    resamples where the statistic is NaN, e.g. one class only, are skipped)."""
    groups = [np.flatnonzero(patients == p) for p in np.unique(patients)]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(groups), len(groups))
        value = statistic(np.concatenate([groups[i] for i in pick]))
        if not math.isnan(value):
            values.append(value)
    point = statistic(np.arange(len(patients)))
    if not values:
        return point, math.nan, math.nan
    low, high = np.percentile(values, [2.5, 97.5])
    return point, float(low), float(high)


def bootstrap_auc(breasts: pd.DataFrame, n_boot: int, seed: int) -> tuple[float, float, float]:
    """AUC of ``breasts`` (``patient_id``, ``label``, ``score``) and its 95% percentile
    interval over ``n_boot`` resamples of the patients (resamples with one class skipped)."""
    labels, scores = breasts["label"].to_numpy(), breasts["score"].to_numpy(dtype=np.float64)
    return bootstrap_interval(
        breasts["patient_id"].to_numpy(),
        lambda rows: breast_auc(labels[rows], scores[rows]),
        n_boot,
        seed,
    )


def per_breast(test: pd.DataFrame, label: str, image_scores: pd.Series) -> pd.DataFrame:
    """Breast rows (``patient_id``, ``label``, ``score``: the mean of its images' scores)."""
    frame = test.assign(score=test["image_id"].map(image_scores), label=test[label])
    if frame["score"].isna().any():
        raise SystemExit(f"{int(frame['score'].isna().sum())} held-out image(s) have no score")
    return frame.groupby("prediction_id").agg(
        patient_id=("patient_id", "first"), label=("label", "max"), score=("score", "mean")
    )


def _index_images(prep: Path) -> tuple[pd.DataFrame, list[np.ndarray]]:
    from PIL import Image

    index = pd.read_csv(prep / "index.csv", dtype=str, keep_default_na=False)
    return index, [np.asarray(Image.open(prep / p)) for p in index["path"]]


def histograms(images: Sequence[np.ndarray]) -> np.ndarray:
    """``(N, 32) float64``: each image's intensity histogram over its dtype's full range,
    as fractions of its pixels."""
    top = float(np.iinfo(images[0].dtype).max) + 1.0
    return np.stack([np.histogram(im, bins=BINS, range=(0.0, top))[0] / im.size for im in images])


def histogram_row(train_prep: Path, test_prep: Path, label: str) -> pd.Series:
    """Held-out image scores of the histogram + logistic regression baseline."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_index, train_images = _index_images(train_prep)
    test_index, test_images = _index_images(test_prep)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    model.fit(histograms(train_images), train_index[label].astype(int).to_numpy())
    scores = model.predict_proba(histograms(test_images))[:, 1]
    return pd.Series(scores, index=test_index["image_id"].to_numpy())


# --- training runs ----------------------------------------------------------------------


def _option(text: str) -> tuple[str, Any]:
    key, _, value = text.partition("=")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip().replace("-", "_"), parsed


def train_settings(
    model: str, label: str, args: argparse.Namespace, pretrain: Path | None
) -> dict[str, Any]:
    """The row's ``[train]`` table."""
    height, width = (int(v) for v in args.size.split("x"))
    settings: dict[str, Any] = {
        **ROW_TRAIN[model], "label": label, "epochs": args.epochs, "seed": args.seed,
        "image_size": [height, width], "strategy": "cpu", "monitor": "breast_auc",
        "monitor_smoothing": args.monitor_smoothing,
    }  # fmt: skip
    if "fcmae" in model:
        settings["pretrained"] = str(pretrain)
    if "mask" in model:
        settings["mask_weight"] = args.mask_weight
    settings.update(dict(_option(o) for o in args.train_option))
    return settings


def toml_value(value: Any) -> str:
    """``value`` (text, number, bool, list, dict) as a TOML value."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


def write_toml(path: Path, settings: dict[str, Any]) -> None:
    """``settings`` as the ``[train]`` table of the TOML file ``path``."""
    lines = ["[train]", *(f"{k} = {toml_value(v)}" for k, v in settings.items())]
    path.write_text("\n".join(lines) + "\n")


def run_training(config: Path, data: Path, run: Path, test_prep: Path | None) -> None:
    """The worker (``quality.py _train``) in its own process, so TensorFlow's memory is
    freed after each run."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "_train",
        str(config),
        str(data),
        str(run),
    ]
    if test_prep is not None:
        command += ["--score", str(test_prep)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"training failed: {' '.join(command)}\n{done.stderr[-4000:]}")


def pretrain_run(args: argparse.Namespace, folders: Sequence[Path]) -> Path:
    """``--pretrain-run``, or a ``mammokit pretrain`` run on ``folders`` (training splits)."""
    if args.pretrain_run:
        return Path(args.pretrain_run)
    out = (
        args.workdir
        / f"pretrain-{args.size}-n{args.limit or 'all'}-s{args.seed}-e{args.pretrain_epochs}"
    )
    if not (out / "summary.json").exists():
        data = [a for f in folders for a in ("--data", str(f))]
        resume = ["--resume"] if out.exists() else []
        mammokit("pretrain", *data, "--out", str(out), "--epochs", str(args.pretrain_epochs),
                 "--seed", str(args.seed), "--quiet", *resume)  # fmt: skip
    return out


class EpochWeights:
    """A training handler that copies each epoch's weights (the commit's ``last`` weights,
    EMA ones when EMA is on) to ``folder/epoch-N.weights.h5`` and times the epochs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: float | None = None
        self.ended: dict[int, float] = {}

    def on_batch_begin(self, epoch: int, batch: int) -> None:
        if self.started is None:
            self.started = time.perf_counter()

    def on_checkpoint(self, epoch: int, stage: Path) -> None:
        from mammokit.train.rundir import RunDir

        self.folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(RunDir(stage).last_weights, self.folder / f"epoch-{epoch}.weights.h5")

    def on_epoch_end(self, epoch: int, logs: Any) -> None:
        self.ended[epoch] = time.perf_counter()


def train_worker(config: Path, data: Path, run: Path, score: Path | None) -> None:
    """Train ``config`` on ``data`` into ``run``; write ``run/epochs.csv`` (seconds per
    epoch; with ``score``, each epoch's held-out image scores in ``run/epoch_scores.csv``)."""
    from mammokit.train import load_train_config, train

    handler = EpochWeights(run / "epoch-weights")
    train(data, run, load_train_config(config), verbose=0, handlers=[handler])
    start = handler.started or 0.0
    seconds = np.diff([start, *(handler.ended[e] for e in sorted(handler.ended))])
    pd.DataFrame({"epoch": sorted(handler.ended), "seconds": seconds}).to_csv(
        run / "epochs.csv", index=False
    )
    if score is not None:
        epoch_scores(run, score, sorted(handler.ended)).to_csv(
            run / "epoch_scores.csv", index=False
        )
    shutil.rmtree(run / "epoch-weights", ignore_errors=True)


def epoch_scores(run: Path, prep: Path, epochs: Sequence[int]) -> pd.DataFrame:
    """Held-out image scores (rows: ``prep``'s images) of each epoch's weights, put into the
    run's own model (``model.keras``, main head), scored as ``mammokit predict`` scores."""
    from mammokit.evaluate.predict import score_images
    from mammokit.evaluate.runinfo import read_run
    from mammokit.train import load_model

    index = pd.read_csv(prep / "index.csv", dtype=str, keep_default_na=False)
    paths = [str(prep / p) for p in index["path"]]
    info, model = read_run(run), load_model(run)
    out = pd.DataFrame({"image_id": index["image_id"]})
    for epoch in epochs:
        model.load_weights(str(run / "epoch-weights" / f"epoch-{epoch}.weights.h5"), by_name=True)
        out[f"epoch_{epoch}"] = score_images(info, paths, model=model, progress=False)
    return out


def heldout_scores(run: Path, folder: Path, args: argparse.Namespace) -> pd.Series:
    """``mammokit predict --threshold none`` of the kept model on the held-out images."""
    out = run / "heldout" / "submission.csv"
    cache = folder / f"predict-cache-{args.size}"
    mammokit("predict", "--run", str(run), "--images", str(folder / "images"), "--csv",
             str(folder / "test.csv"), "--out", str(out), "--threshold", "none",
             "--cache", str(cache), "--workers", "1", "--quiet")  # fmt: skip
    images = pd.read_csv(out.with_name("image_scores.csv"), dtype={"image_id": str})
    return images.set_index("image_id")["score"]


def trained_run(
    task: str, model: str, settings: dict[str, Any], train_prep: Path,
    args: argparse.Namespace, score: Path | None,
) -> Path:  # fmt: skip
    """The run folder of ``settings`` under ``args.workdir/runs``, trained on ``train_prep``
    unless a finished run with the same settings is there already (with ``score``, each
    epoch's scores of those held-out images are kept too, never used to choose)."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
    tag = f"{task}-{model}-{args.size}-n{args.limit or 'all'}-{digest}"  # same settings: reused
    run = args.workdir / "runs" / tag
    done = ["model.keras", "epochs.csv", *(["epoch_scores.csv"] if score is not None else [])]
    if not all((run / name).exists() for name in done):
        shutil.rmtree(run, ignore_errors=True)
        config = args.workdir / "runs" / f"{tag}.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        write_toml(config, settings)
        run_training(config, train_prep, run, score)
    check_defaults(run, settings)
    return run


def check_defaults(run: Path, settings: dict[str, Any]) -> None:
    """Stop when ``run`` (found by its settings) was trained with other values of the
    settings it left to the defaults, i.e. mammokit's defaults changed since."""
    from mammokit.core.config import load_toml
    from mammokit.train.config import load_train_config

    now = load_train_config(None, settings).to_dict()
    then = load_toml(run / "config.toml")["train"]
    changed = sorted(
        k for k in now.keys() & then.keys() if json.dumps(now[k]) != json.dumps(then[k])
    )
    if changed:
        raise SystemExit(
            f"{run}: trained with other defaults ({', '.join(f'{k} = {then[k]}' for k in changed)}"
            f"; now {', '.join(str(now[k]) for k in changed)}): use a new --workdir, or name "
            "those settings"
        )


# --- one row ----------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.2f}"


def _auc_text(breasts: pd.DataFrame, args: argparse.Namespace) -> str:
    point, low, high = bootstrap_auc(breasts, args.boot, args.seed)
    return f"{_fmt(point)} [{_fmt(low)}, {_fmt(high)}]"


def choice_cells(
    run: Path, test: pd.DataFrame, label: str, args: argparse.Namespace
) -> dict[str, str]:
    """What the raw monitor, its mean over ``--compare-smoothing`` epochs and the last epoch
    would have kept, with that epoch's held-out AUC (scored after training)."""
    from mammokit.train.epochs import choose_epoch

    history = pd.read_csv(run / "history.csv")
    values = [float(v) for v in history["monitor"]]
    scores = pd.read_csv(run / "epoch_scores.csv", dtype={"image_id": str}).set_index("image_id")
    cells = {}
    for name, smoothing in (
        ("raw", 1),
        (f"mean of {args.compare_smoothing}", args.compare_smoothing),
        ("last", 0),
    ):
        epoch = len(values) if smoothing == 0 else choose_epoch(values, "max", smoothing)
        if epoch is None:
            cells[name] = "n/a"
            continue
        breasts = per_breast(test, label, scores[f"epoch_{epoch}"])
        auc = breast_auc(breasts["label"].to_numpy(), breasts["score"].to_numpy(dtype=np.float64))
        cells[name] = f"{epoch}: {_fmt(auc)}"
    every = [per_breast(test, label, scores[c]) for c in scores.columns]
    aucs = [breast_auc(b["label"].to_numpy(), b["score"].to_numpy(dtype=np.float64)) for b in every]
    cells["held-out range"] = f"{_fmt(np.nanmin(aucs))}-{_fmt(np.nanmax(aucs))}" if aucs else "n/a"
    return cells


def network_row(
    task: str, model: str, folder: Path, preps: dict[str, Path], test: pd.DataFrame,
    args: argparse.Namespace, pretrain: Callable[[], Path],
) -> dict[str, str]:  # fmt: skip
    """Train, predict and score one network row of ``task``."""
    _, label = TASK_DATA[task]
    settings = train_settings(model, label, args, pretrain() if "fcmae" in model else None)
    score = preps["test"] if args.compare_smoothing else None
    run = trained_run(task, model, settings, preps["train"], args, score)
    summary = json.loads((run / "summary.json").read_text())
    breasts = per_breast(test, label, heldout_scores(run, folder, args))
    seconds = pd.read_csv(run / "epochs.csv")["seconds"]
    kept = summary["model_epoch"]
    row = {
        "held-out AUC [95% CI]": _auc_text(breasts, args),
        "kept epoch": f"{kept} of {len(summary['values'])}",
        "val AUC at kept epoch": _fmt(summary["best"] if summary["best"] is not None else math.nan),
        "s / epoch": f"{seconds.mean():.1f}",
    }
    if args.compare_smoothing:
        row.update(choice_cells(run, test, label, args))
    return row


def task_rows(
    task: str, args: argparse.Namespace, pretrain: Callable[[], Path]
) -> list[dict[str, str]]:
    """The rows of ``task`` for ``--models``."""
    dataset, label = TASK_DATA[task]
    folder = args.workdir / f"{dataset}-n{args.limit or 'all'}-s{args.seed}"
    parts = dataset_split(dataset, folder, args)
    preps = {split: preprocess(folder, split, args.size) for split in ("train", "test")}
    test = parts["test"]
    breasts = test.groupby("prediction_id")[label].max()
    name = f"{task} ({len(breasts)}, {int(breasts.sum())})"
    rows = []
    for model in args.models:
        print(f"{task}: {model} ...", file=sys.stderr, flush=True)
        if model == "hist":
            scores = histogram_row(preps["train"], preps["test"], label)
            cells = {"held-out AUC [95% CI]": _auc_text(per_breast(test, label, scores), args)}
        else:
            cells = network_row(task, model, folder, preps, test, args, pretrain)
        rows.append({"task (held-out breasts, positives)": name, "model": model, **cells})
    return rows


def markdown(rows: list[dict[str, str]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row.get(c, "n/a") for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


#: The command's options: flag, type ("append": repeatable text), default, help.
OPTIONS: tuple[tuple[str, Any, Any, str], ...] = (
    ("--tasks", str, ",".join(TASKS), f"comma-separated: {', '.join(TASKS)}"),
    ("--models", str, "hist,simple_cnn,atto", f"comma-separated: {', '.join(MODELS)}"),
    ("--epochs", int, 10, "training epochs of each network row"),
    ("--size", str, "256x128", "preprocessed and model size HxW"),
    ("--limit", int, 0, "about this many images per dataset (whole patients; 0: all)"),
    ("--seed", int, 0, "the split's, subsample's, training's and bootstrap's seed"),
    ("--workdir", Path, Path("quality-work"), "tables, preprocessed folders and runs, reused"),
    ("--data", Path, DATA, "the real-labelled folder"),
    ("--boot", int, 2000, "bootstrap resamples of the held-out patients"),
    ("--monitor-smoothing", int, 1, "the runs' --monitor-smoothing"),
    ("--compare-smoothing", int, 3, "also report the raw and mean-of-K choices (0: off)"),
    ("--train-option", "append", None, "KEY=VALUE: more [train] settings (JSON, else text)"),
    ("--pretrain-run", str, None, "a `mammokit pretrain` run for the fcmae rows"),
    ("--pretrain-epochs", int, 20, "epochs of the pretraining made here"),
    ("--mask-weight", float, 0.5, "the mask rows' --mask-weight"),
    ("--mask-column", str, "lesion_mask", "the table column naming each image's mask files"),
    ("--out", Path, None, "also write the markdown table here"),
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for flag, kind, default, text in OPTIONS:
        if kind == "append":
            parser.add_argument(flag, action="append", default=[], help=text)
        else:
            parser.add_argument(flag, type=kind, default=default, help=text)
    args = parser.parse_args(argv)
    args.tasks = [t for t in args.tasks.split(",") if t]
    args.models = [m for m in args.models.split(",") if m]
    unknown = sorted(set(args.tasks) - set(TASKS)) + sorted(set(args.models) - set(MODELS))
    if unknown:
        parser.error(
            f"unknown task/model {', '.join(unknown)}; "
            f"tasks: {', '.join(TASKS)}; models: {', '.join(MODELS)}"
        )
    if not args.data.is_dir():
        parser.error(f"{args.data}: no real-labelled data folder (see --data)")
    args.workdir = args.workdir.resolve()
    args.data = args.data.resolve()  # the tables name mask files; mammokit reads them from
    # the table's folder, so a path relative to the shell's folder would not be found
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    check_features(args.models)
    made: list[Path] = []

    def pretrain() -> Path:  # once, on every task's training split, never a held-out image
        if not made:
            folders = []
            for dataset in dict.fromkeys(TASK_DATA[t][0] for t in TASKS):
                folder = args.workdir / f"{dataset}-n{args.limit or 'all'}-s{args.seed}"
                dataset_split(dataset, folder, args)
                folders.append(preprocess(folder, "train", args.size))
            made.append(pretrain_run(args, folders))
        return made[0]

    started = time.perf_counter()
    rows = [row for task in args.tasks for row in task_rows(task, args, pretrain)]
    text = markdown(rows)
    command = "python benchmarks/quality.py " + " ".join(sys.argv[1:] if argv is None else argv)
    note = (
        f"\n`{command}` ({time.perf_counter() - started:.0f} s). Held-out AUC per breast (mean of "
        f"its images' scores), 95% CI from {args.boot} resamples of the held-out patients. "
        "kept epoch, val AUC: the run's own choice on its validation fold (with "
        "--monitor-smoothing K, the val AUC is the mean over the window). "
        "raw / mean of K / last: the epoch that choice keeps and its held-out AUC, scored "
        "after training; held-out range: over all epochs (never used to choose).\n"
    )
    print(text + note)
    if args.out:
        args.out.write_text(text + note)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_train":
        worker = argparse.ArgumentParser()
        for name in ("config", "data", "run"):
            worker.add_argument(name, type=Path)
        worker.add_argument("--score", type=Path)
        given = worker.parse_args(sys.argv[2:])
        train_worker(given.config, given.data, given.run, given.score)
    else:
        main()
