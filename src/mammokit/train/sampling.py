"""Sampling strategies: how the training rows are drawn each epoch (numpy only, no TF).

A strategy has ``plan(labels, *, epoch, seed, batch_size) -> (M,) int64`` row indices in
the order of that epoch, and ``class_weight``: ``{0: w0, 1: w1}`` or None. Plans are
deterministic in ``(seed, epoch)``, so a resumed run draws the same rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast

import attrs
import numpy as np

from mammokit.core.errors import ConfigError
from mammokit.plugins.components import Component
from mammokit.plugins.protocols import SamplingStrategy

__all__ = [
    "BalancedBatches",
    "ClassWeight",
    "NoSampling",
    "Undersample",
    "epoch_mix",
    "epoch_plans",
    "epoch_rng",
    "pad_to_batches",
    "sampling_components",
    "sample_weights",
]


def epoch_rng(seed: int, epoch: int, salt: int = 0) -> np.random.Generator:
    """The random generator of one epoch: a function of ``(seed, epoch, salt)`` only."""
    return np.random.default_rng([int(seed), int(epoch), int(salt)])


def _labels(labels: np.ndarray) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ConfigError(f"labels must be 1-D, got shape {array.shape}")
    if array.size and not np.isin(array, (0, 1)).all():
        raise ConfigError("labels must be 0 or 1")
    return array.astype(np.int64)


def pad_to_batches(order: np.ndarray, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """``order`` extended to a multiple of ``batch_size`` with rows drawn from itself, so
    every batch is full (what synchronous multi-replica training wants)."""
    order = np.asarray(order, dtype=np.int64)
    if order.size == 0:
        raise ConfigError("the epoch plan is empty: no training rows")
    missing = (-order.size) % batch_size
    if missing:
        order = np.concatenate([order, rng.choice(order, size=missing, replace=True)])
    return order


@attrs.frozen
class NoSampling:
    """Every row once per epoch, shuffled."""

    class_weight: Mapping[int, float] | None = None

    def plan(self, labels: np.ndarray, *, epoch: int, seed: int, batch_size: int) -> np.ndarray:
        labels = _labels(labels)
        return epoch_rng(seed, epoch).permutation(labels.size).astype(np.int64)


def _optional_weights(value: Any) -> Mapping[int, float] | None:
    return None if value is None else _weights(value)


@attrs.frozen
class Undersample:
    """All positives plus a fresh random share of the negatives each epoch, shuffled.

    The share is ``negative_fraction`` (1/3, the seed recipe's), but never so few that the
    positives would be more than ``max_positive_fraction`` of the epoch: undersampling goes
    only as far as the prevalence needs. At a screening prevalence (2% positive) the epoch
    is 6% positive, as in the recipe; balanced data (50% positive) is left balanced instead
    of becoming 75% positive. ``class_weight`` may be given as well (e.g. ``{0: 1, 1: 5}``).
    """

    negative_fraction: float = attrs.field(default=1 / 3, converter=float)
    max_positive_fraction: float = attrs.field(default=0.5, converter=float)
    class_weight: Mapping[int, float] | None = attrs.field(
        default=None, converter=_optional_weights
    )

    def __attrs_post_init__(self) -> None:
        if not 0.0 < self.negative_fraction <= 1.0:
            raise ConfigError(f"negative_fraction must be in (0, 1], got {self.negative_fraction}")
        if not 0.0 < self.max_positive_fraction <= 1.0:
            raise ConfigError(
                f"max_positive_fraction must be in (0, 1], got {self.max_positive_fraction}"
            )

    def negatives_kept(self, n_positive: int, n_negative: int) -> int:
        """How many negatives an epoch keeps, of ``n_negative``, beside ``n_positive``."""
        keep = round(self.negative_fraction * n_negative)
        share = self.max_positive_fraction
        floor = math.ceil(n_positive * (1.0 - share) / share - 1e-9) if share < 1.0 else 0
        keep = min(max(keep, floor), n_negative)
        return max(keep, 1) if n_negative else 0

    def plan(self, labels: np.ndarray, *, epoch: int, seed: int, batch_size: int) -> np.ndarray:
        labels = _labels(labels)
        rng = epoch_rng(seed, epoch)
        positives = np.flatnonzero(labels == 1)
        negatives = np.flatnonzero(labels == 0)
        keep = self.negatives_kept(positives.size, negatives.size)
        chosen = rng.choice(negatives, size=keep, replace=False) if keep else negatives[:0]
        return rng.permutation(np.concatenate([positives, chosen])).astype(np.int64)


def _weights(value: Mapping[int | str, float]) -> dict[int, float]:
    weights = {int(k): float(v) for k, v in dict(value).items()}
    if set(weights) - {0, 1} or any(w < 0 for w in weights.values()):
        raise ConfigError(f"class_weight must map 0 and 1 to non-negative weights, got {value}")
    return {0: weights.get(0, 1.0), 1: weights.get(1, 1.0)}


@attrs.frozen
class ClassWeight:
    """Every row once per epoch, shuffled; the loss weighs class ``c`` by ``weights[c]``."""

    weights: Mapping[int, float] = attrs.field(factory=lambda: {0: 1.0, 1: 5.0}, converter=_weights)

    @property
    def class_weight(self) -> Mapping[int, float]:
        return self.weights

    def plan(self, labels: np.ndarray, *, epoch: int, seed: int, batch_size: int) -> np.ndarray:
        labels = _labels(labels)
        return epoch_rng(seed, epoch).permutation(labels.size).astype(np.int64)


@attrs.frozen
class BalancedBatches:
    """Every negative once per epoch, with positives repeated so that they make up
    ``positive_fraction`` of the epoch and every batch holds at least one positive.

    The epoch has ``ceil(n_neg / ((1 - f) * B))`` batches; positives are spread over them
    as evenly as possible (cycling through a fresh permutation of the positives).
    """

    positive_fraction: float = attrs.field(default=1 / 7, converter=float)
    class_weight: Mapping[int, float] | None = None

    def __attrs_post_init__(self) -> None:
        if not 0.0 < self.positive_fraction < 1.0:
            raise ConfigError(f"positive_fraction must be in (0, 1), got {self.positive_fraction}")

    def plan(self, labels: np.ndarray, *, epoch: int, seed: int, batch_size: int) -> np.ndarray:
        labels = _labels(labels)
        rng = epoch_rng(seed, epoch)
        positives = np.flatnonzero(labels == 1)
        negatives = rng.permutation(np.flatnonzero(labels == 0))
        if positives.size == 0:
            raise ConfigError("balanced_batches needs at least one positive training row")
        neg_per_batch = max(math.floor((1.0 - self.positive_fraction) * batch_size), 0)
        neg_per_batch = min(neg_per_batch, batch_size - 1)
        if negatives.size == 0 or neg_per_batch == 0:
            n_batches = max(1, math.ceil(positives.size / batch_size))
        else:
            n_batches = max(1, math.ceil(negatives.size / neg_per_batch))
        neg_split = np.array_split(negatives, n_batches)
        pos_counts = [batch_size - part.size for part in neg_split]
        cycles = math.ceil(sum(pos_counts) / positives.size)
        pos_stream = np.concatenate([rng.permutation(positives) for _ in range(cycles)])
        bounds = np.cumsum([0, *pos_counts])
        batches = [
            rng.permutation(np.concatenate([pos_stream[bounds[i] : bounds[i + 1]], part]))
            for i, part in enumerate(neg_split)
        ]
        return np.concatenate(batches).astype(np.int64)


def epoch_mix(
    strategy: SamplingStrategy, labels: np.ndarray, *, seed: int, batch_size: int
) -> dict[str, float | int]:
    """What the strategy's first epoch draws from ``labels`` (recorded in a run's
    ``config.toml`` ``[stats] sampling``): the rows, the positive rows among them, their
    share, and the share of positives in the data itself."""
    labels = _labels(labels)
    drawn = labels[strategy.plan(labels, epoch=0, seed=seed, batch_size=batch_size)]
    return {
        "rows_per_epoch": int(drawn.size),
        "positive_rows": int(drawn.sum()),
        "positive_fraction": round(float(drawn.mean()), 4) if drawn.size else 0.0,
        "data_positive_fraction": round(float(labels.mean()), 4) if labels.size else 0.0,
    }


def sample_weights(labels: np.ndarray, class_weight: Mapping[int, float] | None) -> np.ndarray:
    """``(N,) float32`` per-row loss weights from a class-weight mapping (1 when None)."""
    labels = _labels(labels)
    if not class_weight:
        return np.ones(labels.size, dtype=np.float32)
    table = np.array([class_weight.get(0, 1.0), class_weight.get(1, 1.0)], dtype=np.float32)
    return cast("np.ndarray", table[labels])


def epoch_plans(
    sampler: SamplingStrategy,
    labels: np.ndarray,
    *,
    epochs: int,
    seed: int,
    batch_size: int,
    first_epoch: int = 0,
) -> tuple[np.ndarray, int]:
    """The concatenated row plans ``(M,) int64`` of epochs ``first_epoch .. epochs-1``
    (0-based, as the strategies count them) and the steps per epoch. Every epoch is padded
    to whole batches and given the first epoch's length, so steps per epoch are constant."""
    plans = []
    steps = None
    for epoch in range(epochs):
        plan = sampler.plan(labels, epoch=epoch, seed=seed, batch_size=batch_size)
        plan = pad_to_batches(plan, batch_size, epoch_rng(seed, epoch, salt=1))
        if steps is None:
            steps = len(plan) // batch_size
        plan = np.resize(plan, steps * batch_size)
        if epoch >= first_epoch:
            plans.append(plan)
    rows = np.concatenate(plans) if plans else np.zeros(0, np.int64)
    return rows, int(steps or 1)


def sampling_components() -> list[Component[SamplingStrategy]]:
    """The built-in sampling strategies."""
    return [
        Component(
            "undersample",
            "Keep all positives and a fresh fraction of negatives each epoch (default 1/3, "
            "never past 50% positives)",
            Undersample,
        ),
        Component(
            "class_weight", "All rows; weigh the loss per class (default {0: 1, 1: 5})", ClassWeight
        ),
        Component(
            "balanced_batches",
            "Repeat positives to a target fraction (default 1/7), at least one per batch",
            BalancedBatches,
        ),
        Component("none", "All rows once per epoch, shuffled", NoSampling),
    ]
