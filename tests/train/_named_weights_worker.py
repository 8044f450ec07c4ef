"""Run as a script by test_named_weights.py, as a user's script on a machine without a
network: builds ConvNeXtV2 Atto with named weights in each case given and prints one JSON
line of outcomes. argv: a work folder."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np


def main(work: Path) -> None:
    import keras_cv_attention_models.convnext.convnext as kecam_convnext

    from mammokit import get_plugin_manager, resolve_component
    from mammokit.core.errors import ConfigError
    from mammokit.train.backbones import simple_cnn
    from mammokit.train.weights import keras_cache_dir

    make = resolve_component(get_plugin_manager(), "mammokit_backbones", "convnextv2_atto").factory
    shape = (64, 64, 3)
    source = make(shape)
    cache = keras_cache_dir() / "models"
    cache.mkdir(parents=True)
    published = cache / "convnext_v2_atto_mammokit-test.h5"
    source.save_weights(str(published))
    table = kecam_convnext.PRETRAINED_DICT["convnext_v2_atto"]
    table["mammokit-test"] = hashlib.md5(published.read_bytes()).hexdigest()  # the test seam

    def same(model: object) -> bool:
        pairs = zip(source.get_weights(), model.get_weights(), strict=True)  # type: ignore[attr-defined]
        return all(np.array_equal(a, b) for a, b in pairs)

    def outcome(**kwargs: object) -> str:
        try:
            return "same" if same(make(shape, **kwargs)) else "different"
        except ConfigError as err:
            return f"ConfigError: {err}"

    result = {"cache": str(cache), "hit_cache": outcome(pretrained="mammokit-test")}
    folder = work / "kaggle-input"
    folder.mkdir()
    published.rename(folder / published.name)
    result["hit_folder"] = outcome(pretrained="mammokit-test", weights_dir=folder)
    result["miss"] = outcome(pretrained="imagenet")
    (cache / "convnext_v2_atto_imagenet.h5").write_bytes(b"not the published file")
    result["mismatch"] = outcome(pretrained="imagenet")
    result["unknown"] = outcome(pretrained="imagnet")
    other = simple_cnn((32, 32, 3))
    other.save_weights(str(cache / "convnext_v2_atto_unrelated.h5"))
    table["unrelated"] = hashlib.md5(
        (cache / "convnext_v2_atto_unrelated.h5").read_bytes()
    ).hexdigest()
    result["unrelated"] = outcome(pretrained="unrelated")
    print(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
