"""Random patch masks, and an encoder run on the visible patches only (imports TensorFlow:
import this module lazily).

:class:`MaskedEncoder` runs a functional Keras backbone (kecam's ConvNeXtV2) layer by
layer, calling the backbone's own layer objects, and multiplies every 4-D activation by
the visible mask at that activation's resolution: the image going into the stem, and the
output of every layer (the stem, each block's depthwise convolution, LayerNorm, MLP and
GRN, each downsampling layer; zero padding aside, which only adds zeros). A masked site
therefore holds zero at every layer, as if it did not exist: the dense equivalent of the
sparse convolutions of ConvNeXt V2 (§3.1), with GRN's global norm taken over the visible
sites only, as the sparse GRN takes it. No masked
pixel reaches a visible site (tests/train/test_pretrain_masking.py checks it).
"""

from __future__ import annotations

from typing import Any

from mammokit.core.errors import ConfigError
from mammokit.core.tf import import_keras, import_tf

tf = import_tf()
keras = import_keras()

__all__ = ["MaskedEncoder", "patch_grid", "random_patch_masks"]


def patch_grid(image_size: tuple[int, int], patch_size: int) -> tuple[int, int]:
    """``(H / P, W / P)``: the patch grid of an image.

    Raises:
        ConfigError: a side that is no multiple of the patch size, or fewer than 2 patches.
    """
    height, width = image_size
    if height % patch_size or width % patch_size:
        raise ConfigError(
            f"masked pretraining needs an image size that is a multiple of the patch size "
            f"{patch_size}, got {height}x{width}"
        )
    grid = (height // patch_size, width // patch_size)
    if grid[0] * grid[1] < 2:
        raise ConfigError(
            f"masked pretraining needs at least 2 patches of {patch_size} pixels, got "
            f"{height}x{width}"
        )
    return grid


def random_patch_masks(batch: Any, grid: tuple[int, int], ratio: float, seed: Any) -> Any:
    """``(batch, gh, gw) float32``: 1 where a patch is masked, 0 where it is visible; each
    image masks ``L - int(L * (1 - ratio))`` of its ``L = gh * gw`` patches (as FCMAE
    counts them), chosen by ``stateless_uniform`` noise from ``seed`` (a ``(2,)`` int64).
    """
    patches = grid[0] * grid[1]
    keep = int(patches * (1.0 - ratio))
    noise = tf.random.stateless_uniform(tf.stack([batch, patches]), seed=seed)
    ranks = tf.argsort(tf.argsort(noise, axis=1), axis=1)  # the rank of each patch's noise
    masked = tf.cast(ranks >= keep, tf.float32)
    return tf.reshape(masked, tf.stack([batch, grid[0], grid[1]]))


def _is_feature_map(value: Any) -> bool:
    """A 4-D tensor with a spatial extent (global statistics, ``(B, 1, 1, C)``, are not)."""
    shape = getattr(value, "shape", None)
    return shape is not None and len(shape) == 4 and tuple(shape[1:3]) != (1, 1)


class MaskedEncoder:
    """A functional Keras backbone run with every activation masked to the visible patches.

    The backbone's layers are called as they are (the same objects, so the same weights);
    only multiplications by the mask are added between them.

    Args:
        backbone: a functional Keras model ``(B, H, W, C) -> (B, h, w, F)`` with a static
            input size; a layer that is itself a model is refused (its inside could not be
            masked).
        patch_size: the side of a mask patch in pixels; every activation's stride must
            divide it.

    Raises:
        ConfigError: a nested model, or an input size the patches do not tile.
    """

    def __init__(self, backbone: Any, patch_size: int) -> None:
        if not hasattr(backbone, "_nodes_by_depth"):
            raise ConfigError(
                f"backbone {backbone.name!r} is not a functional Keras model; masked "
                "pretraining runs a backbone layer by layer"
            )
        nested = [layer.name for layer in backbone.layers if isinstance(layer, keras.Model)]
        if nested:
            raise ConfigError(
                f"backbone {backbone.name!r} holds nested models ({', '.join(nested)}), "
                "whose activations masked pretraining cannot mask"
            )
        self.backbone = backbone
        self.patch_size = int(patch_size)
        self.image_size = (int(backbone.input_shape[1]), int(backbone.input_shape[2]))
        self.grid = patch_grid(self.image_size, self.patch_size)

    def visible_at(self, visible: Any, shape: tuple[int, int], where: str) -> Any:
        """``visible (B, gh, gw, 1)`` repeated to an activation of spatial ``shape``.

        Raises:
            ConfigError: the activation's stride does not divide the patch size.
        """
        height, width = self.image_size
        stride = height // shape[0] if shape[0] else 0
        if (
            not stride
            or height != stride * shape[0]
            or width != stride * shape[1]
            or self.patch_size % stride
        ):
            raise ConfigError(
                f"{where}: an activation of {shape[0]}x{shape[1]} from a {height}x{width} "
                f"input is not on a stride that divides the patch size {self.patch_size}"
            )
        repeat = self.patch_size // stride
        return tf.repeat(tf.repeat(visible, repeat, axis=1), repeat, axis=2)

    def _masked(self, value: Any, visible: Any, where: str, layer: Any = None) -> Any:
        if not _is_feature_map(value) or isinstance(layer, keras.layers.ZeroPadding2D):
            return value  # zero padding adds zeros around an activation masked already
        mask = self.visible_at(visible, (int(value.shape[1]), int(value.shape[2])), where)
        return value * tf.cast(mask, value.dtype)

    def __call__(self, inputs: Any, visible: Any, *, trace: list[Any] | None = None) -> Any:
        """``inputs (B, H, W, C)`` and ``visible (B, gh, gw, 1)`` (1 = visible) -> the
        backbone's output with masked sites zero. ``trace`` collects ``(layer name,
        activation)`` of every layer (for tests).

        The walk is Keras's own (``Functional._run_internal_graph``): nodes by decreasing
        depth, each layer called with its recorded arguments.
        """
        model = self.backbone
        inputs, visible = tf.convert_to_tensor(inputs), tf.convert_to_tensor(visible)
        counts = model._tensor_usage_count
        tensors: dict[str, list[Any]] = {}
        for reference, value in zip(model.inputs, [inputs], strict=True):
            key = str(id(reference))
            tensors[key] = [self._masked(value, visible, "the input")] * counts[key]
        for depth in sorted(model._nodes_by_depth, reverse=True):
            for node in model._nodes_by_depth[depth]:
                if node.is_input or any(k not in tensors for k in node.flat_input_ids):
                    continue
                args, kwargs = node.map_arguments(tensors)
                outputs = tf.nest.flatten(node.layer(*args, **kwargs))
                for key, value in zip(node.flat_output_ids, outputs, strict=True):
                    value = self._masked(value, visible, f"layer {node.layer.name!r}", node.layer)
                    if trace is not None:
                        trace.append((node.layer.name, value))
                    tensors[key] = [value] * counts[key]
        (output,) = model.outputs
        return tensors[str(id(output))].pop()
