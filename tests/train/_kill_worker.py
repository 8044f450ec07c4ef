"""One training run that SIGKILLs itself at a named point (run as a script by
test_resume.py), built as a user's script builds one: ``train(..., handlers=[...])``.

argv: ``DATA RUN POINT:N (--like OTHER_RUN | --resume)``. ``POINT`` is where the process
kills itself, the ``N``-th time (from 1) it passes there in this process:

- ``batch``: at the start of a training step, before it runs;
- ``validation``: after a validation batch is predicted, mid-validation;
- ``checkpoint``: after a commit's files are all written, before its commit point;
- ``commit``: after one file of a commit is moved into place (a half-moved commit).

``--like OTHER_RUN`` starts a new run with OTHER_RUN's saved training config (a run of
``mammokit train``, so both runs train the same config); ``--resume`` resumes RUN with its own.
"""

from __future__ import annotations

import argparse
import os
import signal

from mammokit.train import Handler, read_run_config, train

POINTS = ("batch", "validation", "checkpoint", "commit")


class KillAt(Handler):
    """SIGKILL this process the ``count``-th time it passes ``point``."""

    def __init__(self, point: str, count: int) -> None:
        if point not in POINTS:
            raise ValueError(f"unknown kill point {point!r}; choose one of {POINTS}")
        self.point, self.count, self.passed = point, count, 0

    def _pass(self, point: str) -> None:
        if point == self.point:
            self.passed += 1
            if self.passed == self.count:
                os.kill(os.getpid(), signal.SIGKILL)

    def on_batch_begin(self, epoch: int, batch: int) -> None:
        self._pass("batch")

    def on_validation_batch(self, epoch: int, batch: int) -> None:
        self._pass("validation")

    def on_checkpoint(self, epoch: int, stage: object) -> None:
        self._pass("checkpoint")

    def on_commit(self, epoch: int, path: str) -> None:
        self._pass("commit")


def add_kill_arguments(parser: argparse.ArgumentParser) -> None:
    """``DATA RUN POINT:N (--like OTHER_RUN | --resume)``."""
    parser.add_argument("data")
    parser.add_argument("run")
    parser.add_argument("kill", help="POINT:N")
    start = parser.add_mutually_exclusive_group(required=True)
    start.add_argument("--like", metavar="OTHER_RUN")
    start.add_argument("--resume", action="store_true")


def kill_handler(args: argparse.Namespace) -> KillAt:
    """The handler of ``args.kill`` (``POINT:N``)."""
    point, _, count = args.kill.partition(":")
    return KillAt(point, int(count or 1))


def main() -> None:
    parser = argparse.ArgumentParser()
    add_kill_arguments(parser)
    args = parser.parse_args()
    _, config, _ = read_run_config(args.run if args.resume else args.like)
    handler = kill_handler(args)
    train(args.data, args.run, config, resume=args.resume, verbose=0, handlers=[handler])
    raise SystemExit(f"{args.kill} was never reached")


if __name__ == "__main__":
    main()
