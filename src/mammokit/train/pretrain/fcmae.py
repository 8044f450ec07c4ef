"""FCMAE, the fully convolutional masked autoencoder of ConvNeXt V2 (Woo et al. 2023, §3),
the built-in ``mammokit_pretraining_methods`` component.

Each training image loses a random ``mask_ratio`` of its ``patch_size`` patches; the
encoder sees the visible patches only (:class:`~mammokit.train.pretrain.masking.MaskedEncoder`);
a light decoder (a 1x1 projection, a learnt mask token at the masked sites, ``decoder_depth``
ConvNeXt V2 blocks of kecam, a 1x1 prediction of the patch's pixels) reconstructs the
image, and the loss is the mean squared error over the masked patches of the per-patch
normalised pixels. The patch size must equal the encoder's output stride (32 for
ConvNeXtV2), so that one encoder site is one patch. :class:`Fcmae` itself imports no
TensorFlow; :meth:`Fcmae.build` does.
"""

from __future__ import annotations

from typing import Any

import attrs

from mammokit.core.errors import ConfigError
from mammokit.plugins.components import Component, PretrainingMethodComponent
from mammokit.plugins.protocols import PretrainingMethod

__all__ = ["Fcmae", "pretraining_components"]


def _ratio(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"mask_ratio must be in (0, 1), got {value}")


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value}")


@attrs.frozen
class Fcmae:
    """The FCMAE method (``factory(**method_options)`` of the ``fcmae`` component).

    Attributes:
        mask_ratio: the fraction of patches masked per image (the paper's 0.6).
        patch_size: the side of a patch in pixels; must be the encoder's output stride.
        decoder_dim: the decoder's channels (the paper's 512).
        decoder_depth: the decoder's ConvNeXt V2 blocks (the paper's 1).
        norm_pix_loss: reconstruct each patch's pixels normalised to zero mean and unit
            variance (the paper's choice), else the raw pixels in [0, 1].
    """

    mask_ratio: float = attrs.field(default=0.6, converter=float, validator=_ratio)
    patch_size: int = attrs.field(default=32, converter=int, validator=_positive)
    decoder_dim: int = attrs.field(default=512, converter=int, validator=_positive)
    decoder_depth: int = attrs.field(default=1, converter=int, validator=_positive)
    norm_pix_loss: bool = True

    def build(self, encoder: Any, stem: Any, /, *, seed: int) -> Any:
        """The FCMAE Keras model around ``encoder`` (built, its variables made).

        Raises:
            ConfigError: an image size the patches do not tile, a mask ratio that masks all
                or none of them, or an encoder whose output stride is not the patch size.
        """
        from mammokit.train.pretrain.model import FcmaeModel

        return FcmaeModel(encoder, stem, self, seed=seed)

    def masked_count(self, patches: int) -> int:
        """How many of ``patches`` patches an image masks (FCMAE keeps ``int(L * (1 -
        ratio))``).

        Raises:
            ConfigError: none or all of them.
        """
        masked = patches - int(patches * (1.0 - self.mask_ratio))
        if not 0 < masked < patches:
            raise ConfigError(
                f"FCMAE: a mask ratio of {self.mask_ratio} masks {masked} of the image's "
                f"{patches} patches of {self.patch_size} pixels; use a larger image or "
                "another ratio, so that some are masked and some visible"
            )
        return masked


def pretraining_components() -> list[Component[PretrainingMethod]]:
    """The built-in pretraining methods."""
    return [
        PretrainingMethodComponent(
            "fcmae",
            "Fully convolutional masked autoencoder (ConvNeXt V2): reconstruct 60% masked "
            "32-pixel patches from the visible ones",
            Fcmae,
        )
    ]
