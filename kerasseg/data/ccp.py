"""Clothing Co-Parsing (Yang, Luo and Lin, CVPR 2014): street-fashion photos with 59 labels.

Layout as distributed: ROOT/photos/NNNN.jpg, ROOT/annotations/pixel-level/NNNN.mat
(a MATLAB file holding `groundtruth`, an H x W uint8 array of label ids,
0 = background) and ROOT/label_list.mat (the 59 names). Photos with only
image-level tags (annotations/image-level/) are not segmentation pairs and are
left out. ROOT may also be a folder holding ccp/.

Three mask modes:
    "person": 1 wherever any label is (the whole person, clothes included).
    "parts": the 59 labels grouped into `PARTS` (see `PART_OF_LABEL`).
    "labels": the 59 label ids as stored.
"""

import os

import numpy as np

from kerasseg.data import splits
from kerasseg.data.records import DataError, Record, read_mat_array

SPLITS = splits.SPLITS
MODES = ("person", "parts", "labels")

# The names in label_list.mat, by id.
LABELS = (
    "null", "accessories", "bag", "belt", "blazer", "blouse", "bodysuit", "boots", "bra",
    "bracelet", "cape", "cardigan", "clogs", "coat", "dress", "earrings", "flats", "glasses",
    "gloves", "hair", "hat", "heels", "hoodie", "intimate", "jacket", "jeans", "jumper",
    "leggings", "loafers", "necklace", "panties", "pants", "pumps", "purse", "ring", "romper",
    "sandals", "scarf", "shirt", "shoes", "shorts", "skin", "skirt", "sneakers", "socks",
    "stockings", "suit", "sunglasses", "sweater", "sweatshirt", "swimwear", "t-shirt", "tie",
    "tights", "top", "vest", "wallet", "watch", "wedges",
)

# Six parts a phone app can use (background, skin, hair, clothing, shoes,
# accessories). Garments of every kind, legwear included, are "clothing";
# what is carried or worn on top of clothes (bags, belts, glasses, hats,
# jewellery, scarves, ties, gloves) is "accessories".
PARTS = ("background", "skin", "hair", "clothing", "shoes", "accessories")
_PART_MEMBERS = {
    "background": ("null",),
    "skin": ("skin",),
    "hair": ("hair",),
    "clothing": (
        "blazer", "blouse", "bodysuit", "bra", "cape", "cardigan", "coat", "dress", "hoodie",
        "intimate", "jacket", "jeans", "jumper", "leggings", "panties", "pants", "romper",
        "shirt", "shorts", "skirt", "socks", "stockings", "suit", "sweater", "sweatshirt",
        "swimwear", "t-shirt", "tights", "top", "vest",
    ),
    "shoes": ("boots", "clogs", "flats", "heels", "loafers", "pumps", "sandals", "shoes",
              "sneakers", "wedges"),
    "accessories": ("accessories", "bag", "belt", "bracelet", "earrings", "glasses", "gloves",
                    "hat", "necklace", "purse", "ring", "scarf", "sunglasses", "tie", "wallet",
                    "watch"),
}
PART_OF_LABEL = {label: part for part, members in _PART_MEMBERS.items() for label in members}
_PART_LOOKUP = np.array([PARTS.index(PART_OF_LABEL[label]) for label in LABELS], np.uint8)


def _base(root):
    for candidate in (root, os.path.join(root, "ccp")):
        if os.path.isdir(os.path.join(candidate, "annotations", "pixel-level")):
            return candidate
    raise DataError(f"{root}: no Clothing Co-Parsing layout here: expected photos/ and "
                    "annotations/pixel-level/ (the dataset's own layout)")


def records(root):
    """Every photo with a pixel-level annotation, sorted by name.

    A .mat annotation without its photo raises DataError naming the photo.
    """
    base = _base(root)
    annotations = os.path.join(base, "annotations", "pixel-level")
    found = []
    for file_name in sorted(os.listdir(annotations)):
        if not file_name.endswith(".mat"):
            continue
        name = file_name[:-4]
        photo = os.path.join(base, "photos", f"{name}.jpg")
        if not os.path.isfile(photo):
            raise DataError(f"{photo}: photo of annotation {name}.mat not found")
        found.append(Record(name, photo, os.path.join(annotations, file_name)))
    if not found:
        raise DataError(f"{annotations}: no .mat pixel-level annotations")
    return found


def split_records(all_records, split, val_fraction=0.2, seed=0):
    """A deterministic train/val split (the pixel-annotated set has no official one)."""
    return splits.train_val(all_records, split, val_fraction, seed, dataset="CCP")


def read_labels(record):
    """The annotation's (H, W) uint8 label ids; DataError naming the file if it is unusable."""
    labels = read_mat_array(record.mask, "groundtruth")
    if labels.ndim != 2 or labels.max(initial=0) >= len(LABELS) or labels.min(initial=0) < 0:
        raise DataError(f"{record.mask}: 'groundtruth' must be a 2-D array of label ids "
                        f"0..{len(LABELS) - 1}, got shape {labels.shape} with values up to "
                        f"{labels.max(initial=0)}")
    return labels.astype(np.uint8)


def mask_reader(mode="person"):
    """A callable(record) -> (H, W) uint8: person 0/1, part ids (`PARTS`) or label ids."""
    if mode not in MODES:
        raise ValueError(f"CCP mode must be one of {MODES}, got {mode!r}")
    if mode == "labels":
        return read_labels
    if mode == "parts":
        return lambda record: _PART_LOOKUP[read_labels(record)]
    return lambda record: (read_labels(record) > 0).astype(np.uint8)


def load(root, split="train", mode="person", image_size=256, batch_size=None, shuffle=None,
         augment=None, cache=True, seed=0, val_fraction=0.2, on_error="raise"):
    """CCP as a tf.data pipeline of (image, mask).

    Args:
        root: the CCP folder (or a folder holding ccp/).
        split: "train", "val" or "all".
        mode: "person", "parts" or "labels" (see the module doc).
        image_size, batch_size, augment, cache, seed, on_error: as for
            `kerasseg.data.pipeline.build_dataset`.
        shuffle: defaults to True for "train".
        val_fraction: share of photos kept for "val".

    Returns:
        A `tf.data.Dataset` of (float32 image in [0, 1], uint8 mask (h, w, 1)).

    Example:
    >>> from kerasseg.data import ccp
    >>> train = ccp.load("data/ccp", "train", mode="parts", batch_size=8)  # doctest: +SKIP
    """
    from kerasseg.data.pipeline import build_dataset

    values = {"person": (0, 1), "parts": tuple(range(len(PARTS))),
              "labels": tuple(range(len(LABELS)))}
    chosen = split_records(records(root), split, val_fraction=val_fraction, seed=seed)
    return build_dataset(chosen, mask_reader(mode), image_size=image_size,
                         allowed_values=values[mode], batch_size=batch_size,
                         shuffle=split == "train" if shuffle is None else shuffle,
                         augment=augment, cache=cache, seed=seed, on_error=on_error,
                         upright=True)
