"""Loading a trained model and predicting with it (imports TensorFlow lazily)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pluggy

from mammokit.core.config import load_toml
from mammokit.core.errors import ConfigError
from mammokit.plugins import manager_or_shared
from mammokit.plugins.components import BackboneComponent, Component
from mammokit.plugins.types import BACKBONES
from mammokit.train.rundir import RunDir

__all__ = ["backbone_custom_objects", "load_model", "predict_images"]


def _saved_backbone(model_path: Path) -> str | None:
    """The backbone named in the ``config.toml`` beside ``model_path``, if there is one."""
    config = RunDir(model_path.parent).config
    if not config.is_file():
        return None
    backbone = load_toml(config).get("train", {}).get("backbone")
    return backbone if isinstance(backbone, str) else None


def backbone_custom_objects(components: Iterable[Component[Any]]) -> dict[str, Any]:
    """What loading a model saved with these backbones needs: import each
    :class:`~mammokit.BackboneComponent`'s ``load_modules`` and merge its
    ``custom_objects()``. Plain :class:`~mammokit.Component` backbones need nothing.

    Raises:
        ConfigError: a module cannot be imported or ``custom_objects()`` failed; the message
            names the backbone.
    """
    found: dict[str, Any] = {}
    for component in components:
        if not isinstance(component, BackboneComponent):
            continue
        try:
            for module in component.load_modules:
                importlib.import_module(module)
            found.update(component.custom_objects())
        except Exception as err:
            raise ConfigError(
                f"backbone {component.name!r}: cannot prepare loading its model: "
                f"{type(err).__name__}: {err}"
            ) from err
    return found


def load_model(run_dir: str | Path, *, manager: pluggy.PluginManager | None = None) -> Any:
    """The final model of a run: ``<run>/model.keras`` loaded with ``safe_mode=True``.
    ``(B, H, W, 1) float32 in [0, 1] -> (B, 1) float32``.

    Works in any process, not only the one that trained: the custom objects are mammokit's
    own layers plus what the run's backbone declares (:class:`~mammokit.BackboneComponent`),
    looked up in ``manager`` (default: a new plugin manager). ``run_dir`` may also be the
    path of a ``.keras`` file; without a ``config.toml`` beside it, every registered
    backbone's needs are gathered.

    Raises:
        ConfigError: no model file, the run's backbone is not registered, or the model
            cannot be loaded.
    """
    from mammokit.core.tf import import_keras
    from mammokit.train.layers import CUSTOM_OBJECTS

    keras = import_keras()
    path = Path(run_dir)
    if path.is_dir():
        path = RunDir(path).model
    if not path.is_file():
        raise ConfigError(f"{path}: no trained model (model.keras) found")
    plugins = manager_or_shared(manager)
    backbone = _saved_backbone(path)
    backbones = (
        [plugins.resolve(BACKBONES, backbone)]
        if backbone is not None
        else list(plugins.backbones().values())
    )
    custom_objects = {**backbone_custom_objects(backbones), **CUSTOM_OBJECTS}
    try:
        return keras.models.load_model(
            str(path), custom_objects=custom_objects, compile=False, safe_mode=True
        )
    except Exception as err:
        raise ConfigError(f"{path}: cannot load model: {type(err).__name__}: {err}") from err


def predict_images(
    run_dir_or_model: str | Path | Any, pixels_batch: np.ndarray, *, batch_size: int = 32
) -> np.ndarray:
    """Image probabilities ``(N,) float32`` for ``pixels_batch``.

    ``pixels_batch``: ``(N, H, W)`` or ``(N, H, W, 1)``; uint8/uint16 are divided by the
    dtype max, float arrays must already be in [0, 1].
    """
    model = (
        load_model(run_dir_or_model)
        if isinstance(run_dir_or_model, str | Path)
        else run_dir_or_model
    )
    pixels = np.asarray(pixels_batch)
    if pixels.ndim == 3:
        pixels = pixels[..., None]
    if pixels.ndim != 4 or pixels.shape[-1] != 1:
        raise ConfigError(f"expected (N, H, W) or (N, H, W, 1) pixels, got {pixels.shape}")
    if pixels.dtype == np.uint8 or pixels.dtype == np.uint16:
        pixels = pixels.astype(np.float32) / float(np.iinfo(pixels.dtype).max)
    else:
        pixels = pixels.astype(np.float32)
    if pixels.shape[0] == 0:
        return np.zeros(0, np.float32)
    out = model.predict(pixels, batch_size=batch_size, verbose=0)
    return np.asarray(out, dtype=np.float32).reshape(-1)
