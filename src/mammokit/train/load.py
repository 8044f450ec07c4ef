"""Loading a trained model and predicting with it (imports TensorFlow lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mammokit.errors import ConfigError

__all__ = ["load_model", "predict_images"]


def load_model(run_dir: str | Path) -> Any:
    """The final model of a run: ``<run>/model.keras`` loaded with ``safe_mode=True`` and
    mammokit's custom objects. ``(B, H, W, 1) float32 in [0, 1] -> (B, 1) float32``.

    ``run_dir`` may also be the path of a ``.keras`` file.

    Raises:
        ConfigError: no model file, or it cannot be loaded.
    """
    from mammokit.train._tf import import_keras
    from mammokit.train.layers import CUSTOM_OBJECTS

    keras = import_keras()
    path = Path(run_dir)
    if path.is_dir():
        path = path / "model.keras"
    if not path.is_file():
        raise ConfigError(f"{path}: no trained model (model.keras) found")
    try:
        return keras.models.load_model(
            str(path), custom_objects=CUSTOM_OBJECTS, compile=False, safe_mode=True
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
