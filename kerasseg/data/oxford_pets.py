"""Oxford-IIIT Pet (Parkhi et al., 2012): pet segmentation from trimaps.

Layout: ROOT/images/X.jpg and ROOT/annotations/trimaps/X.png with 1 = pet,
2 = background, 3 = border/unclassified; ROOT/annotations/{trainval,test}.txt
list the official splits. Real copies hold quirks this loader copes with: a
GIF and a PNG with alpha named .jpg (decoded by content, converted to RGB).

Masks:
- mode="binary": pet = 1, background = 0; the border goes where `border`
  says: "pet", "background", or "ignore" (value 255, for `ignore_index=255`).
- mode="trimap": 3 classes, 0 = background, 1 = pet, 2 = border.
"""

import os

import numpy as np

from kerasseg.data.records import DataError, Record, read_mask, require_files

SPLITS = ("trainval", "test", "all")
MODES = ("binary", "trimap")
BORDERS = ("pet", "background", "ignore")
IGNORE = 255


def records(root, split="all"):
    """Image/trimap records of one split, sorted by name.

    Args:
        root: the folder holding images/ and annotations/.
        split: "trainval", "test" (the lists in annotations/) or "all" (every
            image with a trimap).

    Returns:
        A list of `Record`. Names listed in a split file whose image or trimap
        is absent raise DataError naming them.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown Oxford-IIIT Pet split {split!r}; choose one of {SPLITS}")
    images_dir = os.path.join(root, "images")
    trimaps_dir = os.path.join(root, "annotations", "trimaps")
    for folder in (images_dir, trimaps_dir):
        if not os.path.isdir(folder):
            raise DataError(f"{folder}: not found; expected the Oxford-IIIT Pet layout under {root}")
    if split == "all":
        names = sorted(os.path.splitext(f)[0] for f in os.listdir(images_dir)
                       if f.lower().endswith((".jpg", ".jpeg", ".png")))
        names = [n for n in names if os.path.isfile(os.path.join(trimaps_dir, f"{n}.png"))]
    else:
        listing = os.path.join(root, "annotations", f"{split}.txt")
        if not os.path.isfile(listing):
            raise DataError(f"{listing}: split list not found")
        with open(listing) as f:
            names = sorted(line.split()[0] for line in f if line.strip() and not line.startswith("#"))
    found = []
    for name in names:
        image = os.path.join(images_dir, f"{name}.jpg")
        trimap = os.path.join(trimaps_dir, f"{name}.png")
        require_files(name, image=image, trimap=trimap)
        found.append(Record(name, image, trimap, meta={"breed": name.rsplit("_", 1)[0]}))
    return found


def mask_reader(mode="binary", border="pet"):
    """A callable(record) -> (H, W) uint8 mask for the chosen mode (see the module doc)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if border not in BORDERS:
        raise ValueError(f"border must be one of {BORDERS}, got {border!r}")
    border_value = {"pet": 1, "background": 0, "ignore": IGNORE}[border] if mode == "binary" else 2
    lookup = np.full(256, 254, np.uint8)      # 254: not a trimap value, caught below
    lookup[1], lookup[2], lookup[3] = 1, 0, border_value

    def read(record):
        trimap = read_mask(record.mask)
        unexpected = sorted(set(np.unique(trimap).tolist()) - {1, 2, 3})
        if unexpected:
            raise DataError(f"{record.mask}: trimap values {unexpected[:10]}; expected only 1, 2, 3")
        return lookup[trimap]

    return read


def load(root, split="trainval", mode="binary", border="pet", image_size=256, batch_size=None,
         shuffle=None, augment=None, cache=True, seed=0, on_error="raise"):
    """Oxford-IIIT Pet as a tf.data pipeline of (image, mask).

    Args:
        root: the folder holding images/ and annotations/.
        split: "trainval", "test" or "all".
        mode: "binary" or "trimap" (see the module doc).
        border: for binary masks, "pet", "background" or "ignore" (255).
        image_size, batch_size, augment, cache, seed, on_error: as for
            `kerasseg.data.pipeline.build_dataset`.
        shuffle: defaults to True for "trainval".

    Returns:
        A `tf.data.Dataset` of (float32 image in [0, 1], uint8 mask (h, w, 1)).
    """
    from kerasseg.data.pipeline import build_dataset

    return build_dataset(records(root, split), mask_reader(mode, border), image_size=image_size,
                         batch_size=batch_size,
                         shuffle=split == "trainval" if shuffle is None else shuffle,
                         augment=augment, cache=cache, seed=seed, on_error=on_error,
                         upright=True)
