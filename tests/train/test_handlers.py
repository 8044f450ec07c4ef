"""Training handlers and the end-of-epoch steps that need no TensorFlow: the events'
dispatch, the best epoch and early stopping, history rows numbered from 1, and the
commit's stages as a handler sees them (on a real run folder)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from mammokit.core.errors import ConfigError
from mammokit.train import Handler, TrainConfig, Trainer
from mammokit.train.checkpoint import commit, stage_dir
from mammokit.train.epochs import BestEpoch, History, choose_epoch, monitor_values, window_mean
from mammokit.train.handlers import EVENTS, Events
from mammokit.train.rundir import RunDir


class Log(Handler):
    def __init__(self, name: str, seen: list[str]) -> None:
        self.name, self.seen = name, seen

    def on_epoch_end(self, epoch: int, logs: object) -> None:
        self.seen.append(f"{self.name}:{epoch}")


def test_events_reach_the_handlers_in_their_order_and_skip_no_ops() -> None:
    seen: list[str] = []

    class Plain:  # no base class: any object with event methods
        def on_commit(self, epoch: int, path: str) -> None:
            seen.append(f"plain:{epoch}:{path}")

    events = Events([Log("a", seen), Plain(), Log("b", seen), Handler()])
    events.on_epoch_end(3, {})
    events.on_commit(3, "history.csv")
    events.on_batch_begin(1, 0)  # nobody listens: the base class's no-op is not called
    assert seen == ["a:3", "b:3", "plain:3:history.csv"]
    assert events._by_event["on_batch_begin"] == ()
    assert set(EVENTS) == {n for n in vars(Handler) if n.startswith("on_")}


class Typo:
    def on_epoch_ends(self, epoch: int, logs: object) -> None:  # misspelt: never called
        raise AssertionError


@pytest.mark.parametrize("handler", [object(), Typo()])
def test_a_handler_without_a_known_event_is_refused(handler: object) -> None:
    with pytest.raises(ConfigError, match="the events are on_batch_begin"):
        Events([handler])


def test_best_epoch_tracks_the_monitor_and_stops_after_patience() -> None:
    best = BestEpoch(key="val_loss", mode="min", patience=2)
    values = [0.5, 0.4, 0.45, 0.41, 0.42]
    stops = []
    for epoch, value in enumerate(values, start=1):
        logs: dict[str, float | int | None] = {"val_loss": value}
        better = best.update(epoch, logs)
        assert better == (epoch in (1, 2))
        assert logs["monitor"] == value and logs["best_epoch"] == best.best_epoch
        stops.append(best.stop(epoch, last=epoch == len(values)))
    assert stops == [False, False, False, True, True]  # epoch 4: two epochs without a better
    assert best.stopped_early == 4 and best.best == 0.4 and best.best_epoch == 2


def test_best_epoch_never_stops_on_the_last_epoch_and_takes_a_nan_first() -> None:
    best = BestEpoch(key="val_breast_auc", mode="max", patience=1)
    assert best.update(1, {"val_breast_auc": math.nan})  # nothing better seen yet
    assert not best.update(2, {"val_breast_auc": math.nan})
    assert not best.stop(2, last=True) and best.stopped_early is None
    assert best.update(3, {"val_breast_auc": 0.7}) and best.best_epoch == 3


def test_a_smoothed_monitor_keeps_the_end_of_the_best_window_not_a_lucky_epoch() -> None:
    values = [0.55, 0.9, 0.5, 0.7, 0.72, 0.74, 0.3]  # epoch 2: one lucky validation
    assert choose_epoch(values, "max") == 2
    # means of 3: epoch 3 0.65, 4 0.70, 5 0.64, 6 0.72, 7 0.587: the window ending at 6
    assert choose_epoch(values, "max", smoothing=3) == 6
    assert window_mean(values[:4], 3) == pytest.approx((0.9 + 0.5 + 0.7) / 3)
    assert choose_epoch([0.2, 0.9], "max", smoothing=3) == 2  # no full window: the shorter
    assert choose_epoch([0.9, 0.1, 0.1], "max", smoothing=3) == 3  # full beats shorter
    assert choose_epoch([0.4, 0.3, 0.35, 0.2], "min", smoothing=2) == 4
    assert choose_epoch([], "max", smoothing=3) is None


def test_a_smoothed_best_epoch_logs_raw_and_mean_and_stops_on_the_mean() -> None:
    best = BestEpoch(key="val_breast_auc", mode="max", patience=2, smoothing=2)
    logs: dict[str, float | int | None] = {"val_breast_auc": 0.8}
    assert best.update(1, logs) and logs["monitor"] == 0.8 and logs["monitor_smoothed"] == 0.8
    logs = {"val_breast_auc": 0.6}
    assert best.update(2, logs)  # the first full window (0.7) beats epoch 1's short one
    assert logs["monitor"] == 0.6 and logs["best_monitor"] == pytest.approx(0.7)
    assert not best.update(3, {"val_breast_auc": 0.7}) and not best.stop(3, last=False)
    assert not best.update(4, {"val_breast_auc": 0.7}) and best.stop(4, last=False)
    assert best.best_epoch == 2 and best.stopped_early == 4


def test_a_resumed_best_epoch_reads_the_window_back_from_history() -> None:
    values = [0.5, 0.7, 0.65, 0.9, 0.4]
    whole = BestEpoch(key="val_loss", mode="max", patience=0, smoothing=3)
    history = History()
    for epoch, value in enumerate(values[:3], start=1):
        logs: dict[str, float | int | None] = {"val_loss": value}
        whole.update(epoch, logs)
        history.add(epoch, logs)
    assert monitor_values(history.lines) == values[:3]
    resumed = BestEpoch(
        key="val_loss", mode="max", patience=0, smoothing=3, best=whole.best,
        best_epoch=whole.best_epoch, values=monitor_values(history.lines),
    )  # fmt: skip
    for epoch, value in enumerate(values[3:], start=4):
        assert resumed.update(epoch, {"val_loss": value}) == whole.update(
            epoch, {"val_loss": value}
        )
    assert resumed == whole and resumed.best_epoch == choose_epoch(values, "max", 3) == 4
    assert monitor_values(history.lines[:1]) == []


def test_history_numbers_epochs_from_one_and_keeps_a_resumed_header(tmp_path: Path) -> None:
    history = History()
    history.add(1, {"loss": 0.5, "monitor": 0.4, "best_epoch": 1})
    text = history.add(2, {"loss": 0.25, "monitor": 0.3, "best_epoch": 2, "extra": 1})
    path = tmp_path / "history.csv"
    path.write_bytes(text.encode())
    frame = pd.read_csv(path)
    assert list(frame["epoch"]) == [1, 2] and list(frame.columns) == [
        "epoch", "best_epoch", "loss", "monitor"
    ]  # fmt: skip
    assert b"\r\n" in path.read_bytes()  # Keras CSVLogger's line ends
    resumed = History(history.lines[:2])  # header + epoch 1, as history_rows gives them
    assert resumed.add(2, {"loss": 0.25, "monitor": 0.3, "best_epoch": 2}) == text


def test_the_commit_tells_a_handler_each_stage(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    seen: list[tuple[str, object]] = []

    def written(stage: Path) -> None:
        assert stage == run.staging and not run.state_json.exists()
        seen.append(("written", sorted(p.name for p in stage.rglob("*") if p.is_file())))

    def moved(path: str) -> None:
        seen.append(("file", path))
        if path == "history.csv":  # state.json moves last: the old state is still live
            assert not run.state_json.exists() and run.committing.is_dir()

    stage = RunDir(stage_dir(run.root))
    stage.history.write_text("epoch\r\n1\r\n")
    stage.write_state({"epoch": 1})
    commit(run.root, on_written=written, on_file=moved)
    assert seen == [
        ("written", ["MANIFEST.json", "history.csv", "state.json"]),
        ("file", "history.csv"),
        ("file", "checkpoints/state.json"),
    ]
    assert json.loads(run.state_json.read_text()) == {"epoch": 1}
    assert not run.staging.exists() and not run.committing.exists()


def test_a_trainer_refuses_a_bad_handler_at_once_and_fits_only_once_prepared(
    tmp_path: Path,
) -> None:
    config = TrainConfig(backbone="simple_cnn")
    with pytest.raises(ConfigError, match="on_epoch_ends"):
        Trainer(tmp_path, tmp_path / "run", config, handlers=[Typo()])
    trainer = Trainer(tmp_path, tmp_path / "run", config, handlers=[Handler()])
    with pytest.raises(RuntimeError, match="call prepare"):
        trainer.fit()
    assert not (tmp_path / "run").exists()
