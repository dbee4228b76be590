"""The TFDS builders prepare from a local folder, offline."""

import os
import shutil

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from kerasseg.data import mads, ph2, tfds_builders  # noqa: E402


def _config(manual_dir):
    return {"download_config": tfds.download.DownloadConfig(manual_dir=str(manual_dir))}


def test_ph2_builder_from_the_real_copy(data_root, tmp_path):
    # The real copy's layout and files, 24 of its cases (linked, not copied): preparing all 160
    # full-size images took 40 s of the suite and shows nothing 24 do not.
    real = os.path.join(data_root, "ph2", "PH2Dataset")
    root = tmp_path / "ph2"
    cases = root / "PH2Dataset" / "PH2 Dataset images"
    cases.mkdir(parents=True)
    (root / "PH2Dataset" / "PH2_dataset.xlsx").symlink_to(os.path.join(real, "PH2_dataset.xlsx"))
    for case in sorted(os.listdir(os.path.join(real, "PH2 Dataset images")))[:24]:
        (cases / case).symlink_to(os.path.join(real, "PH2 Dataset images", case))
    train = tfds.load("ph2", split="train", data_dir=str(tmp_path / "tfds"),
                      download_and_prepare_kwargs=_config(root))
    builder = tfds.builder("ph2", data_dir=str(tmp_path / "tfds"))
    # The copy lacks the 40 test cases, so there is no test split.
    assert set(builder.info.splits) == {"train", "val"}
    found = ph2.records(str(root))
    assert len(found) == 24
    for name in ("train", "val"):
        assert builder.info.splits[name].num_examples == len(ph2.split_records(found, name)) > 0
    expected = {r.id: r for r in ph2.split_records(found, "train")}
    example = next(iter(train))
    record = expected[example["id"].numpy().decode()]
    np.testing.assert_array_equal(example["mask"].numpy()[..., 0], ph2.read_lesion_mask(record))
    names = builder.info.features["diagnosis"].names
    assert names[int(example["diagnosis"])] == record.meta["diagnosis"]
    assert isinstance(tfds_builders.Ph2.MANUAL_DOWNLOAD_INSTRUCTIONS, str)


def test_mads_builder_from_a_manifest_tree(data_root, tmp_path):
    from PIL import Image

    base = tmp_path / "manual" / mads.FOLDER
    (base / "images").mkdir(parents=True)
    (base / "masks").mkdir()
    with open(os.path.join(data_root, "mads", "df.csv")) as f:
        lines = f.read().splitlines()
    # The header and the first rows of the real manifest: two sequences.
    rows = [lines[0]] + [line for line in lines[1:] if "_HipHop1_" in line][:3] + \
           [line for line in lines[1:] if "_Jazz1_" in line][:3]
    (base / "df.csv").write_text("\n".join(rows) + "\n")
    for row in rows[1:]:
        _, image, mask, _ = row.split(",")
        Image.fromarray(np.full((24, 32, 3), 90, np.uint8)).save(base / image)
        person = np.zeros((24, 32), np.uint8)
        person[5:20, 10:20] = 255
        Image.fromarray(person).save(base / mask)
    data_dir = str(tmp_path / "tfds")
    splits = {name: list(tfds.load("mads", split=name, data_dir=data_dir,
                                   download_and_prepare_kwargs=_config(tmp_path / "manual")))
              for name in ("train", "val")}
    assert sorted(len(v) for v in splits.values()) == [3, 3]
    sequences = [{e["sequence"].numpy().decode() for e in v} for v in splits.values()]
    assert len(sequences[0]) == len(sequences[1]) == 1 and sequences[0] != sequences[1]
    assert set(np.unique(splits["train"][0]["mask"].numpy())) == {0, 1}


def test_missing_manual_dir_is_explained(tmp_path):
    with pytest.raises(AssertionError, match="PH2Dataset"):
        tfds.load("ph2", data_dir=str(tmp_path / "tfds"),
                  download_and_prepare_kwargs=_config(tmp_path / "absent"))
    shutil.rmtree(tmp_path / "tfds", ignore_errors=True)


def test_isic2018_builder_from_a_copy_with_the_challenges_validation_part(data_root, tmp_path):
    from kerasseg.data import isic2018

    manual = tmp_path / "manual"
    real = isic2018.records(os.path.join(data_root, "isic2018"))
    for part, records in (("Training", real[:10]), ("Validation", real[10:13])):
        images, masks = (manual / folder for folder in isic2018.folders(part))
        images.mkdir(parents=True)
        masks.mkdir(parents=True)
        for record in records:
            shutil.copy(record.image, images)
            shutil.copy(record.mask, masks)
    val = tfds.load("isic2018", split="val", data_dir=str(tmp_path / "tfds"),
                    download_and_prepare_kwargs=_config(manual))
    builder = tfds.builder("isic2018", data_dir=str(tmp_path / "tfds"))
    assert {name: s.num_examples for name, s in builder.info.splits.items()} == {
        "train": 8, "val": 2, "challenge_val": 3}
    example = next(iter(val))
    record = next(r for r in real if r.id == example["id"].numpy().decode())
    np.testing.assert_array_equal(example["mask"].numpy()[..., 0],
                                  isic2018.read_lesion_mask(record))
