"""PreprocessConfig validation and its TOML round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from mammokit import ConfigError, PreprocessConfig
from mammokit.core.config import config_from_dict, config_to_dict, load_toml, save_toml


def test_defaults_follow_the_method() -> None:
    # The ROI default is breast_mask (issue 14); the published profile crop is roi="profile_crop".
    config = PreprocessConfig()
    assert config.size == (1024, 512)
    assert config.target_aspect == 2.0
    assert (config.window, config.roi, config.padder, config.decoder) == (
        "voi_lut",
        "breast_mask",
        "aspect_pad",
        "auto",
    )


def test_toml_round_trip(tmp_path: Path) -> None:
    config = PreprocessConfig(
        size="512x256", output_dtype="uint16", window_options={"window_index": 1}, aspect=1.75
    )
    path = tmp_path / "preprocess.toml"
    save_toml({"preprocess": config_to_dict(config)}, path)
    loaded = config_from_dict(PreprocessConfig, load_toml(path)["preprocess"])
    assert loaded == config
    assert loaded.size == (512, 256) and loaded.target_aspect == 1.75
    assert not list(tmp_path.glob(".*.tmp")), "the atomic writer left a temporary file"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sizes": [1, 2]}, "unknown PreprocessConfig key"),
        ({"size": [4, 4]}, "at least 8x8"),
        ({"output_dtype": "float32"}, "output_dtype"),
        ({"flip": "up"}, "flip"),
        ({"aspect": -1.0}, "aspect must be positive"),
        ({"max_pixels": 0}, "max_pixels"),
        ({"max_bytes": -5}, "max_bytes"),
    ],
)
def test_invalid_values_raise_config_error(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_dict(PreprocessConfig, data, where="test.toml")


def test_load_toml_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("size = [1024,\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: invalid TOML"):
        load_toml(bad)
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read config"):
        load_toml(tmp_path / "missing.toml")


def test_atomic_writes_get_ordinary_file_permissions(tmp_path: Path) -> None:

    from mammokit.core.atomic import atomic_write_bytes

    atomic_write_bytes(tmp_path / "out.bin", b"data")
    (tmp_path / "plain.bin").write_bytes(b"data")
    assert (tmp_path / "out.bin").read_bytes() == b"data"
    mode = (tmp_path / "out.bin").stat().st_mode & 0o777
    assert mode == (tmp_path / "plain.bin").stat().st_mode & 0o777
    assert mode & 0o044, "other users cannot read the output"
