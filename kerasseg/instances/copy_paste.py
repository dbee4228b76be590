"""Copy-paste augmentation for instance training (Ghiasi et al., CVPR 2021).

People cut from other training photos (each with its own scale, flip and
place, drawn by the same augmentation recipe) are pasted over an example, so
that crowds and people in front of people are seen far more often than
Penn-Fudan's hundred photos show them. A pasted person hides what is under
it: the example's instance-id mask is overwritten there, so an occluded person
keeps only its visible pixels (and its centre moves to them when the targets
are made) and a fully hidden one disappears. No blending: the paper found
that a plain paste does as well.

It wraps the per-example augmentation and keeps its signature, so both
loaders run it unchanged, seeded and stateless like the rest: the same
(seed, example) pastes the same people in the same places on any loader.
"""

import numpy as np

from kerasseg.data.augment import entropy
from kerasseg.data.records import DataError, load_pair


class CopyPaste:
    """An augmentation that pastes people from donor photos; call it on
    (image, mask, seed, upright) like `kerasseg.data.Augmentation`.

    Args:
        donors: (images, masks, ups): uint8 (N, H, W, 3) photos at the training
            size, (N, H, W) instance ids (0 background; a binary mask is one
            person) and (N,) whether each has an up. `from_source` reads them.
        augment: the per-example recipe, applied to the example and, with
            seeds of its own, to each donor (None for none).
        probability: the chance that an example gets people pasted on it.
        max_donors: at most this many donor photos per example (at least one
            when it pastes); of each, a random non-empty subset of its people.

    Example:
    >>> donors = (np.zeros((1, 8, 8, 3), np.uint8), np.ones((1, 8, 8), np.uint8), np.ones(1, bool))
    >>> paste = CopyPaste(donors, augment=None, probability=1.0)
    >>> image, mask = paste(np.ones((8, 8, 3), np.float32), np.zeros((8, 8, 1), np.uint8), 3)
    >>> float(image.max()), int(mask.max())
    (0.0, 1)
    """

    def __init__(self, donors, augment=None, probability=0.5, max_donors=1):
        images, masks, ups = donors
        if not 0.0 <= float(probability) <= 1.0:
            raise ValueError(f"copy-paste probability must be between 0 and 1, got {probability!r}")
        if not isinstance(max_donors, int) or max_donors < 1:
            raise ValueError(f"copy-paste max_donors must be a whole number >= 1, "
                             f"got {max_donors!r}")
        if len(images) == 0:
            raise DataError("copy-paste has no donor photos with people in them")
        if not (images.shape[:3] == masks.shape and len(ups) == len(images)):
            raise ValueError(f"copy-paste donors disagree: images {images.shape}, masks "
                             f"{masks.shape}, {len(ups)} ups")
        self.images, self.masks = images, masks
        self.ups = np.asarray(ups, bool)
        self.augment, self.probability, self.max_donors = augment, float(probability), max_donors

    @classmethod
    def from_source(cls, source, image_size, augment=None, probability=0.5, max_donors=1):
        """The donors of a training split (a `kerasseg.data.sources.Source` read as instance
        ids): every photo that holds a person, at `image_size`. Unreadable pairs are left
        out (the training pipeline reports them)."""
        from concurrent.futures import ThreadPoolExecutor

        from kerasseg.progress import Progress

        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        upright = source.upright

        def read(record):
            try:
                image, mask = load_pair(record, source.mask_reader, size, source.allowed_values)
            except DataError:
                return None
            up = upright(record) if callable(upright) else upright
            return (image, mask, bool(up)) if mask.any() else None

        progress = Progress(len(source.records), "copy-paste donors",
                            enabled=len(source.records) >= 200)
        found = []
        with ThreadPoolExecutor(4) as pool:
            for pair in pool.map(read, source.records):
                progress.update()
                if pair is not None:
                    found.append(pair)
        if not found:
            raise DataError(f"copy-paste: no photo of {source.name} ({source.split}) holds a "
                            "person to paste")
        return cls((np.stack([f[0] for f in found]), np.stack([f[1] for f in found]),
                    np.array([f[2] for f in found])), augment, probability, max_donors)

    def __call__(self, image, mask, seed, upright=True):
        """Augments one example and pastes people on it.

        Args:
            image: float (H, W, 3) in [0, 1], at the donors' size.
            mask: uint8 (H, W, 1) or (H, W) instance ids.
            seed: an int or a sequence of ints.
            upright: whether this example has an up.

        Returns:
            (float32 image in [0, 1], uint8 instance ids), shaped as given; pasted
            people get the ids after the example's own.
        """
        seed = entropy(seed)
        if self.augment is not None:
            image, mask = self.augment(image, mask, seed, upright)
        image = np.array(image, np.float32)
        ids = np.array(mask, np.uint8).reshape(mask.shape[:2])
        if image.shape[:2] != self.images.shape[1:3]:
            raise ValueError(f"copy-paste: the example is {image.shape[1]}x{image.shape[0]}, "
                             f"the donors {self.images.shape[2]}x{self.images.shape[1]}")
        # Its own stream, so that pasting leaves the recipe's draws as they were.
        rng = np.random.default_rng(seed + [0x5EED])
        if rng.random() >= self.probability:
            return image, ids.reshape(np.shape(mask))
        for _ in range(rng.integers(1, self.max_donors + 1)):
            donor = int(rng.integers(len(self.images)))
            donor_image = self.images[donor].astype(np.float32) / 255.0
            donor_ids = self.masks[donor][..., None]
            if self.augment is not None:
                donor_image, donor_ids = self.augment(
                    donor_image, donor_ids, [int(v) for v in rng.integers(0, 2**31, 2)],
                    bool(self.ups[donor]))
            donor_ids = np.asarray(donor_ids).reshape(ids.shape)
            people = np.unique(donor_ids[donor_ids > 0])
            if people.size == 0:   # the donor's people were cropped away
                continue
            chosen = people[rng.random(people.size) < 0.5]
            if chosen.size == 0:
                chosen = people[rng.integers(people.size)][None]
            for person in chosen:
                next_id = int(ids.max()) + 1
                if next_id > 255:   # uint8 ids: no room for another person
                    break
                where = donor_ids == person
                ids[where] = next_id
                image[where] = donor_image[where]
        return image, ids.reshape(np.shape(mask))
