"""Resumable randomness of the model's own random layers (imports TensorFlow lazily).

Keras's ``Dropout`` (and kecam's stochastic depth, which is a ``Dropout``) draws from
stateful random ops by default: their state lives in the process, so a resumed run drew
other masks than the uninterrupted one. :func:`seed_random_layers` makes every layer with
a Keras ``RandomGenerator`` stateless, seeded in the graph by
``fold_in(fold_in((run seed, optimizer step), replica), layer)``: the masks of a step are a
function of ``(seed, step)`` (``step`` fixes the epoch), and ``step`` is the optimizer's
iteration counter, which the checkpoint holds. Augmentation is seeded the same way (see
:func:`mammokit.train.data.augment_batch`), the sampling plans by ``(seed, epoch)``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["seed_random_layers", "step_seed"]


def step_seed(seed: int, step: Any, salt: int) -> Any:
    """A stateless-op seed ``(2,) int64`` made from ``(seed, step)``, the replica and
    ``salt`` (one salt per random consumer), traced into the graph: ``step`` is read at
    each call."""
    from mammokit.core.tf import import_tf

    tf = import_tf()
    base = tf.stack([tf.constant(int(seed), tf.int64), tf.cast(step, tf.int64)])
    replica = tf.distribute.get_replica_context()
    replica_id = replica.replica_id_in_sync_group if replica is not None else 0
    base = tf.random.experimental.stateless_fold_in(base, tf.cast(replica_id, tf.int32))
    return tf.random.experimental.stateless_fold_in(base, salt)


def _is_generator(value: Any) -> bool:
    """A Keras ``RandomGenerator`` (not exported by tf_keras, so recognised by its API)."""
    return hasattr(value, "make_seed_for_stateless_op") and hasattr(value, "RNG_STATELESS")


def _random_layers(model: Any) -> list[Any]:
    """The layers of ``model`` (nested ones too) that own a Keras ``RandomGenerator``, in
    the model's (deterministic) traversal order."""
    layers = [model, *model._flatten_layers(include_self=False, recursive=True)]
    return [layer for layer in layers if _is_generator(getattr(layer, "_random_generator", None))]


def seed_random_layers(model: Any, step: Any, seed: int) -> int:
    """Make the random layers of ``model`` draw from ``(seed, step, replica, layer index)``.

    Args:
        model: a built Keras model.
        step: the int64 step variable read at each call (``optimizer.iterations``).
        seed: the run's seed.

    Returns:
        How many layers were seeded.
    """
    layers = _random_layers(model)
    for index, layer in enumerate(layers):
        generator = layer._random_generator

        def make_seed(salt: int = index) -> Any:
            return step_seed(seed, step, salt)

        generator._rng_type = generator.RNG_STATELESS
        generator._built = True
        generator._generator = None
        generator.make_seed_for_stateless_op = make_seed
    return len(layers)
