"""Clothing Co-Parsing on the real copy, its bad files, and mixtures of datasets."""

import os
import shutil

import numpy as np
import pytest

from kerasseg import data
from kerasseg.data import DataError, ccp
from kerasseg.data.sources import source


def test_records_masks_and_parts_on_the_real_copy(data_root):
    records = ccp.records(data_root)
    assert len(records) == 804 and records[0].id == "0001"
    train, val = ccp.split_records(records, "train"), ccp.split_records(records, "val")
    assert len(train) + len(val) == 804 and not {r.id for r in train} & {r.id for r in val}
    labels = ccp.mask_reader("labels")(records[0])
    person = ccp.mask_reader("person")(records[0])
    parts = ccp.mask_reader("parts")(records[0])
    np.testing.assert_array_equal(person, labels > 0)
    # Skin and hair keep their own part; every clothing label maps to "clothing".
    assert np.array_equal(parts == 1, labels == ccp.LABELS.index("skin"))
    assert np.array_equal(parts == 2, labels == ccp.LABELS.index("hair"))
    assert set(np.unique(parts[labels == ccp.LABELS.index("skirt")])) <= {3}
    assert parts.max() < len(ccp.PARTS)


def test_label_names_match_the_copy(data_root):
    from scipy.io import loadmat

    names = loadmat(os.path.join(data_root, "ccp", "label_list.mat"))["label_list"][0]
    assert tuple(str(n[0]) if len(n) else "" for n in names) == ccp.LABELS
    assert set(ccp.PART_OF_LABEL) == set(ccp.LABELS)


def test_bad_files_are_named(data_root, tmp_path):
    from scipy.io import savemat

    root = tmp_path / "ccp"
    (root / "photos").mkdir(parents=True)
    (root / "annotations" / "pixel-level").mkdir(parents=True)
    for name in ("0001", "0002", "0003"):
        shutil.copy(os.path.join(data_root, "ccp", "photos", f"{name}.jpg"), root / "photos")
        shutil.copy(os.path.join(data_root, "ccp", "annotations", "pixel-level", f"{name}.mat"),
                    root / "annotations" / "pixel-level")
    savemat(root / "annotations" / "pixel-level" / "0002.mat", {"other": np.zeros((4, 4))})
    (root / "annotations" / "pixel-level" / "0003.mat").write_bytes(b"not a mat file")
    records = ccp.records(str(root))
    with pytest.raises(DataError, match="0002.mat: no 'groundtruth' array"):
        ccp.mask_reader("person")(records[1])
    with pytest.raises(DataError, match="0003.mat: cannot read MATLAB file"):
        ccp.mask_reader("parts")(records[2])
    os.remove(root / "photos" / "0001.jpg")
    with pytest.raises(DataError, match=r"0001.jpg: photo of annotation 0001.mat not found"):
        ccp.records(str(root))


def test_photos_without_pixel_annotations_are_skipped(data_root, tmp_path):
    root = tmp_path / "ccp"
    shutil.copytree(os.path.join(data_root, "ccp", "annotations", "pixel-level"),
                    root / "annotations" / "pixel-level")
    os.makedirs(root / "photos")
    for name in sorted(os.listdir(root / "annotations" / "pixel-level"))[5:]:
        os.remove(root / "annotations" / "pixel-level" / name)
    for name in ("0001", "0002", "0003", "0004", "0005", "0006", "0007"):
        shutil.copy(os.path.join(data_root, "ccp", "photos", f"{name}.jpg"), root / "photos")
    assert [r.id for r in ccp.records(str(root))] == ["0001", "0002", "0003", "0004", "0005"]


def test_mixtures_keep_each_split_and_weight_only_training(data_root):
    ccp_train = source("ccp", data_root, "train")
    penn_train, penn_val = source("pennfudan", data_root, "train"), source("pennfudan", data_root,
                                                                            "val")
    mixed = source("ccp+pennfudan:3", data_root, "train")
    assert mixed.parts == {"ccp": len(ccp_train.records), "pennfudan": 3 * len(penn_train.records)}
    assert mixed.records[0].id.startswith("ccp/") and mixed.records[-1].id.startswith("pennfudan/")
    mixed_val = source("ccp+pennfudan:3", data_root, "val")
    assert mixed_val.parts["pennfudan"] == len(penn_val.records)
    # Each record is read by its own dataset's reader.
    for record in (mixed.records[0], mixed.records[-1]):
        assert set(np.unique(mixed.mask_reader(record))) <= {0, 1}
    # The mode a mixture records (ccp's "person") reads it again; one that does
    # not fit every part is refused.
    assert source("ccp+pennfudan", data_root, "val", mode=mixed.mode).parts == mixed_val.parts
    with pytest.raises(ValueError, match="same classes"):
        source("ccp+pennfudan", data_root, "train", mode="parts")
    with pytest.raises(ValueError, match="none of ccp, pennfudan has the mask mode 'prts'"):
        source("ccp+pennfudan", data_root, "train", mode="prts")
    # A share below 1 keeps that share of a part's training photos: seeded, in their order,
    # and only in training.
    shared = source("ccp:0.25+pennfudan", data_root, "train")
    kept = [r for r in shared.records if r.meta["dataset"] == "ccp"]
    assert shared.parts["ccp"] == len(kept) == round(0.25 * len(ccp_train.records))
    assert [r.image for r in kept] == sorted(r.image for r in kept)
    assert {r.image for r in kept} < {r.image for r in ccp_train.records}
    assert [r.id for r in source("ccp:0.25+pennfudan", data_root, "train").records] == \
        [r.id for r in shared.records]
    assert [r.id for r in source("ccp:0.25+pennfudan", data_root, "train", seed=1).records] != \
        [r.id for r in shared.records]
    assert source("ccp:0.25+pennfudan", data_root, "val").parts == mixed_val.parts | {
        "ccp": len(source("ccp", data_root, "val").records)}
    for bad, words in (("ccp+nothing", "unknown dataset 'nothing'"),
                       ("ccp+pennfudan:0", "at least 1"), ("ccp+pennfudan:1.5", "share"),
                       ("ccp+pennfudan:x", "whole number"), ("ccp+pennfudan:inf", "whole number"),
                       ("ccp:0.25", "'ccp:0.25' is one dataset"), ("ccp+ccp", "appears twice")):
        with pytest.raises(ValueError, match=words):
            source(bad, data_root, "train")


def test_one_front_door_for_every_dataset(data_root):
    images, masks = next(iter(data.load("ccp", data_root, "val", image_size=32, batch_size=4,
                                        mode="parts")))
    assert images.shape == (4, 32, 32, 3) and masks.shape == (4, 32, 32, 1)
    assert int(np.max(masks)) < len(ccp.PARTS)
    assert source("ccp", data_root, "val", mode="parts").num_classes == 6
    with pytest.raises(ValueError, match="no mask mode 'trimap'"):
        data.load("ccp", data_root, "val", mode="trimap")


def test_data_check_covers_ccp(data_root):
    from kerasseg.data.check import check

    report = check("ccp", data_root, progress=False)
    assert report["pairs"] == report["readable"] == 804 and not report["problems"]
    assert max(report["mask_values"]) <= 58
