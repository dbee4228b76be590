"""TensorFlow Datasets builders for PH2, MADS and ISIC 2018, prepared from a local copy (manual_dir).

None of them can be downloaded by a script (PH2 is behind a form, MADS on
Kaggle, ISIC behind its archive's terms), so each builder reads the folder you
point `manual_dir` at, through the same records as `kerasseg.data.ph2`,
`kerasseg.data.mads` and `kerasseg.data.isic2018`. Nothing reaches for the
network. Importing this module registers the names "ph2", "mads" and
"isic2018" with TFDS:

>>> import tensorflow_datasets as tfds
>>> import kerasseg.data.tfds_builders  # registers "ph2" and "mads"
>>> config = tfds.download.DownloadConfig(manual_dir="/data/ph2")
>>> train = tfds.load("ph2", split="train", data_dir="/data/tfds",
...                   download_and_prepare_kwargs={"download_config": config})  # doctest: +SKIP

Examples hold the image at its own size (uint8 RGB), the mask (uint8 0/1 of
shape (H, W, 1)) and the case id; PH2 adds the diagnosis, MADS the sequence.
Splits are kerasseg's: PH2 "train"/"val" (stratified, seed 0, 20% val) and
"test" (the official 40 cases) when the copy holds them; MADS "train"/"val"
by whole sequences; ISIC 2018 "train"/"val" (seed 0, 20% val) of the
challenge's training part, and "challenge_val"/"challenge_test" where the copy
holds those parts.
"""

import tensorflow_datasets as tfds

from kerasseg.data import isic2018, mads, ph2
from kerasseg.data.records import DataError, read_image

_VERSION = tfds.core.Version("1.0.0")


def _features(**extra):
    return tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(None, None, 3)),
        "mask": tfds.features.Image(shape=(None, None, 1)),
        "id": tfds.features.Text(),
        **extra,
    })


def _example(record, mask_reader, **extra):
    return record.id, {"image": read_image(record.image), "mask": mask_reader(record)[..., None],
                       "id": record.id, **extra}


class Ph2(tfds.core.GeneratorBasedBuilder):
    """PH2 dermoscopy images with lesion masks and diagnoses (Mendonça et al., 2013)."""

    VERSION = _VERSION
    RELEASE_NOTES = {"1.0.0": "Lesion masks, diagnoses and kerasseg's splits."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Request PH2 from https://www.fc.up.pt/addi/ph2%20database.html, extract it and pass "
        "the folder that holds 'PH2Dataset' (or PH2Dataset itself) as manual_dir."
    )

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__.splitlines()[0],
            # "unknown" where the copy lacks PH2_dataset.xlsx.
            features=_features(diagnosis=tfds.features.ClassLabel(names=(*ph2.DIAGNOSES, "unknown"))),
            supervised_keys=("image", "mask"),
            homepage="https://www.fc.up.pt/addi/ph2%20database.html",
        )

    def _split_generators(self, dl_manager):
        records = ph2.records(str(dl_manager.manual_dir))
        present = {r.id for r in records}
        names = ["train", "val"] + (["test"] if set(ph2.TEST_IDS) <= present else [])
        return {name: self._generate_examples(ph2.split_records(records, name)) for name in names}

    def _generate_examples(self, records):
        for record in records:
            yield _example(record, ph2.read_lesion_mask,
                           diagnosis=record.meta.get("diagnosis", "unknown"))


class Mads(tfds.core.GeneratorBasedBuilder):
    """Segmentation Full Body MADS: person masks from martial-arts and dance videos."""

    VERSION = _VERSION
    RELEASE_NOTES = {"1.0.0": "Person masks; train/val split by sequence."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download 'Segmentation Full Body MADS Dataset' from Kaggle, extract it and pass the folder "
        f"that holds '{mads.FOLDER}' (or that folder itself) as manual_dir."
    )

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__.splitlines()[0],
            features=_features(sequence=tfds.features.Text()),
            supervised_keys=("image", "mask"),
        )

    def _split_generators(self, dl_manager):
        records = mads.records(str(dl_manager.manual_dir))
        return {name: self._generate_examples(mads.split_records(records, name))
                for name in ("train", "val")}

    def _generate_examples(self, records):
        for record in records:
            yield _example(record, mads.read_person_mask, sequence=record.group)


class Isic2018(tfds.core.GeneratorBasedBuilder):
    """ISIC 2018 Task 1: dermoscopy images from many clinics with lesion masks (CC BY-NC 4.0)."""

    VERSION = _VERSION
    RELEASE_NOTES = {"1.0.0": "Lesion masks; kerasseg's train/val split and the challenge's parts."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download the ISIC 2018 Task 1 input images and ground truth from the ISIC challenge "
        "archive, extract them and pass the folder that holds "
        f"'{isic2018.folders('Training')[0]}' (or a folder holding isic2018/) as manual_dir."
    )

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__.splitlines()[0],
            features=_features(),
            supervised_keys=("image", "mask"),
            homepage="https://challenge.isic-archive.com/data/#2018",
        )

    def _split_generators(self, dl_manager):
        root = str(dl_manager.manual_dir)
        generators = {name: self._generate_examples(isic2018.split_records(root, name))
                      for name in ("train", "val")}
        for split in ("challenge-val", "challenge-test"):
            try:
                records = isic2018.split_records(root, split)
            except DataError:
                continue  # the copy lacks that part of the challenge
            generators[split.replace("-", "_")] = self._generate_examples(records)
        return generators

    def _generate_examples(self, records):
        for record in records:
            yield _example(record, isic2018.read_lesion_mask)


__all__ = ["Isic2018", "Mads", "Ph2"]
