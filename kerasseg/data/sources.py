"""The dataset registry: every dataset kerasseg knows, by name, and one way in.

Each `Dataset` entry says where the dataset lives (the folder name to look for
under a data root), how its records are chosen for a split, and its mask
modes (reader, allowed values, class names). The pipeline, `kerasseg data
check`, the CLI's choices and `kerasseg.data.load` all read this one table;
the per-dataset modules keep only their layout parsing and readers.

Datasets can be mixed: `source("ccp+pennfudan:2", ...)` joins the splits of
CCP and Penn-Fudan (each split by its own rules), Penn-Fudan counted twice
per epoch.
"""

import dataclasses
import importlib
import os
import zlib

import numpy as np

from kerasseg.data import splits
from kerasseg.data.records import DataError, Record, check_values


@dataclasses.dataclass(frozen=True)
class Mode:
    """One way of reading a dataset's masks.

    Attributes:
        reader: "module:function" or "module:factory(arg)" giving callable(record) -> mask.
        class_names: names of the mask values 0..N-1.
        allowed_values: mask values the mode may give (None: not checked).
        object_values: the values of the object's pixels (None: every non-zero value).
    """

    reader: str
    class_names: tuple
    allowed_values: tuple = None
    object_values: tuple = None

    def foreground(self, mask):
        """Bool array of the object's pixels in a mask this mode reads."""
        mask = np.asarray(mask)
        return mask > 0 if self.object_values is None else np.isin(mask, self.object_values)

    @property
    def num_classes(self):
        """Classes a model predicts: 1 (one logit) for two classes, else their number."""
        return 1 if len(self.class_names) == 2 else len(self.class_names)

    def mask_reader(self):
        module_name, _, call = self.reader.partition(":")
        module = importlib.import_module(f"kerasseg.data.{module_name}")
        if "(" not in call:
            return getattr(module, call)
        function, _, argument = call.partition("(")
        return getattr(module, function)(argument.rstrip(")").strip("'\""))


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A registry entry.

    Attributes:
        name: the name users type.
        folder: the subfolder of a data root that holds it (as ../shared/data does).
        splits: the split names it knows.
        modes: {mode name: `Mode`}; the first is the default.
        check_mode: the mode `kerasseg data check` reads (the richest).
        description: one line for help texts.
        upright: its photos have an up (people, pets): augmentation keeps it,
            with no vertical flips or quarter turns; False where any
            orientation is as real as another (dermoscopy, unknown folders).
    """

    name: str
    folder: str
    splits: tuple
    modes: dict
    check_mode: str
    description: str
    upright: bool = False

    @property
    def default_mode(self):
        return next(iter(self.modes))

    def mode(self, name=None):
        name = name or self.default_mode
        if name not in self.modes:
            raise ValueError(f"dataset {self.name!r} has no mask mode {name!r}; choose one of "
                             f"{', '.join(self.modes)}")
        return self.modes[name]

    def records(self, root, split, val_fraction=0.2, seed=0, **options):
        """The records of one split.

        `options` go to the dataset's own reader: `on_error="skip"` for PH2
        and folders (leave incomplete cases out with a warning), `masks_dir`
        and `mask_suffix` for folders.
        """
        if split not in self.splits:
            raise ValueError(f"unknown {self.name} split {split!r}; choose one of "
                             f"{', '.join(self.splits)}")
        return _SELECT[self.name](root, split, val_fraction, seed, **options)


_BINARY = ("background", "foreground")

DATASETS = {
    "ph2": Dataset(
        "ph2", "ph2", ("train", "val", "test", "all"),
        {"binary": Mode("ph2:read_lesion_mask", ("background", "lesion"), (0, 1))},
        "binary", "PH2 dermoscopy lesions (official 40-case test split, stratified train/val)"),
    "pennfudan": Dataset(
        "pennfudan", "pennfudan", splits.SPLITS,
        {"binary": Mode("pennfudan:mask_reader('binary')", ("background", "person"), (0, 1)),
         "instances": Mode("pennfudan:mask_reader('instances')", ("background", "person"))},
        "instances", "Penn-Fudan pedestrians (person masks, instance ids)", upright=True),
    "ccp": Dataset(
        "ccp", "ccp", splits.SPLITS,
        {"person": Mode("ccp:mask_reader('person')", ("background", "person"), (0, 1)),
         "parts": Mode("ccp:mask_reader('parts')", (
             "background", "skin", "hair", "clothing", "shoes", "accessories"), tuple(range(6))),
         "labels": Mode("ccp:mask_reader('labels')", ("label",) * 59, tuple(range(59)))},
        "labels", "Clothing Co-Parsing street-fashion photos (person, 6 parts or 59 labels)",
        upright=True),
    "oxford_pets": Dataset(
        "oxford_pets", "oxford_pets", ("train", "test", "all"),
        {"binary": Mode("oxford_pets:mask_reader('binary')", ("background", "pet"), (0, 1)),
         # 2 is the trimap's border, not the pet
         "trimap": Mode("oxford_pets:mask_reader('trimap')", ("background", "pet", "border"),
                        (0, 1, 2), object_values=(1,))},
        "trimap", "Oxford-IIIT Pet (pet vs background; trainval/test lists)", upright=True),
    "mads": Dataset(
        "mads", "mads", splits.SPLITS,
        {"binary": Mode("mads:read_person_mask", ("background", "person"), (0, 1))},
        "binary", "MADS full-body person masks (split by sequence)", upright=True),
    "portraits": Dataset(
        "portraits", "portraits", splits.SPLITS,
        {"binary": Mode("portraits:read_person_mask", ("background", "person"), (0, 1))},
        "binary", "Flickr head-and-shoulders portraits (Shen et al. 2016; person masks)",
        upright=True),
    "isic2018": Dataset(
        "isic2018", "isic2018", ("train", "val", "all", "challenge-val", "challenge-test"),
        {"binary": Mode("isic2018:read_lesion_mask", ("background", "lesion"), (0, 1))},
        "binary", "ISIC 2018 Task 1 dermoscopy lesions, many clinics (seeded train/val; "
        "the challenge's own parts)"),
    "folder": Dataset(
        "folder", "", splits.SPLITS,
        {"auto": Mode("folder:mask_reader('auto')", _BINARY, (0, 1))},
        "auto", "any folder of images and masks (0/1 or 0/255 masks)"),
}
NAMES = tuple(DATASETS)
# The datasets whose masks tell people apart (instance ids): what instance training and
# scoring need in a dataset or a mixture.
WITH_INSTANCE_IDS = tuple(name for name, entry in DATASETS.items() if "instances" in entry.modes)


def has_instance_ids(spec):
    """Whether a dataset or mixture ("ccp+pennfudan:4") holds a dataset with instance ids."""
    return any(name in WITH_INSTANCE_IDS for name, _ in parse_names(spec))


def _select_ph2(root, split, val_fraction, seed, on_error="raise"):
    from kerasseg.data import ph2

    return ph2.split_records(ph2.records(root, on_error=on_error), split, val_fraction, seed)


def _select_by_split(module_name, dataset):
    def select(root, split, val_fraction, seed):
        module = importlib.import_module(f"kerasseg.data.{module_name}")
        return splits.train_val(module.records(root), split, val_fraction, seed, dataset=dataset)

    return select


def _select_isic2018(root, split, val_fraction, seed):
    from kerasseg.data import isic2018

    return isic2018.split_records(root, split, val_fraction, seed)


def _select_oxford_pets(root, split, val_fraction, seed):
    from kerasseg.data import oxford_pets

    # "train" is the official trainval list.
    official = {"train": "trainval", "test": "test", "all": "all"}
    return oxford_pets.records(root, official[split])


def _select_folder(root, split, val_fraction, seed, masks_dir=None, mask_suffix="",
                   on_error="raise"):
    from kerasseg.data import folder

    all_records = folder.records(root, masks_dir or root, mask_suffix, on_error=on_error)
    return splits.train_val(all_records, split, val_fraction, seed, dataset="folder")


_SELECT = {
    "ph2": _select_ph2,
    "pennfudan": _select_by_split("pennfudan", "Penn-Fudan"),
    "ccp": _select_by_split("ccp", "CCP"),
    "oxford_pets": _select_oxford_pets,
    "mads": _select_by_split("mads", "MADS"),
    "portraits": _select_by_split("portraits", "portraits"),
    "isic2018": _select_isic2018,
    "folder": _select_folder,
}


def dataset_root(name, data_dir):
    """The folder that holds dataset `name`: `data_dir/<folder>` if there, else `data_dir`."""
    if not os.path.isdir(data_dir):
        raise DataError(f"{data_dir}: data folder not found")
    folder = DATASETS[name].folder
    nested = os.path.join(data_dir, folder) if folder else None
    return nested if nested and os.path.isdir(nested) else data_dir


@dataclasses.dataclass
class Source:
    """One split of a dataset (or of a mixture of datasets).

    Attributes:
        name: dataset name ("ccp+pennfudan" for a mixture).
        split: split name.
        records: list of `kerasseg.data.Record`.
        mask_reader: callable(record) -> (H, W) uint8 class ids.
        allowed_values: the mask values the dataset may hold.
        num_classes: classes a model for it predicts (1 = binary, one logit).
        class_names: names of the mask values.
        mode: the mask mode.
        parts: for a mixture, {dataset name: number of records it contributes}.
        upright: whether its examples have an up (see `Dataset.upright`): a
            bool, or callable(record) -> bool for a mixture.
    """

    name: str
    split: str
    records: list
    mask_reader: object
    allowed_values: tuple
    num_classes: int = 1
    class_names: tuple = _BINARY
    mode: str = ""
    parts: dict = dataclasses.field(default_factory=dict)
    upright: object = False

    def dataset(self, image_size, batch_size=None, shuffle=False, augment=None, cache=True, seed=0,
                on_error="raise", drop_remainder=False, skipped=None, loader=None, epochs=1,
                targets=None):
        """The split as a tf.data or Grain pipeline (see `kerasseg.data.pipeline.build_dataset`)."""
        from kerasseg.data.pipeline import build_dataset

        return build_dataset(self.records, self.mask_reader, image_size=image_size,
                             allowed_values=self.allowed_values, batch_size=batch_size,
                             shuffle=shuffle, augment=augment, cache=cache, seed=seed,
                             on_error=on_error, drop_remainder=drop_remainder,
                             upright=self.upright, skipped=skipped, loader=loader,
                             epochs=epochs, targets=targets)


def parse_names(spec):
    """"ccp+pennfudan:2+portraits:0.25" -> [("ccp", 1), ("pennfudan", 2), ("portraits", 0.25)];
    ValueError naming a bad part."""
    parts = []
    for part in str(spec).split("+"):
        name, _, weight = part.strip().partition(":")
        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r} in {spec!r}; choose one of "
                             f"{', '.join(NAMES)} (mix several as ccp+pennfudan[:WEIGHT])")
        try:
            count = float(weight) if weight else 1.0
        except ValueError:
            count = float("nan")
        if not (1 <= count < 2 ** 31 and count == int(count) or 0 < count < 1):
            raise ValueError(f"dataset weight {weight!r} in {spec!r} must be a whole number "
                             "of times per epoch, at least 1, or a share of the dataset's "
                             "training photos between 0 and 1 (e.g. 0.25)")
        if any(name == seen for seen, _ in parts):
            raise ValueError(f"dataset {name!r} appears twice in {spec!r}")
        parts.append((name, int(count) if count >= 1 else count))
    return parts


def source(name, data_dir, split="train", val_fraction=0.2, seed=0, mask_suffix="", masks_dir=None,
           mode=None):
    """One split of a dataset or of a mixture, by name.

    Args:
        name: one of `NAMES`, or several joined by "+", each with an optional
            ":WEIGHT" for the "train" split: a whole number repeats the part's
            photos that many times per epoch, a share below 1 keeps that share of
            them (at least one; the same photos every epoch, chosen with `seed`);
            other splits take each record once. E.g. "ccp+pennfudan:2+portraits:0.25".
        data_dir: the dataset's folder, or a data root holding a subfolder
            named after each dataset (as ../shared/data does).
        split: "train", "val", "all"; "test" for PH2's official 40 cases and
            Oxford-IIIT Pet's test list (whose "train" is its trainval list).
        val_fraction: share kept for "val" where the dataset has no official
            validation split; in [0, 1).
        seed: seed of that train/val assignment.
        mask_suffix: for "folder": what mask names add to image names.
        masks_dir: for "folder": the masks folder (default: data_dir).
        mode: the mask mode (e.g. "parts" for CCP); None for the dataset's default.

    Returns:
        A `Source`. Raises ValueError for an unknown name, split or mode and
        DataError for a folder that does not hold the dataset.
    """
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    parts = parse_names(name)
    if len(parts) > 1:
        return _mixture(parts, data_dir, split, val_fraction, seed, mode)
    if parts[0][1] != 1:
        raise ValueError(f"a weight (:{parts[0][1]}) weighs one dataset of a mixture against "
                         f"the others, e.g. {parts[0][0]}:{parts[0][1]}+pennfudan; {name!r} is "
                         "one dataset")
    entry = DATASETS[parts[0][0]]
    chosen_mode = entry.mode(mode)
    options = {"masks_dir": masks_dir, "mask_suffix": mask_suffix} if entry.name == "folder" else {}
    root = data_dir if entry.name == "folder" else dataset_root(entry.name, data_dir)
    chosen = entry.records(root, split, val_fraction, seed, **options)
    return Source(entry.name, split, chosen, chosen_mode.mask_reader(), chosen_mode.allowed_values,
                  chosen_mode.num_classes, chosen_mode.class_names,
                  mode or entry.default_mode, upright=entry.upright)


def _mixture(parts, data_dir, split, val_fraction, seed, mode):
    # A mode applies to the datasets that have it (ccp's "person"); the others read
    # their default, and the class check below refuses what does not fit together.
    if mode is not None and not any(mode in DATASETS[name].modes for name, _ in parts):
        raise ValueError(f"none of {', '.join(name for name, _ in parts)} has the mask mode "
                         f"{mode!r}")
    sources = [source(name, data_dir, split, val_fraction, seed,
                      mode=mode if mode in DATASETS[name].modes else None)
               for name, _ in parts]
    if len({s.num_classes for s in sources}) > 1:
        raise ValueError("datasets mixed together must have the same classes; got "
                         + ", ".join(f"{s.name} ({s.num_classes})" for s in sources))
    # Each part's masks are checked by its own rules: Penn-Fudan's instance ids are not
    # CCP's 0/1, and a union of the two would refuse one or let the other's errors through.
    readers = {s.name: (s.mask_reader, s.allowed_values) for s in sources}

    def read(record):
        reader, allowed_values = readers[record.meta["dataset"]]
        mask = reader(record)
        check_values(record, mask, allowed_values)
        return mask

    records, counts = [], {}
    for (name, weight), part in zip(parts, sources):
        # Ids and groups are prefixed so that two datasets never share one.
        tagged = [Record(f"{name}/{r.id}", r.image, r.mask, f"{name}/{r.group}",
                         {**r.meta, "dataset": name}) for r in part.records]
        # Weights apply to training records only: every other split is scored as it is.
        if split == "train" and weight < 1:
            # A share keeps a seeded choice of the part's photos, in their order; the
            # dataset's name is in the seed so that two parts' choices are independent.
            rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
            keep = max(1, round(weight * len(tagged)))
            tagged = [tagged[i] for i in sorted(rng.permutation(len(tagged))[:keep])]
        repeat = weight if split == "train" and weight > 1 else 1
        records += tagged * repeat
        counts[name] = len(tagged) * repeat
    unchecked = any(s.allowed_values is None for s in sources)
    allowed = None if unchecked else tuple(sorted(set().union(*(s.allowed_values
                                                                for s in sources))))
    # The mode asked for (e.g. "instances") reads the mixture again; without one, the
    # first part's default stands for all.
    return Source("+".join(n for n, _ in parts), split, records, read, allowed,
                  sources[0].num_classes, sources[0].class_names, mode or sources[0].mode, counts,
                  lambda record: DATASETS[record.meta["dataset"]].upright)


def load(name, data_dir, split="train", image_size=256, batch_size=None, mode=None, shuffle=None,
         augment=None, val_fraction=0.2, seed=0, cache=True, on_error="raise",
         drop_remainder=False, masks_dir=None, mask_suffix=""):
    """Any registered dataset (or a mixture) as a tf.data pipeline of (image, mask).

    Args:
        name, data_dir, split, mode, val_fraction, seed, masks_dir,
            mask_suffix: as for `source`.
        image_size, batch_size, augment, cache, on_error, drop_remainder: as
            for `kerasseg.data.pipeline.build_dataset`.
        shuffle: defaults to True for "train".

    Returns:
        A `tf.data.Dataset` of (float32 image in [0, 1] (h, w, 3), uint8 mask (h, w, 1)).

    Example:
    >>> from kerasseg import data
    >>> train = data.load("ccp+pennfudan", "../shared/data", "train", image_size=256,
    ...                   batch_size=8, augment=data.Augmentation())  # doctest: +SKIP
    """
    chosen = source(name, data_dir, split, val_fraction=val_fraction, seed=seed,
                    mask_suffix=mask_suffix, masks_dir=masks_dir, mode=mode)
    return chosen.dataset(image_size, batch_size=batch_size,
                          shuffle=split == "train" if shuffle is None else shuffle,
                          augment=augment, cache=cache, seed=seed, on_error=on_error,
                          drop_remainder=drop_remainder)
