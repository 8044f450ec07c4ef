"""tf.data input: preprocessed PNGs (or in-memory arrays) -> batches, with in-graph
augmentation for training (imports TensorFlow lazily).

Training batches are ``(images (B, H, W, 1) float32 in [0, 1], labels (B, 1) float32,
weights (B,) float32)``; evaluation batches are images only. Row order comes from the
sampling plan (already shuffled per epoch, deterministically); decoding runs in parallel,
batches are augmented as a whole and prefetched.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import numpy as np

from mammokit.core.tf import import_tf
from mammokit.train.config import AugmentConfig

tf = import_tf()

__all__ = [
    "ImageSource",
    "TFRecordSource",
    "Targets",
    "augment_batch",
    "augment_masks",
    "decode_png",
    "eval_dataset",
    "load_images",
    "pixels_to_input",
    "train_dataset",
]

#: ``Dataset.map`` parallelism: let tf.data pick.
_AUTOTUNE = -1


def _options() -> Any:
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True
    return options


def decode_png(path: Any, *, bit_depth: int, image_size: tuple[int, int] | None = None) -> Any:
    """A PNG file path (string tensor) -> ``(H, W, 1) float32`` in [0, 1] (value / dtype
    max), resized (bilinear, antialiased) to ``image_size`` if given and different."""
    dtype = tf.uint16 if bit_depth == 16 else tf.uint8
    image = tf.io.decode_png(tf.io.read_file(path), channels=1, dtype=dtype)
    image = tf.cast(image, tf.float32) / float(2**bit_depth - 1)
    return _resize(image, image_size)


def pixels_to_input(
    pixels: np.ndarray, *, bit_depth: int, image_size: tuple[int, int] | None = None
) -> np.ndarray:
    """Preprocessed pixels ``(N, H, W) uint8/uint16`` -> model input ``(N, H', W', 1)
    float32``, exactly as :func:`decode_png` treats the same pixels read from PNG files."""
    scale = float(2**bit_depth - 1)
    images = [_resize(tf.cast(one[..., None], tf.float32) / scale, image_size) for one in pixels]
    return np.stack([np.asarray(image) for image in images]).astype(np.float32, copy=False)


def _resize(image: Any, image_size: tuple[int, int] | None) -> Any:
    if image_size is None:
        return image
    shape = tf.shape(image)
    target = tf.constant(image_size, dtype=tf.int32)
    same = tf.reduce_all(tf.equal(shape[-3:-1], target))
    return tf.cond(
        same,
        lambda: tf.ensure_shape(image, [*image_size, 1]),
        lambda: tf.image.resize(image, image_size, method="bilinear", antialias=True),
    )


def load_images(
    paths: Sequence[str], *, bit_depth: int, image_size: tuple[int, int] | None = None
) -> np.ndarray:
    """Decode PNG files into one ``(N, H, W, 1) float32`` array (parallel, in order)."""
    dataset = tf.data.Dataset.from_tensor_slices(list(paths)).map(
        lambda p: decode_png(p, bit_depth=bit_depth, image_size=image_size),
        num_parallel_calls=_AUTOTUNE,
        deterministic=True,
    )
    batches = list(dataset.batch(64).as_numpy_iterator())
    if not batches:
        raise ValueError("no images to load")
    return np.concatenate(batches, axis=0)


def _str_tuple(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(value) for value in values)


@attrs.frozen
class TFRecordSource:
    """Images stored as TFRecord shards (``mammokit preprocess --format tfrecord``).

    Attributes:
        data_dir: the preprocessed folder (with ``shards/``).
        image_ids: ``(N,)`` the image_id of each table row; records of other images are
            skipped.
    """

    data_dir: str
    image_ids: tuple[str, ...] = attrs.field(converter=_str_tuple)


def _decode_bytes(data: Any, *, bit_depth: int, image_size: tuple[int, int] | None) -> Any:
    dtype = tf.uint16 if bit_depth == 16 else tf.uint8
    image = tf.io.decode_png(data, channels=1, dtype=dtype)
    return _resize(tf.cast(image, tf.float32) / float(2**bit_depth - 1), image_size)


def _records(source: TFRecordSource) -> Any:
    """``(png bytes, row)`` for every record of a table row, in shard order."""
    from mammokit.data import tfrecord_dataset

    keys = tf.constant(list(source.image_ids))
    lookup = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(keys, tf.range(len(source.image_ids), dtype=tf.int64)),
        default_value=-1,
    )

    def pair(example: Any) -> Any:
        image_id = example["image_id"]
        if image_id.dtype != tf.string:
            image_id = tf.strings.as_string(image_id)
        return example["image"], lookup.lookup(image_id)

    return (
        tfrecord_dataset(source.data_dir, decode=False)
        .map(pair, num_parallel_calls=_AUTOTUNE)
        .filter(lambda data, row: row >= 0)
    )


def _array_or_none(value: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value)


def _paths_or_none(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else _str_tuple(value)


@attrs.frozen
class ImageSource:
    """Where a dataset's images come from, and how they are decoded.

    Attributes:
        paths: ``(N,)`` PNG files, one per table row; or
        images: ``(N, H, W, 1) float32`` in [0, 1], already decoded (:func:`load_images`); or
        tfrecords: the TFRecord shards (streamed).
        bit_depth: 8 or 16, the PNGs' (or shards') pixel depth.
        image_size: ``(H, W)`` the model input, resized to when different; None keeps it.
    """

    paths: tuple[str, ...] | None = attrs.field(default=None, converter=_paths_or_none)
    images: np.ndarray | None = attrs.field(
        default=None, converter=_array_or_none, eq=False, repr=False
    )
    tfrecords: TFRecordSource | None = None
    bit_depth: int = 8
    image_size: tuple[int, int] | None = None


def _arrays(values: Iterable[Any]) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(value) for value in values)


@attrs.frozen
class Targets:
    """What a training batch learns, per table row.

    Attributes:
        labels: ``(N,)`` the main 0/1 label.
        weights: ``(N,)`` the sample weight.
        aux: one ``(N,)`` array per auxiliary target (-1 = missing); with them, a batch's
            labels and weights are tuples: the main label first, then each auxiliary
            target (weight 1).
        masks: ``(N,)`` each row's preprocessed lesion mask PNG ("" = none), or None (no
            mask head). With them, the labels end with the ``(B, H, W, 1)`` masks,
            augmented as their images, and the weights with 1 where a row has a mask
            file, 0 where not (left out of the mask loss).
    """

    labels: np.ndarray = attrs.field(converter=np.asarray, eq=False)
    weights: np.ndarray = attrs.field(converter=np.asarray, eq=False)
    aux: tuple[np.ndarray, ...] = attrs.field(default=(), converter=_arrays, eq=False)
    masks: np.ndarray | None = attrs.field(default=None, converter=_array_or_none, eq=False)


def _with_masks(pairs: Any, masks: np.ndarray, image_size: tuple[int, int] | None) -> Any:
    """``(image, row)`` -> ``(image, row, mask (H, W, 1) float32 in [0, 1])``: the row's
    mask PNG resized like its image, zeros where it has none."""
    table = tf.constant([str(m) for m in masks])

    def add(image: Any, row: Any) -> Any:
        path = tf.gather(table, row)
        mask = tf.cond(
            tf.strings.length(path) > 0,
            lambda: decode_png(path, bit_depth=8, image_size=image_size),
            lambda: tf.zeros_like(image),
        )
        return image, row, mask

    return pairs.map(add, num_parallel_calls=_AUTOTUNE, deterministic=True)


def _source(rows: np.ndarray, source: ImageSource) -> Any:
    """Dataset of ``(image (H, W, 1) float32, row int64)`` for ``rows`` (indices into the
    table) in that order, decoded from ``source.paths`` or gathered from its in-memory
    ``images``."""
    rows_ds = tf.data.Dataset.from_tensor_slices(np.asarray(rows, dtype=np.int64))
    if source.images is not None:
        table = tf.constant(source.images)
        return rows_ds.map(lambda i: (tf.gather(table, i), i), num_parallel_calls=_AUTOTUNE)
    if source.paths is None:
        raise ValueError("give paths, images or tfrecords")
    path_table = tf.constant(list(source.paths))
    return rows_ds.map(
        lambda i: (
            decode_png(
                tf.gather(path_table, i),
                bit_depth=source.bit_depth,
                image_size=source.image_size,
            ),
            i,
        ),
        num_parallel_calls=_AUTOTUNE,
        deterministic=True,
    )


def _tfrecord_stream(
    source: TFRecordSource,
    rows: np.ndarray,
    *,
    epoch_size: int,
    seed: int,
    bit_depth: int,
    image_size: tuple[int, int] | None,
    first_epoch: int = 0,
) -> Any:
    """``(image, row)`` streamed from shards: each epoch repeats every record as often as
    its row occurs in that epoch's plan, then shuffles (buffer up to 4096, seeded by the
    run's seed and the absolute epoch: ``rows`` start at ``first_epoch``). The plan's
    multiset is kept; its order (and so a per-batch guarantee) is not."""
    count = len(source.image_ids)
    plans = np.asarray(rows, dtype=np.int64).reshape(-1, epoch_size)
    counts = tf.constant(np.stack([np.bincount(p, minlength=count) for p in plans]))
    records = _records(source)
    buffer = int(min(max(epoch_size, 1), 4096))

    def one_epoch(epoch: Any) -> Any:
        repeated = records.flat_map(
            lambda data, row: tf.data.Dataset.from_tensors((data, row)).repeat(counts[epoch, row])
        )
        absolute = tf.cast(epoch, tf.int64) + first_epoch
        return repeated.shuffle(buffer, seed=tf.cast(seed, tf.int64) * 7919 + absolute)

    stream = tf.data.Dataset.range(len(plans)).flat_map(one_epoch)
    return stream.map(
        lambda data, row: (
            _decode_bytes(data, bit_depth=bit_depth, image_size=image_size),
            row,
        ),
        num_parallel_calls=_AUTOTUNE,
        deterministic=True,
    )


def train_dataset(
    rows: np.ndarray,
    source: ImageSource,
    targets: Targets,
    *,
    batch_size: int,
    augment: AugmentConfig,
    seed: int,
    first_step: int = 0,
    epoch_size: int | None = None,
) -> Any:
    """Batches over ``rows`` (the concatenated epoch plans, a multiple of ``batch_size``),
    augmented with seeds ``(seed, step)`` where ``step`` counts from ``first_step``, so a
    resumed run sees the same augmentation. Images come from ``source`` (PNG files, in
    memory, or TFRecords streamed with ``epoch_size`` = rows per epoch); labels and
    weights from ``targets``: ``(images (B, H, W, 1), labels (B, 1), weights (B,))``.

    Raises:
        ValueError: lesion masks with TFRecords (masks are PNG files beside PNG images).
    """
    rows = np.asarray(rows, dtype=np.int64)
    if targets.masks is not None and source.tfrecords is not None:
        raise ValueError("lesion masks need a PNG preprocessed folder, not TFRecords")
    if source.tfrecords is not None:
        pairs = _tfrecord_stream(
            source.tfrecords,
            rows,
            epoch_size=epoch_size or len(rows),
            seed=seed,
            bit_depth=source.bit_depth,
            image_size=source.image_size,
            first_epoch=first_step * batch_size // (epoch_size or len(rows)),
        )
    else:
        pairs = _source(rows, source)
    label_table = tf.constant(np.asarray(targets.labels, dtype=np.float32))
    weight_table = tf.constant(np.asarray(targets.weights, dtype=np.float32))
    aux_tables = [tf.constant(np.asarray(a, dtype=np.float32)) for a in targets.aux]
    if targets.masks is not None:
        pairs = _with_masks(pairs, targets.masks, source.image_size)
        has_mask = tf.constant(np.asarray([bool(m) for m in targets.masks], np.float32))
    dataset = pairs.batch(batch_size, drop_remainder=True)
    steps = tf.data.Dataset.range(first_step, first_step + len(rows) // batch_size)

    def augment_one(step: Any, batch: Any) -> Any:
        image, row = batch[:2]
        label = tf.gather(label_table, row)[:, None]
        weight = tf.gather(weight_table, row)
        extra = tuple(tf.gather(t, row)[:, None] for t in aux_tables)
        ones = tuple(tf.ones_like(weight) for _ in aux_tables)
        if targets.masks is not None:
            extra += (augment_masks(batch[2], augment, seed=seed, step=step),)
            ones += (tf.gather(has_mask, row),)
        if extra:
            label, weight = (label, *extra), (weight, *ones)
        return augment_batch(image, augment, seed=seed, step=step), label, weight

    dataset = tf.data.Dataset.zip((steps, dataset)).map(
        augment_one, num_parallel_calls=_AUTOTUNE, deterministic=True
    )
    return dataset.prefetch(_AUTOTUNE).with_options(_options())


def eval_dataset(
    count: int,
    *,
    batch_size: int,
    paths: Sequence[str] | None = None,
    images: np.ndarray | None = None,
    tfrecords: TFRecordSource | None = None,
    bit_depth: int = 8,
    image_size: tuple[int, int] | None = None,
    with_rows: bool = False,
) -> Any:
    """Batches of ``images (B, H, W, 1) float32`` over all ``count`` rows in row order, no
    augmentation; with ``with_rows``, batches of ``(images, rows (B,) int64)``.

    From ``tfrecords`` the order is the shard order, so ``with_rows=True`` is required
    (use ``rows`` to put predictions back in table order).
    """
    if tfrecords is not None and not with_rows:
        raise ValueError("eval_dataset over TFRecords needs with_rows=True")
    if tfrecords is not None:
        pairs = _records(tfrecords).map(
            lambda data, row: (
                _decode_bytes(data, bit_depth=bit_depth, image_size=image_size),
                row,
            ),
            num_parallel_calls=_AUTOTUNE,
            deterministic=True,
        )
    else:
        pairs = _source(
            np.arange(count),
            ImageSource(paths=paths, images=images, bit_depth=bit_depth, image_size=image_size),
        )
    if not with_rows:
        pairs = pairs.map(lambda image, row: image)
    return pairs.batch(batch_size).prefetch(_AUTOTUNE).with_options(_options())


def _affine_transforms(cfg: AugmentConfig, u: Any, height: Any, width: Any) -> Any:
    """``(B, 8)`` projective transforms (output -> input coordinates) for a random rotation,
    zoom and shift about the image centre; ``u`` is ``(B, 4)`` uniform in [-1, 1]."""
    angle = u[:, 0] * cfg.rotate_degrees * math.pi / 180.0
    zoom = 1.0 + u[:, 1] * cfg.scale
    ty = u[:, 2] * cfg.translate * height
    tx = u[:, 3] * cfg.translate * width
    cy, cx = (height - 1.0) / 2.0, (width - 1.0) / 2.0
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    # input = R/zoom @ (output - centre - shift) + centre
    a0, a1 = cos, -sin
    b0, b1 = sin, cos
    a2 = cx - a0 * (cx + tx) - a1 * (cy + ty)
    b2 = cy - b0 * (cx + tx) - b1 * (cy + ty)
    zeros = tf.zeros_like(a0)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def _uniform_draws(seed: int, step: Any) -> Any:
    """``uniform(salt, shape, low, high)``: stateless uniform values, the same for the same
    ``(seed, step, salt)``, so images and their masks can be given the same transform."""
    base = tf.stack([tf.cast(seed, tf.int64), tf.cast(step, tf.int64)])

    def uniform(salt: int, shape: Any, low: float = 0.0, high: float = 1.0) -> Any:
        return tf.random.stateless_uniform(
            shape, seed=base + tf.constant([0, salt * 1000003], tf.int64), minval=low, maxval=high
        )

    return uniform


def _where(mask: Any, a: Any, b: Any) -> Any:
    return tf.where(tf.reshape(mask, [-1, 1, 1, 1]), a, b)


def _geometry(x: Any, cfg: AugmentConfig, uniform: Any) -> Any:
    """``(B, H, W, C)`` flipped, rotated, zoomed and shifted (black fill) by ``uniform``'s
    draws: the same for the images and the masks of one batch."""
    batch = tf.shape(x)[0]
    height = tf.cast(tf.shape(x)[1], tf.float32)
    width = tf.cast(tf.shape(x)[2], tf.float32)
    if cfg.hflip > 0:
        x = _where(uniform(1, [batch]) < cfg.hflip, tf.reverse(x, axis=[2]), x)
    if cfg.vflip > 0:
        x = _where(uniform(2, [batch]) < cfg.vflip, tf.reverse(x, axis=[1]), x)
    if cfg.rotate_degrees > 0 or cfg.scale > 0 or cfg.translate > 0:
        transforms = _affine_transforms(cfg, uniform(3, [batch, 4], -1.0, 1.0), height, width)
        x = tf.raw_ops.ImageProjectiveTransformV3(
            images=x,
            transforms=transforms,
            output_shape=tf.shape(x)[1:3],
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="CONSTANT",
        )
    return x


def augment_batch(images: Any, cfg: AugmentConfig, *, seed: int, step: Any) -> Any:
    """``(B, H, W, 1) float32 in [0, 1]`` -> the same, randomly flipped, rotated/zoomed/
    shifted (black fill), brightness/contrast/gamma-jittered and cut out, per image.
    Deterministic in ``(seed, step)``."""
    uniform = _uniform_draws(seed, step)
    batch = tf.shape(images)[0]
    height = tf.cast(tf.shape(images)[1], tf.float32)
    width = tf.cast(tf.shape(images)[2], tf.float32)
    x = _geometry(images, cfg, uniform)
    if cfg.contrast > 0:
        factor = tf.reshape(uniform(4, [batch], 1 - cfg.contrast, 1 + cfg.contrast), [-1, 1, 1, 1])
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        x = (x - mean) * factor + mean
    if cfg.brightness > 0:
        x = x + tf.reshape(uniform(5, [batch], -cfg.brightness, cfg.brightness), [-1, 1, 1, 1])
    x = tf.clip_by_value(x, 0.0, 1.0)
    if cfg.gamma > 0:
        gamma = tf.reshape(uniform(6, [batch], 1 - cfg.gamma, 1 + cfg.gamma), [-1, 1, 1, 1])
        x = tf.pow(x + 1e-6, gamma)
    if cfg.cutout > 0:
        ch = tf.maximum(1.0, cfg.cutout_size * height)
        cw = tf.maximum(1.0, cfg.cutout_size * width)
        y0 = uniform(7, [batch]) * (height - ch)
        x0 = uniform(8, [batch]) * (width - cw)
        rows = tf.range(height)[None, :, None]
        cols = tf.range(width)[None, None, :]
        inside = (
            (rows >= y0[:, None, None]) & (rows < (y0 + ch)[:, None, None])
            & (cols >= x0[:, None, None]) & (cols < (x0 + cw)[:, None, None])
        )  # fmt: skip
        apply = (uniform(9, [batch]) < cfg.cutout)[:, None, None]
        x = tf.where((inside & apply)[..., None], 0.0, x)
    return tf.clip_by_value(x, 0.0, 1.0)


def augment_masks(masks: Any, cfg: AugmentConfig, *, seed: int, step: Any) -> Any:
    """``(B, H, W, 1)`` masks given the flips, rotation, zoom and shift that
    :func:`augment_batch` gives their images for the same ``(seed, step)`` (no intensity
    change; a cut-out lesion stays a lesion)."""
    return _geometry(masks, cfg, _uniform_draws(seed, step))
