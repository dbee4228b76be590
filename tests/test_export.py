"""Export: SavedModel and TFLite checked against Keras on real PH2 images; the LiteRT-only runner."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO

SIZE = 128   # ph2-mobile's input


@pytest.fixture(scope="module")
def trained_unet(data_root):
    """The zoo's ph2-mobile: a small U-Net trained on the real PH2 train split at 128x128
    (trained here before, so the comparisons below are of a model that learned)."""
    from kerasseg import zoo

    return zoo.load("ph2-mobile")


@pytest.fixture(scope="module")
def ph2_val(data_root):
    from kerasseg.data.sources import source

    return source("ph2", data_root, "val")


@pytest.fixture(scope="module")
def exports(trained_unet, ph2_val, data_root, tmp_path_factory):
    """ph2-mobile in float32 and float16 through the API, and in int8 through the command line
    as a user names a zoo model (its labels and evaluation split come from the card)."""
    import contextlib
    import io

    from kerasseg.cli import main
    from kerasseg.export import export_tflite

    folder = tmp_path_factory.mktemp("exports")
    found = {q: export_tflite(trained_unet, str(folder / f"unet_{q}.tflite"), q,
                              fidelity_data=ph2_val)
             for q in ("none", "float16")}
    printed, errors = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(errors):
        code = main(["export", "--model", "ph2-mobile", "--format", "tflite", "--quantize",
                     "int8", "--representative-data", "ph2:train", "--samples", "32",
                     "--data-dir", data_root, "--out", str(folder / "unet_int8.tflite")])
    assert code == 0, errors.getvalue()[-1500:]
    found["int8"] = json.loads((folder / "unet_int8.report.json").read_text())
    return found | {"folder": folder, "printed": printed.getvalue()}


def test_tflite_fidelity_on_real_ph2_validation_images(exports):
    none, half, int8 = (exports[q]["fidelity"] for q in ("none", "float16", "int8"))
    assert none["images"] == 32 and none["data"] == "ph2:val"
    assert none["dice_keras"] > 0.7  # the model learned something, so the comparison means something
    assert none["mask_agreement"] >= 0.999 and none["max_abs_diff"] < 1e-4
    assert half["mask_agreement"] >= 0.995
    assert abs(int8["dice_tflite"] - none["dice_keras"]) <= 0.01
    sizes = {q: exports[q]["bytes"] for q in ("none", "float16", "int8")}
    assert sizes["int8"] < 0.35 * sizes["none"] and sizes["float16"] < 0.6 * sizes["none"]


def test_int8_file_has_uint8_io_and_a_sidecar(exports):
    from ai_edge_litert.interpreter import Interpreter

    path = exports["folder"] / "unet_int8.tflite"
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    details = interpreter.get_input_details()[0]
    assert details["dtype"] == np.uint8 and list(details["shape"]) == [1, SIZE, SIZE, 3]
    assert interpreter.get_output_details()[0]["dtype"] == np.uint8
    # Only the input and output tensors keep their names (the others' cost bytes on a phone),
    # and the signature its keys.
    ends = {details["index"], interpreter.get_output_details()[0]["index"]}
    named = {t["index"]: t["name"] for t in interpreter.get_tensor_details() if t["name"]}
    assert set(named) == ends and named[details["index"]] == "serving_default_image:0", named
    assert interpreter.get_signature_list() == {
        "serving_default": {"inputs": ["image"], "outputs": ["output_0"]}}
    # The command line takes a zoo name: the card's labels go into the file's sidecar, and
    # the fidelity is measured on the card's evaluation split.
    sidecar = json.loads((exports["folder"] / "unet_int8.json").read_text())
    assert sidecar["labels"] == ["skin", "lesion"] and sidecar["quantize"] == "int8"
    assert "on 32 ph2:val images: mask agreement" in exports["printed"]
    report = json.loads((exports["folder"] / "unet_int8.report.json").read_text())
    assert report["bytes"] == path.stat().st_size
    # Through the API without labels, a binary model's are background and foreground.
    default = json.loads((exports["folder"] / "unet_float16.json").read_text())
    assert default["labels"] == ["background", "foreground"]


def test_non_builtin_op_is_named_with_its_layer():
    import keras
    import tensorflow as tf

    from kerasseg.export import ExportError, convert_tflite

    inputs = keras.Input((16, 16, 3))
    pooled = keras.layers.Lambda(
        lambda x: tf.nn.max_pool_with_argmax(x, 2, 2, "SAME")[0], name="argmax_pool")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(1, 1, name="seg_logits")(pooled), name="bad")
    with pytest.raises(ExportError, match=r"tf\.MaxPoolWithArgmax \(from layer argmax_pool\)"):
        convert_tflite(model)


def test_savedmodel_serves_uint8_images_of_any_size(trained_unet, tmp_path):
    import tensorflow as tf

    from kerasseg.export import export_savedmodel

    out = str(tmp_path / "saved")
    export_savedmodel(trained_unet, out)
    loaded = tf.saved_model.load(out)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (1, 97, 131, 3), dtype=np.uint8)
    served = loaded.signatures["serving_default"](images=tf.constant(image))
    assert served["mask"].shape == (1, 97, 131) and served["mask"].dtype == tf.uint8
    assert served["probabilities"].shape == (1, 97, 131, 1)
    # The same steps in Keras: resize in, model, sigmoid, resize back.
    x = tf.image.resize(image.astype(np.float32) / 255.0, (SIZE, SIZE))
    p = tf.image.resize(tf.sigmoid(trained_unet(x, training=False)), (97, 131))
    np.testing.assert_allclose(served["probabilities"].numpy(), p.numpy(), atol=1e-5)
    raw = loaded.signatures["raw"](inputs=x)["outputs"]
    np.testing.assert_allclose(raw.numpy(), trained_unet(x, training=False).numpy(), atol=1e-5)


def test_existing_outputs_are_kept_and_interrupted_writes_leave_nothing(trained_unet, tmp_path,
                                                                         monkeypatch):
    from kerasseg import export

    target = tmp_path / "model.tflite"
    target.write_bytes(b"precious")
    with pytest.raises(export.ExportError, match="already exists; kerasseg replaces no file without --force"):
        export.export_tflite(trained_unet, str(target))
    assert target.read_bytes() == b"precious"

    fresh = tmp_path / "fresh.tflite"

    def interrupted(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(export.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export.export_tflite(trained_unet, str(fresh))
    assert sorted(os.listdir(tmp_path)) == ["model.tflite"]  # no temporary or partial files


def test_bad_representative_data_is_refused(trained_unet):
    from kerasseg.export import ExportError, convert_tflite

    with pytest.raises(ExportError, match=r"shape \(4, 32, 32, 3\); expected \(N, 128, 128, 3\)"):
        convert_tflite(trained_unet, "int8", np.zeros((4, 32, 32, 3), np.float32))
    with pytest.raises(ExportError, match="dtype uint8; expected float32"):
        convert_tflite(trained_unet, "int8", np.zeros((4, SIZE, SIZE, 3), np.uint8))
    with pytest.raises(ExportError, match="needs representative data"):
        convert_tflite(trained_unet, "int8")


def test_dataset_and_split_of_a_data_option_keep_a_mixtures_weights():
    from kerasseg.export import dataset_split

    # The lesion card's own export command calibrates on "isic2018+ph2:2:train".
    assert dataset_split("isic2018+ph2:2:train") == ("isic2018+ph2:2", "train")
    assert dataset_split("isic2018+ph2:2") == ("isic2018+ph2:2", "")
    assert dataset_split("isic2018+ph2:0.5") == ("isic2018+ph2:0.5", "")
    assert dataset_split("isic2018+ph2:0.5:val") == ("isic2018+ph2:0.5", "val")
    assert dataset_split("ph2:val") == ("ph2", "val") and dataset_split("ph2") == ("ph2", "")


def test_export_command_errors(data_root, tmp_path, capsys):
    from kerasseg.cli import main

    not_a_model = tmp_path / "notes.keras"
    not_a_model.write_text("hello")
    cases = [
        (["--model", "no-such-model", "--format", "tflite", "--out", str(tmp_path / "a.tflite")],
         "not a model file, a zoo name"),
        (["--model", str(not_a_model), "--format", "tflite", "--out", str(tmp_path / "a.tflite")],
         "could not be loaded as a Keras model"),
        (["--model", "classic:otsu", "--format", "tflite", "--out", str(tmp_path / "a.tflite")],
         "only Keras models"),
    ]
    for arguments, message in cases:
        code, err = main(["export", *arguments]), capsys.readouterr().err
        assert code == 2 and message in err, err[-800:]
    assert not (tmp_path / "a.tflite").exists()


BLOCK_TENSORFLOW = """
import runpy, sys
sys.modules["tensorflow"] = None  # any import of TensorFlow now fails
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as done:
    assert "tensorflow" not in [m.split(".")[0] for m in sys.modules if sys.modules[m] is not None]
    raise
"""


def test_litert_runner_replaces_no_file_and_checks_its_options(exports, ph2_val, tmp_path,
                                                               capsys):
    import shutil

    from kerasseg.litert import main

    model = tmp_path / "unet.tflite"
    shutil.copy(exports["folder"] / "unet_none.tflite", model)
    shutil.copy(exports["folder"] / "unet_none.json", tmp_path / "unet.json")
    photo = tmp_path / "photo.png"
    shutil.copy(ph2_val.records[0].image, photo)
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"a user's file")
    before = {path: path.read_bytes() for path in tmp_path.iterdir()}

    def refused(*args):
        with pytest.raises(SystemExit) as stop:
            main([str(model), str(photo), *args])
        return stop.value.code

    assert refused("--out", str(photo)) == 2              # the image itself
    assert refused("--out", str(tmp_path / "unet.json")) == 2   # the model's sidecar
    assert refused("--out", str(mine)) == 2               # a file already there
    assert "already exists, and this runner replaces no file" in capsys.readouterr().err
    assert refused("--out", str(tmp_path / "new.png"), "--overlay", str(mine)) == 2
    assert refused("--out", str(tmp_path / "new.png"), "--threshold", "1.5") == 2
    assert {path: path.read_bytes() for path in tmp_path.iterdir()} == before
    # A sidecar that is not kerasseg's is named, not a KeyError later.
    (tmp_path / "unet.json").write_text('{"image": "x.png", "instances": []}')
    assert refused("--out", str(tmp_path / "new.png")) == 2
    assert "unet.json: not a kerasseg sidecar" in capsys.readouterr().err
    assert not (tmp_path / "new.png").exists()


def test_litert_runner_needs_no_tensorflow_and_matches_keras(exports, trained_unet, ph2_val,
                                                             tmp_path):
    from kerasseg.data.records import read_image
    from kerasseg.segmenter import KerasSegmenter

    record = ph2_val.records[0]
    out = tmp_path / "mask.png"
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_TENSORFLOW, os.path.join(REPO, "export", "run_tflite.py"),
         str(exports["folder"] / "unet_none.tflite"), record.image, "--out", str(out)],
        capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "mask_overlay.png").exists()
    from PIL import Image

    mask = np.asarray(Image.open(out)) > 0
    image = read_image(record.image)
    assert mask.shape == image.shape[:2]
    expected = KerasSegmenter(trained_unet).segment(image) > 0
    assert np.mean(mask == expected) >= 0.999
