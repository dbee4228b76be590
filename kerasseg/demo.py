"""`kerasseg demo`: the whole job, end to end, on built-in synthetic data.

Builds a small U-Net, trains it on generated lesion images (about a minute on
two CPU cores), scores it in inference mode on held-out images and writes an
overlay picture, the model and a report. Nothing is downloaded.
"""

import json
import os
import time

import numpy as np


def run_demo(out_dir="runs/demo", epochs=10, image_size=96, train_count=384, test_count=64,
             batch_size=16, seed=0, verbose=1):
    """Trains and evaluates a small U-Net on synthetic lesions; writes results to `out_dir`.

    Args:
        out_dir: folder for `overlay.png`, `model.keras`, `report.json` and
            `report.md`; created if missing.
        epochs: training epochs.
        image_size: height and width of the images (a multiple of 8).
        train_count: number of training images.
        test_count: number of held-out images.
        batch_size: training batch size.
        seed: seed of the data and the weights.
        verbose: Keras verbosity (1 shows a progress bar).

    Returns:
        The report as a dict, with the held-out "dice" and "iou".
    """
    import keras

    from kerasseg import losses, metrics
    from kerasseg.data.synthetic import lesions
    from kerasseg.models import unet
    from kerasseg.viz import save_comparison_grid

    os.makedirs(out_dir, exist_ok=True)
    keras.utils.set_random_seed(seed)
    train_images, train_masks = lesions(train_count, image_size, seed=seed)
    test_images, test_masks = lesions(test_count, image_size, seed=seed + 1)

    model = unet(input_shape=(image_size, image_size, 3), num_classes=1, filters=8, depth=3,
                 name="demo_unet")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=losses.get("bce+dice"),
                  metrics=[metrics.Dice()])
    start = time.perf_counter()
    history = model.fit(train_images, train_masks, batch_size=batch_size, epochs=epochs,
                        verbose=verbose)
    train_seconds = time.perf_counter() - start

    # Inference mode, as a user would run it: this is what must score well.
    logits = model.predict(test_images, batch_size=32, verbose=0)
    dice, iou = metrics.Dice(), metrics.IoU()
    for metric in (dice, iou):
        metric.update_state(test_masks, logits)
    predicted = (logits > 0).astype(np.uint8)
    per_image = _per_image_dice(test_masks, predicted)

    save_comparison_grid(os.path.join(out_dir, "overlay.png"), test_images[:6], test_masks[:6],
                         predicted[:6], scores=per_image[:6])
    model.save(os.path.join(out_dir, "model.keras"))
    report = {
        "model": model.name,
        "params": int(model.count_params()),
        "data": f"synthetic lesions, {image_size}x{image_size}, {train_count} train / "
                f"{test_count} held-out, seed {seed}",
        "epochs": epochs,
        "train_seconds": round(train_seconds, 1),
        "final_train_loss": float(history.history["loss"][-1]),
        "dice": float(dice.result()),
        "iou": float(iou.result()),
        "mean_image_dice": float(np.mean(per_image)),
    }
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(_markdown(report))
    return report


def _per_image_dice(truths, predictions):
    truths = truths.reshape(len(truths), -1).astype(bool)
    predictions = predictions.reshape(len(predictions), -1).astype(bool)
    overlap = (truths & predictions).sum(axis=1)
    total = truths.sum(axis=1) + predictions.sum(axis=1)
    return np.where(total > 0, 2 * overlap / np.maximum(total, 1), 1.0)


def _markdown(report):
    return (
        "# kerasseg demo\n\n"
        f"{report['model']} ({report['params']:,} parameters) on {report['data']}; "
        f"{report['epochs']} epochs in {report['train_seconds']} s.\n\n"
        "| held-out metric | value |\n|---|---|\n"
        f"| Dice (all pixels) | {report['dice']:.4f} |\n"
        f"| IoU (all pixels) | {report['iou']:.4f} |\n"
        f"| mean per-image Dice | {report['mean_image_dice']:.4f} |\n"
    )
