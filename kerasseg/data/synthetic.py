"""A synthetic dermoscopy-like dataset, generated with numpy: no download, no files.

Each image is textured skin with a vignette, sometimes crossed by hairs, and
one lesion whose border is an irregular closed curve; the mask is the lesion.
It exists so that `kerasseg demo` and quick experiments run anywhere. It is no
substitute for real data: scores on it say the code works, nothing more.
"""

import numpy as np


def lesions(count, size=64, seed=0):
    """Generates `count` lesion images with their masks.

    Args:
        count: number of image/mask pairs.
        size: height and width in pixels.
        seed: random seed; the same seed gives the same data.

    Returns:
        (images, masks): float32 images in [0, 1] of shape (count, size, size, 3)
        and uint8 masks of 0/1 of shape (count, size, size, 1).

    Example:
    >>> images, masks = lesions(4, size=32)
    >>> images.shape, masks.shape
    ((4, 32, 32, 3), (4, 32, 32, 1))
    """
    if count < 1 or size < 8:
        raise ValueError(f"lesions: need count >= 1 and size >= 8, got count={count}, size={size}")
    rng = np.random.default_rng(seed)
    images = np.empty((count, size, size, 3), np.float32)
    masks = np.empty((count, size, size, 1), np.uint8)
    for i in range(count):
        images[i], masks[i, ..., 0] = _one(rng, size)
    return images, masks


def _smooth_noise(rng, size, cells):
    """Low-frequency noise in about [-1, 1]: a coarse random grid, bilinearly upsampled."""
    grid = rng.uniform(-1, 1, (cells + 1, cells + 1))
    position = np.linspace(0, cells, size)
    low = np.floor(position).astype(int).clip(0, cells - 1)
    frac = position - low
    rows = grid[low] * (1 - frac)[:, None] + grid[low + 1] * frac[:, None]
    return rows[:, low] * (1 - frac)[None, :] + rows[:, low + 1] * frac[None, :]


def _one(rng, size):
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)

    skin = np.array([0.86, 0.66, 0.56]) * rng.uniform(0.9, 1.05)
    image = skin + 0.04 * _smooth_noise(rng, size, 4)[..., None]
    image += rng.normal(0, 0.015, (size, size, 3))
    vignette = ((x - 0.5) ** 2 + (y - 0.5) ** 2) * rng.uniform(0.3, 0.7)
    image -= vignette[..., None]

    cy, cx = rng.uniform(0.35, 0.65, 2)
    radius = rng.uniform(0.14, 0.3)
    angle = np.arctan2(y - cy, x - cx)
    boundary = np.ones_like(angle)
    for k in range(2, 6):
        boundary += rng.uniform(0, 0.1) * np.sin(k * angle + rng.uniform(0, 2 * np.pi))
    distance = np.hypot(y - cy, x - cx) / (radius * boundary)
    mask = distance < 1.0

    # Some lesions are nearly as light as the skin: the hard cases.
    brown = np.array([0.42, 0.27, 0.18]) * rng.uniform(0.6, 1.7)
    core = np.clip(1.0 - distance, 0, 1)[..., None]
    lesion = brown * (1.0 - 0.35 * core) + 0.05 * _smooth_noise(rng, size, 6)[..., None]
    # A soft edge about a pixel wide, as real lesion borders blur.
    alpha = np.clip((1.0 - distance) * radius * size / 1.5, 0, 1)[..., None]
    image = image * (1 - alpha) + lesion * alpha

    for _ in range(rng.integers(0, 4)):
        image = _hair(rng, image, x, y)
    return np.clip(image, 0, 1).astype(np.float32), mask.astype(np.uint8)


def _hair(rng, image, x, y):
    """A thin dark curved line across the image, a common dermoscopy distractor."""
    a, b = rng.uniform(0, 1, 2)
    theta = rng.uniform(0, np.pi)
    bend = rng.uniform(-0.8, 0.8)
    along = (x - a) * np.cos(theta) + (y - b) * np.sin(theta)
    across = -(x - a) * np.sin(theta) + (y - b) * np.cos(theta) - bend * along**2
    width = 0.6 / image.shape[0]
    strength = np.exp(-((across / width) ** 2))[..., None] * 0.7
    return image * (1 - strength) + 0.1 * strength
