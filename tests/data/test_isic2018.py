"""ISIC 2018 Task 1 on the real copy: layout, splits, masks, bad files, the challenge's parts."""

import dataclasses
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from kerasseg.data import DataError, isic2018
from kerasseg.data.records import load_pair
from kerasseg.data.sources import source


def _copy(data_root, root, count, part="Training"):
    images, masks = isic2018.folders(part)
    (root / images).mkdir(parents=True)
    (root / masks).mkdir(parents=True)
    real = isic2018.records(os.path.join(data_root, "isic2018"))[:count]
    for record in real:
        shutil.copy(record.image, root / images)
        shutil.copy(record.mask, root / masks)
    return real


def test_records_splits_and_masks_on_the_real_copy(data_root):
    records = isic2018.records(os.path.join(data_root, "isic2018"))
    assert len(records) == 2087 and records[0].id == "ISIC_0000000"
    train, val = source("isic2018", data_root, "train"), source("isic2018", data_root, "val")
    assert len(train.records) + len(val.records) == 2087
    assert not {r.id for r in train.records} & {r.id for r in val.records}
    assert [r.id for r in val.records] == [r.id for r in source("isic2018", data_root, "val").records]
    image, mask = load_pair(val.records[0], val.mask_reader, None, val.allowed_values)
    assert image.shape == (224, 224, 3) and set(np.unique(mask)) == {0, 1}
    # The mask's lesion is the file's 255s.
    raw = np.asarray(Image.open(val.records[0].mask))
    np.testing.assert_array_equal(mask, raw == 255)


def test_the_challenges_validation_part_loads_where_a_copy_has_it(data_root, tmp_path):
    _copy(data_root, tmp_path, 3, "Validation")
    assert len(source("isic2018", str(tmp_path), "challenge-val").records) == 3
    with pytest.raises(DataError, match="no ISIC 2018 Test part here"):
        source("isic2018", str(tmp_path), "challenge-test")
    with pytest.raises(DataError, match="no ISIC 2018 Training part here"):
        source("isic2018", str(tmp_path), "train")


def test_a_large_jpeg_is_decoded_once_at_a_reduced_scale(data_root, tmp_path):
    real = _copy(data_root, tmp_path, 1)
    images, masks = isic2018.folders("Training")
    # A real copy's photo: 2,000 x 1,600 (the copy here was resized to 224 x 224).
    big = Image.open(real[0].image).resize((2000, 1600), Image.BILINEAR)
    big.save(tmp_path / images / f"{real[0].id}.jpg", quality=90)
    Image.open(real[0].mask).resize((2000, 1600), Image.NEAREST).save(
        tmp_path / masks / f"{real[0].id}_segmentation.png")
    data = source("isic2018", str(tmp_path), "all")
    image, mask = load_pair(data.records[0], data.mask_reader, (224, 224), data.allowed_values)
    assert image.shape == (224, 224, 3) and mask.shape == (224, 224)
    full, full_mask = load_pair(data.records[0], data.mask_reader, None, data.allowed_values)
    assert full.shape == (1600, 2000, 3) and full_mask.shape == (1600, 2000)
    # The reduced decode gives the same picture as the full one, resized.
    resized = np.asarray(Image.fromarray(full).resize((224, 224), Image.BILINEAR), np.float32)
    assert np.abs(resized - image).mean() < 3


def test_bad_files_are_named(data_root, tmp_path):
    real = _copy(data_root, tmp_path, 3)
    images, masks = isic2018.folders("Training")
    mask = np.asarray(Image.open(real[1].mask)).copy()
    mask[0, 0] = 128
    Image.fromarray(mask).save(tmp_path / masks / os.path.basename(real[1].mask))
    Image.fromarray(np.asarray(Image.open(real[2].mask))[:100]).save(
        tmp_path / masks / os.path.basename(real[2].mask))
    data = source("isic2018", str(tmp_path), "all")
    with pytest.raises(DataError, match=r"_segmentation.png: an ISIC lesion mask holds 0 and 255 "
                                        r"only, got values \[0, 128, 255\]"):
        load_pair(data.records[1], data.mask_reader)
    with pytest.raises(DataError, match=r"mask is 224x100 but its image .* is 224x224"):
        load_pair(data.records[2], data.mask_reader)
    os.remove(tmp_path / masks / os.path.basename(real[0].mask))
    with pytest.raises(DataError, match=f"{real[0].id}_segmentation.png: lesion mask of "
                                        f"{real[0].id}.jpg not found"):
        source("isic2018", str(tmp_path), "all")


def test_mixed_with_ph2(data_root):
    mixed = source("isic2018+ph2:2", data_root, "train")
    assert mixed.parts == {"isic2018": 1670, "ph2": 256}
    # A batch of both datasets' first and last records, each mask read by its own reader
    # (ISIC's 0/255 PNGs, PH2's 0/1 BMPs); not shuffled, so the cache is not filled with all
    # 1,926 images for one batch.
    ends = dataclasses.replace(mixed, records=mixed.records[:2] + mixed.records[-2:])
    assert [r.meta["dataset"] for r in ends.records] == ["isic2018"] * 2 + ["ph2"] * 2
    images, masks = next(iter(ends.dataset(32, batch_size=4)))
    assert images.shape == (4, 32, 32, 3)
    assert all(set(np.unique(mask)) == {0, 1} for mask in masks.numpy())
