"""Any folder of images and masks, matched by name.

An image IMAGES/X.jpg pairs with the mask MASKS/X{mask_suffix}.* (any image
extension). Mask values map to class ids by `values`:
- "auto": masks of 0/255 become 0/1; other gray or palette values stay as they are;
- {raw_value: class_id}: gray or palette masks, every value must be listed;
- {(r, g, b): class_id}: colour masks, every colour must be listed.
"""

import os
import warnings

import numpy as np

from kerasseg.data.records import DataError, Record, read_color_mask, read_mask

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif")


def records(images_dir, masks_dir, mask_suffix="", on_error="raise"):
    """Pairs every image with its mask by name.

    Args:
        images_dir: folder of images.
        masks_dir: folder of masks (may be the same folder).
        mask_suffix: what the mask's name adds to the image's (e.g. "_mask").
        on_error: "raise" for a DataError naming the first image without a
            mask, or "skip" to leave it out with a warning.

    Returns:
        A list of `Record` sorted by name.
    """
    for folder in (images_dir, masks_dir):
        if not os.path.isdir(folder):
            raise DataError(f"{folder}: folder not found")
    masks = {}
    for name in os.listdir(masks_dir):
        stem, ext = os.path.splitext(name)
        if ext.lower() in IMAGE_EXTENSIONS:
            masks[stem] = os.path.join(masks_dir, name)
    found = []
    for name in sorted(os.listdir(images_dir)):
        stem, ext = os.path.splitext(name)
        if ext.lower() not in IMAGE_EXTENSIONS or (mask_suffix and stem.endswith(mask_suffix)):
            continue
        if os.path.abspath(images_dir) == os.path.abspath(masks_dir) and not mask_suffix:
            raise DataError(f"{images_dir}: images and masks share a folder; give mask_suffix")
        mask = masks.get(f"{stem}{mask_suffix}")
        if mask is None:
            problem = f"{os.path.join(images_dir, name)}: no mask named {stem}{mask_suffix}.* in {masks_dir}"
            if on_error == "raise":
                raise DataError(problem)
            warnings.warn(f"skipping {stem}: {problem}", stacklevel=2)
            continue
        found.append(Record(stem, os.path.join(images_dir, name), mask))
    if not found:
        raise DataError(f"{images_dir}: no images with masks in {masks_dir}")
    return found


def mask_reader(values="auto"):
    """A callable(record) -> (H, W) uint8 class ids for a `values` mapping (see the module doc)."""
    if isinstance(values, dict) and values and all(isinstance(k, tuple) for k in values):
        return lambda record: read_color_mask(record.mask, values)
    if isinstance(values, dict):
        lookup = np.full(256, 255, np.uint8)
        for raw, class_id in values.items():
            lookup[int(raw)] = class_id
        listed = set(int(raw) for raw in values)

        def read_mapped(record):
            mask = read_mask(record.mask)
            unlisted = sorted(set(np.unique(mask).tolist()) - listed)
            if unlisted:
                raise DataError(f"{record.mask}: mask values {unlisted[:10]} are not in the value map")
            return lookup[mask]

        return read_mapped
    if values != "auto":
        raise ValueError(f"values must be 'auto' or a dict, got {values!r}")

    def read_auto(record):
        mask = read_mask(record.mask)
        present = set(np.unique(mask).tolist())
        return (mask // 255).astype(np.uint8) if present <= {0, 255} else mask

    return read_auto


def load(images_dir, masks_dir, mask_suffix="", values="auto", num_classes=None, image_size=256,
         batch_size=None, shuffle=False, augment=None, cache=True, seed=0, on_error="raise"):
    """A folder of images and masks as a tf.data pipeline of (image, mask).

    Args:
        images_dir, masks_dir, mask_suffix: as for `records`.
        values: "auto", {raw: class_id} or {(r, g, b): class_id}.
        num_classes: if set, class ids must be below it (binary: 2).
        image_size, batch_size, shuffle, augment, cache, seed, on_error: as
            for `kerasseg.data.pipeline.build_dataset`.

    Returns:
        A `tf.data.Dataset` of (float32 image in [0, 1], uint8 mask (h, w, 1)).
    """
    from kerasseg.data.pipeline import build_dataset

    allowed = None if num_classes is None else tuple(range(num_classes))
    return build_dataset(records(images_dir, masks_dir, mask_suffix, on_error), mask_reader(values),
                         image_size=image_size, allowed_values=allowed, batch_size=batch_size,
                         shuffle=shuffle, augment=augment, cache=cache, seed=seed, on_error=on_error)
