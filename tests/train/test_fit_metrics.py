"""history.csv's validation columns come from ``mammokit_metrics``: a plugin's metric is
computed per image and per breast each epoch (simple_cnn at 64x32, one epoch, on CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mammokit import Component, hookimpl
from mammokit.plugins import get_plugin_manager
from mammokit.scoring import metrics as m

pytestmark = pytest.mark.train


def mean_score(y_true: Any, scores: Any) -> float:
    return float(np.mean(scores))


class MeanScorePlugin:
    @hookimpl
    def mammokit_metrics(self) -> list[Component]:
        return [Component("mean_score", "Mean of the scores", lambda: mean_score)]


def test_history_has_a_plugin_metric_per_image_and_breast(
    preprocessed_dir: Path, tmp_path: Path
) -> None:
    from mammokit.train import TrainConfig, train

    pm = get_plugin_manager(plugins=[MeanScorePlugin()], load_entry_points=False)
    config = TrainConfig(
        backbone="simple_cnn", image_size=(64, 32), epochs=1, batch_size=8, strategy="cpu",
        metrics=("pf1", "mean_score"), metric_options={"pf1": {"beta": 2}},
        final_weights="last",
    )  # fmt: skip
    result = train(preprocessed_dir, tmp_path / "run", config, manager=pm, verbose=0)
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    validation = sorted(c for c in history.columns if c.startswith("val_") and c != "val_loss")
    assert validation == [
        "val_breast_auc",
        "val_breast_mean_score",
        "val_breast_pf1",
        "val_breast_pf1_best_threshold",
        "val_image_auc",
        "val_image_mean_score",
        "val_image_pf1",
    ]  # fmt: skip  (auc: the default monitor breast_auc is computed even when not chosen)
    # oof.csv holds the last (= only) epoch's validation scores: recompute the columns
    oof = pd.read_csv(tmp_path / "run" / "oof.csv", dtype={"prediction_id": str})
    breasts = oof.groupby("prediction_id").agg(cancer=("cancer", "max"), score=("score", "mean"))
    row = history.iloc[-1]
    assert row["val_image_mean_score"] == pytest.approx(oof["score"].mean(), abs=1e-5)
    assert row["val_breast_mean_score"] == pytest.approx(breasts["score"].mean(), abs=1e-5)
    f2 = m.pfbeta(breasts["cancer"], breasts["score"], beta=2)  # pf1 with its option
    assert row["val_breast_pf1"] == pytest.approx(f2, abs=1e-5)
    assert result.best == pytest.approx(row["val_breast_auc"])
    assert row["monitor"] == pytest.approx(row["val_breast_auc"])
