"""Penn-Fudan pedestrians (Wang et al., 2007): person masks and instance ids.

Layout of the official zip: ROOT/PennFudanPed/PNGImages/X.png and
ROOT/PennFudanPed/PedMasks/X_mask.png, where 0 is background and 1..k number
the pedestrians. ROOT may also be the PennFudanPed folder itself.

`mode="binary"` gives person = 1; `mode="instances"` keeps the ids for
instance work.
"""

import os

import numpy as np

from kerasseg.data import splits
from kerasseg.data.records import DataError, Record, read_mask, require_files

SPLITS = splits.SPLITS
MODES = ("binary", "instances")


def _base(root):
    for candidate in (os.path.join(root, "PennFudanPed"), os.path.join(root, "pennfudan", "PennFudanPed"), root):
        if os.path.isdir(os.path.join(candidate, "PNGImages")):
            return candidate
    raise DataError(f"{root}: no Penn-Fudan layout here: expected PennFudanPed/PNGImages and PedMasks")


def records(root):
    """Every image with its mask, sorted by name; a missing mask raises DataError naming it."""
    base = _base(root)
    found = []
    for name in sorted(f[:-4] for f in os.listdir(os.path.join(base, "PNGImages")) if f.endswith(".png")):
        mask = os.path.join(base, "PedMasks", f"{name}_mask.png")
        require_files(name, **{"pedestrian mask": mask})
        found.append(Record(name, os.path.join(base, "PNGImages", f"{name}.png"), mask))
    if not found:
        raise DataError(f"{base}/PNGImages: no .png images")
    return found


def split_records(all_records, split, val_fraction=0.2, seed=0):
    """A deterministic train/val split (Penn-Fudan has no official one)."""
    return splits.train_val(all_records, split, val_fraction, seed, dataset="Penn-Fudan")


def mask_reader(mode="binary"):
    """A callable(record) -> (H, W) uint8: person 0/1, or the instance ids."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "instances":
        return lambda record: read_mask(record.mask)
    return lambda record: (read_mask(record.mask) > 0).astype(np.uint8)


def load(root, split="train", mode="binary", image_size=256, batch_size=None, shuffle=None,
         augment=None, cache=True, seed=0, val_fraction=0.2, on_error="raise"):
    """Penn-Fudan as a tf.data pipeline of (image, mask).

    Args:
        root: the folder holding PennFudanPed/ (or PennFudanPed itself).
        split: "train", "val" or "all".
        mode: "binary" (person = 1) or "instances" (ids 1..k).
        image_size, batch_size, augment, cache, seed, on_error: as for
            `kerasseg.data.pipeline.build_dataset`.
        shuffle: defaults to True for "train".
        val_fraction: share of images kept for "val".

    Returns:
        A `tf.data.Dataset` of (float32 image in [0, 1], uint8 mask (h, w, 1)).
    """
    from kerasseg.data.pipeline import build_dataset

    chosen = split_records(records(root), split, val_fraction=val_fraction, seed=seed)
    return build_dataset(chosen, mask_reader(mode), image_size=image_size,
                         allowed_values=(0, 1) if mode == "binary" else None,
                         batch_size=batch_size,
                         shuffle=split == "train" if shuffle is None else shuffle,
                         augment=augment, cache=cache, seed=seed, on_error=on_error,
                         upright=True)
