"""Training through `kerasseg train` and `kerasseg.train.train` on real PH2 images."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import REPO

TRAIN = ["train", "--model", "unet", "--arg", "filters=4", "--arg", "depth=2", "--dataset", "ph2",
         "--image-size", "32", "--batch-size", "16", "--learning-rate", "3e-3"]


def _log(out):
    with open(os.path.join(out, "log.csv")) as f:
        return list(csv.DictReader(f))


def _command(data_root, out, epochs, *extra):
    return [sys.executable, "-m", "kerasseg.cli", *TRAIN, "--data-dir", data_root, "--out", str(out),
            "--epochs", str(epochs), *extra]


def test_train_command_writes_a_complete_run_and_learns(data_root, tmp_path):
    out = tmp_path / "run"
    done = subprocess.run(_command(data_root, out, 3), capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("config.json", "best.keras", "last.keras", "log.csv", "curves.png"):
        assert (out / name).stat().st_size > 0, name
    assert any(f.startswith("events") for _, _, files in os.walk(out / "tensorboard") for f in files)
    assert not (out / "backup").exists()
    rows = _log(out)
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    config = json.loads((out / "config.json").read_text())
    assert config["finished"] and config["train_images"] == 128 and config["val_images"] == 32
    assert config["command"].startswith("kerasseg train --model unet")
    assert config["jit_compile"] is False  # no GPU here: XLA is off by default

    # A finished run is not overwritten by accident.
    again = subprocess.run(_command(data_root, out, 3), capture_output=True, text=True, cwd=REPO)
    assert again.returncode == 2 and "finished run" in again.stderr


def test_killed_training_resumes_from_the_last_completed_epoch(data_root, tmp_path):
    out = tmp_path / "run"
    epochs = 8
    process = subprocess.Popen(_command(data_root, out, epochs), cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = out / "log.csv"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) >= 3:  # header + 2 epochs
            break
        time.sleep(0.05)
    assert process.poll() is None, "training ended before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 2 <= len(_log(out)) < epochs

    # Other settings on an unfinished run are refused, not mixed in.
    other = subprocess.run(_command(data_root, out, epochs + 1), capture_output=True, text=True,
                           cwd=REPO)
    assert other.returncode == 2 and "different settings (epochs)" in other.stderr

    done = subprocess.run(_command(data_root, out, epochs), capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _log(out)
    assert [int(r["epoch"]) for r in rows] == list(range(epochs))
    resumed_at = done.stdout.split("epochs (")[1].split(" in this call")[0]
    assert int(resumed_at) < epochs  # it did not start over


def _tiny_data(count=16, size=32, nan=False):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    images = rng.random((count, size, size, 3), np.float32)
    masks = (images[..., :1] > 0.5).astype(np.uint8)
    if nan:
        images[3, 5, 5, 0] = np.nan
    return tf.data.Dataset.from_tensor_slices((images, masks)).batch(4)


def _tiny_unet():
    from kerasseg import unet

    return unet((32, 32, 3), filters=4, depth=2)


def test_nan_loss_stops_with_a_clear_error(tmp_path):
    from kerasseg.train import NaNLossError, train

    with pytest.raises(NaNLossError, match=r"loss became nan at epoch 1, batch 1.*Lower the learning"):
        train(_tiny_unet, _tiny_data(nan=True), out_dir=str(tmp_path / "run"), epochs=2,
              verbose=0)


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_with_a_float32_head(tmp_path, precision):
    import keras

    from kerasseg.train import train

    result = train(_tiny_unet, _tiny_data(), out_dir=str(tmp_path / "run"), epochs=1,
                   precision=precision, verbose=0)
    model = keras.saving.load_model(result["last"], compile=False)
    assert model.layers[-1].compute_dtype == "float32"
    assert any(layer.compute_dtype != "float32" for layer in model.layers)
    assert keras.config.dtype_policy().name == "float32"  # nothing global left behind


def test_xla_training_runs_on_cpu(tmp_path):
    from kerasseg.train import train

    result = train(_tiny_unet, _tiny_data(), _tiny_data(8), out_dir=str(tmp_path / "run"),
                   epochs=1, jit_compile=True, verbose=0)
    assert json.load(open(tmp_path / "run" / "config.json"))["jit_compile"] is True
    assert np.isfinite(result["history"][0]["val_loss"])


def test_bad_settings_are_refused_before_training(tmp_path):
    from kerasseg.train import train

    with pytest.raises(ValueError, match="pass a function that builds the model"):
        train(_tiny_unet(), _tiny_data(), out_dir=str(tmp_path), precision="mixed_bfloat16")
    with pytest.raises(ValueError, match="give validation data"):
        train(_tiny_unet, _tiny_data(), out_dir=str(tmp_path), early_stopping=3)
    with pytest.raises(ValueError, match="precision must be one of"):
        train(_tiny_unet, _tiny_data(), out_dir=str(tmp_path), precision="float8")


def test_unknown_builder_argument_names_the_accepted_ones(data_root, tmp_path):
    command = _command(data_root, tmp_path / "run", 1, "--arg", "filterz=8")
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 2
    assert "unet takes no argument 'filterz'; its arguments are input_shape" in done.stderr
    assert not (tmp_path / "run").exists()


def test_train_and_evaluate_on_a_folder_of_images_and_masks(data_root, tmp_path):
    """Real PH2 files laid out as a user's folder: IMAGES/x.png and MASKS/x_mask.bmp."""
    import shutil

    from kerasseg.data.sources import source

    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for record in source("ph2", data_root, "all").records[:20]:
        shutil.copy(record.image, images / f"{record.id}{os.path.splitext(record.image)[1]}")
        shutil.copy(record.mask, masks / f"{record.id}_mask.bmp")
    data = ["--dataset", "folder", "--data-dir", str(images), "--masks-dir", str(masks),
            "--mask-suffix", "_mask"]
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "kerasseg.cli", *TRAIN[:7], *data,
                           "--image-size", "32", "--epochs", "1", "--out", str(out)],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert (config["train_images"], config["val_images"]) == (16, 4)
    scored = subprocess.run([sys.executable, "-m", "kerasseg.cli", "evaluate", "--model",
                             str(out / "last.keras"), *data, "--split", "val"],
                            capture_output=True, text=True, cwd=REPO)
    assert scored.returncode == 0 and "4 images" in scored.stdout, scored.stderr[-2000:]


def test_a_run_started_from_python_is_the_run_the_command_line_writes(data_root, tmp_path):
    import shlex

    from kerasseg.cli import main
    from kerasseg.run import read_config
    from kerasseg.train import train_on_dataset

    python_run, cli_run = tmp_path / "python", tmp_path / "cli"
    train_on_dataset("unet", "ph2", data_root, out_dir=str(python_run),
                     model_args={"filters": 4, "depth": 2}, image_size=32, epochs=1,
                     batch_size=16, learning_rate=3e-3, verbose=0)
    config = read_config(str(python_run))  # finished, so zoo/publish.py takes it
    # What it records is the command line that runs it again.
    words = shlex.split(config["command"])
    assert words[:2] == ["kerasseg", "train"] and words[-2:] == ["--out", str(python_run)]
    assert main(words[1:-2] + ["--out", str(cli_run)]) == 0
    from_cli = read_config(str(cli_run))
    assert {k: v for k, v in from_cli.items() if k != "command"} == \
        {k: v for k, v in config.items() if k != "command"}
