"""ISIC 2018 Task 1, lesion boundary segmentation (Codella et al. 2019; Tschandl et al. 2018).

Dermoscopy images from many clinics and devices with clinicians' lesion
masks, CC BY-NC 4.0. Official layout, one pair of folders per challenge part:

    ISIC2018_Task1-2_Training_Input/ISIC_NNNNNNN.jpg
    ISIC2018_Task1_Training_GroundTruth/ISIC_NNNNNNN_segmentation.png   (0 skin, 255 lesion)

and the same with `Validation` or `Test` for the challenge's other parts.
ROOT is the folder holding them (or a folder holding isic2018/). kerasseg's
"train"/"val" split the training part (seeded, 20% val); "challenge-val" and
"challenge-test" read the official parts where a copy has them.

Images of a real copy are 540x722 up to 6,748x4,499: JPEGs are decoded at a
reduced scale close to the training size (Pillow's draft mode) and the
pipeline caches them at training size, so each large file is read once.
"""

import os

import numpy as np

from kerasseg.data import splits
from kerasseg.data.records import DataError, Record, read_mask

# kerasseg split -> the challenge part it reads.
PARTS = {"train": "Training", "val": "Training", "all": "Training",
         "challenge-val": "Validation", "challenge-test": "Test"}
SPLITS = tuple(PARTS)


def folders(part):
    """(images folder, masks folder) names of a challenge part ("Training", "Validation", "Test")."""
    return f"ISIC2018_Task1-2_{part}_Input", f"ISIC2018_Task1_{part}_GroundTruth"


def _base(root, part):
    images, _ = folders(part)
    for candidate in (root, os.path.join(root, "isic2018")):
        if os.path.isdir(os.path.join(candidate, images)):
            return candidate
    raise DataError(f"{root}: no ISIC 2018 {part} part here: expected {images}/ and "
                    f"{folders(part)[1]}/ (the challenge's own layout)")


def records(root, part="Training"):
    """Every image of a challenge part with its mask, sorted by id.

    An image without its mask raises DataError naming the mask.
    """
    base = _base(root, part)
    images, masks = (os.path.join(base, folder) for folder in folders(part))
    found = []
    for file_name in sorted(os.listdir(images)):
        stem, extension = os.path.splitext(file_name)
        if extension.lower() not in (".jpg", ".jpeg", ".png") or not stem.startswith("ISIC_"):
            continue  # the official folders also hold LICENSE.txt and ATTRIBUTION.txt
        mask = os.path.join(masks, f"{stem}_segmentation.png")
        if not os.path.isfile(mask):
            raise DataError(f"{mask}: lesion mask of {file_name} not found")
        found.append(Record(stem, os.path.join(images, file_name), mask))
    if not found:
        raise DataError(f"{images}: no ISIC_*.jpg images")
    return found


def split_records(root, split, val_fraction=0.2, seed=0):
    """The records of a kerasseg split (see `SPLITS`)."""
    if split not in PARTS:
        raise ValueError(f"unknown ISIC 2018 split {split!r}; choose one of {', '.join(SPLITS)}")
    found = records(root, PARTS[split])
    if split.startswith("challenge-"):
        return found
    return splits.train_val(found, split, val_fraction, seed, dataset="ISIC 2018")


def read_lesion_mask(record):
    """The lesion mask as (H, W) uint8 0/1; DataError naming the file for other values."""
    mask = read_mask(record.mask)
    values = np.unique(mask)
    if not set(values.tolist()) <= {0, 255}:
        raise DataError(f"{record.mask}: an ISIC lesion mask holds 0 and 255 only, got values "
                        f"{values[:10].tolist()}")
    return (mask > 0).astype(np.uint8)
