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
             batch_size=16, seed=0, verbose=1, data_dir=None):
    """Trains and evaluates a small U-Net on synthetic lesions, exports it to int8 TFLite and
    runs that with LiteRT; with `data_dir`, also compares the zoo's PH2 models on real images.

    Args:
        out_dir: folder for `overlay.png`, `model.keras`, `report.json`,
            `report.md` and the training run (`run/`, as `kerasseg train`
            writes it); created if missing.
        epochs: training epochs.
        image_size: height and width of the images (a multiple of 8).
        train_count: number of training images.
        test_count: number of held-out images.
        batch_size: training batch size.
        seed: seed of the data and the weights.
        verbose: Keras verbosity (1 shows a progress bar).
        data_dir: optional folder holding a PH2 copy (or its parent): the zoo
            models and the Otsu baseline are then scored on its validation
            split, with overlays (`zoo_comparison.png`, `zoo_comparison.md`).

    Returns:
        The report as a dict, with the held-out "dice" and "iou" of the Keras
        model and "tflite_int8_dice" of its int8 export run by LiteRT.
    """
    import keras
    import tensorflow as tf

    from kerasseg import evaluate, metrics
    from kerasseg.data.synthetic import lesions
    from kerasseg.models import unet
    from kerasseg.saving import load_keras_model
    from kerasseg.train import train
    from kerasseg.viz import save_comparison_grid

    os.makedirs(out_dir, exist_ok=True)
    keras.utils.set_random_seed(seed)
    train_images, train_masks = lesions(train_count, image_size, seed=seed)
    test_images, test_masks = lesions(test_count, image_size, seed=seed + 1)

    # The same training path as `kerasseg train`: a run folder in out_dir/run.
    train_data = (tf.data.Dataset.from_tensor_slices((train_images, train_masks))
                  .shuffle(train_count, seed=seed).batch(batch_size))
    start = time.perf_counter()
    result = train(
        lambda: unet(input_shape=(image_size, image_size, 3), num_classes=1, filters=8, depth=3,
                     name="demo_unet"),
        train_data, out_dir=os.path.join(out_dir, "run"), epochs=epochs, loss="bce+dice",
        learning_rate=3e-3, schedule="constant", overwrite=True, verbose=verbose,
        config={"data": f"synthetic lesions, {image_size}x{image_size}, {train_count} images, "
                        f"seed {seed}"})
    train_seconds = time.perf_counter() - start
    model = load_keras_model(result["last"])

    # Inference mode, as a user would run it: this is what must score well.
    logits = model.predict(test_images, batch_size=32, verbose=0)
    dice, iou = metrics.Dice(), metrics.IoU()
    for metric in (dice, iou):
        metric.update_state(test_masks, logits)
    predicted = (logits > 0).astype(np.uint8)
    per_image = [evaluate.scores(truth, prediction)["dice"]
                 for truth, prediction in zip(test_masks, predicted)]

    save_comparison_grid(os.path.join(out_dir, "overlay.png"), test_images[:6], test_masks[:6],
                         predicted[:6], scores=per_image[:6])
    model.save(os.path.join(out_dir, "model.keras"))
    lite = _int8_check(model, train_images, test_images, test_masks, out_dir)
    report = {
        "model": model.name,
        "params": int(model.count_params()),
        "data": f"synthetic lesions, {image_size}x{image_size}, {train_count} train / "
                f"{test_count} held-out, seed {seed}",
        "epochs": epochs,
        "train_seconds": round(train_seconds, 1),
        "final_train_loss": result["history"][-1]["loss"],
        "dice": float(dice.result()),
        "iou": float(iou.result()),
        "mean_image_dice": float(np.mean(per_image)),
        **lite,
    }
    if data_dir:
        report["zoo_comparison"] = compare_zoo(data_dir, out_dir)
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(_markdown(report))
    return report


def _int8_check(model, train_images, test_images, test_masks, out_dir):
    """Exports to full int8 TFLite (calibrated on training images) and scores it with LiteRT."""
    from kerasseg import metrics
    from kerasseg.export import export_tflite
    from kerasseg.litert import TFLiteSegmenter

    path = os.path.join(out_dir, "model_int8.tflite")
    exported = export_tflite(model, path, "int8", representative=train_images[:64],
                             labels=["skin", "lesion"], source_name="demo_unet", force=True)
    probabilities = TFLiteSegmenter(path).probabilities(test_images)
    dice = metrics.Dice(from_logits=False)
    dice.update_state(test_masks, probabilities)
    return {"tflite_int8_bytes": exported["bytes"], "tflite_int8_dice": float(dice.result())}


def compare_zoo(data_dir, out_dir, count=4):
    """Scores the zoo's PH2 models and the Otsu baseline on PH2's validation split.

    Writes `zoo_comparison.md` (Dice and IoU at the images' own size) and
    `zoo_comparison.png` (image, truth and each model's mask for `count`
    images). Returns the table rows as dicts.
    """
    from kerasseg import evaluate, zoo
    from kerasseg.data.records import load_pair
    from kerasseg.data.sources import source
    from kerasseg.segmenter import load
    from kerasseg.viz import overlay, save_panel_grid

    data = source("ph2", data_dir, "val")
    specs = [n for n in zoo.names() if zoo.card(n)["dataset"]["name"] == "ph2"] + ["classic:otsu"]
    rows, pictures = [], {}
    shown = [load_pair(record, data.mask_reader) for record in data.records[:count]]
    for spec in specs:
        segmenter = load(spec)
        report = evaluate.evaluate(segmenter, data.records, data.mask_reader, progress=False)
        rows.append({"model": spec, "images": report["images"], "dice": report["dice"],
                     "iou": report["iou"]})
        pictures[spec] = []
        for image, _ in shown:
            pictures[spec].append(segmenter.segment(image))
    lines = ["| model | PH2 val images | Dice | IoU |", "|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['images']} | {r['dice']:.4f} | {r['iou']:.4f} |" for r in rows]
    with open(os.path.join(out_dir, "zoo_comparison.md"), "w") as f:
        f.write("\n".join(lines) + "\n")

    grid = []
    for row, (record, (image, truth)) in enumerate(zip(data.records, shown)):
        grid.append([(image, record.id), (overlay(image, truth, color=(0.1, 0.8, 0.2)), "truth")]
                    + [(overlay(image, pictures[spec][row]), spec) for spec in specs])
    save_panel_grid(os.path.join(out_dir, "zoo_comparison.png"), grid, panel_size=(2.2, 2.0),
                    fontsize=7)
    return rows


def _markdown(report):
    return (
        "# kerasseg demo\n\n"
        f"{report['model']} ({report['params']:,} parameters) on {report['data']}; "
        f"{report['epochs']} epochs in {report['train_seconds']} s.\n\n"
        "| held-out metric | value |\n|---|---|\n"
        f"| Dice (all pixels) | {report['dice']:.4f} |\n"
        f"| IoU (all pixels) | {report['iou']:.4f} |\n"
        f"| mean per-image Dice | {report['mean_image_dice']:.4f} |\n"
        f"| Dice of the int8 TFLite file, run by LiteRT | {report['tflite_int8_dice']:.4f} |\n"
        + ("\nZoo models on real PH2 validation images:\n\n"
           + "".join(f"- {r['model']}: Dice {r['dice']:.4f}, IoU {r['iou']:.4f}\n"
                     for r in report["zoo_comparison"]) if "zoo_comparison" in report else "")
    )
