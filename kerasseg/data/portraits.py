"""Automatic Portrait Segmentation (Shen et al., Eurographics 2016): Flickr portraits.

Head-and-shoulders photos, one person each, with human-drawn person masks
(the source collection of the EG1800 benchmark; research use only). Layout
of the authors' release:

    images_data_crop/NNNNN.jpg      the aligned portrait crops (600x800 in the release)
    images_mask/NNNNN_mask.mat      MATLAB file holding `mask`: uint8 H x W, 1 = person

ROOT is the folder holding them (or a folder holding portraits/). The set has
no official train/val split of its training list: kerasseg's is seeded (20%
val). Masks are coarse at the hair's edge (a trait of this set).
"""

import os

import numpy as np

from kerasseg.data import splits
from kerasseg.data.records import DataError, Record, read_mat_array


def _base(root):
    for candidate in (root, os.path.join(root, "portraits")):
        if os.path.isdir(os.path.join(candidate, "images_data_crop")):
            return candidate
    raise DataError(f"{root}: no portrait layout here: expected images_data_crop/ and "
                    "images_mask/ (the authors' release)")


def records(root):
    """Every photo with its mask, sorted by name; a missing mask raises DataError naming it."""
    base = _base(root)
    photos = os.path.join(base, "images_data_crop")
    found = []
    for file_name in sorted(os.listdir(photos)):
        stem, extension = os.path.splitext(file_name)
        if extension.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        mask = os.path.join(base, "images_mask", f"{stem}_mask.mat")
        if not os.path.isfile(mask):
            raise DataError(f"{mask}: person mask of {file_name} not found")
        found.append(Record(stem, os.path.join(photos, file_name), mask))
    if not found:
        raise DataError(f"{photos}: no .jpg portraits")
    return found


def split_records(all_records, split, val_fraction=0.2, seed=0):
    """A deterministic train/val split (the release's training list has no official one)."""
    return splits.train_val(all_records, split, val_fraction, seed, dataset="portraits")


def read_person_mask(record):
    """The person mask as (H, W) uint8 0/1; DataError naming the file if it is unusable."""
    mask = read_mat_array(record.mask, "mask")
    if mask.ndim != 2:
        raise DataError(f"{record.mask}: 'mask' must be a 2-D array, got shape {mask.shape}")
    if not set(np.unique(mask).tolist()) <= {0, 1}:
        raise DataError(f"{record.mask}: 'mask' must hold 0 and 1 only, got values "
                        f"{np.unique(mask)[:10].tolist()}")
    return mask.astype(np.uint8)
