"""Distribution strategies: ``auto | tpu | mirrored | multi_worker | cpu`` (TF lazily).

- ``tpu``: a TPU found by ``TPUClusterResolver`` (``TPU_NAME`` or a local TPU VM).
- ``mirrored``: ``MirroredStrategy`` over all local GPUs (one CPU replica without GPU).
- ``multi_worker``: ``MultiWorkerMirroredStrategy`` configured from ``TF_CONFIG``.
- ``cpu``: one CPU device.
- ``auto``: a TPU if one is found, else ``MirroredStrategy`` if there are GPUs, else the
  default strategy.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import attrs

from mammokit.core.errors import ConfigError

__all__ = ["StrategyInfo", "determinism", "make_strategy"]

logger = logging.getLogger(__name__)

STRATEGIES = ("auto", "tpu", "mirrored", "multi_worker", "cpu")


@attrs.frozen
class StrategyInfo:
    """A built strategy and what it runs on.

    Attributes:
        strategy: the ``tf.distribute.Strategy``.
        name: the strategy name that was resolved ("tpu", "mirrored", "multi_worker",
            "cpu" or "default").
        device: "tpu", "gpu" or "cpu" (drives the mixed-precision choice).
        is_chief: True on the worker that writes the run directory.
        worker_index: this worker's index (0 without multi-worker).
    """

    strategy: Any
    name: str
    device: str
    is_chief: bool = True
    worker_index: int = 0


def _find_tpu(tf: Any, *, required: bool) -> Any | None:
    """A ``TPUStrategy`` or None. "No TPU" shows as ``ValueError`` from the resolver (no
    TPU name known) or ``NotFoundError`` from ``initialize_tpu_system``; both are caught."""
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.NotFoundError) as err:
        if required:
            raise ConfigError(f"strategy 'tpu' but no TPU was found: {err}") from err
        return None
    return tf.distribute.TPUStrategy(resolver)


def _worker() -> tuple[bool, int]:
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        raise ConfigError("strategy 'multi_worker' needs the TF_CONFIG environment variable")
    try:
        task = json.loads(raw).get("task", {})
    except json.JSONDecodeError as err:
        raise ConfigError(f"TF_CONFIG is not valid JSON: {err}") from err
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    return (kind == "chief" or (kind == "worker" and index == 0)), index


def make_strategy(name: str) -> StrategyInfo:
    """Build the strategy called ``name``. Call this before any other TensorFlow op
    (multi-worker collectives must be set up first).

    Raises:
        ConfigError: unknown name, ``tpu`` without a TPU, ``multi_worker`` without TF_CONFIG.
    """
    from mammokit.core.tf import import_tf

    if name not in STRATEGIES:
        raise ConfigError(f"Unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}")
    tf = import_tf()
    if name == "multi_worker":
        is_chief, index = _worker()
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        device = "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
        return StrategyInfo(strategy, "multi_worker", device, is_chief, index)
    if name in ("tpu", "auto"):
        tpu = _find_tpu(tf, required=name == "tpu")
        if tpu is not None:
            return StrategyInfo(tpu, "tpu", "tpu")
    gpus = tf.config.list_physical_devices("GPU")
    if name == "mirrored" or (name == "auto" and gpus):
        return StrategyInfo(tf.distribute.MirroredStrategy(), "mirrored", "gpu" if gpus else "cpu")
    if name == "cpu":
        return StrategyInfo(tf.distribute.OneDeviceStrategy("/cpu:0"), "cpu", "cpu")
    return StrategyInfo(tf.distribute.get_strategy(), "default", "cpu")


def determinism(info: StrategyInfo) -> dict[str, Any]:
    """What a run on ``info`` promises about repeating itself (``[determinism]`` of its
    ``config.toml``): ``bit_identical`` is True on CPU with one replica, where two runs of
    one config, and a killed-and-resumed run, end with the same bits (docs/reliability.md).
    Elsewhere the randomness is still seeded and resumable, but the kernels are not."""
    exact = info.device == "cpu" and info.name in ("cpu", "default", "mirrored")
    if exact:
        note = "CPU, one replica: reruns and resumed runs are bit-identical"
    else:
        why = {
            "gpu": "GPU kernels (cuDNN convolutions, atomic reductions) are not deterministic",
            "tpu": "TPU compilation and reductions are not promised to be deterministic",
        }.get(info.device, "cross-worker reductions are not promised to be deterministic")
        note = (
            f"{info.device}/{info.name}: randomness is seeded by (seed, step) and resumable, "
            f"but {why}: reruns and resumed runs agree only up to floating-point noise"
        )
    return {"device": info.device, "strategy": info.name, "bit_identical": exact, "note": note}
