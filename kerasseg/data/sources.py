"""Datasets by name, for the commands: `ph2`, `pennfudan`, `oxford_pets`, `mads`, `folder`.

A `Source` is what training, evaluation and calibration need of a dataset: the
records of a split, the mask reader and the mask values allowed. The
`--dataset NAME --data-dir DIR --split SPLIT` options of `kerasseg train`,
`evaluate` and `export` all go through `source()`.
"""

import dataclasses
import os

from kerasseg.data import splits
from kerasseg.data.records import DataError

NAMES = ("ph2", "pennfudan", "oxford_pets", "mads", "folder")


@dataclasses.dataclass
class Source:
    """One split of a dataset.

    Attributes:
        name: dataset name.
        split: split name.
        records: list of `kerasseg.data.Record`.
        mask_reader: callable(record) -> (H, W) uint8 class ids.
        allowed_values: the mask values the dataset may hold.
        num_classes: classes a model for it predicts (1 = binary, one logit).
    """

    name: str
    split: str
    records: list
    mask_reader: object
    allowed_values: tuple
    num_classes: int = 1

    def dataset(self, image_size, batch_size=None, shuffle=False, augment=None, cache=True, seed=0,
                on_error="raise", drop_remainder=False):
        """The split as a tf.data pipeline (see `kerasseg.data.pipeline.build_dataset`)."""
        from kerasseg.data.pipeline import build_dataset

        return build_dataset(self.records, self.mask_reader, image_size=image_size,
                             allowed_values=self.allowed_values, batch_size=batch_size,
                             shuffle=shuffle, augment=augment, cache=cache, seed=seed,
                             on_error=on_error, drop_remainder=drop_remainder)


def source(name, data_dir, split="train", val_fraction=0.2, seed=0, mask_suffix="", masks_dir=None):
    """One split of a dataset, by name.

    Args:
        name: one of `NAMES`.
        data_dir: the dataset's folder. If it holds a subfolder named after the
            dataset (as ../shared/data does), that subfolder is used.
        split: "train", "val", "all" (every dataset), "test" (PH2's official 40
            cases, Oxford-IIIT Pet's test list). For Oxford-IIIT Pet, "train"
            is its trainval list.
        val_fraction: share kept for "val" where the dataset has no official
            validation split.
        seed: seed of that train/val assignment.
        mask_suffix: for "folder": what mask names add to image names.
        masks_dir: for "folder": the masks folder (default: data_dir).

    Returns:
        A `Source`. Raises ValueError for an unknown name or split and
        DataError for a folder that does not hold the dataset.
    """
    if name not in NAMES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")
    if not os.path.isdir(data_dir):
        raise DataError(f"{data_dir}: data folder not found")
    nested = os.path.join(data_dir, name)
    if name != "folder" and os.path.isdir(nested):
        data_dir = nested
    if name == "ph2":
        from kerasseg.data import ph2

        chosen = ph2.split_records(ph2.records(data_dir), split, val_fraction, seed)
        return Source(name, split, chosen, ph2.read_lesion_mask, (0, 1))
    if name == "pennfudan":
        from kerasseg.data import pennfudan

        chosen = pennfudan.split_records(pennfudan.records(data_dir), split, val_fraction, seed)
        return Source(name, split, chosen, pennfudan.mask_reader("binary"), (0, 1))
    if name == "mads":
        from kerasseg.data import mads

        chosen = mads.split_records(mads.records(data_dir), split, val_fraction, seed)
        return Source(name, split, chosen, mads.read_person_mask, (0, 1))
    if name == "oxford_pets":
        from kerasseg.data import oxford_pets

        official = {"train": "trainval", "test": "test", "all": "all"}
        if split not in official:
            raise ValueError(f"unknown Oxford-IIIT Pet split {split!r}; choose one of "
                             f"{', '.join(official)} (train is the official trainval list)")
        return Source(name, split, oxford_pets.records(data_dir, official[split]),
                      oxford_pets.mask_reader("binary", "pet"), (0, 1))
    from kerasseg.data import folder

    all_records = folder.records(data_dir, masks_dir or data_dir, mask_suffix)
    chosen = splits.train_val(all_records, split, val_fraction, seed, dataset="folder")
    return Source(name, split, chosen, folder.mask_reader("auto"), (0, 1))
