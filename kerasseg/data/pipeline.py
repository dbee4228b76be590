"""Records to batches: decode and resize once, cache, shuffle, augment, batch.

Two loaders read the same records through the same reader and augmentation:
tf.data (under TensorFlow, and wherever export or TFDS need it) and Grain (on
JAX, where TensorFlow need not be installed). Decoding and resizing run in
Pillow (parallel calls; Pillow releases the GIL while it decodes), then the
small arrays are cached, so augmentation and later epochs never touch the
files again.
"""

import functools
import math
import os
import warnings

import numpy as np

from kerasseg.data.records import DataError, load_pair

ON_ERROR = ("raise", "skip")
LOADERS = ("tf.data", "grain")


def data_error(error):
    """The DataError a file raised inside a pipeline, from the TensorFlow error carrying it.

    tf.numpy_function wraps it in a long traceback; this gives back the one
    line that names the file (None if `error` carries no DataError).
    """
    import re

    found = re.search(r"DataError: (.+)", getattr(error, "message", str(error)))
    return DataError(found.group(1).strip()) if found else None


def default_loader():
    """tf.data under Keras' TensorFlow backend, Grain under the others."""
    import keras

    return "tf.data" if keras.backend.backend() == "tensorflow" else "grain"


def build_dataset(records, mask_reader, image_size=256, allowed_values=None, batch_size=None,
                  shuffle=False, augment=None, cache=True, seed=0, on_error="raise",
                  drop_remainder=False, upright=False, skipped=None, loader=None, epochs=1,
                  targets=None):
    """A tf.data or Grain pipeline of (image, mask) pairs from records.

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
        cache: tf.data: keep decoded, resized examples in memory after the
            first pass (Grain always does, reading them all when built).
        seed: seed of the shuffle and the augmentation.
        on_error: "raise" to stop at the first bad file with a DataError
            naming it, "skip" to leave bad pairs out with a warning.
        drop_remainder: drop the last partial batch.
        upright: whether the examples have an up (see `Augmentation`): a
            bool, or a callable(record) -> bool for a mixture.
        skipped: with on_error="skip", a list to which each skipped pair is
            added as {"id", "image", "error"} when it is first read.
        loader: "tf.data", "grain", or None for the Keras backend's own
            (`default_loader`).
        epochs: Grain only: the epochs the dataset holds one after the other,
            each in its own order with its own augmentation (tf.data reshuffles
            at each pass instead); its `epoch(n)` starts at epoch n.
        targets: None, or a NumPy callable(mask) -> float32 (h, w, C) that turns
            each (augmented) mask into what the model learns from, e.g.
            `kerasseg.instances.targets` for instance ids.

    Returns:
        tf.data: a `tf.data.Dataset` of (image float32 in [0, 1] of shape
        (h, w, 3), mask uint8 class ids of shape (h, w, 1)), batched if asked.
        Grain: a `grain.MapDataset` of the same, with `per_epoch` (batches per
        epoch) and `epoch(n)`; every file is read when it is built (a bad one
        raises DataError here, named).
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    loader = loader or default_loader()
    if loader not in LOADERS:
        raise ValueError(f"loader must be one of {LOADERS}, got {loader!r}")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a whole number, at least 1, got {epochs!r}")
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

    if loader == "grain":
        return _grain_dataset(load, len(records), image_size, batch_size, shuffle, augment, seed,
                              drop_remainder, epochs, targets)
    return _tf_dataset(load, len(records), height, width, batch_size, shuffle, augment, cache,
                       seed, on_error, drop_remainder, targets)


def _tf_dataset(load, count, height, width, batch_size, shuffle, augment, cache, seed, on_error,
                drop_remainder, targets):
    import tensorflow as tf

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

    dataset = tf.data.Dataset.range(count)
    dataset = dataset.map(load_tf, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if on_error == "skip":
        dataset = dataset.filter(lambda image, mask, ok, example_up: ok)
    dataset = dataset.map(lambda image, mask, ok, example_up: (image, mask, example_up))
    if cache:
        dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=True)
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
    if targets is not None:
        channels = targets(np.zeros((1, 1, 1), np.uint8)).shape[-1]

        def targets_tf(image, mask):
            made = tf.numpy_function(targets, [mask], tf.float32, stateful=False)
            made.set_shape((height, width, channels))
            return image, made

        dataset = dataset.map(targets_tf, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if batch_size:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _grain_dataset(load, count, image_size, batch_size, shuffle, augment, seed, drop_remainder,
                   epochs, targets):
    from concurrent.futures import ThreadPoolExecutor

    from kerasseg.progress import Progress

    examples = []
    progress = Progress(count, "read", enabled=count >= 200)
    with ThreadPoolExecutor(min(16, os.cpu_count() or 1)) as pool:
        for example in pool.map(load, range(count)):
            examples.append(example)
            progress.update()
    kept = [example for example in examples if example[2]]
    if not kept:
        raise DataError("no readable image/mask pairs (every one was skipped)")
    if image_size is None and batch_size and len({e[0].shape for e in kept}) > 1:
        raise ValueError("images of different sizes cannot be batched: give an image_size")
    images = [e[0] for e in kept] if image_size is None else np.stack([e[0] for e in kept])
    masks = [e[1] for e in kept] if image_size is None else np.stack([e[1] for e in kept])
    ups = np.array([bool(e[3]) for e in kept])
    return _batches_class()(images, masks, ups, batch_size, shuffle, augment, seed,
                            drop_remainder, epochs, targets)


@functools.lru_cache(maxsize=4)
def _order(seed, epoch, count):
    return np.random.default_rng([seed, epoch]).permutation(count)


@functools.cache
def _batches_class():
    """The class of Grain pipelines, made on first use: Grain is imported only then."""
    try:
        import grain
    except ImportError:
        raise ImportError('the Grain loader needs the grain package: pip install '
                          '"kerasseg[grain]"') from None

    class Batches(grain.MapDataset):
        """Cached examples as a Grain dataset: element j is batch j % per_epoch of epoch
        j // per_epoch, in that epoch's order with that epoch's augmentation.

        Each element depends on (seed, epoch, example) alone, so any number of
        reading threads gives the same batches in the same order, and a run
        resumed at epoch n (`epoch(n)`) sees what it would have seen.
        """

        def __init__(self, images, masks, ups, batch_size, shuffle, augment, seed,
                     drop_remainder, epochs, targets=None):
            super().__init__()
            self.targets = targets
            self.images, self.masks, self.ups = images, masks, ups
            self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
            self.seed, self.epochs = seed, epochs
            size = batch_size or 1
            self.per_epoch = (len(ups) // size if drop_remainder or not batch_size
                              else math.ceil(len(ups) / size))
            if self.per_epoch == 0:
                raise DataError(f"{len(ups)} examples make no whole batch of {batch_size} "
                                "(drop_remainder)")

        def __len__(self):
            return self.per_epoch * self.epochs

        def __str__(self):
            return (f"Batches({len(self.ups)} examples, batch_size={self.batch_size}, "
                    f"epochs={self.epochs})")

        def epoch(self, first):
            """The dataset from the start of epoch `first` (0-based) to the end."""
            return self[first * self.per_epoch:]

        def _example(self, epoch, index):
            image = np.asarray(self.images[index], np.float32) / 255.0
            mask = np.asarray(self.masks[index])[..., None]
            if self.augment is not None:
                image, mask = self.augment(image, mask, [self.seed, epoch, int(index)],
                                           bool(self.ups[index]))
            if self.targets is not None:
                mask = self.targets(mask)
            return image, mask

        def __getitem__(self, index):
            if isinstance(index, slice):
                return self.slice(index)
            # Grain's convention: an index past the end wraps (repeat() relies on it).
            epoch, step = divmod(int(index) % len(self), self.per_epoch)
            size = self.batch_size or 1
            chosen = (_order(self.seed, epoch, len(self.ups)) if self.shuffle
                      else np.arange(len(self.ups)))[step * size:(step + 1) * size]
            pairs = [self._example(epoch, i) for i in chosen]
            if not self.batch_size:
                return pairs[0]
            return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])

    return Batches
