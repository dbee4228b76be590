"""PH2 dermoscopy database (Mendonça et al., EMBC 2013): lesion masks and diagnoses.

Layout as distributed (note the spaces):
    ROOT/PH2Dataset/PH2 Dataset images/IMDxxx/IMDxxx_Dermoscopic_Image/IMDxxx.bmp (or .png)
    ROOT/PH2Dataset/PH2 Dataset images/IMDxxx/IMDxxx_lesion/IMDxxx_lesion.bmp
    ROOT/PH2Dataset/PH2_dataset.xlsx     diagnosis per case (header row 13)
ROOT may also be the `PH2Dataset` folder itself.

Splits: "test" is kerasseg's official PH2 test split, the 40 cases below (16
common nevi, 16 atypical nevi, 8 melanomas), so numbers compare across
projects; "train" and "val" split the other cases deterministically,
stratified by diagnosis; `folds` gives stratified k-fold cross-validation.

>>> from kerasseg.data import ph2
>>> train = ph2.load("/data/ph2", split="train", image_size=256, batch_size=8)  # doctest: +SKIP
"""

import glob
import os
import warnings
import xml.etree.ElementTree as ElementTree
import zipfile

import numpy as np

from kerasseg.data import splits
from kerasseg.data.records import DataError, Record, read_mask

TEST_IDS = (
    "IMD010", "IMD017", "IMD024", "IMD037", "IMD064", "IMD085", "IMD107", "IMD120",
    "IMD126", "IMD135", "IMD142", "IMD149", "IMD154", "IMD155", "IMD159", "IMD182",
    "IMD198", "IMD200", "IMD207", "IMD210", "IMD254", "IMD279", "IMD285", "IMD312",
    "IMD356", "IMD369", "IMD375", "IMD378", "IMD382", "IMD384", "IMD386", "IMD388",
    "IMD390", "IMD397", "IMD406", "IMD409", "IMD413", "IMD417", "IMD429", "IMD434",
)
DIAGNOSES = ("common_nevus", "atypical_nevus", "melanoma")
SPLITS = ("train", "val", "test", "all")

_IMAGES_DIR = "PH2 Dataset images"
_IMAGE_EXTENSIONS = (".bmp", ".png", ".BMP", ".PNG")


def _dataset_dir(root):
    for candidate in (os.path.join(root, "PH2Dataset"), os.path.join(root, "ph2", "PH2Dataset"), root):
        if os.path.isdir(os.path.join(candidate, _IMAGES_DIR)):
            return candidate
    raise DataError(
        f"{root}: no PH2 layout here: expected '{_IMAGES_DIR}/IMDxxx/...' under it or under "
        f"its PH2Dataset folder"
    )


def read_diagnoses(xlsx_path):
    """Diagnosis per case id from PH2_dataset.xlsx, read with the standard library.

    Returns:
        {"IMD003": "common_nevus", ...}. Raises DataError naming the file if it
        cannot be read or has no diagnosis columns.
    """
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    try:
        with zipfile.ZipFile(xlsx_path) as book:
            strings = []
            if "xl/sharedStrings.xml" in book.namelist():
                for item in ElementTree.fromstring(book.read("xl/sharedStrings.xml")).findall("m:si", ns):
                    strings.append("".join(t.text or "" for t in item.iter(f"{{{ns['m']}}}t")))
            sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    except (OSError, KeyError, zipfile.BadZipFile, ElementTree.ParseError) as error:
        raise DataError(f"{xlsx_path}: cannot read the PH2 diagnosis sheet ({error})") from None

    def cells(row):
        out = {}
        for cell in row.findall("m:c", ns):
            value = cell.find("m:v", ns)
            text = None if value is None else value.text
            if cell.get("t") == "s" and text is not None:
                text = strings[int(text)]
            column = "".join(ch for ch in cell.get("r", "") if ch.isalpha())
            out[column] = (text or "").strip()
        return out

    columns, diagnoses = None, {}
    for row in sheet.findall(".//m:sheetData/m:row", ns):
        values = cells(row)
        if columns is None:
            names = {v.lower(): k for k, v in values.items()}
            if {"common nevus", "atypical nevus", "melanoma"} <= set(names):
                columns = [names["common nevus"], names["atypical nevus"], names["melanoma"]]
            continue
        case = values.get("A", "")
        if case.startswith("IMD"):
            marked = [d for d, c in zip(DIAGNOSES, columns) if values.get(c, "").upper() == "X"]
            if len(marked) == 1:
                diagnoses[case] = marked[0]
    if columns is None:
        raise DataError(f"{xlsx_path}: no 'Common Nevus / Atypical Nevus / Melanoma' header found")
    return diagnoses


def records(root, on_error="raise"):
    """Every PH2 case under `root` that has both an image and a lesion mask.

    Args:
        root: the PH2 folder (holding PH2Dataset/ or its contents).
        on_error: "raise" for a DataError naming the first case that lacks a
            file, or "skip" to leave such cases out with a warning.

    Returns:
        A list of `Record` sorted by id, with meta {"diagnosis": ...} where
        PH2_dataset.xlsx is present.
    """
    base = _dataset_dir(root)
    xlsx = os.path.join(base, "PH2_dataset.xlsx")
    diagnoses = read_diagnoses(xlsx) if os.path.isfile(xlsx) else {}
    found = []
    for case_dir in sorted(glob.glob(os.path.join(base, _IMAGES_DIR, "IMD*"))):
        case = os.path.basename(case_dir)
        images = [p for p in glob.glob(os.path.join(case_dir, f"{case}_Dermoscopic_Image", f"{case}.*"))
                  if p.endswith(_IMAGE_EXTENSIONS)]
        mask = os.path.join(case_dir, f"{case}_lesion", f"{case}_lesion.bmp")
        problem = (f"{case_dir}: no {case}_Dermoscopic_Image/{case}.bmp or .png" if not images
                   else None if os.path.isfile(mask) else f"{mask}: lesion mask not found for {case}")
        if problem:
            if on_error == "raise":
                raise DataError(problem)
            warnings.warn(f"skipping {case}: {problem}", stacklevel=2)
            continue
        meta = {"diagnosis": diagnoses[case]} if case in diagnoses else {}
        found.append(Record(case, sorted(images)[0], mask, meta=meta))
    if not found:
        raise DataError(f"{base}: no IMDxxx case folders under '{_IMAGES_DIR}'")
    return found


def _diagnosis(record):
    return record.meta.get("diagnosis", "unknown")


def split_records(all_records, name, val_fraction=0.2, seed=0):
    """The records of one split.

    Args:
        all_records: from `records(root)`.
        name: "train", "val", "test" (the official 40) or "all".
        val_fraction: share of each diagnosis, outside the test split, kept for "val".
        seed: seed of the train/val assignment.

    Returns:
        A list of `Record` sorted by id. "test" raises DataError listing the
        test cases missing from the root.
    """
    if name not in SPLITS:
        raise ValueError(f"unknown PH2 split {name!r}; choose one of {SPLITS}")
    if name == "all":
        return list(all_records)
    if name == "test":
        present = {r.id: r for r in all_records}
        missing = [case for case in TEST_IDS if case not in present]
        if missing:
            raise DataError(
                f"the PH2 test split needs {len(TEST_IDS)} cases and {len(missing)} are missing "
                f"from this root ({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); "
                "use a complete PH2 copy, or the 'train'/'val' splits or folds"
            )
        return [present[case] for case in TEST_IDS]
    rest = [r for r in all_records if r.id not in TEST_IDS]
    return splits.train_val(rest, name, val_fraction, seed, stratify=_diagnosis)


def folds(all_records, k=5, seed=0):
    """Stratified k-fold cross-validation over the cases outside the test split.

    Returns:
        A list of k (train_records, val_records) pairs; every case is in
        exactly one val part, and each part holds each diagnosis in proportion.
    """
    rest = [r for r in all_records if r.id not in TEST_IDS]
    return splits.kfold(rest, k, seed, stratify=_diagnosis)


def read_lesion_mask(record):
    """The lesion mask as 0/1 (PH2 masks are 1-bit; some writers store 0/255)."""
    return (read_mask(record.mask) > 0).astype(np.uint8)


def load(root, split="train", image_size=256, batch_size=None, shuffle=None, augment=None,
         cache=True, seed=0, val_fraction=0.2, on_error="raise"):
    """PH2 as a tf.data pipeline of (image, lesion mask).

    Args:
        root: the PH2 folder (holding PH2Dataset/ or its contents).
        split: "train", "val", "test" or "all".
        image_size: int or (height, width) to resize to; None keeps each size.
        batch_size: None for single examples.
        shuffle: defaults to True for "train", else False.
        augment: None or a callable such as `kerasseg.data.Augmentation()`.
        cache: cache decoded, resized examples in memory.
        seed: seed of the split, shuffle and augmentation.
        val_fraction: share of the non-test cases kept for "val".
        on_error: "raise" or "skip" (with a warning) for bad files.

    Returns:
        A `tf.data.Dataset` of (float32 image in [0, 1], uint8 mask of 0/1
        with a trailing channel axis).
    """
    from kerasseg.data.pipeline import build_dataset

    chosen = split_records(records(root, on_error), split, val_fraction=val_fraction, seed=seed)
    return build_dataset(chosen, read_lesion_mask, image_size=image_size, allowed_values=(0, 1),
                         batch_size=batch_size,
                         shuffle=split == "train" if shuffle is None else shuffle,
                         augment=augment, cache=cache, seed=seed, on_error=on_error)
