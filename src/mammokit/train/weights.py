"""Pretrained weights by name: the files keras-cv-attention-models (kecam) publishes, found
in the Keras cache or a folder the user names, checked against kecam's hash, downloaded only
where a network is reachable.

``pretrained="imagenet"`` (or ``"imagenet21k-ft1k"``, or any name kecam's table lists for the
model) resolves to one release file of kecam, ``<model.name>_<name>.h5`` (with the table's
nearest resolution in front for names that have several, e.g.
``convnext_v2_tiny_224_imagenet21k-ft1k.h5``). Where to find it, in order:

1. ``weights_dir`` (a folder the user names: a Kaggle dataset, a hospital share);
2. the Keras cache, ``$KERAS_HOME/models`` or ``~/.keras/models`` (``/tmp/.keras/models`` when
   the home one is not writable), where kecam's own download puts it;
3. a download through Keras (``get_file``) into that cache, checked against the same hash.

A file whose MD5 is not the table's, or one that is absent and cannot be downloaded, is a
:class:`~mammokit.core.errors.ConfigError` that names the URL and the exact path to put the file
at. kecam's own loader prints "will not load weights" and carries on with random weights;
mammokit never calls it with a name, and checks after loading that the weights changed.

A value that is not a name in the table (a path, ``.h5``) is a local weights file, as before.
TensorFlow is imported by the callers only; this module reads kecam's table and files.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from mammokit.core.errors import ConfigError

__all__ = [
    "KECAM_RELEASES",
    "NamedWeights",
    "keras_cache_dir",
    "kecam_weight_names",
    "named_weights",
    "weights_file",
]

logger = logging.getLogger("mammokit.train")

#: kecam's release URL pattern: ``{release}`` is the model family's release tag.
KECAM_URL = (
    "https://github.com/leondgarse/keras_cv_attention_models/releases/download/{release}/{file}"
)

#: model-name prefix -> (kecam module holding ``PRETRAINED_DICT``, release tag).
KECAM_RELEASES: dict[str, tuple[str, str]] = {
    "convnext": ("keras_cv_attention_models.convnext.convnext", "convnext"),
}


@attrs.frozen
class NamedWeights:
    """One published weights file of kecam.

    Attributes:
        model_name: kecam's model name (``model.name``), e.g. ``convnext_v2_atto``.
        name: the weights' name, e.g. ``imagenet``.
        file_name: the release file, e.g. ``convnext_v2_atto_imagenet.h5``.
        url: where kecam downloads it from.
        md5: its MD5 (hex), from kecam's table.
    """

    model_name: str
    name: str
    file_name: str
    url: str
    md5: str


def _release(model_name: str) -> tuple[str, str]:
    for prefix, release in KECAM_RELEASES.items():
        if model_name.startswith(prefix):
            return release
    raise ConfigError(f"no published weights are known for model {model_name!r}")


def _table(model_name: str) -> Mapping[str, Any]:
    """kecam's ``PRETRAINED_DICT`` entry for ``model_name`` (read at call time, so a test
    may register a file of its own in it)."""
    module_name, _ = _release(model_name)
    table: Mapping[str, Mapping[str, Any]] = importlib.import_module(module_name).PRETRAINED_DICT
    return table.get(model_name, {})


def kecam_weight_names(model_name: str) -> list[str]:
    """The weights names kecam publishes for ``model_name`` (sorted; maybe empty)."""
    try:
        return sorted(_table(model_name))
    except ConfigError:
        return []


def named_weights(model_name: str, name: str, input_height: int) -> NamedWeights:
    """The release file of weights ``name`` for ``model_name``; for names published at
    several resolutions, the one nearest ``input_height`` (as kecam chooses).

    Raises:
        ConfigError: kecam lists no such name for the model (the message lists the names).
    """
    entry = _table(model_name).get(name)
    if entry is None:
        names = ", ".join(kecam_weight_names(model_name)) or "none"
        raise ConfigError(
            f"no pretrained weights named {name!r} for {model_name}; kecam publishes: {names} "
            "(or give a local weights file)"
        )
    stem = name
    if isinstance(entry, Mapping):
        resolution = min(entry, key=lambda size: abs(int(size) - int(input_height)))
        stem, entry = f"{resolution}_{name}", entry[resolution]
    if not isinstance(entry, str):
        raise ConfigError(
            f"{model_name} {name!r}: kecam publishes these weights in several pieces, which "
            "mammokit does not load by name; load them with kecam and give the saved file"
        )
    file_name = f"{model_name}_{stem}.h5"
    _, release = _release(model_name)
    return NamedWeights(
        model_name, name, file_name, KECAM_URL.format(release=release, file=file_name), entry
    )


def keras_cache_dir() -> Path:
    """Keras's cache folder: ``$KERAS_HOME``, else ``~/.keras``; ``/tmp/.keras`` when that is
    not writable (where Keras itself falls back)."""
    home = Path(os.environ.get("KERAS_HOME") or Path("~/.keras").expanduser())
    probe = home if home.exists() else home.parent
    return home if os.access(probe, os.W_OK) else Path("/tmp/.keras")


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checked(path: Path, weights: NamedWeights) -> Path:
    got = _md5(path)
    if got != weights.md5:
        raise ConfigError(
            f"{path}: MD5 {got} is not that of {weights.file_name} ({weights.md5}); a partial "
            f"or different file. Replace it with the one from {weights.url}"
        )
    return path


def weights_file(
    weights: NamedWeights, *, weights_dir: str | Path | None = None, download: bool = True
) -> Path:
    """The local, hash-checked file of ``weights``: in ``weights_dir``, else in the Keras
    cache, else downloaded into the cache (when ``download``).

    Raises:
        ConfigError: a file found has the wrong MD5; or there is none and it could not be
            downloaded: the message names the URL and the exact path to put it at.
    """
    cache = keras_cache_dir() / "models" / weights.file_name
    places = ([Path(weights_dir) / weights.file_name] if weights_dir else []) + [cache]
    for place in places:
        if place.is_file():
            return _checked(place, weights)
    where = " or ".join(str(place) for place in places)
    if download:
        from mammokit.core.tf import import_keras

        keras = import_keras()
        try:
            got = keras.utils.get_file(
                weights.file_name, weights.url, cache_subdir="models",
                file_hash=weights.md5, cache_dir=str(cache.parent.parent),
            )  # fmt: skip
        except Exception as err:
            raise ConfigError(
                f"pretrained weights {weights.name!r} of {weights.model_name}: "
                f"{weights.file_name} is not at {where}, and downloading {weights.url} failed "
                f"({type(err).__name__}: {err}). Without a network, download it elsewhere "
                f"and put it at {places[0]}"
            ) from err
        logger.info("downloaded %s to %s", weights.url, got)
        return _checked(Path(got), weights)
    raise ConfigError(
        f"pretrained weights {weights.name!r} of {weights.model_name}: {weights.file_name} "
        f"is not at {where}; download {weights.url} and put it at {places[0]}"
    )
