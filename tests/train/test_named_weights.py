"""Pretrained weights by name, in a process without a network: found in the Keras cache or
a named folder and hash-checked (hit), or a ConfigError naming the URL and the path to put
the file at (miss, mismatch); never random weights in silence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mammokit.train.config import TrainConfig

pytestmark = pytest.mark.train

WORKER = Path(__file__).with_name("_named_weights_worker.py")
URL = "https://github.com/leondgarse/keras_cv_attention_models/releases/download/convnext/"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    work = tmp_path_factory.mktemp("named-weights")
    env = dict(os.environ, KERAS_HOME=str(work / "keras"), NO_PROXY="", no_proxy="")
    # no network: every download goes to a proxy that refuses the connection at once
    env.update(
        {
            key: "http://127.0.0.1:9"
            for key in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")
        }
    )
    done = subprocess.run(
        [sys.executable, str(WORKER), str(work)], env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_published_file_in_the_keras_cache_or_a_named_folder_is_loaded(
    outcomes: dict[str, str],
) -> None:
    assert outcomes["hit_cache"] == "same"
    assert outcomes["hit_folder"] == "same"


def test_a_missing_file_names_the_url_and_where_to_put_it(outcomes: dict[str, str]) -> None:
    miss = outcomes["miss"]
    assert miss.startswith("ConfigError")
    assert URL + "convnext_v2_atto_imagenet.h5" in miss
    assert str(Path(outcomes["cache"]) / "convnext_v2_atto_imagenet.h5") in miss
    assert "downloading" in miss and "failed" in miss


def test_a_file_with_another_hash_is_refused(outcomes: dict[str, str]) -> None:
    mismatch = outcomes["mismatch"]
    assert mismatch.startswith("ConfigError") and "MD5" in mismatch
    assert "e604fa1edfefe6207957feec4f5612db" in mismatch  # kecam's hash for Atto imagenet
    assert URL + "convnext_v2_atto_imagenet.h5" in mismatch


def test_an_unknown_name_lists_the_published_ones(outcomes: dict[str, str]) -> None:
    assert outcomes["unknown"].startswith("ConfigError")
    assert "imagenet" in outcomes["unknown"].split("publishes:")[1]


def test_weights_that_change_nothing_are_refused(outcomes: dict[str, str]) -> None:
    """A file whose layers match none of the model's would leave random weights."""
    assert outcomes["unrelated"].startswith("ConfigError") and "no layer" in outcomes["unrelated"]


def test_named_weights_choose_the_imagenet_input() -> None:
    assert TrainConfig(pretrained="imagenet21k-ft1k").resolved_input_mode == "imagenet"
