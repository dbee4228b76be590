"""Prediction on files: any image size in, a mask at the image's own size out, plus an overlay.

Images are read and predicted a few at a time, so memory stays bounded over
folders of thousands; an unreadable file is reported and skipped, the rest go on.
"""

import os
import sys

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def image_files(inputs):
    """The image files named by `inputs` (files, or folders scanned one level), in order."""
    found = []
    for item in [inputs] if isinstance(inputs, str) else inputs:
        if os.path.isdir(item):
            found += sorted(os.path.join(item, f) for f in os.listdir(item)
                            if f.lower().endswith(IMAGE_EXTENSIONS))
        elif os.path.isfile(item):
            found.append(item)
        else:
            raise ValueError(f"{item}: no such file or folder")
    if not found:
        raise ValueError(f"no images found in {', '.join([inputs] if isinstance(inputs, str) else inputs)}")
    return found


def predict(segmenter, inputs, out_dir, tta=False, threshold=0.5, overlays=True, batch_size=8,
            progress=True):
    """Writes `<name>_mask.png` (and `<name>_overlay.png`) for every image.

    Args:
        segmenter: a `kerasseg.segmenter.Segmenter` (see `kerasseg.segmenter.load`).
        inputs: an image file or folder, or a list of them.
        out_dir: output folder, created if missing.
        tta: average over horizontal and vertical flips.
        threshold: foreground threshold for binary models.
        overlays: also write the image with the mask tinted on it.
        batch_size: images per model call.
        progress: show a progress bar on stderr.

    Returns:
        A dict: "written" (mask paths) and "failed" ([(file, reason)]).
    """
    from kerasseg.data.records import read_image
    from kerasseg.progress import Progress
    from kerasseg.segmenter import classes_from, resize_probabilities
    from kerasseg.viz import overlay

    files = image_files(inputs)
    os.makedirs(out_dir, exist_ok=True)
    bar = Progress(len(files), f"predict {segmenter.name}", enabled=progress)
    written, failed = [], []
    run = segmenter.probabilities_tta if tta else segmenter.probabilities
    for start in range(0, len(files), batch_size):
        batch = []
        for path in files[start:start + batch_size]:
            try:
                batch.append((path, read_image(path)))
            except Exception as error:  # noqa: BLE001 (one bad file must not stop the rest)
                failed.append((path, str(error)))
                print(f"skipped {path}: {error}", file=sys.stderr)
                bar.update()
        if not batch:
            continue
        probabilities = run(np.stack([segmenter.resize_in(image) for _, image in batch]))
        for (path, image), probability in zip(batch, probabilities):
            mask = classes_from(resize_probabilities(probability, image.shape[:2]), threshold)
            stem = os.path.splitext(os.path.basename(path))[0]
            mask_path = os.path.join(out_dir, f"{stem}_mask.png")
            # Binary masks are written 0/255 so they can be seen; class ids otherwise.
            picture = mask * 255 if segmenter.num_classes == 1 else mask
            Image.fromarray(picture.astype(np.uint8)).save(mask_path)
            if overlays:
                tinted = (overlay(image, mask > 0) * 255).round().astype(np.uint8)
                Image.fromarray(tinted).save(os.path.join(out_dir, f"{stem}_overlay.png"))
            written.append(mask_path)
            bar.update()
    return {"written": written, "failed": failed}
