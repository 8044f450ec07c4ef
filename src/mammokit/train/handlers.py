"""Training handlers: objects told of the events of a training run (no TensorFlow here).

A handler is any object with one or more of the event methods of :class:`Handler`
(subclassing it is optional); give handlers to :func:`mammokit.train.train` or
:class:`mammokit.train.Trainer` with ``handlers=``. They run after the built-in steps
(validation and metrics, best epoch and early stopping, history, the crash-safe commit),
in the order given. Epochs are numbered from 1, as in ``history.csv``; batches from 0
within their epoch. ``logs`` is the epoch's ``history.csv`` row (read it, do not change it).

Events, in the order of one epoch:

- ``on_batch_begin(epoch, batch)``: before a training step runs;
- ``on_batch_end(epoch, batch, logs)``: after it (``logs``: Keras's running values);
- ``on_validation_batch(epoch, batch)``: after one validation batch is predicted;
- ``on_validation(epoch, logs)``: validation values, monitor and best epoch are known, the
  weights of the epoch written, nothing committed yet;
- ``on_checkpoint(epoch, stage)``: every file of the epoch's commit is written and synced
  into ``stage`` (``checkpoints/.next/``), before the commit point;
- ``on_commit(epoch, path)``: one committed file (``path`` relative to the run folder) was
  moved into place (``checkpoints/state.json`` is the last);
- ``on_epoch_end(epoch, logs)``: the epoch is committed (a kill from here on resumes after it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from mammokit.core.errors import ConfigError

__all__ = ["EVENTS", "Events", "Handler"]

#: The event method names a handler may define.
EVENTS = (
    "on_batch_begin",
    "on_batch_end",
    "on_validation_batch",
    "on_validation",
    "on_checkpoint",
    "on_commit",
    "on_epoch_end",
)


class Handler:
    """A handler that does nothing: subclass it and define the events you need."""

    def on_batch_begin(self, epoch: int, batch: int) -> None:
        """Before training step ``batch`` of ``epoch``."""

    def on_batch_end(self, epoch: int, batch: int, logs: Mapping[str, Any]) -> None:
        """After training step ``batch`` of ``epoch``."""

    def on_validation_batch(self, epoch: int, batch: int) -> None:
        """After validation batch ``batch`` of ``epoch`` is predicted."""

    def on_validation(self, epoch: int, logs: Mapping[str, Any]) -> None:
        """After ``epoch`` is validated and its best/early-stop decided, before its commit."""

    def on_checkpoint(self, epoch: int, stage: Path) -> None:
        """After ``epoch``'s files are written into ``stage``, before the commit point."""

    def on_commit(self, epoch: int, path: str) -> None:
        """After one file of ``epoch``'s commit is moved into place."""

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any]) -> None:
        """After ``epoch`` is committed."""


def _methods(handlers: Iterable[object], name: str) -> tuple[Callable[..., None], ...]:
    """The handlers' methods for event ``name`` (the no-ops :class:`Handler` gives left out)."""
    inherited = getattr(Handler, name)
    return tuple(
        getattr(handler, name)
        for handler in handlers
        if callable(getattr(handler, name, None))
        and getattr(type(handler), name, None) is not inherited
    )


class Events(Handler):
    """The handlers of one run, told of each event in their order.

    Raises:
        ConfigError: a handler defines no event method, or a method named ``on_*`` that is
            no event (a misspelt event would never be called).
    """

    def __init__(self, handlers: Iterable[object] = ()) -> None:
        self.handlers = tuple(handlers)
        for handler in self.handlers:
            named = {n for n in dir(handler) if n.startswith("on_") and not n.startswith("on__")}
            unknown = sorted(named - set(EVENTS))
            if unknown or not named:
                raise ConfigError(
                    f"training handler {handler!r}: "
                    + (f"unknown event(s) {', '.join(unknown)}; " if unknown else "no event; ")
                    + f"the events are {', '.join(EVENTS)}"
                )
        self._by_event = {name: _methods(self.handlers, name) for name in EVENTS}

    def _fire(self, name: str, *args: Any) -> None:
        for method in self._by_event[name]:
            method(*args)

    def on_batch_begin(self, epoch: int, batch: int) -> None:
        self._fire("on_batch_begin", epoch, batch)

    def on_batch_end(self, epoch: int, batch: int, logs: Mapping[str, Any]) -> None:
        self._fire("on_batch_end", epoch, batch, logs)

    def on_validation_batch(self, epoch: int, batch: int) -> None:
        self._fire("on_validation_batch", epoch, batch)

    def on_validation(self, epoch: int, logs: Mapping[str, Any]) -> None:
        self._fire("on_validation", epoch, logs)

    def on_checkpoint(self, epoch: int, stage: Path) -> None:
        self._fire("on_checkpoint", epoch, stage)

    def on_commit(self, epoch: int, path: str) -> None:
        self._fire("on_commit", epoch, path)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any]) -> None:
        self._fire("on_epoch_end", epoch, logs)
