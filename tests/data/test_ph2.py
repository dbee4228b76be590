import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from kerasseg.data import DataError, ph2


@pytest.fixture(scope="module")
def ph2_root(data_root):
    return os.path.join(data_root, "ph2")


@pytest.fixture(scope="module")
def all_records(ph2_root):
    return ph2.records(ph2_root)


def test_counts_and_diagnoses(all_records):
    assert len(all_records) == 160
    counts = {d: sum(r.meta["diagnosis"] == d for r in all_records) for d in ph2.DIAGNOSES}
    assert counts == {"common_nevus": 64, "atypical_nevus": 64, "melanoma": 32}


def test_official_test_split_is_baked_in_and_missing_cases_are_named(ph2_root, all_records):
    with open(os.path.join(ph2_root, "test_split.json")) as f:
        assert sorted(json.load(f)["test"]) == sorted(ph2.TEST_IDS)
    assert not {r.id for r in all_records} & set(ph2.TEST_IDS)
    with pytest.raises(DataError, match=r"needs 40 cases and 40 are missing.*IMD010"):
        ph2.split_records(all_records, "test")


def test_train_val_split_is_deterministic_disjoint_and_stratified(all_records):
    train = ph2.split_records(all_records, "train")
    val = ph2.split_records(all_records, "val")
    assert len(train) + len(val) == 160 and not {r.id for r in train} & {r.id for r in val}
    assert [r.id for r in ph2.split_records(all_records, "val")] == [r.id for r in val]
    melanoma_share = sum(r.meta["diagnosis"] == "melanoma" for r in val) / len(val)
    assert abs(melanoma_share - 32 / 160) < 0.05
    assert [r.id for r in ph2.split_records(all_records, "val", seed=1)] != [r.id for r in val]


def test_folds_cover_every_case_once(all_records):
    folds = ph2.folds(all_records, k=5)
    val_ids = [r.id for _, val in folds for r in val]
    assert sorted(val_ids) == sorted(r.id for r in all_records)
    assert all(len(train) + len(val) == 160 for train, val in folds)


def test_pipeline_yields_aligned_images_and_masks(ph2_root, all_records):
    dataset = ph2.load(ph2_root, split="val", image_size=96, batch_size=8)
    images, masks = [np.concatenate(parts) for parts in zip(*[(i.numpy(), m.numpy()) for i, m in dataset])]
    assert images.shape == (32, 96, 96, 3) and images.dtype == np.float32
    assert masks.shape == (32, 96, 96, 1) and set(np.unique(masks)) == {0, 1}
    # Lesions are darker than the skin around them: true only if masks sit on their images.
    darker = [img[m[..., 0] == 1].mean() < img[m[..., 0] == 0].mean() for img, m in zip(images, masks)]
    assert np.mean(darker) > 0.9
    # Resizing keeps each lesion's coverage.
    val = ph2.split_records(all_records, "val")
    original = [np.mean(np.asarray(Image.open(r.mask)) > 0) for r in val]
    np.testing.assert_allclose(masks.reshape(32, -1).mean(axis=1), original, atol=0.01)


def _copy_cases(ph2_root, tmp_path, count=3):
    source = os.path.join(ph2_root, "PH2Dataset", "PH2 Dataset images")
    target = tmp_path / "PH2Dataset" / "PH2 Dataset images"
    cases = sorted(os.listdir(source))[:count]
    for case in cases:
        shutil.copytree(os.path.join(source, case), target / case)
    return target, cases


def test_bmp_images_as_distributed_are_read(ph2_root, tmp_path):
    target, cases = _copy_cases(ph2_root, tmp_path, 2)
    png = target / cases[0] / f"{cases[0]}_Dermoscopic_Image" / f"{cases[0]}.png"
    Image.open(png).save(png.with_suffix(".bmp"))
    os.remove(png)
    records = ph2.records(str(tmp_path))
    assert records[0].image.endswith(".bmp") and records[1].image.endswith(".png")
    images = [image.numpy() for image, _ in ph2.load(str(tmp_path), "all", image_size=32)]
    assert len(images) == 2


def test_bad_files_are_named_or_skipped(ph2_root, tmp_path):
    target, cases = _copy_cases(ph2_root, tmp_path, 3)
    image = target / cases[1] / f"{cases[1]}_Dermoscopic_Image" / f"{cases[1]}.png"
    with open(image, "rb") as f:
        head = f.read(2000)
    with open(image, "wb") as f:                # a truncated copy of a real file
        f.write(head)
    with pytest.raises(Exception, match=rf"{cases[1]}\.png: cannot decode image"):
        list(ph2.load(str(tmp_path), "all", image_size=32))
    with pytest.warns(UserWarning, match=rf"skipping {cases[1]}"):
        kept = list(ph2.load(str(tmp_path), "all", image_size=32, on_error="skip"))
    assert len(kept) == 2

    os.remove(target / cases[2] / f"{cases[2]}_lesion" / f"{cases[2]}_lesion.bmp")
    with pytest.raises(DataError, match=rf"{cases[2]}_lesion\.bmp: lesion mask not found"):
        ph2.records(str(tmp_path))


def test_mask_of_the_wrong_size_is_named(ph2_root, tmp_path):
    target, cases = _copy_cases(ph2_root, tmp_path, 1)
    mask = target / cases[0] / f"{cases[0]}_lesion" / f"{cases[0]}_lesion.bmp"
    Image.open(mask).resize((100, 80)).save(mask)
    with pytest.raises(Exception, match=r"mask is 100x80 but its image .* is \d+x\d+"):
        list(ph2.load(str(tmp_path), "all", image_size=32))


def test_empty_root_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no PH2 layout here"):
        ph2.records(str(tmp_path))
