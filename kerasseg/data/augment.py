"""Joint image/mask augmentation in NumPy: seeded, stateless, and the same on every loader.

One recipe for every input pipeline: the tf.data pipeline calls it per
example (`tf.numpy_function`), a Grain pipeline as a map transform, each with
that example's own seed, so the same seed gives the same augmented example on
either loader, epoch after epoch, run after run, on any Keras backend. It is
written in NumPy and SciPy rather than in `keras.ops` because `keras.random`
takes no per-example seed tensor (only an int or a stateful SeedGenerator)
and ops bound to the JAX backend cannot run inside a tf.data graph.

Geometry is one affine map per example (flips, rotation, zoom, shift), applied
to the image bilinearly and to the mask by nearest neighbour with the same
coordinates, so class ids stay class ids and the two stay aligned. Colour
touches the image only.

Where an example has an up (people, pets: `Dataset.upright` in the registry)
it is never turned upside down: horizontal flips and small rotations only.
Where it has none (dermoscopy) vertical flips and quarter turns are added.
"""

import functools
import math

import numpy as np


class Augmentation:
    """A joint augmentation; call it on (image, mask, seed, upright).

    The default recipe is chosen for photos of people and pets, which a phone
    sees from head-and-shoulders close-ups to crowds far away: a random
    resized crop that zooms in up to 3x (a full-body photo becomes a
    head-and-shoulders one) and out down to 0.5x (the photo shrunk onto a
    reflected canvas, so people come out small), with colour and gamma wide
    enough for dim and backlit photos. `benchmarks/augmentation.py` measures
    it against `Augmentation.legacy()`.

    Args:
        flip: random horizontal flips (and vertical ones where there is no up).
        max_rotation: largest random rotation in degrees (0 for none); where
            there is no up, random quarter turns come on top (half turns only
            for non-square images).
        zoom: (smallest, largest) zoom factor, drawn log-uniformly: above 1 a
            crop of 1/zoom of the side resized to full size (placed anywhere
            in the image), below 1 the whole image shrunk by that factor onto
            a canvas (placed anywhere on it); (1, 1) for none.
        max_shift: largest extra random translation, as a fraction of the size.
        canvas: what fills the canvas outside the image: "reflect" (the image
            mirrored, the mask with it; above and below an upright example,
            black and background instead, so that no upside-down mirror
            image of a person appears) or "constant" (black, background).
        brightness: largest random brightness change, added (0 for none).
        contrast: largest relative contrast change (0 for none).
        saturation: largest relative saturation change (0 for none).
        hue: largest hue shift, in turns of the colour wheel (0 for none).
        gamma: (smallest, largest) gamma, drawn log-uniformly; above 1
            darkens the shadows (dim photos), below 1 lifts them (backlit
            subjects); (1, 1) for none.
        respect_up: honour each example's up; False treats every example as
            having none (what `legacy()` does).

    Example:
    >>> augment = Augmentation()
    >>> image, mask = augment(np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 1), np.uint8), 7)
    >>> image.shape, mask.dtype
    ((8, 8, 3), dtype('uint8'))
    """

    def __init__(self, flip=True, max_rotation=10.0, zoom=(0.5, 3.0), max_shift=0.05,
                 canvas="reflect", brightness=0.15, contrast=0.35, saturation=0.35, hue=0.04,
                 gamma=(0.6, 1.7), respect_up=True):
        if not 0 < zoom[0] <= zoom[1]:
            raise ValueError(f"Augmentation: zoom must be (smallest, largest) with "
                             f"0 < smallest <= largest, got {zoom}")
        if not 0 < gamma[0] <= gamma[1]:
            raise ValueError(f"Augmentation: gamma must be (smallest, largest) with "
                             f"0 < smallest <= largest, got {gamma}")
        if canvas not in ("reflect", "constant"):
            raise ValueError(f"Augmentation: canvas must be 'reflect' or 'constant', got {canvas!r}")
        for name, value in (("max_rotation", max_rotation), ("max_shift", max_shift),
                            ("brightness", brightness), ("contrast", contrast),
                            ("saturation", saturation), ("hue", hue)):
            if not 0 <= float(value) or not math.isfinite(float(value)):
                raise ValueError(f"Augmentation: {name} must be a finite number >= 0, got {value!r}")
        self.flip, self.respect_up, self.canvas = bool(flip), bool(respect_up), canvas
        self.max_rotation, self.max_shift = float(max_rotation), float(max_shift)
        self.zoom = (float(zoom[0]), float(zoom[1]))
        self.gamma = (float(gamma[0]), float(gamma[1]))
        self.brightness, self.contrast = float(brightness), float(contrast)
        self.saturation, self.hue = float(saturation), float(hue)

    def settings(self):
        """The recipe's arguments as a JSON-able dict (recorded in a run's config.json)."""
        return {"flip": self.flip, "max_rotation": self.max_rotation, "zoom": list(self.zoom),
                "max_shift": self.max_shift, "canvas": self.canvas,
                "brightness": self.brightness, "contrast": self.contrast,
                "saturation": self.saturation, "hue": self.hue, "gamma": list(self.gamma),
                "respect_up": self.respect_up}

    @classmethod
    def legacy(cls):
        """The recipe of kerasseg 0.1, for comparisons: every example as if it had no up
        (vertical flips, quarter turns), zoom in 1-1.25x only, mild colour changes."""
        return cls(max_rotation=10.0, zoom=(1.0, 1.25), max_shift=0.05, brightness=0.1,
                   contrast=0.15, saturation=0.15, hue=0.02, gamma=(1.0, 1.0), respect_up=False)

    def __call__(self, image, mask, seed, upright=True):
        """Augments one example.

        Args:
            image: float (H, W, 3) in [0, 1].
            mask: uint8 (H, W, 1) or (H, W) class ids.
            seed: an int or a sequence of ints (e.g. the pair tf.data draws).
            upright: whether this example has an up.

        Returns:
            (float32 image in [0, 1], uint8 mask), shaped as given.
        """
        rng = np.random.default_rng(entropy(seed))
        image = np.asarray(image, np.float32)
        mask = np.asarray(mask, np.uint8)
        upright = bool(upright) and self.respect_up
        matrix, offset = self._geometry(rng, image.shape[:2], upright)
        image = self._warp(image, matrix, offset, 1, upright)
        mask = self._warp(mask if mask.ndim == 3 else mask[..., None], matrix, offset, 0,
                          upright).reshape(mask.shape)
        return self._colour(rng, image), mask

    def _geometry(self, rng, shape, upright):
        """The map from output (row, col) to input (row, col): input = matrix @ output + offset."""
        height, width = shape
        flip_rows = not upright and self.flip and rng.random() < 0.5
        flip_cols = self.flip and rng.random() < 0.5
        angle = rng.uniform(-1.0, 1.0) * self.max_rotation
        if not upright:
            turns = rng.integers(0, 4) if height == width else 2 * rng.integers(0, 2)
            angle += 90.0 * turns
        zoom = math.exp(rng.uniform(math.log(self.zoom[0]), math.log(self.zoom[1])))
        # The crop (zoom in) stays inside the image; the shrunk image (zoom
        # out) stays inside the canvas; either anywhere that allows.
        room = abs(1.0 / zoom - 1.0) / 2 + self.max_shift
        shift = rng.uniform(-1.0, 1.0, 2) * room * np.array([height, width])
        theta = math.radians(angle)
        rotate = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
        matrix = np.diag([-1.0 if flip_rows else 1.0, -1.0 if flip_cols else 1.0]) @ rotate / zoom
        centre = np.array([height - 1, width - 1]) / 2.0
        offset = centre + shift - matrix @ centre
        return matrix, offset

    def _warp(self, array, matrix, offset, order, upright):
        """`array` (H, W, C) sampled at input = matrix @ output + offset: bilinear for
        order 1, nearest for order 0; outside the image, the canvas."""
        height, width = array.shape[:2]
        rows, cols = _grid(height, width)
        # Python floats keep the arithmetic in float32.
        (a, b), (c, d) = matrix.tolist()
        source_rows = a * rows + b * cols + float(offset[0])
        source_cols = c * rows + d * cols + float(offset[1])
        flat = array.reshape(height * width, -1)

        def gather(rows, cols):
            return np.take(flat, (rows * width + cols).ravel(), axis=0)

        if order == 0:
            out = gather(_fold(np.rint(source_rows), height), _fold(np.rint(source_cols), width))
        else:
            top, left = np.floor(source_rows), np.floor(source_cols)
            down = (source_rows - top).reshape(-1, 1)
            right = (source_cols - left).reshape(-1, 1)
            top, bottom = _fold(top, height), _fold(top + 1, height)
            left, right_col = _fold(left, width), _fold(left + 1, width)
            upper_left = gather(top, left)
            lower_left = gather(bottom, left)
            upper = upper_left + (gather(top, right_col) - upper_left) * right
            lower = lower_left + (gather(bottom, right_col) - lower_left) * right
            out = upper + (lower - upper) * down
        outside = (source_rows < -0.5) | (source_rows > height - 0.5)
        if self.canvas == "constant":
            outside |= (source_cols < -0.5) | (source_cols > width - 0.5)
        if self.canvas == "constant" or upright:
            out[outside.ravel()] = 0
        return out.reshape(array.shape).astype(array.dtype)

    def _colour(self, rng, image):
        draws = rng.uniform(-1.0, 1.0, 4)
        gamma = math.exp(rng.uniform(math.log(self.gamma[0]), math.log(self.gamma[1])))
        if gamma != 1.0:
            image = np.power(np.clip(image, 0.0, 1.0), np.float32(gamma))
        # Brightness, contrast, saturation and hue are affine in RGB: one matrix and one
        # bias do all four.
        delta = draws[0] * self.brightness
        contrast = 1.0 + draws[1] * self.contrast
        saturation = 1.0 + draws[2] * self.saturation
        gray = np.tile(np.array([0.299, 0.587, 0.114]), (3, 1))
        linear = gray + saturation * (np.eye(3) - gray)
        if self.hue:
            linear = _hue_rotation(draws[3] * self.hue * 2 * math.pi) @ linear
        bias = linear @ np.full(3, (1.0 - contrast) * (float(image.mean()) + delta) + contrast * delta)
        image = image @ (contrast * linear).T.astype(np.float32) + bias.astype(np.float32)
        return np.clip(image, 0.0, 1.0).astype(np.float32)


def entropy(seed):
    """An int or a sequence of ints (negative ones too, as tf.data draws them) as the list of
    unsigned words NumPy's generators are seeded with."""
    return np.asarray(seed, np.int64).view(np.uint64).ravel().tolist()


def _fold(index, size):
    """Integer positions folded back into 0..size-1 by mirroring (the edge pixel repeated:
    ... c b a | a b c ... | ... c b a)."""
    index = np.mod(index.astype(np.int32), 2 * size)
    return np.where(index >= size, 2 * size - 1 - index, index)


@functools.lru_cache(maxsize=8)
def _grid(height, width):
    """The (row, col) coordinates of every output pixel, float32 (read-only, cached)."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]]
)
_FROM_YIQ = np.linalg.inv(_TO_YIQ)


def _hue_rotation(angle):
    """The RGB matrix that turns the chroma plane of YIQ by `angle` radians: a hue shift
    that keeps brightness."""
    cos, sin = math.cos(angle), math.sin(angle)
    turn = np.array([[1, 0, 0], [0, cos, -sin], [0, sin, cos]])
    return _FROM_YIQ @ turn @ _TO_YIQ
