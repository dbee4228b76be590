"""Prediction on files: any image size in, a mask at the image's own size out, plus an overlay.

Images are read and predicted a few at a time, so memory stays bounded over
folders of thousands; an unreadable file is reported and skipped, the rest go on.
No file in the output folder is replaced without `force`, every input gets
its own output name, and predict's own outputs are never read back as images.
"""

import os
import sys

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# What predict writes: never read back from a folder as an image (a ground-truth
# X_mask.png beside X.jpg is a mask too, not an image to segment).
OUTPUT_SUFFIXES = ("_mask.png", "_overlay.png", "_instances.png")


def image_files(inputs, with_left_out=False):
    """The image files named by `inputs` (files, or folders scanned one level), in order.

    Files named like predict's outputs (`*_mask.png`, `*_overlay.png`) are left
    out of folders; named one by one, they are taken. With `with_left_out`,
    returns (files, left-out files).
    """
    found, left_out = [], []
    for item in [inputs] if isinstance(inputs, str) else inputs:
        if os.path.isdir(item):
            for name in sorted(os.listdir(item)):
                if not name.lower().endswith(IMAGE_EXTENSIONS):
                    continue
                path = os.path.join(item, name)
                (left_out if name.lower().endswith(OUTPUT_SUFFIXES) else found).append(path)
        elif os.path.isfile(item):
            found.append(item)
        else:
            raise ValueError(f"{item}: no such file or folder")
    if not found:
        named = [inputs] if isinstance(inputs, str) else inputs
        raise ValueError(f"no images found in {', '.join(named)}"
                         + (f" (left out {len(left_out)} files named like masks or overlays)"
                            if left_out else ""))
    return (found, left_out) if with_left_out else found


def output_names(files):
    """A distinct output stem per file: its name's stem, with its extension where two share a
    stem (x.jpg, x.png -> x_jpg, x_png), and a number where even that repeats."""
    stems = [os.path.splitext(os.path.basename(path))[0] for path in files]
    counts = {}
    for stem in stems:
        counts[stem.lower()] = counts.get(stem.lower(), 0) + 1
    names, used = [], set()
    for path, stem in zip(files, stems):
        name = stem
        if counts[stem.lower()] > 1:
            name = f"{stem}_{os.path.splitext(path)[1][1:].lower()}"
        base, number = name, 2
        while name.lower() in used:  # case-insensitive file systems see X and x as one
            name, number = f"{base}_{number}", number + 1
        used.add(name.lower())
        names.append(name)
    return names


def plan(inputs, out_dir, overlays=True, force=False, task="semantic"):
    """Checks the inputs and the output folder before any prediction; returns what to write.

    Returns:
        A dict: "files" (the images), "left_out" (files in folders named like
        outputs), "outputs" (per image: (mask path, overlay path or None), or for
        task "instances" (ids PNG path, JSON path, overlay path or None)).
        Raises ValueError naming the problem: an output folder that is a file
        or not writable, or files of it that would be replaced without `force`.
    """
    import tempfile

    files, left_out = image_files(inputs, with_left_out=True)
    # The folder (or the nearest existing one above it) must take files; it is
    # created only when the first mask is written.
    existing = out_dir
    while not os.path.exists(existing) and os.path.dirname(os.path.abspath(existing)) != \
            os.path.abspath(existing):
        existing = os.path.dirname(os.path.abspath(existing))
    if not os.path.isdir(existing):
        raise ValueError(f"--out {out_dir}: " + ("is a file, not a folder" if existing == out_dir
                                                 else f"{existing} is a file, not a folder"))
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise ValueError(f"--out {out_dir}: cannot write there ({error.strerror})") from None
    def paths(name):
        overlay = os.path.join(out_dir, f"{name}_overlay.png") if overlays else None
        if task == "instances":
            return (os.path.join(out_dir, f"{name}_instances.png"),
                    os.path.join(out_dir, f"{name}_instances.json"), overlay)
        return os.path.join(out_dir, f"{name}_mask.png"), overlay

    targets = [paths(name) for name in output_names(files)]
    existing = [path for pair in targets for path in pair if path and os.path.exists(path)]
    if existing and not force:
        shown = ", ".join(os.path.basename(path) for path in existing[:5])
        more = f" and {len(existing) - 5} more" if len(existing) > 5 else ""
        raise ValueError(f"--out {out_dir} already holds {shown}{more}; predict replaces no file "
                         "without --force: choose another --out or add --force")
    from kerasseg.outputs import check_file, json_reason

    for path in existing:   # --force replaces only what kerasseg wrote
        check_file(path, "--out", force=True,
                   ours=json_reason("instances") if path.endswith(".json") else None)
    return {"files": files, "left_out": left_out, "outputs": targets}


def predict(segmenter, inputs, out_dir, tta=False, threshold=0.5, overlays=True, batch_size=8,
            progress=True, force=False):
    """Writes `<name>_mask.png` (and `<name>_overlay.png`) for every image.

    An instance model (`segmenter.task == "instances"`) writes instead
    `<name>_instances.png` (0 none, 1..k; 16-bit past 255 instances),
    `<name>_instances.json` (per instance: id, label, score, box, area, at the
    image's own size) and the overlay with each instance in its own colour.

    `<name>` is the image's name without its extension, made distinct where
    two inputs share it (see `output_names`). Files in `out_dir` are never
    replaced without `force`, and files in folders named like these outputs
    are not read as images.

    Args:
        segmenter: a `kerasseg.segmenter.Segmenter` (see `kerasseg.segmenter.load`).
        inputs: an image file or folder, or a list of them.
        out_dir: output folder, created if missing.
        tta: average over horizontal and vertical flips.
        threshold: foreground threshold for binary models.
        overlays: also write the image with the mask tinted on it.
        batch_size: images per model call.
        progress: show a progress bar on stderr.
        force: replace files already in `out_dir`.

    Returns:
        A dict: "written" (mask paths), "failed" ([(file, reason)]) and
        "left_out" (files in folders named like outputs, not read).
    """
    from kerasseg import outputs
    from kerasseg.data.records import read_image
    from kerasseg.progress import Progress
    from kerasseg.segmenter import mask_at
    from kerasseg.viz import overlay

    from kerasseg.evaluate import check_finite, check_threshold

    check_threshold(threshold)
    instances = segmenter.task == "instances"
    if instances and tta:
        raise ValueError(f"--tta: {segmenter.name} is an instance model; flipped copies of its "
                         "centre offsets do not average (run without --tta)")
    work = plan(inputs, out_dir, overlays, force, segmenter.task)
    files = work["files"]
    os.makedirs(out_dir, exist_ok=True)
    bar = Progress(len(files), f"predict {segmenter.name}", enabled=progress)
    written, failed = [], []
    run = segmenter.probabilities_tta if tta else segmenter.probabilities
    for start in range(0, len(files), batch_size):
        batch = []
        for path, targets in zip(files[start:start + batch_size],
                                 work["outputs"][start:start + batch_size]):
            try:
                batch.append((path, targets, read_image(path)))
            except Exception as error:  # noqa: BLE001 (one bad file must not stop the rest)
                failed.append((path, str(error)))
                print(f"skipped {path}: {error}", file=sys.stderr)
                bar.update()
        if not batch:
            continue
        if instances:
            _write_instances(segmenter, batch, threshold, written)
            bar.update(len(batch))
            continue
        probabilities = run(np.stack([segmenter.resize_in(image) for _, _, image in batch]))
        check_finite(probabilities, segmenter.name, [path for path, _, _ in batch])
        for (path, (mask_path, overlay_path), image), probability in zip(batch, probabilities):
            mask = mask_at(probability, image.shape[:2], threshold)
            # Binary masks are written 0/255 so they can be seen; class ids otherwise.
            picture = mask * 255 if segmenter.num_classes == 1 else mask
            outputs.write_png(mask_path, picture.astype(np.uint8))
            if overlay_path:
                tinted = (overlay(image, mask > 0) * 255).round().astype(np.uint8)
                outputs.write_png(overlay_path, tinted)
            written.append(mask_path)
            bar.update()
    return {"written": written, "failed": failed, "left_out": work["left_out"]}


def _write_instances(segmenter, batch, threshold, written):
    from kerasseg import outputs
    from kerasseg.litert import instance_files

    label = (getattr(segmenter, "labels", None) or ["background", "person"])[-1]
    for path, (ids_path, json_path, overlay_path), image in batch:
        ids, found = segmenter.instances(image, threshold=threshold)
        ids_png, record, tinted = instance_files(image, ids, found, label, segmenter.name, path)
        outputs.write_json(json_path, record, kind="instances")
        outputs.write_png(ids_path, ids_png)
        if overlay_path:
            outputs.write_png(overlay_path, tinted)
        written.append(ids_path)
