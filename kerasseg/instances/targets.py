"""What an instance model learns from: per-pixel targets made from an instance-id mask.

The four channels match the model's output (`kerasseg.litert.INSTANCE_CHANNELS`):
foreground (0/1), a centre heatmap (a Gaussian peaking at 1 on the pixel
nearest each instance's centre of mass, the maximum where two overlap), and
each instance pixel's offset to its
instance's centre as fractions of the image's height and width (0 elsewhere; the
loss counts offsets on foreground pixels only). As in Panoptic-DeepLab (Cheng et
al., 2020), grouping is then "which centre does this pixel point to", which
separates people who touch.
"""

import numpy as np

CHANNELS = 4
SIGMA = 0.02


def targets(ids, sigma=SIGMA):
    """(H, W) or (H, W, 1) instance ids (0 background) -> (H, W, 4) float32 targets.

    Args:
        ids: instance ids; each distinct non-zero value is one instance (a binary
            mask is one instance).
        sigma: the heatmap Gaussian's standard deviation, as a fraction of the
            image's longer side (0.02: 4.5 pixels at 224).

    Example:
        >>> ids = np.zeros((8, 8), np.uint8); ids[2:5, 2:5] = 1
        >>> t = targets(ids)
        >>> float(t[3, 3, 1]), float(t[2, 2, 2] * 8), float(t[0, 0, 0])
        (1.0, 1.0, 0.0)
    """
    ids = np.asarray(ids)
    if ids.ndim == 3:
        ids = ids[..., 0]
    height, width = ids.shape
    out = np.zeros((height, width, CHANNELS), np.float32)
    out[..., 0] = ids > 0
    spread = sigma * max(height, width)
    radius = int(np.ceil(3 * spread))
    for value in np.unique(ids[ids > 0]):
        ys, xs = np.nonzero(ids == value)
        # The centre of mass, on the pixel grid: the heatmap's peak is then exactly 1 there,
        # the one positive pixel of the focal loss.
        cy, cx = np.round(ys.mean()), np.round(xs.mean())
        out[ys, xs, 2] = (cy - ys) / height
        out[ys, xs, 3] = (cx - xs) / width
        # The Gaussian only where it is above exp(-4.5): a window of +-3 sigma.
        y0, y1 = max(0, int(cy) - radius), min(height, int(cy) + radius + 1)
        x0, x1 = max(0, int(cx) - radius), min(width, int(cx) + radius + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        gy = np.exp(-((np.arange(y0, y1) - cy) ** 2) / (2 * spread ** 2))
        gx = np.exp(-((np.arange(x0, x1) - cx) ** 2) / (2 * spread ** 2))
        window = out[y0:y1, x0:x1, 1]
        np.maximum(window, np.outer(gy, gx).astype(np.float32), out=window)
    return out
