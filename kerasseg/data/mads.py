"""Segmentation Full Body MADS (Kaggle): person masks from martial-arts and dance videos.

Layout: ROOT/segmentation_full_body_mads_dataset_1192_img/{images,masks}/X.png
(ROOT may be that folder itself), listed by the dataset's own index df.csv
(columns: index, images, masks, collages). Frames are 512x384.

Names read ACTIVITY_SEQUENCE_CAMERA_FRAME (e.g. HipHop_HipHop1_C0_00180).
Neighbouring frames are near-identical, so the train/val split assigns whole
sequences (all cameras, all frames) to one side: no frame has a near-copy
across the split.
"""

import csv
import os

import numpy as np

from kerasseg.data import splits
from kerasseg.data.records import DataError, Record, read_mask, require_files

FOLDER = "segmentation_full_body_mads_dataset_1192_img"
SPLITS = splits.SPLITS


def _base(root):
    for candidate in (os.path.join(root, FOLDER), root):
        if os.path.isdir(os.path.join(candidate, "images")):
            return candidate
    raise DataError(f"{root}: no MADS layout here: expected {FOLDER}/images and masks")


def sequence_of(name):
    """The sequence a frame belongs to: "HipHop_HipHop1_C0_00180" -> "HipHop_HipHop1"."""
    parts = name.split("_")
    return "_".join(parts[:2]) if len(parts) >= 4 else name


def records(root, manifest=None):
    """Image/mask records from the manifest, grouped by sequence.

    Args:
        root: the dataset folder, or the folder holding it.
        manifest: path of df.csv; defaults to df.csv in the dataset folder or
            beside it. Without one, every images/X.png with a masks/X.png.

    Returns:
        A list of `Record` in manifest order. A listed file that is absent
        raises DataError naming it.
    """
    base = _base(root)
    if manifest is None:
        for candidate in (os.path.join(base, "df.csv"), os.path.join(os.path.dirname(base), "df.csv")):
            if os.path.isfile(candidate):
                manifest = candidate
                break
    if manifest is None:
        pairs = [(f"images/{f}", f"masks/{f}") for f in sorted(os.listdir(os.path.join(base, "images")))
                 if f.endswith(".png")]
    else:
        with open(manifest, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows or not {"images", "masks"} <= set(rows[0]):
            raise DataError(f"{manifest}: expected 'images' and 'masks' columns")
        pairs = [(row["images"], row["masks"]) for row in rows]
    found = []
    for image, mask in pairs:
        name = os.path.splitext(os.path.basename(image))[0]
        image_path, mask_path = os.path.join(base, image), os.path.join(base, mask)
        require_files(name, image=image_path, mask=mask_path)
        found.append(Record(name, image_path, mask_path, group=sequence_of(name)))
    if not found:
        raise DataError(f"{base}: no image/mask pairs")
    return found


def split_records(all_records, split, val_fraction=0.2, seed=0):
    """Train/val by whole sequences: a sequence's frames all land on one side."""
    return splits.train_val(all_records, split, val_fraction, seed, dataset="MADS")


def read_person_mask(record):
    """Person = 1: masks stored as 0/255 (or 0/1) become 0/1."""
    mask = read_mask(record.mask)
    return (mask > (127 if mask.max(initial=0) > 1 else 0)).astype(np.uint8)


def load(root, split="train", image_size=(384, 512), batch_size=None, shuffle=None, augment=None,
         cache=True, seed=0, val_fraction=0.2, manifest=None, on_error="raise"):
    """MADS as a tf.data pipeline of (image, person mask).

    Args:
        root: the dataset folder, or the folder holding it.
        split: "train", "val" or "all".
        image_size: int or (height, width); defaults to the frames' 384x512.
        batch_size, augment, cache, seed, on_error: as for
            `kerasseg.data.pipeline.build_dataset`.
        shuffle: defaults to True for "train".
        val_fraction: share of sequences kept for "val".
        manifest: path of df.csv, if not in the usual place.

    Returns:
        A `tf.data.Dataset` of (float32 image in [0, 1], uint8 mask (h, w, 1)).
    """
    from kerasseg.data.pipeline import build_dataset

    chosen = split_records(records(root, manifest), split, val_fraction=val_fraction, seed=seed)
    return build_dataset(chosen, read_person_mask, image_size=image_size, allowed_values=(0, 1),
                         batch_size=batch_size,
                         shuffle=split == "train" if shuffle is None else shuffle,
                         augment=augment, cache=cache, seed=seed, on_error=on_error,
                         upright=True)
