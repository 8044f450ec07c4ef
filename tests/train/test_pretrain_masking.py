"""FCMAE's masking (issue 25): the encoder sees the visible patches only, as the paper's
sparse convolutions do; the masks are what the method says; every ConvNeXtV2 size builds."""

from __future__ import annotations

import numpy as np
import pytest

from mammokit.core.errors import ConfigError

pytestmark = pytest.mark.train

#: 128x64 images: 4x2 patches of 32 pixels, of which FCMAE (ratio 0.6) masks 5.
SIZE = (128, 64)


@pytest.fixture(scope="module")
def atto() -> object:
    from mammokit.plugins import get_plugin_manager

    return get_plugin_manager().build_backbone("convnextv2_atto", (*SIZE, 3))


def _visible(masked: np.ndarray) -> np.ndarray:
    """``(B, gh, gw)`` masked patches -> ``(B, gh, gw, 1)`` float32, 1 = visible."""
    return (1.0 - masked)[..., None].astype(np.float32)


def _masks() -> np.ndarray:
    from mammokit.train.pretrain.masking import random_patch_masks

    seed = np.array([3, 1], np.int64)
    return random_patch_masks(2, (4, 2), 0.6, seed).numpy()


def test_random_patch_masks_mask_the_same_count_per_image_from_their_seed() -> None:
    from mammokit.train.pretrain.masking import random_patch_masks

    masked = _masks()
    assert masked.shape == (2, 4, 2) and set(np.unique(masked)) == {0.0, 1.0}
    assert masked.reshape(2, -1).sum(axis=1).tolist() == [5, 5]  # 8 - int(8 * 0.4)
    assert np.array_equal(masked, _masks())  # a function of the seed
    draws = [random_patch_masks(2, (4, 2), 0.6, np.array([3, s], np.int64)).numpy()
             for s in range(2, 6)]  # fmt: skip
    assert any(not np.array_equal(masked, other) for other in draws)


def test_the_masked_encoder_with_nothing_masked_is_the_backbone(atto: object) -> None:
    """The walk calls kecam's own layers with their recorded arguments: unmasked, it is the
    model's own forward pass (so its weights mean the same in fine-tuning)."""
    from mammokit.train.pretrain.masking import MaskedEncoder

    images = np.random.default_rng(0).normal(size=(2, *SIZE, 3)).astype(np.float32)
    expected = atto(images).numpy()  # type: ignore[operator]
    got = MaskedEncoder(atto, 32)(images, np.ones((2, 4, 2, 1), np.float32)).numpy()
    assert got.shape == expected.shape == (2, 4, 2, 320)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_no_masked_pixel_reaches_a_visible_site(atto: object) -> None:
    """Change every pixel of the masked patches: the plain backbone's output at the visible
    sites changes (a dense ConvNeXt mixes neighbours), the masked encoder's does not, not by
    one bit; and every activation of every layer is zero at the masked sites."""
    from mammokit.train.pretrain.masking import MaskedEncoder

    rng = np.random.default_rng(1)
    masked = _masks()
    pixels = np.kron(masked, np.ones((32, 32)))[..., None].astype(bool)  # (2, 128, 64, 1)
    images = rng.normal(size=(2, *SIZE, 3)).astype(np.float32)
    altered = np.where(pixels, rng.normal(size=images.shape) * 5, images).astype(np.float32)
    visible_sites = masked == 0
    plain = [atto(x).numpy()[visible_sites] for x in (images, altered)]  # type: ignore[operator]
    assert not np.allclose(plain[0], plain[1])  # the test can fail: dense convolutions leak
    encoder = MaskedEncoder(atto, 32)
    trace: list[tuple[str, object]] = []
    outputs = [encoder(x, _visible(masked), trace=trace if i else None).numpy()
               for i, x in enumerate((images, altered))]  # fmt: skip
    assert np.array_equal(outputs[0][visible_sites], outputs[1][visible_sites])
    assert np.all(outputs[1][~visible_sites] == 0)
    maps = [
        (name, np.asarray(value))
        for name, value in trace
        if len(getattr(value, "shape", ())) == 4 and tuple(value.shape[1:3]) != (1, 1)
    ]
    assert len(maps) > 100
    for name, value in maps:
        scale = SIZE[0] // value.shape[1]
        hidden = np.kron(masked, np.ones((32 // scale, 32 // scale))).astype(bool)
        if hidden.shape != value.shape[1:3]:  # zero padding: the same, shifted by the pad
            continue
        assert np.all(value[hidden] == 0), name


def test_fcmae_loss_is_the_error_on_the_masked_normalised_patches(atto: object) -> None:
    """The loss is the mean, over the masked patches only, of the squared error against the
    patch's pixels normalised to zero mean and unit variance."""
    from mammokit.core.tf import import_tf
    from mammokit.train.layers import InputStem
    from mammokit.train.pretrain.fcmae import Fcmae

    tf = import_tf()
    model = Fcmae(decoder_dim=32).build(atto, InputStem(mode="imagenet"), seed=0)
    masked = _masks()
    images = np.random.default_rng(2).uniform(size=(2, *SIZE, 1)).astype(np.float32)
    pred = model((images, masked)).numpy()  # (2, 4, 2, 1024)
    patches = images.reshape(2, 4, 32, 2, 32).transpose(0, 1, 3, 2, 4).reshape(2, 4, 2, -1)
    target = (patches - patches.mean(-1, keepdims=True)) / np.sqrt(
        patches.var(-1, keepdims=True) + 1e-6
    )
    errors = ((pred - target) ** 2).mean(-1)
    expected = errors[masked == 1].mean()
    got = float(model.reconstruction_loss(images, tf.constant(masked)))
    assert got == pytest.approx(float(expected), rel=1e-4)
    assert got != pytest.approx(float(errors.mean()), rel=1e-3)  # not over every patch


@pytest.mark.parametrize("size", ["femto", "pico", "nano", "tiny", "base"])
def test_every_convnextv2_size_builds_its_masked_encoder(size: str) -> None:
    """The masked walk and the decoder build for every ConvNeXtV2 size at 128x64 (Atto is
    pretrained end to end by test_pretrain_runs.py, Femto by test_pretrain_plugins.py)."""
    from mammokit.plugins import get_plugin_manager
    from mammokit.train.layers import InputStem
    from mammokit.train.pretrain.fcmae import Fcmae

    backbone = get_plugin_manager().build_backbone(f"convnextv2_{size}", (*SIZE, 3))
    model = Fcmae(decoder_dim=32).build(backbone, InputStem(mode="imagenet"), seed=0)
    images = np.zeros((1, *SIZE, 1), np.float32)
    assert model((images, _masks()[:1])).shape == (1, 4, 2, 32 * 32)
    assert model.encoder is backbone


def test_fcmae_refuses_images_its_patches_cannot_mask(atto: object) -> None:
    from mammokit.train.layers import InputStem
    from mammokit.train.pretrain.fcmae import Fcmae

    with pytest.raises(ConfigError, match="masks 8 of the image's 8 patches"):
        Fcmae(mask_ratio=0.95).build(atto, InputStem(mode="imagenet"), seed=0)
    with pytest.raises(ConfigError, match="output stride"):
        Fcmae(patch_size=64, mask_ratio=0.5).build(atto, InputStem(mode="imagenet"), seed=0)
