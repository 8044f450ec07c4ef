"""``mammokit demo``: the whole mission on synthetic data, on a laptop CPU, in minutes.

:func:`run_demo` chains the facade's methods, the ones the CLI commands call:

1. ``mammokit synth``: :func:`mammokit.synthetic.write_dataset` writes an RSNA-shaped
   dataset of phantom DICOMs with lesions in the positive breasts, training patients and
   held-out test patients (their labels kept apart in ``test_labels.csv``);
2. ``mammokit preprocess``: :meth:`mammokit.Pipeline.preprocess_dataset`;
3. ``mammokit train``: :meth:`mammokit.Pipeline.train` on a patient-grouped split, with the
   number of epochs chosen to fit the time budget (from a short speed probe of the model);
4. ``mammokit predict``: :meth:`mammokit.Run.write_predictions` on the held-out patients
   (``Run.open`` rebuilds the run's saved pipeline: its preprocessing, then
   ``submission.csv``);
5. the scores against the hidden labels: breast-level ROC AUC, the pF1 of the binarised
   submission and the threshold the prior-quantile policy chose;
6. ``mammokit evaluate`` (:meth:`mammokit.Ensemble.report`) and ``mammokit explain``: the
   report and a few Grad-CAM overlays.

Everything is written under ``out_dir``; ``demo.toml`` there holds the settings and, at
the end, the scores. A folder made by an earlier demo is emptied of the demo's own outputs
and the demo starts again; any other non-empty folder is refused.
"""

from __future__ import annotations

import math
import shutil
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from mammokit.core.config import load_toml, options_with, save_toml
from mammokit.core.errors import ConfigError, MammokitError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_BACKBONE",
    "DEFAULT_MINUTES",
    "DEFAULT_OUT",
    "DEFAULT_PATIENTS",
    "DEFAULT_TEST_PATIENTS",
    "DemoOptions",
    "DemoPaths",
    "DemoResult",
    "plan_epochs",
    "run_demo",
]

DEFAULT_OUT = "mammokit-demo"
#: Training patients (4 images each). With 160, the model's held-out AUC varied from seed to
#: seed by 0.15 (a 32-patient validation fold picks the best epoch from a noisy curve);
#: with 320 much less (see docs/benchmarks.md).
DEFAULT_PATIENTS = 320
#: Held-out test patients (480 breasts, 96 with a lesion). Prediction is cheap next to
#: training; with the earlier 80 held-out breasts (a fifth of 200 patients) one run's AUC had
#: a standard error of about 0.05, with 480 about 0.02.
DEFAULT_TEST_PATIENTS = 240
DEFAULT_MINUTES = 8.0
DEFAULT_BACKBONE = "simple_cnn"
#: Why the demo trains :data:`DEFAULT_BACKBONE` rather than ConvNeXtV2 Atto by default.
DEFAULT_BACKBONE_REASON = (
    "ConvNeXtV2 Atto trained from random initialisation stays at chance for its first 10-15 "
    "epochs: on this task and 2 busy CPU cores the 8-minute budget held 6 of its epochs, and "
    "it ended at a held-out AUC of 0.51 after 7 minutes (see docs/benchmarks.md), while this "
    "small CNN reached about 0.9 in 4-6 minutes. Real runs should use ConvNeXtV2 with "
    "pretrained weights (pretrained=<local file>)."
)

#: Fraction of breasts with a lesion; real screening has about 2%.
POSITIVE_FRACTION = 0.2
#: Lesion brightness and radius of the synthetic positives (see SynthConfig). The contrast is
#: set so that the demo's model is good but not perfect (held-out AUC about 0.9 on seeds 0-2,
#: see docs/benchmarks.md): with the 320 training patients, 0.21 gave 0.98-0.99 and 0.18
#: 0.95-0.97; at 0.3 (and 160 training patients) the AUC reached 1.0 and the report showed
#: no trade-off. Both lesion kinds (mass, calcification) are drawn; the report breaks
#: results down by ``lesion_type``.
LESION_CONTRAST = 0.16
LESION_SIZE = 0.12
#: Size of the synthetic DICOMs and of the model input.
SOURCE_SIZE = (192, 160)
IMAGE_SIZE = (128, 64)
BATCH_SIZE = 16
#: The demo's learning rate: the one its budget, epochs and issue 17's 0.85-0.97 AUC band were
#: measured at (docs/benchmarks.md, "Demo"). ``TrainConfig``'s default moved to 2e-4 for
#: Atto on real mammograms (issue 25); at 2e-4 the demo's simple_cnn ended at 0.859.
LEARNING_RATE = 5e-4
N_FOLDS = 5
#: Most epochs trained, per backbone (fewer when the budget is short).
MAX_EPOCHS = {"simple_cnn": 24}
MAX_EPOCHS_OTHER = 30
#: Grad-CAM overlays written: the top-scored images of cancer and of healthy breasts.
GRADCAM_PER_CLASS = 2
#: Estimates of the remaining phases are multiplied by this before planning.
SAFETY = 1.3
#: Model builds or traces after the speed probe (training's first epoch and final model,
#: prediction, Grad-CAM), each costing about the probe's setup time.
SETUPS_AFTER_PROBE = 3
#: Seconds of the remaining phases that do not grow with the model (report figures...).
FIXED_SECONDS = 10.0
#: The marker of a demo folder.
SETTINGS_FILE = "demo.toml"
_OUTPUTS = ("synth", "prep", "run", "predict", "report", "gradcam", SETTINGS_FILE)
_PHASES = 6


@attrs.frozen
class DemoPaths:
    """Where the demo wrote its outputs (all under ``root``)."""

    root: Path
    settings: Path
    dataset: Path
    preprocessed: Path
    run: Path
    submission: Path
    breast_scores: Path
    test_cache: Path
    report: Path
    metrics: Path
    gradcam: tuple[Path, ...]

    @classmethod
    def under(cls, root: Path) -> DemoPaths:
        """The layout under ``root`` (Grad-CAM files are added when written)."""
        return cls(
            root=root,
            settings=root / SETTINGS_FILE,
            dataset=root / "synth",
            preprocessed=root / "prep",
            run=root / "run",
            submission=root / "predict" / "submission.csv",
            breast_scores=root / "predict" / "breast_scores.csv",
            test_cache=root / "predict" / "preprocessed",
            report=root / "report" / "report.html",
            metrics=root / "report" / "metrics.json",
            gradcam=(),
        )


@attrs.frozen
class DemoResult:
    """What :func:`run_demo` measured.

    Attributes:
        auc: breast-level ROC AUC on the held-out test patients.
        pf1: probabilistic F1 of the binarised ``submission.csv`` against the hidden labels.
        threshold: the threshold the ``prior_quantile`` policy chose (breast scores above it
            are predicted cancer).
        backbone: the backbone trained; ``backbone_reason``: why that one.
        seconds: wall-clock time of the whole demo.
        epochs: epochs trained; ``budget_seconds``: the time budget.
        test_breasts, test_positives: size of the held-out set.
        phase_seconds: seconds per phase, in order.
        paths: the outputs.
    """

    auc: float
    pf1: float
    threshold: float | None
    backbone: str
    backbone_reason: str
    seconds: float
    epochs: int
    budget_seconds: float
    test_breasts: int
    test_positives: int
    phase_seconds: dict[str, float]
    paths: DemoPaths


@attrs.frozen
class _Speed:
    """Probe of one backbone: seconds per training image and per predicted image, and the
    one-off cost of building and tracing the model."""

    train_image: float
    predict_image: float
    setup: float


def plan_epochs(
    *,
    seconds_left: float,
    epoch_seconds: float,
    fixed_seconds: float,
    max_epochs: int,
) -> int:
    """Epochs that fit ``seconds_left``: ``floor((left - fixed) / per_epoch)``, clipped to
    ``[1, max_epochs]`` (one epoch at least, even over budget)."""
    if epoch_seconds <= 0:
        return max_epochs
    fit = math.floor((seconds_left - fixed_seconds) / epoch_seconds)
    return int(min(max(fit, 1), max_epochs))


class _Printer:
    """Progress lines on stdout (nothing when quiet)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.phase = 0
        self.seconds: dict[str, float] = {}

    def __call__(self, text: str = "") -> None:
        if not self.quiet:
            print(text, flush=True)

    @contextmanager
    def phase_of(self, name: str, title: str, command: str | None = None) -> Iterator[None]:
        self.phase += 1
        self(f"\n[{self.phase}/{_PHASES}] {title}")
        if command:
            self(f"      same as: {command}")
        started = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - started
        self(f"      done in {self.seconds[name]:.1f} s")


def _prepare_out(root: Path) -> None:
    """Make ``root`` an empty demo folder; a previous demo's outputs are removed, any other
    non-empty folder is refused."""
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root} exists and is not a folder; choose another --out")
    if root.is_dir() and any(root.iterdir()):
        marker = root / SETTINGS_FILE
        if not marker.is_file() or "demo" not in load_toml(marker):
            raise ConfigError(
                f"{root} is not empty and was not made by `mammokit demo` (no {SETTINGS_FILE}); "
                "choose another --out or empty it"
            )
        for name in _OUTPUTS:
            path = root / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    root.mkdir(parents=True, exist_ok=True)


def _check_patients(train: int, test: int) -> None:
    """Refuse too few training patients (the folds) or held-out patients."""
    if train < N_FOLDS + 1:
        raise ConfigError(
            f"--patients must be at least {N_FOLDS + 1}: {N_FOLDS} validation folds need "
            f"{N_FOLDS + 1} training patients; got {train}"
        )
    if test < 2:
        raise ConfigError(f"--test-patients must be at least 2; got {test}")


def _measure_speed(config: Any, image_size: tuple[int, int], steps: int = 3) -> _Speed:
    """Build ``config``'s model, trace it, and time ``steps`` training and prediction steps
    on random ``(BATCH_SIZE, H, W, 1) float32`` batches."""
    from mammokit.core.tf import import_keras
    from mammokit.train.model import build_model

    keras = import_keras()
    started = time.perf_counter()
    model = build_model(config, image_size)
    model.compile(optimizer=keras.optimizers.AdamW(1e-4), loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    batch = rng.random((config.batch_size, *image_size, 1), dtype=np.float32)
    labels = (rng.random((config.batch_size, 1)) < 0.5).astype(np.float32)
    model.train_on_batch(batch, labels)
    model.predict_on_batch(batch)
    setup = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(batch, labels)
    train_image = (time.perf_counter() - started) / (steps * config.batch_size)
    started = time.perf_counter()
    for _ in range(steps):
        model.predict_on_batch(batch)
    predict_image = (time.perf_counter() - started) / (steps * config.batch_size)
    keras.backend.clear_session()
    return _Speed(train_image, predict_image, setup)


def _scores(
    submission: Path, breast_scores: Path, labels_csv: Path
) -> tuple[float, float, pd.DataFrame]:
    """(breast ROC AUC, pF1 of the 0/1 submission, labelled breast table)."""
    import pandas as pd

    from mammokit.scoring.metrics import pfbeta, roc_auc

    ids = {"prediction_id": str}
    labels = pd.read_csv(labels_csv, dtype=ids)
    breasts = pd.read_csv(breast_scores, dtype=ids).merge(labels, on="prediction_id")
    decided = pd.read_csv(submission, dtype=ids).rename(columns={"cancer": "decision"})
    decided = decided.merge(labels, on="prediction_id")
    if len(decided) != len(labels) or len(breasts) != len(labels):
        raise MammokitError(f"{submission}: does not cover every breast of {labels_csv}")
    auc = roc_auc(breasts["cancer"], breasts["score"])
    pf1 = pfbeta(decided["cancer"], decided["decision"])
    return float(auc), float(pf1), breasts


def _gradcam_images(image_scores: Path, labels: pd.DataFrame) -> list[pd.Series]:
    """The top-scored images of cancer breasts and of healthy breasts."""
    import pandas as pd

    images = pd.read_csv(image_scores, dtype={"prediction_id": str, "patient_id": str})
    images = images.merge(labels[["prediction_id", "cancer"]], on="prediction_id")
    chosen: list[pd.Series] = []
    for cancer in (1, 0):
        top = images[images["cancer"] == cancer].nlargest(GRADCAM_PER_CLASS, "score")
        chosen.extend(row for _, row in top.iterrows())
    return chosen


def _write_settings(paths: DemoPaths, settings: dict[str, Any], result: dict[str, Any]) -> None:
    data: dict[str, Any] = {"demo": settings}
    if result:
        data["result"] = result
    save_toml(data, paths.settings)


def _minutes(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


@attrs.frozen
class _Demo:
    """What every phase of one demo needs."""

    paths: DemoPaths
    say: _Printer
    seed: int
    workers: int | None
    quiet: bool
    started: float
    budget: float

    def seconds_left(self) -> float:
        return self.budget - (time.perf_counter() - self.started)


def _synthesize(
    demo: _Demo, train_patients: int, test_patients: int, source_size: tuple[int, int]
) -> None:
    """Phase 1: the synthetic dataset with its hidden test labels."""
    from mammokit.synthetic import SynthConfig, write_dataset

    paths, say = demo.paths, demo.say
    with say.phase_of(
        "synth",
        f"Writing {4 * (train_patients + test_patients)} synthetic DICOMs "
        f"({train_patients} training + {test_patients} held-out patients)",
        f"mammokit synth --out {paths.dataset} --patients {train_patients} "
        f"--test-patients {test_patients} --size {source_size[0]}x{source_size[1]} "
        f"--seed {demo.seed} --positive-fraction {POSITIVE_FRACTION} "
        f"--lesion-contrast {LESION_CONTRAST} --lesion-size {LESION_SIZE}",
    ):
        write_dataset(
            paths.dataset,
            SynthConfig(
                patients=train_patients,
                test_patients=test_patients,
                image_size=source_size,
                seed=demo.seed,
                positive_fraction=POSITIVE_FRACTION,
                lesion_contrast=LESION_CONTRAST,
                lesion_size=LESION_SIZE,
            ),
        )
        say(
            f"      {POSITIVE_FRACTION:.0%} of breasts carry a lesion: far more than the about "
            "2% of real screening, so that a few hundred synthetic breasts hold enough "
            "cancers to learn from in minutes"
        )


def _preprocess(demo: _Demo, image_size: tuple[int, int]) -> float:
    """Phase 2: the training images through the batch runner; returns seconds per image."""
    from mammokit.app.run import Pipeline

    paths = demo.paths
    size = f"{image_size[0]}x{image_size[1]}"
    with demo.say.phase_of(
        "preprocess",
        f"Preprocessing the training images to {size}",
        f"mammokit preprocess --images {paths.dataset / 'train_images'} "
        f"--csv {paths.dataset / 'train.csv'} --out {paths.preprocessed} --size {size}",
    ):
        result = Pipeline(size=image_size).preprocess_dataset(
            paths.dataset / "train_images",
            paths.dataset / "train.csv",
            paths.preprocessed,
            workers=demo.workers,
            quiet=demo.quiet,
        )
        if not result.ok:
            first = result.failures[0]
            raise MammokitError(
                f"{result.failed} synthetic image(s) failed to preprocess, e.g. "
                f"{first.image_id}: {first.error_type}: {first.message} "
                f"(see {result.out_dir / 'failures.csv'})"
            )
    return result.elapsed / max(result.processed, 1)


def _train(
    demo: _Demo,
    backbone: str,
    image_size: tuple[int, int],
    *,
    train_patients: int,
    test_patients: int,
    prep_per_image: float,
) -> int:
    """Phase 3: probe the model's speed, choose the epochs that fit the budget, train.
    Returns the number of epochs."""
    from mammokit.app.run import Pipeline
    from mammokit.train.config import TrainConfig

    paths, say = demo.paths, demo.say
    config = TrainConfig(
        backbone=backbone,
        epochs=1,
        batch_size=BATCH_SIZE,
        n_folds=N_FOLDS,
        fold=0,
        seed=demo.seed,
        sampling="none",
        cache=True,
        learning_rate=LEARNING_RATE,
        strategy="auto",
    )
    with say.phase_of(
        "train",
        f"Training {backbone} from random initialisation on {image_size[0]}x{image_size[1]} "
        "images (patient-grouped split)",
    ):
        say("      (TensorFlow may log that it found no GPU or CUDA: the demo runs on the CPU)")
        speed = _measure_speed(config, image_size)
        images = 4 * train_patients
        val_images = math.ceil(images / N_FOLDS)
        steps = math.ceil((images - val_images) / BATCH_SIZE)
        epoch = steps * BATCH_SIZE * speed.train_image + val_images * speed.predict_image
        test_images = 4 * test_patients
        # training's first epoch and final model, prediction and Grad-CAM each rebuild or
        # trace the model; prediction preprocesses the test images like phase 2 did
        fixed = (
            SETUPS_AFTER_PROBE * speed.setup
            + test_images * (prep_per_image + speed.predict_image)
            + FIXED_SECONDS
        )
        epochs = plan_epochs(
            seconds_left=demo.seconds_left(),
            epoch_seconds=SAFETY * epoch,
            fixed_seconds=SAFETY * fixed,
            max_epochs=MAX_EPOCHS.get(backbone, MAX_EPOCHS_OTHER),
        )
        say(
            f"      speed probe: {1 / speed.train_image:.0f} training images/s, about "
            f"{epoch:.0f} s per epoch, {speed.setup:.0f} s to build the model; "
            f"{epochs} epoch(s) fit the budget"
        )
        say(
            f"      same as: mammokit train --data {paths.preprocessed} --out {paths.run} "
            f"--backbone {backbone} --epochs {epochs} --batch-size {BATCH_SIZE} "
            f'(with a [train] table: sampling = "none", cache = true, '
            f"learning_rate = {LEARNING_RATE})"
        )
        pipeline = Pipeline(size=image_size, train=attrs.evolve(config, epochs=epochs))
        trained = pipeline.train(paths.preprocessed, paths.run, quiet=demo.quiet)
        say(f"      {trained.summary}")
    return epochs


def _predict(demo: _Demo, test_patients: int) -> Any:
    """Phase 4: ``submission.csv`` for the held-out patients; returns the PredictResult."""
    from mammokit.app.run import Run

    paths = demo.paths
    with demo.say.phase_of(
        "predict",
        f"Predicting the {test_patients} held-out patients with the run's preprocessing",
        f"mammokit predict --run {paths.run} --images {paths.dataset / 'test_images'} "
        f"--csv {paths.dataset / 'test.csv'} --out {paths.submission} "
        f"--cache {paths.test_cache}",
    ):
        result = Run.open(paths.run).write_predictions(
            paths.dataset / "test_images",
            paths.dataset / "test.csv",
            paths.submission,
            cache_dir=paths.test_cache,
            workers=demo.workers,
            progress=not demo.quiet,
        )
        if result.failures:
            image_id, message = result.failures[0]
            raise MammokitError(
                f"{len(result.failures)} held-out image(s) could not be scored, e.g. "
                f"{image_id}: {message}"
            )
    return result


def _report(demo: _Demo, image_scores: Path, breasts: pd.DataFrame) -> tuple[Path, ...]:
    """Phase 6: the evaluation report and the Grad-CAM overlays; returns the overlays."""
    from mammokit.app.run import Ensemble
    from mammokit.core.config import ReportOptions
    from mammokit.evaluate.gradcam import explain_image

    paths, say = demo.paths, demo.say
    labels = paths.dataset / "test_labels.csv"
    with say.phase_of(
        "report",
        "Writing the evaluation report and Grad-CAM overlays",
        f"mammokit evaluate --run {paths.run} --predictions {image_scores} "
        f"--labels {labels} --out {paths.report.parent}",
    ):
        # the preprocessed test images, to show the worst cases' crops
        crops = [p for p in paths.test_cache.iterdir() if (p / "index.csv").is_file()]
        Ensemble.open([paths.run]).report(
            paths.report.parent,
            predictions=image_scores,
            labels=labels,
            crops=crops[0] if len(crops) == 1 else None,
            options=ReportOptions(seed=demo.seed),
        )
        say(f"      {paths.report}")
        overlays: list[Path] = []
        for row in _gradcam_images(image_scores, breasts):
            image = paths.dataset / "test_images" / str(row["patient_id"])
            image = image / f"{row['image_id']}.dcm"
            kind = "cancer" if row["cancer"] else "healthy"
            png = paths.root / "gradcam" / f"{kind}-{row['image_id']}.png"
            explained = explain_image(paths.run, image, png)
            overlays.append(png)
            say(f"      {png} (image score {explained.score:.3f})")
    return tuple(overlays)


@attrs.frozen
class DemoOptions:
    """What :func:`run_demo` makes and how long it may take.

    Attributes:
        patients: synthetic training patients (4 images each, at least 6).
        test_patients: synthetic held-out test patients (at least 2), scored against their
            hidden labels.
        minutes: the time budget: the number of epochs is chosen so that the whole demo
            finishes within it (at least one epoch is trained, even over budget).
        seed: seeds the synthetic data, the split and the training.
        backbone: a ``mammokit_backbones`` name; None = :data:`DEFAULT_BACKBONE`.
        quiet: print nothing.
        source_size: (H, W) of the synthetic DICOMs.
        image_size: (H, W) of the preprocessed images the model trains on (multiples of 32
            for ConvNeXtV2).
        workers: preprocessing processes (None: one per core; 0: in this process).
    """

    patients: int = DEFAULT_PATIENTS
    test_patients: int = DEFAULT_TEST_PATIENTS
    minutes: float = DEFAULT_MINUTES
    seed: int = 0
    backbone: str | None = None
    quiet: bool = False
    source_size: tuple[int, int] = SOURCE_SIZE
    image_size: tuple[int, int] = IMAGE_SIZE
    workers: int | None = None


def run_demo(
    out_dir: str | Path = DEFAULT_OUT, *, options: DemoOptions | None = None, **changes: Any
) -> DemoResult:
    """Run the whole demo (see the module doc) into ``out_dir``.

    Args:
        out_dir: the output folder: created, or a previous demo's folder (started afresh).
        options: a :class:`DemoOptions` (patients, test_patients, minutes, seed, backbone,
            quiet, source_size, image_size, workers); None takes its defaults.
        changes: fields of :class:`DemoOptions` set on ``options`` (``patients=12``).

    Returns:
        :class:`DemoResult`.

    Raises:
        ConfigError: bad arguments, an unknown backbone or an unusable ``out_dir``.
        MammokitError: a synthetic image could not be preprocessed or scored.
    """
    from mammokit.plugins import get_plugin_manager
    from mammokit.plugins.types import BACKBONES

    started = time.perf_counter()
    opts = options_with(DemoOptions, options, changes, where="run_demo")
    minutes, seed, backbone = opts.minutes, opts.seed, opts.backbone
    if not minutes > 0:
        raise ConfigError(f"--minutes must be positive, got {minutes}")
    train_patients, test_patients = int(opts.patients), int(opts.test_patients)
    _check_patients(train_patients, test_patients)
    chosen = backbone or DEFAULT_BACKBONE
    get_plugin_manager().resolve(BACKBONES, chosen)
    reason = DEFAULT_BACKBONE_REASON if backbone is None else "chosen with --backbone"
    root = Path(out_dir)
    _prepare_out(root)
    say = _Printer(opts.quiet)
    demo = _Demo(
        DemoPaths.under(root),
        say,
        int(seed),
        opts.workers,
        opts.quiet,
        started,
        60.0 * float(minutes),
    )
    settings = {
        "patients": train_patients,
        "test_patients": test_patients,
        "minutes": float(minutes),
        "seed": int(seed),
        "backbone": chosen,
        "source_size": list(opts.source_size),
        "image_size": list(opts.image_size),
        "positive_fraction": POSITIVE_FRACTION,
        "lesion_contrast": LESION_CONTRAST,
        "lesion_size": LESION_SIZE,
    }
    _write_settings(demo.paths, settings, {})
    say(f"mammokit demo: synthetic data -> preprocess -> train -> predict -> report, in {root}/")
    say(f"time budget: {_minutes(demo.budget)}; backbone: {chosen}")
    if backbone is None:
        say(textwrap.fill(f"why {chosen}: {reason}", width=88, subsequent_indent="  "))

    _synthesize(demo, train_patients, test_patients, opts.source_size)
    prep_per_image = _preprocess(demo, opts.image_size)
    epochs = _train(
        demo,
        chosen,
        opts.image_size,
        train_patients=train_patients,
        test_patients=test_patients,
        prep_per_image=prep_per_image,
    )
    predicted = _predict(demo, test_patients)
    with say.phase_of("score", "Scoring the submission against the hidden test labels"):
        auc, pf1, breasts = _scores(
            demo.paths.submission, demo.paths.breast_scores, demo.paths.dataset / "test_labels.csv"
        )
        positives = int(breasts["cancer"].sum())
        say(f"      {len(breasts)} breasts, {positives} with a lesion")
    overlays = _report(demo, predicted.image_scores, breasts)

    seconds = time.perf_counter() - started
    result = DemoResult(
        auc=auc,
        pf1=pf1,
        threshold=predicted.threshold,
        backbone=chosen,
        backbone_reason=reason,
        seconds=seconds,
        epochs=epochs,
        budget_seconds=demo.budget,
        test_breasts=len(breasts),
        test_positives=positives,
        phase_seconds=dict(say.seconds),
        paths=attrs.evolve(demo.paths, gradcam=overlays),
    )
    _write_settings(
        demo.paths,
        settings,
        {
            "auc": auc,
            "pf1": pf1,
            "threshold": "none" if predicted.threshold is None else predicted.threshold,
            "epochs": epochs,
            "seconds": round(seconds, 1),
            "phase_seconds": {k: round(v, 1) for k, v in say.seconds.items()},
        },
    )
    _summary(result, say)
    return result


def _summary(result: DemoResult, say: Callable[[str], None]) -> None:
    paths = result.paths
    threshold = "none" if result.threshold is None else f"{result.threshold:.4f}"
    over = result.seconds > result.budget_seconds
    rows = [
        ("backbone", f"{result.backbone} ({result.epochs} epochs)"),
        ("held-out test set", f"{result.test_breasts} breasts, {result.test_positives} cancers"),
        ("ROC AUC", f"{result.auc:.3f}   (breast level, against the hidden labels)"),
        ("pF1", f"{result.pf1:.3f}   (of the binarised submission.csv)"),
        ("threshold", f"{threshold}   (prior_quantile: the training positive rate)"),
        (
            "time",
            f"{_minutes(result.seconds)} (budget {_minutes(result.budget_seconds)}"
            + (", exceeded)" if over else ")"),
        ),
        ("submission", str(paths.submission)),
        ("report", str(paths.report)),
        ("Grad-CAM", f"{paths.root / 'gradcam'}/ ({len(paths.gradcam)} overlays)"),
    ]
    width = max(len(key) for key, _ in rows)
    say("\n" + "=" * 28 + " mammokit demo: results " + "=" * 28)
    for key, value in rows:
        say(f"  {key:<{width}}  {value}")
    say("=" * 80)
    if result.auc < 0.85:
        say("note: the AUC is below the demo's 0.85 target; try a larger --minutes or --patients")
    if result.backbone == DEFAULT_BACKBONE:
        say(
            "note: real runs should train ConvNeXtV2 with pretrained weights "
            '(pretrained = "imagenet", or a local file): see docs/quickstart.md'
        )
    if over:
        print(
            f"warning: the demo took {_minutes(result.seconds)}, over its "
            f"{_minutes(result.budget_seconds)} budget (a busy machine?)",
            file=sys.stderr,
        )
