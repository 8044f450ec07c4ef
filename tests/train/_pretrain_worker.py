"""Pretraining and fine-tuning runs with a handler, run as scripts by
test_pretrain_runs.py, built as a user's script builds them.

``kill DATA RUN POINT:N (--like OTHER_RUN | --resume)``: a pretraining run (with OTHER_RUN's
saved ``[pretrain]`` config, or RUN's own when resumed) that SIGKILLs itself the ``N``-th
time it passes ``POINT`` (``batch``, ``checkpoint`` or ``commit``; see _kill_worker.py).

``finetune DATA PRETRAINED RUN OUT``: one epoch of ``train`` with ``pretrained=PRETRAINED``
that writes every backbone weight, as it is when the first training step begins, to the
NumPy archive ``OUT`` (keys ``<layer>/<weight name>``, the paths of Keras's HDF5 files).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from _kill_worker import add_kill_arguments, kill_handler

from mammokit.core.config import config_from_dict, load_toml
from mammokit.train import Handler, TrainConfig, Trainer
from mammokit.train.pretrain import PretrainConfig, pretrain


class FirstStepWeights(Handler):
    """Saves the backbone's weights of ``trainer.model`` before the first training step."""

    def __init__(self, out: str, backbone: str) -> None:
        self.out, self.backbone = out, backbone
        self.trainer: Any = None

    def on_batch_begin(self, epoch: int, batch: int) -> None:
        if (epoch, batch) != (1, 0):
            return
        model = self.trainer.model
        backbone = next(layer for layer in model.layers if layer.name == self.backbone)
        arrays = {
            f"{layer.name}/{weight.name}": weight.numpy()
            for layer in backbone.layers
            for weight in layer.weights
        }
        np.savez(self.out, **arrays)


def kill(args: argparse.Namespace) -> None:
    saved = load_toml(f"{args.run if args.resume else args.like}/config.toml")["pretrain"]
    config = config_from_dict(PretrainConfig, saved)
    handler = kill_handler(args)
    pretrain([args.data], args.run, config, resume=args.resume, verbose=0, handlers=[handler])
    raise SystemExit(f"{args.kill} was never reached")


def finetune(args: argparse.Namespace) -> None:
    config = TrainConfig(
        backbone="convnextv2_atto", pretrained=args.pretrained, epochs=1, batch_size=4,
        strategy="cpu", n_folds=2,
    )  # fmt: skip
    handler = FirstStepWeights(args.out, "convnext_v2_atto")
    trainer = Trainer(args.data, args.run, config, verbose=0, handlers=[handler])
    handler.trainer = trainer
    trainer.run()


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    add_kill_arguments(commands.add_parser("kill"))
    tuned = commands.add_parser("finetune")
    for name in ("data", "pretrained", "run", "out"):
        tuned.add_argument(name)
    args = parser.parse_args()
    (kill if args.command == "kill" else finetune)(args)


if __name__ == "__main__":
    main()
