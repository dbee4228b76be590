"""Records to a tf.data pipeline: parallel decode and resize, cache, shuffle, augment, batch, prefetch.

Decoding and resizing run in Pillow (parallel map calls; Pillow releases the
GIL while it decodes), then the small arrays are cached, so augmentation and
later epochs never touch the files again.
"""

import warnings

import numpy as np
import tensorflow as tf

from kerasseg.data.records import DataError, load_pair

ON_ERROR = ("raise", "skip")


def data_error(error):
    """The DataError a file raised inside a pipeline, from the TensorFlow error carrying it.

    tf.numpy_function wraps it in a long traceback; this gives back the one
    line that names the file (None if `error` carries no DataError).
    """
    import re

    found = re.search(r"DataError: (.+)", getattr(error, "message", str(error)))
    return DataError(found.group(1).strip()) if found else None


def build_dataset(records, mask_reader, image_size=256, allowed_values=None, batch_size=None,
                  shuffle=False, augment=None, cache=True, seed=0, on_error="raise",
                  drop_remainder=False, upright=False, skipped=None):
    """A tf.data pipeline of (image, mask) pairs from records.

    Args:
        records: a list of `Record`.
        mask_reader: callable(record) -> (H, W) uint8 class ids.
        image_size: an int, (height, width), or None to keep each file's size
            (then batch_size must be None unless all sizes agree).
        allowed_values: mask values the dataset may hold; others are errors.
        batch_size: None for single examples.
        shuffle: shuffle the examples (each epoch, seeded).
        augment: None, or a NumPy callable(image, mask, seed, upright) ->
            (image, mask) such as `kerasseg.data.Augmentation()`.
        cache: keep decoded, resized examples in memory after the first pass.
        seed: seed of the shuffle and the augmentation.
        on_error: "raise" to stop at the first bad file with a DataError
            naming it, "skip" to leave bad pairs out with a warning.
        drop_remainder: drop the last partial batch.
        upright: whether the examples have an up (see `Augmentation`): a
            bool, or a callable(record) -> bool for a mixture.
        skipped: with on_error="skip", a list to which each skipped pair is
            added as {"id", "image", "error"} when it is first read.

    Returns:
        A `tf.data.Dataset` of (image float32 in [0, 1] of shape (h, w, 3),
        mask uint8 class ids of shape (h, w, 1)), batched if asked.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    if not records:
        raise DataError("no image/mask pairs found")
    records = list(records)
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    height, width = image_size if image_size is not None else (None, None)
    up = np.array([bool(upright(r)) if callable(upright) else bool(upright) for r in records])

    def load(index):
        record = records[int(index)]
        try:
            image, mask = load_pair(record, mask_reader, image_size, allowed_values)
            return image, mask, True, up[int(index)]
        except DataError as error:
            if on_error == "raise":
                raise
            warnings.warn(f"skipping {record.id}: {error}", stacklevel=1)
            if skipped is not None:
                skipped.append({"id": record.id, "image": record.image, "error": str(error)})
            shape = image_size or (1, 1)
            return np.zeros((*shape, 3), np.uint8), np.zeros(shape, np.uint8), False, False

    def load_tf(index):
        image, mask, ok, example_up = tf.numpy_function(
            load, [index], (tf.uint8, tf.uint8, tf.bool, tf.bool), stateful=False)
        image.set_shape((height, width, 3))
        mask = tf.expand_dims(mask, -1)
        mask.set_shape((height, width, 1))
        return image, mask, ok, example_up

    def augment_tf(image, mask, example_up, example_seed):
        image, mask = tf.numpy_function(augment, [image, mask, example_seed, example_up],
                                        (tf.float32, tf.uint8), stateful=False)
        image.set_shape((height, width, 3))
        mask.set_shape((height, width, 1))
        return image, mask

    dataset = tf.data.Dataset.range(len(records))
    dataset = dataset.map(load_tf, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if on_error == "skip":
        dataset = dataset.filter(lambda image, mask, ok, example_up: ok)
    dataset = dataset.map(lambda image, mask, ok, example_up: (image, mask, example_up))
    if cache:
        dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(len(records), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda image, mask, example_up: (tf.cast(image, tf.float32) / 255.0,
                                                           mask, example_up))
    if augment is None:
        dataset = dataset.map(lambda image, mask, example_up: (image, mask))
    else:
        # One seed per example, new each epoch, the same sequence each run.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip(dataset, seeds).map(
            lambda example, example_seed: augment_tf(*example, example_seed),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if batch_size:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE)
