"""Joint image/mask augmentation on the TensorFlow graph, seeded and stateless.

Geometry moves image and mask together (the mask always by nearest
neighbour, so class ids stay class ids); colour touches the image only. Every
random draw comes from a per-example seed, so a pipeline built with the same
seed yields the same augmented examples, epoch after epoch, run after run.
"""

import math

import tensorflow as tf


class Augmentation:
    """A joint augmentation; call it on (image, mask, seed).

    Args:
        flip: random horizontal and vertical flips.
        rotate90: random multiples of 90 degrees (180 only, for non-square images).
        max_rotation: largest random rotation in degrees (0 for none).
        max_shift: largest random translation, as a fraction of the size.
        scale_range: (smallest, largest) zoom-in factor of the random crop that
            is resized back to full size; (1, 1) for none.
        brightness: largest random brightness change (0 for none).
        contrast: largest relative contrast change (0 for none).
        saturation: largest relative saturation change (0 for none).
        hue: largest hue shift, in turns of the colour wheel (0 for none).

    Example:
    >>> augment = Augmentation(max_rotation=0.0)
    >>> image, mask = augment(tf.zeros((8, 8, 3)), tf.zeros((8, 8, 1), tf.uint8), [1, 2])
    """

    def __init__(self, flip=True, rotate90=True, max_rotation=10.0, max_shift=0.05,
                 scale_range=(1.0, 1.25), brightness=0.1, contrast=0.15, saturation=0.15,
                 hue=0.02):
        if not 1.0 <= scale_range[0] <= scale_range[1]:
            raise ValueError(f"Augmentation: scale_range must be (low, high) with 1 <= low <= high, got {scale_range}")
        self.flip, self.rotate90 = flip, rotate90
        self.max_rotation, self.max_shift = float(max_rotation), float(max_shift)
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        self.brightness, self.contrast = float(brightness), float(contrast)
        self.saturation, self.hue = float(saturation), float(hue)

    def __call__(self, image, mask, seed):
        """Augments one float image in [0, 1] (H, W, 3) and its uint8 mask (H, W, 1)."""
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=10)
        if self.flip:
            image, mask = _maybe(seeds[0], tf.image.flip_left_right, image, mask)
            image, mask = _maybe(seeds[1], tf.image.flip_up_down, image, mask)
        if self.rotate90:
            square = image.shape[0] is not None and image.shape[0] == image.shape[1]
            k = tf.random.stateless_uniform((), seeds[2], 0, 4 if square else 2, tf.int32)
            k = k if square else 2 * k
            image, mask = tf.image.rot90(image, k), tf.image.rot90(mask, k)
        if self.max_rotation or self.max_shift:
            image, mask = self._affine(image, mask, seeds[3], seeds[4])
        if self.scale_range[1] > 1.0:
            image, mask = self._scale_crop(image, mask, seeds[5])
        if self.brightness:
            image = tf.image.stateless_random_brightness(image, self.brightness, seeds[6])
        if self.contrast:
            image = tf.image.stateless_random_contrast(image, 1 - self.contrast, 1 + self.contrast, seeds[7])
        if self.saturation:
            image = tf.image.stateless_random_saturation(image, 1 - self.saturation,
                                                         1 + self.saturation, seeds[8])
        if self.hue:
            image = tf.image.stateless_random_hue(image, self.hue, seeds[9])
        return tf.clip_by_value(image, 0.0, 1.0), mask

    def _affine(self, image, mask, angle_seed, shift_seed):
        size = tf.cast(tf.shape(image)[:2], tf.float32)
        angle = tf.random.stateless_uniform((), angle_seed, -1.0, 1.0) * self.max_rotation * math.pi / 180
        shift = tf.random.stateless_uniform((2,), shift_seed, -1.0, 1.0) * self.max_shift * size
        # Rotation about the centre, then a shift; the op wants the inverse map
        # (output pixel -> input pixel) as 8 projective parameters.
        cy, cx = (size[0] - 1) / 2, (size[1] - 1) / 2
        cos, sin = tf.cos(angle), tf.sin(angle)
        transform = tf.stack([
            cos, -sin, cx - cos * cx + sin * cy - shift[1],
            sin, cos, cy - sin * cx - cos * cy - shift[0],
            0.0, 0.0,
        ])[None]
        shape = tf.shape(image)[:2]

        def warp(x, interpolation):
            out = tf.raw_ops.ImageProjectiveTransformV3(
                images=tf.cast(x, tf.float32)[None], transforms=transform, output_shape=shape,
                fill_value=0.0, interpolation=interpolation, fill_mode="REFLECT")[0]
            return tf.cast(out, x.dtype)

        return warp(image, "BILINEAR"), warp(mask, "NEAREST")

    def _scale_crop(self, image, mask, seed):
        seeds = tf.random.experimental.stateless_split(seed, num=2)
        low, high = self.scale_range
        side = 1.0 / tf.random.stateless_uniform((), seeds[0], low, high)
        corner = tf.random.stateless_uniform((2,), seeds[1], 0.0, 1.0) * (1.0 - side)
        box = tf.stack([corner[0], corner[1], corner[0] + side, corner[1] + side])[None]
        shape = tf.shape(image)[:2]

        def crop(x, method):
            out = tf.image.crop_and_resize(tf.cast(x, tf.float32)[None], box, [0], shape, method=method)[0]
            return tf.cast(out, x.dtype)

        return crop(image, "bilinear"), crop(mask, "nearest")


def _maybe(seed, transform, image, mask):
    flip = tf.random.stateless_uniform((), seed) < 0.5
    return (tf.cond(flip, lambda: transform(image), lambda: image),
            tf.cond(flip, lambda: transform(mask), lambda: mask))
