import csv
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from kerasseg.data import DataError, folder, mads, oxford_pets, pennfudan


def _collect(dataset):
    return [(image.numpy(), mask.numpy()) for image, mask in dataset]


def test_oxford_pets_splits_and_real_quirks(data_root):
    root = os.path.join(data_root, "oxford_pets")
    assert len(oxford_pets.records(root, "all")) == 198
    assert len(oxford_pets.records(root, "trainval")) == 100
    pairs = _collect(oxford_pets.load(root, "all", image_size=64, border="ignore"))
    assert len(pairs) == 198          # the GIF and the RGBA PNG named .jpg load too
    names = [r.id for r in oxford_pets.records(root, "all")]
    gif_mask = pairs[names.index("Abyssinian_34")][1]
    assert set(np.unique(gif_mask)) == {0}          # its trimap has no pet
    values = set(np.unique(np.concatenate([m.ravel() for _, m in pairs])).tolist())
    assert values == {0, 1, 255}
    trimap = _collect(oxford_pets.load(root, "test", mode="trimap", image_size=32))
    assert set(np.unique(np.concatenate([m.ravel() for _, m in trimap])).tolist()) == {0, 1, 2}


def test_pennfudan_binary_and_instances(data_root):
    records = pennfudan.records(data_root)
    assert len(records) == 136
    train = pennfudan.split_records(records, "train")
    val = pennfudan.split_records(records, "val")
    assert len(train) + len(val) == 136 and not {r.id for r in train} & {r.id for r in val}
    instances = _collect(pennfudan.load(data_root, "val", mode="instances", image_size=64))
    binary = _collect(pennfudan.load(data_root, "val", image_size=64))
    assert max(m.max() for _, m in instances) >= 2
    for (_, ids), (_, person) in zip(instances, binary):
        np.testing.assert_array_equal(ids > 0, person == 1)


@pytest.fixture(scope="module")
def mads_tree(data_root, tmp_path_factory):
    """A tree laid out from the real MADS manifest, with small generated frames."""
    root = tmp_path_factory.mktemp("mads")
    base = root / mads.FOLDER
    (base / "images").mkdir(parents=True)
    (base / "masks").mkdir()
    shutil.copy(os.path.join(data_root, "mads", "df.csv"), base / "df.csv")
    with open(base / "df.csv") as f:
        rows = list(csv.DictReader(f))
    frame = np.zeros((24, 32, 3), np.uint8)
    person = np.zeros((24, 32), np.uint8)
    person[4:20, 12:20] = 255
    for i, row in enumerate(rows):
        frame[..., 0] = i % 256
        Image.fromarray(frame).save(base / row["images"])
        Image.fromarray(person).save(base / row["masks"])
    return str(root), rows


def test_mads_manifest_layout_and_sequence_split(mads_tree):
    root, rows = mads_tree
    records = mads.records(root)
    assert len(records) == len(rows) == 1192
    train = mads.split_records(records, "train")
    val = mads.split_records(records, "val")
    assert len(train) + len(val) == 1192 and val
    assert not {r.group for r in train} & {r.group for r in val}
    assert mads.sequence_of("HipHop_HipHop1_C0_00180") == "HipHop_HipHop1"
    image, mask = next(iter(mads.load(root, "val", image_size=(24, 32))))
    assert image.shape == (24, 32, 3) and set(np.unique(mask.numpy())) == {0, 1}


def test_mads_missing_frame_is_named(mads_tree, tmp_path):
    root, rows = mads_tree
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    os.remove(copy / mads.FOLDER / rows[3]["images"])
    with pytest.raises(DataError, match=os.path.basename(rows[3]["images"]) + ": image of"):
        mads.records(str(copy))


def test_folder_with_suffix_value_maps_and_palettes(data_root, tmp_path):
    source = os.path.join(data_root, "pennfudan", "PennFudanPed")
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    names = sorted(os.listdir(os.path.join(source, "PNGImages")))[:3]
    for name in names:
        shutil.copy(os.path.join(source, "PNGImages", name), images / name)
        ids = np.asarray(Image.open(os.path.join(source, "PedMasks", name[:-4] + "_mask.png")))
        Image.fromarray(((ids > 0) * 255).astype(np.uint8)).save(masks / (name[:-4] + "_mask.png"))
    pairs = _collect(folder.load(str(images), str(masks), mask_suffix="_mask", image_size=32))
    assert len(pairs) == 3 and set(np.unique(np.concatenate([m.ravel() for _, m in pairs]))) == {0, 1}

    colour = masks / (names[0][:-4] + "_mask.png")
    gray = np.asarray(Image.open(colour))
    rgb = np.stack([gray, np.zeros_like(gray), np.zeros_like(gray)], -1)
    Image.fromarray(rgb).save(colour)
    reader = folder.mask_reader({(0, 0, 0): 0, (255, 0, 0): 1})
    record = folder.records(str(images), str(masks), "_mask")[0]
    np.testing.assert_array_equal(reader(record), gray // 255)
    with pytest.raises(DataError, match=r"colour \(255, 0, 0\).* not in the palette"):
        folder.mask_reader({(0, 0, 0): 0})(record)
    with pytest.raises(DataError, match=r"values \[255\] are not in the value map"):
        folder.mask_reader({0: 0})(folder.records(str(images), str(masks), "_mask")[1])

    os.remove(masks / (names[2][:-4] + "_mask.png"))
    with pytest.raises(DataError, match=rf"{names[2]}: no mask named"):
        folder.records(str(images), str(masks), "_mask")
    with pytest.warns(UserWarning, match="skipping"):
        assert len(folder.records(str(images), str(masks), "_mask", on_error="skip")) == 2


def test_folder_unexpected_values_and_grayscale_images(data_root, tmp_path):
    source = os.path.join(data_root, "pennfudan", "PennFudanPed")
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    name = sorted(os.listdir(os.path.join(source, "PNGImages")))[0]
    # A real photo stored as grayscale, with its real instance-id mask (values 0..k).
    Image.open(os.path.join(source, "PNGImages", name)).convert("L").save(images / name)
    shutil.copy(os.path.join(source, "PedMasks", name[:-4] + "_mask.png"), masks / name)
    image, _ = next(iter(folder.load(str(images), str(masks), image_size=32)))
    assert image.shape == (32, 32, 3)
    with pytest.raises(Exception, match=rf"{name}: unexpected mask values \[2\]; expected only \[0, 1\]"):
        list(folder.load(str(images), str(masks), num_classes=2, image_size=32))


def test_mads_training_command_runs_on_a_mads_layout(mads_tree, data_root, tmp_path):
    """The documented MADS command, mixing MADS (the manifest's 1,192 names with generated
    frames) with the real Penn-Fudan copy, each split by its own rules."""
    from kerasseg.cli import main

    root, _ = mads_tree
    data = tmp_path / "data"
    data.mkdir()
    (data / "mads").symlink_to(root)
    (data / "pennfudan").symlink_to(os.path.join(data_root, "pennfudan"))
    out = tmp_path / "run"
    assert main(["train", "--model", "unet", "--arg", "filters=4", "--arg", "depth=2",
                 "--dataset", "mads+pennfudan:2", "--data-dir", str(data), "--image-size", "32",
                 "--epochs", "1", "--batch-size", "64", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    train, val = config["train_parts"], config["val_parts"]
    assert train["mads"] + val["mads"] == 1192
    assert train["pennfudan"] == 2 * len(pennfudan.split_records(
        pennfudan.records(data_root), "train"))
    assert val["pennfudan"] == len(pennfudan.split_records(pennfudan.records(data_root), "val"))
    assert config["train_images"] == train["mads"] + train["pennfudan"]
