"""The portrait set (Shen et al. 2016) on the real copy: layout, masks, bad files, mixtures."""

import os
import shutil

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from kerasseg.data import DataError, portraits
from kerasseg.data.check import check
from kerasseg.data.records import load_pair
from kerasseg.data.sources import source


def test_records_splits_and_masks_on_the_real_copy(data_root):
    records = portraits.records(data_root)
    assert len(records) == 1290 and records[0].id == "00001"
    train, val = source("portraits", data_root, "train"), source("portraits", data_root, "val")
    assert (len(train.records), len(val.records)) == (1032, 258)
    assert not {r.id for r in train.records} & {r.id for r in val.records}
    image, mask = load_pair(val.records[0], val.mask_reader, None, val.allowed_values)
    assert image.shape[:2] == mask.shape and set(np.unique(mask)) == {0, 1}
    np.testing.assert_array_equal(mask, loadmat(val.records[0].mask)["mask"])
    # A portrait's person fills much of the frame.
    assert 0.2 < mask.mean() < 0.9


def _copy(data_root, root, count):
    (root / "images_data_crop").mkdir(parents=True)
    (root / "images_mask").mkdir(parents=True)
    real = portraits.records(data_root)[:count]
    for record in real:
        shutil.copy(record.image, root / "images_data_crop")
        shutil.copy(record.mask, root / "images_mask")
    return real


def test_missing_and_mis_sized_masks_are_named_by_data_check(data_root, tmp_path):
    real = _copy(data_root, tmp_path, 4)
    masks = tmp_path / "images_mask"
    savemat(masks / f"{real[1].id}_mask.mat", {"mask": np.ones((10, 10), np.uint8)})
    savemat(masks / f"{real[2].id}_mask.mat", {"mask": np.full((320, 240), 3, np.uint8)})
    (masks / f"{real[3].id}_mask.mat").write_bytes(b"not a mat file")
    report = check("portraits", str(tmp_path), progress=False)
    assert report["pairs"] == 4 and report["readable"] == 1
    problems = "\n".join(report["problems"])
    assert f"{real[1].id}_mask.mat: mask is 10x10 but its image" in problems
    assert f"{real[2].id}_mask.mat: 'mask' must hold 0 and 1 only, got values [3]" in problems
    assert f"{real[3].id}_mask.mat: cannot read MATLAB file" in problems
    os.remove(masks / f"{real[0].id}_mask.mat")
    with pytest.raises(DataError, match=f"{real[0].id}_mask.mat: person mask of {real[0].id}.jpg"):
        portraits.records(str(tmp_path))


def test_in_a_mixture_with_ccp_and_pennfudan(data_root):
    mixed = source("ccp+pennfudan:4+portraits", data_root, "train")
    assert mixed.parts["portraits"] == 1032 and mixed.parts["pennfudan"] == 4 * 109
    assert mixed.upright(mixed.records[0]) is True
    # For instance training: Penn-Fudan's instance ids pass (the others' 0/1 masks do not
    # narrow what it may hold), each person photo is one instance, and the mode read is
    # the one recorded, so that a resumed run reads the same masks.
    instances = source("ccp+pennfudan:4+portraits", data_root, "train", mode="instances")
    assert instances.mode == "instances" and instances.allowed_values is None
    crowd = next(r for r in instances.records if r.id == "pennfudan/FudanPed00001")
    assert np.unique(load_pair(crowd, instances.mask_reader, (64, 64),
                               instances.allowed_values)[1]).tolist() == [0, 1, 2]
    for record in (instances.records[0], instances.records[-1]):   # ccp, portraits
        assert set(np.unique(instances.mask_reader(record)).tolist()) == {0, 1}
    assert source("ccp+pennfudan:4+portraits", data_root, "train").mode == "person"
