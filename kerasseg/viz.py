"""Pictures a person would rather look at than numbers: mask overlays and comparison grids.

Uses matplotlib's object API with the Agg canvas, so it changes no global
matplotlib state and needs no display.
"""

import numpy as np


def overlay(image, mask, color=(1.0, 0.15, 0.1), alpha=0.45):
    """Tints the pixels of `mask` on `image`.

    Args:
        image: (H, W, 3) float in [0, 1] or uint8.
        mask: (H, W) or (H, W, 1) of 0/1 or booleans.
        color: RGB tint in [0, 1].
        alpha: tint strength.

    Returns:
        An (H, W, 3) float32 image in [0, 1].
    """
    image = np.asarray(image, np.float32)
    if image.max() > 1.0:
        image = image / 255.0
    mask = np.asarray(mask).reshape(image.shape[:2]).astype(bool)
    out = image.copy()
    out[mask] = (1 - alpha) * out[mask] + alpha * np.asarray(color, np.float32)
    return np.clip(out, 0, 1)


def save_comparison_grid(path, images, truths, predictions, scores=None):
    """Writes a PNG of rows image | ground truth | prediction, one row per example.

    Args:
        path: the PNG file to write.
        images: sequence of (H, W, 3) images in [0, 1].
        truths: sequence of (H, W[, 1]) ground-truth masks.
        predictions: sequence of (H, W[, 1]) predicted masks.
        scores: optional per-example Dice values shown over the prediction.

    Returns:
        `path`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = len(images)
    figure = Figure(figsize=(6.6, 2.2 * rows), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, 3, squeeze=False)
    for row in range(rows):
        panels = (
            (images[row], "image"),
            (overlay(images[row], truths[row], color=(0.1, 0.8, 0.2)), "ground truth"),
            (overlay(images[row], predictions[row]), "prediction"
             + (f" (Dice {scores[row]:.3f})" if scores is not None else "")),
        )
        for column, (picture, title) in enumerate(panels):
            axes[row, column].imshow(np.clip(picture, 0, 1))
            axes[row, column].set_title(title, fontsize=8)
            axes[row, column].axis("off")
    figure.tight_layout()
    figure.savefig(path)
    return path
