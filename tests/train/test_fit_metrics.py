"""history.csv's validation columns come from ``mammokit_metrics``: a plugin's metric is
computed per image and per breast each epoch, built once per run (simple_cnn at 64x32, two
epochs, on CPU)."""

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
    def __init__(self) -> None:
        self.built = 0

    def build(self) -> Any:
        self.built += 1
        return mean_score

    @hookimpl
    def mammokit_metrics(self) -> list[Component]:
        return [Component("mean_score", "Mean of the scores", self.build)]


class BuildsPerEpoch:
    """A handler noting how often the plugin's metric was built by each epoch's end."""

    def __init__(self, plugin: MeanScorePlugin) -> None:
        self.plugin, self.built = plugin, []

    def on_epoch_end(self, epoch: int, logs: Any) -> None:
        self.built.append(self.plugin.built)


def test_history_has_a_plugin_metric_per_image_and_breast(
    preprocessed_dir: Path, tmp_path: Path
) -> None:
    from mammokit.train import TrainConfig, train

    plugin = MeanScorePlugin()
    pm = get_plugin_manager(plugins=[plugin], load_entry_points=False)
    config = TrainConfig(
        backbone="simple_cnn", image_size=(64, 32), epochs=2, batch_size=8, strategy="cpu",
        metrics=("pf1", "mean_score"), metric_options={"pf1": {"beta": 2}},
        final_weights="last",
    )  # fmt: skip
    builds = BuildsPerEpoch(plugin)
    result = train(
        preprocessed_dir, tmp_path / "run", config, manager=pm, verbose=0, handlers=[builds]
    )
    assert len(builds.built) == 2 and builds.built[0] == builds.built[1]  # not per epoch
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
    # oof.csv holds the last epoch's validation scores: recompute the columns
    oof = pd.read_csv(tmp_path / "run" / "oof.csv", dtype={"prediction_id": str})
    breasts = oof.groupby("prediction_id").agg(cancer=("cancer", "max"), score=("score", "mean"))
    row = history.iloc[-1]
    assert row["val_image_mean_score"] == pytest.approx(oof["score"].mean(), abs=1e-5)
    assert row["val_breast_mean_score"] == pytest.approx(breasts["score"].mean(), abs=1e-5)
    f2 = m.pfbeta(breasts["cancer"], breasts["score"], beta=2)  # pf1 with its option
    assert row["val_breast_pf1"] == pytest.approx(f2, abs=1e-5)
    assert result.best == pytest.approx(history["val_breast_auc"].max())
    assert row["monitor"] == pytest.approx(row["val_breast_auc"])
