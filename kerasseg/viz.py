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
    rows = [[(images[row], "image"),
             (overlay(images[row], truths[row], color=(0.1, 0.8, 0.2)), "ground truth"),
             (overlay(images[row], predictions[row]), "prediction"
              + (f" (Dice {scores[row]:.3f})" if scores is not None else ""))]
            for row in range(len(images))]
    return save_panel_grid(path, rows)


def save_panel_grid(path, rows, panel_size=(2.2, 2.2), fontsize=8):
    """Writes a PNG grid of titled pictures.

    Args:
        path: the PNG file to write.
        rows: a list of rows, each a list of (picture, title); pictures are
            (H, W, 3) uint8 or floats in [0, 1].
        panel_size: (width, height) of one panel in inches.
        fontsize: title font size.

    Returns:
        `path`.
    """
    columns = max(len(row) for row in rows)
    figure = _figure(panel_size[0] * columns, panel_size[1] * len(rows))
    axes = figure.subplots(len(rows), columns, squeeze=False)
    for r, row in enumerate(rows):
        for c in range(columns):
            axes[r, c].axis("off")
        for c, (picture, title) in enumerate(row):
            picture = np.asarray(picture)
            if picture.dtype == np.uint8:
                picture = picture / 255.0
            axes[r, c].imshow(np.clip(picture, 0, 1))
            axes[r, c].set_title(title, fontsize=fontsize)
    figure.tight_layout()
    return save_figure(figure, path)


def save_figure(figure, path):
    """Writes a figure as a PNG that kerasseg marks as its own, atomically."""
    from kerasseg.outputs import save_figure as save

    return save(figure, path)


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def save_training_curves(path, log):
    """Writes a PNG of the loss and of each metric per epoch, training and validation.

    Args:
        path: the PNG file to write.
        log: a list of per-epoch dicts such as {"epoch": 0, "loss": ...,
            "dice": ..., "val_loss": ..., "val_dice": ...} (a run's log.csv).

    Returns:
        `path`.
    """
    names = [k for k in log[0] if k not in ("epoch", "learning_rate") and not k.startswith("val_")]
    figure = _figure(3.2 * len(names), 2.8)
    axes = figure.subplots(1, len(names), squeeze=False)[0]
    epochs = [int(row.get("epoch", i)) + 1 for i, row in enumerate(log)]
    for axis, name in zip(axes, names):
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            values = [row.get(key) for row in log]
            if any(v is not None for v in values):
                axis.plot(epochs, [float("nan") if v is None else v for v in values], label=label)
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("epoch", fontsize=8)
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    return save_figure(figure, path)


def save_score_distribution(path, scores, title="per-image Dice", groups=None):
    """Writes a PNG histogram of per-image scores, one colour per group if given.

    Args:
        path: the PNG file to write.
        scores: per-image values in [0, 1].
        title: the plot title.
        groups: optional per-image group names (e.g. PH2 diagnoses).

    Returns:
        `path`.
    """
    scores = np.asarray(scores, np.float64)
    figure = _figure(5.0, 3.2)
    axis = figure.subplots()
    bins = np.linspace(0, 1, 41)
    if groups is None:
        axis.hist(scores, bins=bins)
    else:
        groups = np.asarray(groups)
        names = sorted(set(groups.tolist()))
        axis.hist([scores[groups == g] for g in names], bins=bins, stacked=True, label=names)
        axis.legend(fontsize=7)
    axis.set_title(f"{title}: mean {scores.mean():.3f}, median {np.median(scores):.3f}",
                   fontsize=9)
    axis.set_xlabel(title, fontsize=8)
    axis.set_ylabel("images", fontsize=8)
    figure.tight_layout()
    return save_figure(figure, path)
