"""Instance models through the commands: predict's files, the LiteRT runner's, and the errors
given before any file is touched. Real Penn-Fudan photos, copied into a temporary folder."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from kerasseg.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def instance_file(tmp_path_factory):
    """An (untrained) instance model saved as .keras: the files' format is under test here."""
    from kerasseg import unet
    from kerasseg.instances.model import instance_model

    path = tmp_path_factory.mktemp("model") / "instances.keras"
    instance_model(unet((64, 64, 3), filters=8, depth=3)).save(path)
    return str(path)


@pytest.fixture
def photos(data_root, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    source = os.path.join(data_root, "pennfudan", "PennFudanPed", "PNGImages")
    for name in ("FudanPed00001.png", "PennPed00010.png"):
        shutil.copy(os.path.join(source, name), folder / name)
    return folder


def _check_outputs(ids_path, json_path, photo):
    record = json.loads(open(json_path).read())
    ids = np.asarray(Image.open(ids_path))
    width, height = Image.open(photo).size
    assert ids.shape == (height, width) and (record["width"], record["height"]) == (width, height)
    assert ids.max() == record["count"] == len(record["instances"])
    for item in record["instances"]:
        x0, y0, x1, y1 = item["box"]
        chosen = np.argwhere(ids == item["id"])
        assert item["area"] == len(chosen) and item["label"] == "person"
        assert (y0, x0) == tuple(chosen.min(axis=0)) and (y1 - 1, x1 - 1) == tuple(
            chosen.max(axis=0))
        assert 0 <= item["score"] <= 1
    return record


def test_predict_writes_ids_json_and_overlay_per_photo(instance_file, photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["predict", "--model", instance_file, "--out", str(out), str(photos)]) == 0
    assert "wrote 2 instance maps" in capsys.readouterr().out
    for photo in sorted(photos.iterdir()):
        stem = out / photo.stem
        record = _check_outputs(f"{stem}_instances.png", f"{stem}_instances.json", photo)
        assert record["format"] == "kerasseg-instances"
        assert Image.open(f"{stem}_overlay.png").size == Image.open(photo).size
    # Its own outputs are not read back as photos, and are replaced only with --force.
    assert main(["predict", "--model", instance_file, "--out", str(out), str(photos)]) == 2
    assert "replaces no file without --force" in capsys.readouterr().err
    assert main(["predict", "--model", instance_file, "--out", str(out), "--force",
                 str(photos)]) == 0
    assert main(["predict", "--model", instance_file, "--out", str(tmp_path / "tta"), "--tta",
                 str(photos)]) == 2
    assert "instance model" in capsys.readouterr().err and not (tmp_path / "tta").exists()


def test_the_litert_runner_writes_what_predict_writes(instance_file, photos, tmp_path):
    from kerasseg.export import export_tflite
    from kerasseg.saving import load_keras_model

    path = tmp_path / "instances.tflite"
    export_tflite(load_keras_model(instance_file), str(path), labels=["background", "person"])
    photo = sorted(photos.iterdir())[0]
    out = tmp_path / "x_instances.png"
    done = subprocess.run([sys.executable, os.path.join(REPO, "export", "run_tflite.py"),
                           str(path), str(photo), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    record = _check_outputs(out, tmp_path / "x_instances.json", photo)
    assert "instances" in done.stdout and record["model"] == str(path)


def test_more_than_255_instances_are_written_in_16_bits(tmp_path):
    from kerasseg import outputs
    from kerasseg.litert import instance_files

    ids = np.arange(300 * 4, dtype=np.int32).reshape(40, 30) // 4 + 1
    items = [{"id": k, "score": 0.5, "box": [0, 0, 1, 1], "area": 4} for k in range(1, 301)]
    ids_png, record, tinted = instance_files(np.zeros((40, 30, 3), np.uint8), ids, items)
    assert ids_png.dtype == np.uint16 and record["count"] == 300 and tinted.shape == (40, 30, 3)
    outputs.write_png(tmp_path / "ids.png", ids_png)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "ids.png")), ids)


def test_instance_training_without_instance_ids_is_refused_before_any_file(data_root, tmp_path,
                                                                           capsys):
    out = tmp_path / "run"
    common = ["train", "--model", "unet", "--arg", "filters=8", "--data-dir", data_root,
              "--image-size", "64", "--epochs", "1", "--out", str(out)]
    assert main([*common, "--dataset", "ph2", "--task", "instances"]) == 2
    assert "needs masks with instance ids" in capsys.readouterr().err
    assert main([*common, "--dataset", "pennfudan", "--task", "instances", "--init-from",
                 "unet-ph2"]) == 2
    assert "--init-from unet-ph2: its weights do not fit" in capsys.readouterr().err
    for without in (["--task", "instances"], ["--init-from", "person"]):
        assert main([*common, "--dataset", "pennfudan", "--freeze-semantic", *without]) == 2
        assert "it needs --task instances and --init-from" in capsys.readouterr().err
    assert main([*common, "--dataset", "pennfudan", "--head-dilations", "1,2"]) == 2
    assert "--head-dilations shapes an instance model's heads" in capsys.readouterr().err
    assert not out.exists()


def test_an_instance_model_starts_an_instance_run_heads_and_all(data_root, tmp_path, capsys,
                                                               monkeypatch):
    """--init-from an instance model's file: the whole model, heads included, starts the run
    (a run trained on one dataset goes on on another); other runs refuse it, named."""
    import keras

    from kerasseg import train as training
    from kerasseg import unet
    from kerasseg.instances.model import instance_model
    from kerasseg.saving import load_keras_model

    keras.utils.set_random_seed(1)
    start = tmp_path / "start.keras"
    instance_model(unet((32, 32, 3), filters=4, depth=3), head_dilations=(1, 2)).save(start)
    common = ["train", "--model", "unet", "--arg", "filters=4", "--arg", "depth=3",
              "--dataset", "pennfudan", "--data-dir", data_root, "--image-size", "32",
              "--epochs", "1", "--init-from", str(start), "--out", str(tmp_path / "bad")]
    assert main(common) == 2
    assert "is an instance model: it starts --task instances runs only" in \
        capsys.readouterr().err
    assert main([*common, "--task", "instances"]) == 2   # the default heads: four convolutions
    assert "the same --head-dilations" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()

    # The model the run would train (train() itself is tested with the semantic runs) holds
    # every weight of the file, heads included.
    monkeypatch.setattr(training, "train", lambda build, *args, **kwargs: build())
    built = training.train_on_dataset("unet", "pennfudan", data_root, model_args={
        "filters": 4, "depth": 3}, image_size=32, task="instances", head_dilations=(1, 2),
        init_from=str(start), out_dir=str(tmp_path / "run"))
    before = load_keras_model(str(start))
    assert len(built.weights) == len(before.weights)
    for ours, theirs in zip(built.weights, before.weights):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs), err_msg=ours.path)


def test_a_run_grouping_another_models_mask_keeps_that_mask_and_starts_another(
        data_root, tmp_path, capsys, monkeypatch):
    """--foreground-from: the run trains an instance model whose foreground is the given
    model's mask, frozen; bad values are refused before the run folder exists."""
    import keras

    from kerasseg import unet
    from kerasseg.saving import load_keras_model

    keras.utils.set_random_seed(2)
    mask = tmp_path / "mask.keras"
    unet((32, 32, 3), filters=4, depth=3, name="mask").save(mask)
    out = tmp_path / "run"
    common = ["train", "--model", "unet", "--arg", "filters=4", "--arg", "depth=3",
              "--dataset", "pennfudan", "--data-dir", data_root, "--image-size", "32",
              "--epochs", "1", "--batch-size", "16", "--out", str(out)]
    for extra, message in (
            ([], "--foreground-from gives an instance model another model's mask"),
            (["--task", "instances", "--image-size", "64"], "reads 32x32 images: give "
                                                            "--image-size 32"),
            (["--task", "instances", "--foreground-from", str(tmp_path / "none.keras")],
             "neither a zoo model"),
            (["--task", "instances", "--foreground-from", "person-parts", "--image-size",
              "224"], "not a binary semantic model")):
        assert main([*common, "--foreground-from", str(mask), *extra]) == 2, extra
        assert message in capsys.readouterr().err, extra
    assert not out.exists()

    assert main([*common, "--task", "instances", "--foreground-from", str(mask)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["foreground_from"] == str(mask)
    assert f"--foreground-from {mask}" in config["command"]
    trained = load_keras_model(str(out / "last.keras"))
    kept = load_keras_model(str(mask))
    for ours, theirs in zip(trained.get_layer("mask").weights, kept.weights):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs), err_msg=ours.path)
    # A second stage starts from the run's file: its grouping model, the mask given again.
    from kerasseg import train as training

    monkeypatch.setattr(training, "train", lambda build, *args, **kwargs: build())
    again = training.train_on_dataset(
        "unet", "pennfudan", data_root, model_args={"filters": 4, "depth": 3}, image_size=32,
        task="instances", init_from=str(out / "last.keras"), foreground_from=str(mask),
        out_dir=str(tmp_path / "again"))
    assert len(again.weights) == len(trained.weights)
    for ours, theirs in zip(again.weights, trained.weights):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs), err_msg=ours.path)
