"""Evaluation: per-image and aggregate Dice, IoU, pixel accuracy, sensitivity and specificity,
and for binary masks ISIC's thresholded Jaccard.

Each image is scored twice: at the model's resolution (image and mask resized
as in training) and at the image's own resolution (the probabilities upsampled
to it, compared with the original mask). Binary masks score the foreground;
multi-class masks average the scores of the foreground classes 1..C-1.
"""

import concurrent.futures

import numpy as np
from PIL import Image

METRICS = ("dice", "iou", "accuracy", "sensitivity", "specificity", "thresholded_jaccard")
# ISIC 2018's challenge metric: an image's Jaccard counts as 0 below this (a
# segmentation a clinician would redo), so the mean rewards reliable masks.
JACCARD_FLOOR = 0.65


def scores(truth, prediction, num_classes=2, ignore_index=None):
    """The five metrics of one predicted mask against its truth.

    Args:
        truth: (H, W) class ids.
        prediction: (H, W) class ids.
        num_classes: 2 for binary (foreground = 1), else the class count.
        ignore_index: a truth value left out of every count.

    Returns:
        A dict of the `METRICS`. A class absent from both truth and prediction
        scores Dice and IoU 1; sensitivity is NaN when the truth has no
        foreground and specificity NaN when it has no background.
        "thresholded_jaccard" is the IoU, or 0 where it is below
        `JACCARD_FLOOR` (its mean over images is ISIC's challenge metric);
        NaN for multi-class masks, for which ISIC defines none.
    """
    truth = np.asarray(truth).reshape(-1)
    prediction = np.asarray(prediction).reshape(-1)
    if truth.shape != prediction.shape:
        raise ValueError(f"truth has {truth.size} pixels but the prediction {prediction.size}")
    if ignore_index is not None:
        keep = truth != ignore_index
        truth, prediction = truth[keep], prediction[keep]
    per_class = []
    for c in range(1, max(num_classes, 2)):
        t, p = truth == c, prediction == c
        tp = np.count_nonzero(t & p)
        fp = np.count_nonzero(~t & p)
        fn = np.count_nonzero(t & ~p)
        tn = t.size - tp - fp - fn
        per_class.append({
            "dice": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0,
            "iou": tp / (tp + fp + fn) if tp + fp + fn else 1.0,
            "sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
            "specificity": tn / (tn + fp) if tn + fp else float("nan"),
        })
    result = {k: float(np.mean([c[k] for c in per_class])) for k in per_class[0]}
    result["accuracy"] = float(np.mean(truth == prediction)) if truth.size else float("nan")
    iou = result["iou"]
    result["thresholded_jaccard"] = (
        (iou if iou >= JACCARD_FLOOR else 0.0) if num_classes <= 2 else float("nan"))
    return {k: result[k] for k in METRICS}


def evaluate(segmenter, records, mask_reader, tta=False, threshold=0.5, batch_size=8,
             progress=True, allowed_values=None, on_error="raise"):
    """Scores a segmenter on records at the model's and at the original resolution.

    Args:
        segmenter: a `kerasseg.segmenter.Segmenter`.
        records: `kerasseg.data.Record`s (e.g. `sources.source(...).records`).
        mask_reader: callable(record) -> (H, W) class ids.
        tta: average the probabilities over horizontal and vertical flips.
        threshold: foreground threshold for binary models.
        batch_size: images per model call (memory stays bounded by it).
        progress: show a progress bar on stderr.
        allowed_values: mask values the dataset may hold.
        on_error: "raise" to stop at the first unreadable image or mask (a
            DataError naming it), "skip" to score the others.

    Returns:
        The report dict: the original-resolution means as top-level `dice`,
        `iou`, `accuracy`, `sensitivity`, `specificity`; then
        `original_resolution` and `model_resolution` (mean and std),
        `per_group` (e.g. PH2 diagnoses) and `per_image`; "images" is the
        number scored, "images_found" the number of records, "skipped" the
        pairs left out ({"id", "image", "error"}).
    """
    from kerasseg.data.records import DataError, load_pair
    from kerasseg.progress import Progress
    from kerasseg.segmenter import classes_from, mask_at

    if not records:
        raise ValueError("nothing to evaluate: no records")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    check_threshold(threshold)
    num_classes = max(segmenter.num_classes, 2)
    if allowed_values is not None and num_classes > max(allowed_values) + 1:
        # The extra classes would only ever count as errors: the scores mean nothing.
        raise ValueError(f"{segmenter.name} predicts {num_classes} classes but these masks hold "
                         f"only {', '.join(str(v) for v in sorted(allowed_values))}: evaluate it "
                         "on data with its classes")
    height, width = segmenter.input_size
    bar = Progress(len(records), f"evaluate {segmenter.name}", enabled=progress)
    per_image = []
    # Over all pixels at the original resolution: rows are truth, columns predictions.
    confusion = np.zeros((num_classes, num_classes), np.int64)
    predict = segmenter.probabilities_tta if tta else segmenter.probabilities

    skipped = []

    def read(record):
        try:
            image, mask = load_pair(record, mask_reader, None, allowed_values)
        except DataError as error:
            if on_error == "raise":
                raise
            skipped.append({"id": record.id, "image": record.image, "error": str(error)})
            return None
        small_mask = np.asarray(Image.fromarray(mask).resize((width, height), Image.NEAREST))
        return record, image, mask, segmenter.resize_in(image), small_mask

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for start in range(0, len(records), batch_size):
            chunk = records[start:start + batch_size]
            batch = [item for item in pool.map(read, chunk) if item]
            if len(batch) < len(chunk):
                bar.update(len(chunk) - len(batch))   # the skipped pairs count as done
            if not batch:
                continue
            probabilities = predict(np.stack([item[3] for item in batch]))
            check_finite(probabilities, segmenter.name, [item[0].image for item in batch])
            for (record, _, mask, _, small_mask), probability in zip(batch, probabilities):
                full = mask_at(probability, mask.shape[:2], threshold)
                small = classes_from(probability, threshold)
                if num_classes > 2:
                    confusion += confusion_matrix(mask, full, num_classes)
                per_image.append({
                    "id": record.id,
                    "group": _group(record),
                    "size": [int(mask.shape[0]), int(mask.shape[1])],
                    "original": scores(mask, full, num_classes),
                    "model": scores(small_mask, small, num_classes),
                })
                bar.update()

    if not per_image:
        raise ValueError(f"nothing to evaluate: all {len(records)} pairs were unreadable, e.g. "
                         f"{skipped[0]['error']}")
    report = {
        **_summary(per_image, "original")["mean"],
        "images": len(per_image),
        "images_found": len(records),
        "skipped": sorted(skipped, key=lambda item: item["id"]),
        "model": segmenter.name,
        "input_size": list(segmenter.input_size),
        "tta": bool(tta),
        "threshold": threshold,
        "original_resolution": _summary(per_image, "original"),
        "model_resolution": _summary(per_image, "model"),
    }
    groups = sorted({str(item["group"]) for item in per_image if item["group"] is not None})
    if groups:
        report["per_group"] = {
            group: {"images": sum(str(i["group"]) == group for i in per_image),
                    **_summary([i for i in per_image if str(i["group"]) == group], "original")}
            for group in groups}
    if num_classes > 2:
        report["classes"] = class_report(confusion)
    report["per_image"] = per_image
    return report


def evaluate_dataset(model, dataset, data_dir, split="val", val_fraction=0.2, seed=0,
                     mask_mode=None, masks_dir=None, mask_suffix="", image_size=256, tta=False,
                     threshold=0.5, instances=False, report_path=None, plot_path=None,
                     progress=True, force=False, on_error="raise"):
    """Scores a model on a registered dataset's split: what `kerasseg evaluate` runs.

    Options and output paths are checked first, so nothing fails after the
    whole evaluation has run.

    Args:
        model: a `.keras` or `.tflite` file, a zoo name or "classic:METHOD".
        dataset: a dataset name or mixture (see `kerasseg.data.sources.source`).
        data_dir: the dataset folder, or a folder holding one named after it.
        split: "train", "val", "test" or "all".
        val_fraction, seed: how "val" is drawn where there is no official split.
        mask_mode: how masks are read (e.g. "parts" for CCP); None for the default.
        masks_dir, mask_suffix: for the "folder" dataset.
        image_size: size to run at when the model has no fixed input size.
        tta: average over flipped copies.
        threshold: foreground probability threshold (binary models).
        instances: also score the model's instances (an instance model's own, a
            semantic model's connected components) against instance ids: a
            dataset that has them (Penn-Fudan), or a mixture with one.
        report_path: write the full report (per image too) as JSON here.
        plot_path: write a PNG of the per-image Dice distribution here.
        progress: show a progress bar on stderr.
        force: replace a report or plot that kerasseg wrote (never another file).
        on_error: "raise" to stop at the first unreadable image or mask, "skip"
            to score the others (the report names the skipped files).

    Returns:
        The report dict of `evaluate`, with "dataset", "split", "data_dir",
        "class_names" and, with `instances`, "instances".

    Example:
    >>> report = evaluate_dataset("unet-ph2", "ph2", "../shared/data")  # doctest: +SKIP
    >>> round(report["dice"], 2)  # doctest: +SKIP
    0.94
    """
    from kerasseg.data.sources import source
    from kerasseg.segmenter import load

    if instances:
        from kerasseg.data.sources import WITH_INSTANCE_IDS, has_instance_ids

        if tta:   # the instance scores would silently be without it
            raise ValueError("--tta and --instances: instances are scored without flipped "
                             "copies (an instance model's centre offsets do not average); "
                             "run --instances without --tta")
        if not has_instance_ids(dataset):
            raise ValueError(f"--instances needs instance ids (several people per image, one id "
                             f"each): {dataset} has none; datasets with them: "
                             f"{', '.join(WITH_INSTANCE_IDS)}")
    from kerasseg import outputs

    if report_path:
        outputs.check_file(report_path, "--report", force, report_reason)
    if plot_path:
        outputs.check_file(plot_path, "--plot", force)
    data = source(dataset, data_dir, split, val_fraction=val_fraction, seed=seed,
                  mask_suffix=mask_suffix, masks_dir=masks_dir, mode=mask_mode)
    segmenter = load(model, image_size=image_size)
    if instances and segmenter.num_classes != 1:
        raise ValueError(f"--instances needs a binary model; {model} predicts "
                         f"{segmenter.num_classes} classes")
    report = evaluate(segmenter, data.records, data.mask_reader, tta=tta, threshold=threshold,
                      allowed_values=data.allowed_values, progress=progress, on_error=on_error)
    report.update(dataset=dataset, split=split, data_dir=data_dir,
                  class_names=list(data.class_names))
    if instances:
        # In a mixture, the datasets without ids read each photo's person as one instance.
        data = source(dataset, data_dir, split, val_fraction=val_fraction, seed=seed,
                      mode="instances")
        report["instances"] = evaluate_instances(segmenter, data.records, data.mask_reader,
                                                 threshold=threshold, progress=progress)
    if report_path:
        write_report(report, report_path)
    if plot_path:
        from kerasseg.viz import save_score_distribution

        save_score_distribution(plot_path, [i["original"]["dice"] for i in report["per_image"]],
                                groups=[str(i["group"]) for i in report["per_image"]]
                                if report.get("per_group") else None)
    return report


def confusion_matrix(truth, prediction, num_classes):
    """(num_classes, num_classes) pixel counts: rows are truth, columns predictions.

    Truth values outside 0..num_classes-1 (e.g. an ignore value) are left out.
    """
    truth = np.asarray(truth).reshape(-1).astype(np.int64)
    prediction = np.asarray(prediction).reshape(-1).astype(np.int64)
    keep = truth < num_classes
    counts = np.bincount(truth[keep] * num_classes + prediction[keep],
                         minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def class_report(confusion):
    """Per-class IoU over all pixels, their mean, and the confusion that fails most.

    Returns:
        {"iou": [per class], "mean_iou", "confusion": row-normalised matrix
        (share of each true class's pixels given to each predicted class),
        "worst_confusion": {"truth", "prediction", "share"}: the largest
        off-diagonal share}.
    """
    confusion = np.asarray(confusion, np.float64)
    tp = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - tp
    iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    rows = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
    off = rows.copy()
    np.fill_diagonal(off, -1)
    truth, prediction = np.unravel_index(np.argmax(off), off.shape)
    return {"iou": [None if np.isnan(v) else round(float(v), 4) for v in iou],
            "mean_iou": round(float(np.nanmean(iou)), 4),
            "confusion": [[round(float(v), 4) for v in row] for row in rows],
            "worst_confusion": {"truth": int(truth), "prediction": int(prediction),
                                "share": round(float(off[truth, prediction]), 4)}}


def check_threshold(threshold):
    """ValueError unless `threshold` is a probability strictly between 0 and 1."""
    if not 0.0 < float(threshold) < 1.0:  # NaN fails this too
        raise ValueError(f"threshold {threshold} is not a probability between 0 and 1 "
                         "(exclusive): nothing or everything would be foreground")


def check_finite(probabilities, name, files):
    """ValueError if a model's output for one of `files` holds NaN or infinity (its weights
    are broken): thresholded, NaN is background everywhere and would pass for a prediction."""
    finite = np.isfinite(np.asarray(probabilities).reshape(len(files), -1)).all(axis=1)
    if not finite.all():
        first = files[int(np.argmin(finite))]
        raise ValueError(f"{name} outputs NaN or infinite values for {first}: its weights are "
                         "broken, e.g. saved from a diverged training run; its "
                         "scores would mean nothing")


def _group(record):
    # A mixture groups by dataset, PH2 by diagnosis, MADS by sequence; elsewhere the
    # group is the id itself.
    if "dataset" in record.meta:
        return record.meta["dataset"]
    if "diagnosis" in record.meta:
        return record.meta["diagnosis"]
    return record.group if record.group != record.id else None


def _summary(per_image, where):
    values = {m: np.array([item[where][m] for item in per_image], np.float64) for m in METRICS}
    return {
        "mean": {m: _finite(np.nanmean(v)) if np.isfinite(v).any() else None
                 for m, v in values.items()},
        "std": {m: _finite(np.nanstd(v)) if np.isfinite(v).any() else None
                for m, v in values.items()},
    }


def _finite(value):
    return round(float(value), 6)


def markdown(report, title=None):
    """The report as a Markdown table (both resolutions, and per group if any)."""
    skipped = report.get("skipped") or []
    lines = [f"### {title or report['model']}: {report['images']} images"
             + (" (flip TTA)" if report.get("tta") else ""), ""]
    if skipped:
        lines += [f"Means over {report['images']} of {report['images_found']} images: "
                  f"{len(skipped)} unreadable and skipped ("
                  + ", ".join(item["image"] for item in skipped[:3])
                  + (", ..." if len(skipped) > 3 else "") + ").", ""]
    lines += [f"| metric | original resolution | model resolution ({report['input_size'][0]}x"
              f"{report['input_size'][1]}) |", "|---|---|---|"]
    for metric in METRICS:
        cells = []
        for where in ("original_resolution", "model_resolution"):
            mean, std = report[where]["mean"][metric], report[where]["std"][metric]
            cells.append("n/a" if mean is None else f"{mean:.4f} ± {std:.4f}")
        lines.append(f"| {metric} | {cells[0]} | {cells[1]} |")
    if report.get("classes"):
        classes = report["classes"]
        names = report.get("class_names") or [str(i) for i in range(len(classes["iou"]))]
        lines += ["", "| class | IoU (all pixels) |", "|---|---|"]
        lines += [f"| {name} | {'n/a' if iou is None else f'{iou:.4f}'} |"
                  for name, iou in zip(names, classes["iou"])]
        worst = classes["worst_confusion"]
        lines += [f"| mean | {classes['mean_iou']:.4f} |", "",
                  f"Most confused: {worst['share']:.1%} of {names[worst['truth']]} pixels "
                  f"predicted as {names[worst['prediction']]}."]
    if report.get("instances"):
        found = report["instances"]
        lines += ["", f"Instances ({found['method']}): mask AP {found['ap']:.3f}, AP50 "
                      f"{found['ap50']:.3f}, AP75 {found['ap75']:.3f}, PQ {found['pq']:.3f} "
                      f"(SQ {found['sq']:.3f}, RQ {found['rq']:.3f}); at IoU >= "
                      f"{found['iou_threshold']}: {found['matched']}/{found['true']} true matched, "
                      f"precision {found['precision']:.3f}, recall {found['recall']:.3f}."]
        if found.get("per_dataset"):
            lines += ["", "| dataset | images | mask AP | AP50 | AP75 | PQ |",
                      "|---|---|---|---|---|---|"]
            lines += [f"| {name} | {part['images']} | {part['ap']:.3f} | {part['ap50']:.3f} | "
                      f"{part['ap75']:.3f} | {part['pq']:.3f} |"
                      for name, part in found["per_dataset"].items()]
    if report.get("per_group"):
        lines += ["", "| group | images | Dice | IoU |", "|---|---|---|---|"]
        for group, summary in report["per_group"].items():
            lines.append(f"| {group} | {summary['images']} | {summary['mean']['dice']:.4f} | "
                         f"{summary['mean']['iou']:.4f} |")
    return "\n".join(lines) + "\n"


def report_reason(path):
    """None if `path` is an evaluation report that kerasseg wrote, else why not (what --force asks)."""
    from kerasseg import outputs

    # Reports written before they carried a format key are recognised by their keys.
    return outputs.json_reason("evaluation", ("model", "images", "per_image"))(path)


def write_report(report, path):
    """Writes the report as JSON (NaN written as null), atomically."""
    from kerasseg import outputs

    def clean(value):
        if isinstance(value, float) and not np.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return outputs.write_json(path, clean(report), kind="evaluation")


INSTANCE_METRICS = ("ap", "ap50", "ap75", "pq", "sq", "rq")


def evaluate_instances(segmenter, records, instance_reader, min_size=50, iou_threshold=0.5,
                       threshold=0.5, progress=True):
    """Predicted instances against true instance ids.

    An instance model's own instances (`Segmenter.instances`); for a semantic
    model, each connected component of the thresholded mask, scored by its mean
    foreground probability, so that both stand in one table.

    Args:
        segmenter: a binary `kerasseg.segmenter.Segmenter`.
        records: records whose masks hold instance ids (e.g. Penn-Fudan's).
        instance_reader: callable(record) -> (H, W) instance ids.
        min_size: predicted regions smaller than this many pixels are dropped.
        iou_threshold: IoU at which a predicted and a true instance match (precision,
            recall, mean IoU; AP and PQ use their own thresholds).
        threshold: foreground threshold.
        progress: show a progress bar on stderr.

    Returns:
        A dict: "ap", "ap50", "ap75", "pq", "sq", "rq" (`kerasseg.instances.InstanceScores`),
        the pooled "precision"/"recall" of one-to-one matches, the mean over images of
        `kerasseg.instances.match`'s "mean_iou", "method" and "per_image"; for the
        records of a mixture, "per_dataset": {dataset: {"images", "true", "predicted",
        "ap", ... "rq"}}.
    """
    from kerasseg import instances
    from kerasseg.data.records import load_pair
    from kerasseg.progress import Progress
    from kerasseg.litert import resize

    if segmenter.num_classes != 1:
        raise ValueError("instance evaluation needs a binary model (one foreground channel)")
    bar = Progress(len(records), f"instances {segmenter.name}", enabled=progress)
    per_image = []
    pooled = instances.InstanceScores()
    # A mixture's parts are scored apart too: one photo of one person is not a crowd.
    parts = {}
    for record in records:
        image, true_ids = load_pair(record, instance_reader)
        if segmenter.task == "instances":
            predicted, found = segmenter.instances(image, threshold=threshold, min_size=min_size)
            scores = {item["id"]: item["score"] for item in found}
        else:
            probability = resize(segmenter.probabilities(segmenter.resize_in(image)[None])[0],
                                 true_ids.shape)[..., 0]
            predicted = instances.from_semantic(probability > threshold, min_size)
            scores = {int(i): float(probability[predicted == i].mean())
                      for i in np.unique(predicted) if i}
        pooled.update(true_ids, predicted, scores)
        if "dataset" in record.meta:
            parts.setdefault(record.meta["dataset"], instances.InstanceScores()).update(
                true_ids, predicted, scores)
        result = instances.match(true_ids, predicted, iou_threshold)
        per_image.append({"id": record.id, **result})
        bar.update()
    totals = {k: sum(item[k] for item in per_image) for k in ("true", "predicted", "matched")}
    found = pooled.result()
    return {
        "method": ("the instance model's centres and offsets" if segmenter.task == "instances"
                   else "connected components of the semantic mask"),
        "images": len(per_image),
        "iou_threshold": iou_threshold,
        "min_size": min_size,
        **{k: found[k] for k in INSTANCE_METRICS},
        **totals,
        "precision": totals["matched"] / totals["predicted"] if totals["predicted"] else 0.0,
        "recall": totals["matched"] / totals["true"] if totals["true"] else 0.0,
        "mean_iou": float(np.mean([item["mean_iou"] for item in per_image])),
        **({"per_dataset": {name: {k: part.result()[k] for k in ("images", "true", "predicted",
                                                                 *INSTANCE_METRICS)}
                            for name, part in parts.items()}} if parts else {}),
        "per_image": per_image,
    }
