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

from kerasseg.cli import main
from tests.conftest import REPO

TRAIN = ["train", "--model", "unet", "--arg", "filters=4", "--arg", "depth=2", "--dataset", "ph2",
         "--image-size", "32", "--batch-size", "16", "--learning-rate", "3e-3"]


def _log(out):
    with open(os.path.join(out, "log.csv")) as f:
        return list(csv.DictReader(f))


def _arguments(data_root, out, epochs, *extra):
    return [*TRAIN, "--data-dir", data_root, "--out", str(out), "--epochs", str(epochs), *extra]


def _command(data_root, out, epochs, *extra):
    """The same, as a fresh process runs it."""
    return [sys.executable, "-m", "kerasseg.cli", *_arguments(data_root, out, epochs, *extra)]


def test_killed_training_resumes_from_the_last_completed_epoch(data_root, tmp_path, capsys):
    """`kerasseg train` in its own process, killed, resumed by the same command to a complete
    run folder."""
    out = tmp_path / "run"
    epochs = 6
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
    assert main(_arguments(data_root, out, epochs + 1)) == 2
    assert "different settings (epochs)" in capsys.readouterr().err

    # The same command resumes it (in this process: only the killed run needs its own).
    code, done = main(_arguments(data_root, out, epochs)), capsys.readouterr()
    assert code == 0, done.err[-3000:]
    rows = _log(out)
    assert [int(r["epoch"]) for r in rows] == list(range(epochs))
    resumed_at = done.out.split("epochs (")[1].split(" in this call")[0]
    assert int(resumed_at) < epochs  # it did not start over

    # What a finished run holds, and that it learned.
    for name in ("config.json", "best.keras", "last.keras", "log.csv", "curves.png"):
        assert (out / name).stat().st_size > 0, name
    assert any(f.startswith("events")
               for _, _, files in os.walk(out / "tensorboard") for f in files)
    assert not (out / "backup").exists()
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    config = json.loads((out / "config.json").read_text())
    assert config["finished"] and config["train_images"] == 128 and config["val_images"] == 32
    assert config["command"].startswith("kerasseg train --model unet")
    assert config["jit_compile"] is False  # no GPU here: XLA is off by default

    # A finished run is not overwritten by accident.
    assert main(_arguments(data_root, out, epochs)) == 2
    assert "finished run" in capsys.readouterr().err


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

    # Training only: XLA compiles each step function once more on CPU (25 s with validation).
    result = train(_tiny_unet, _tiny_data(), out_dir=str(tmp_path / "run"), epochs=1,
                   jit_compile=True, verbose=0)
    assert json.load(open(tmp_path / "run" / "config.json"))["jit_compile"] is True
    assert np.isfinite(result["history"][0]["loss"])


def test_bad_settings_are_refused_before_training(tmp_path):
    from kerasseg.train import train

    with pytest.raises(ValueError, match="pass a function that builds the model"):
        train(_tiny_unet(), _tiny_data(), out_dir=str(tmp_path), precision="mixed_bfloat16")
    with pytest.raises(ValueError, match="give validation data"):
        train(_tiny_unet, _tiny_data(), out_dir=str(tmp_path), early_stopping=3)
    with pytest.raises(ValueError, match="precision must be one of"):
        train(_tiny_unet, _tiny_data(), out_dir=str(tmp_path), precision="float8")


def test_unknown_builder_argument_names_the_accepted_ones(data_root, tmp_path, capsys):
    assert main(_arguments(data_root, tmp_path / "run", 1, "--arg", "filterz=8")) == 2
    err = capsys.readouterr().err
    assert "unet takes no argument 'filterz'; its arguments are input_shape" in err
    assert not (tmp_path / "run").exists()


def test_train_and_evaluate_on_a_folder_of_images_and_masks(data_root, tmp_path, capsys):
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
    code = main([*TRAIN[:7], *data, "--image-size", "32", "--epochs", "1", "--out", str(out)])
    assert code == 0, capsys.readouterr().err[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert (config["train_images"], config["val_images"]) == (16, 4)
    capsys.readouterr()
    code = main(["evaluate", "--model", str(out / "last.keras"), *data, "--split", "val"])
    scored = capsys.readouterr()
    assert code == 0 and "4 images" in scored.out, scored.err[-2000:]


def test_a_run_started_from_python_is_the_run_the_command_line_writes(data_root, tmp_path):
    import shlex

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


def _weights(layers):
    return [w.copy() for layer in layers for w in layer.get_weights()]


def test_frozen_encoder_is_held_then_trained_and_its_state_resumes(ph2_small, tmp_path):
    import keras

    from kerasseg import unet
    from kerasseg.models.backbones import encoder_layers
    from kerasseg.train import _compile, _freeze_encoder

    images, masks = ph2_small
    state = str(tmp_path / "epoch1.weights.h5")

    def compiled():   # as train() compiles it
        keras.utils.set_random_seed(0)
        model, _, _ = _compile(lambda: unet((64, 64, 3), backbone="tiny", filters=4), None,
                               "float32", 1, "bce+dice", 1e-2, "constant", 2, False)
        return model, _freeze_encoder(model, 1)

    model, freeze = compiled()
    encoder = encoder_layers(model)
    rest = [layer for layer in model.layers if layer not in encoder and layer.weights]
    assert encoder and all(layer.name.startswith("unet_tiny") for layer in encoder)
    start_encoder, start_rest = _weights(encoder), _weights(rest)
    after_first = {}

    class FirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                after_first.update(encoder=_weights(encoder), rest=_weights(rest),
                                   saved_trainable=all(layer.trainable for layer in encoder))
                self.model.save_weights(state)   # what the resume state holds

    model.fit(images, masks, batch_size=4, epochs=2, callbacks=[freeze, FirstEpoch()], verbose=0)
    # Epoch 1: the encoder's kernels and BatchNorm statistics as they were; the rest trained.
    for before, after in zip(start_encoder, after_first["encoder"]):
        np.testing.assert_array_equal(before, after)
    assert any(not np.array_equal(b, a) for b, a in zip(start_rest, after_first["rest"]))
    assert after_first["saved_trainable"]   # no checkpoint records a frozen encoder
    # Epoch 2: the encoder trains too.
    assert any(not np.array_equal(b, a) for b, a in zip(after_first["encoder"], _weights(encoder)))
    assert all(layer.trainable for layer in encoder)

    # A resume state saved while the encoder was held loads into a fresh run's optimizer.
    again, _ = compiled()
    again.load_weights(state)
    assert len(again.optimizer.variables) == len(model.optimizer.variables)
    assert int(again.optimizer.iterations) == 2   # epoch 1's two batches
    for saved, loaded in zip(after_first["encoder"], _weights(encoder_layers(again))):
        np.testing.assert_array_equal(saved, loaded)


def test_freeze_encoder_epochs_is_recorded_and_checked_before_the_folder_is_touched(data_root,
                                                                                   tmp_path):
    import shlex

    from kerasseg.cli import build_parser
    from kerasseg.run import read_config
    from kerasseg.train import train_on_dataset

    # PH2's 32 validation images for training too: what is checked is the record.
    settings = {"model_args": {"backbone": "tiny", "filters": 4}, "image_size": 32,
                "batch_size": 16, "learning_rate": 3e-3, "verbose": 0, "train_split": "val"}
    with pytest.raises(ValueError, match=r"from 0 to epochs - 1 \(1\), got 2"):
        train_on_dataset("unet", "ph2", data_root, out_dir=str(tmp_path / "bad"), epochs=2,
                         freeze_encoder_epochs=2, **settings)
    with pytest.raises(ValueError, match="'unet' has no backbone encoder to freeze"):
        train_on_dataset("unet", "ph2", data_root, out_dir=str(tmp_path / "bad"), epochs=2,
                         freeze_encoder_epochs=1, **{**settings, "model_args": {"filters": 4}})
    assert not (tmp_path / "bad").exists()

    run = tmp_path / "run"
    train_on_dataset("unet", "ph2", data_root, out_dir=str(run), epochs=2,
                     freeze_encoder_epochs=1, **settings)
    config = read_config(str(run))
    assert config["freeze_encoder_epochs"] == 1
    # The recorded command carries the option (that a recorded command reruns as the same
    # run: test_a_run_started_from_python_is_the_run_the_command_line_writes).
    words = shlex.split(config["command"])
    assert build_parser().parse_args(words[1:]).freeze_encoder_epochs == 1


def test_a_run_resumes_on_another_machine_and_from_before_the_backend_was_recorded(tmp_path):
    from kerasseg import run

    out = tmp_path / "run"
    files = run.paths(str(out))
    os.makedirs(files["backup"])
    with open(os.path.join(files["backup"], "training_metadata.json"), "w") as f:
        json.dump({"epoch": 2}, f)
    # What config.json held before backend, loader and device were recorded.
    (out / "config.json").write_text(json.dumps({"epochs": 4, "loss": "bce+dice",
                                                 "command": "kerasseg train --epochs 4"}))
    settings = {"epochs": 4, "loss": "bce+dice", "command": "kerasseg train --epochs=4",
                "backend": "tensorflow", "loader": "tf.data", "device": "another CPU"}
    assert run.prepare(str(out), files, settings, overwrite=False)[0] == 2
    # Another backend reads the data in another order: a different run.
    with pytest.raises(ValueError, match=r"different settings \(backend, loader\)"):
        run.prepare(str(out), files, {**settings, "backend": "jax", "loader": "grain"},
                    overwrite=False)

    # An instance run from before the heads were recorded had heads of two convolutions: it
    # resumes with --head-dilations 1,2, and is not mixed with today's default heads.
    (out / "config.json").write_text(json.dumps({"epochs": 4, "loss": "bce+dice",
                                                 "task": "instances",
                                                 "command": "kerasseg train --epochs 4"}))
    instances = {**settings, "task": "instances"}
    assert run.prepare(str(out), files, {**instances, "head_dilations": [1, 2]},
                       overwrite=False)[0] == 2
    with pytest.raises(ValueError, match=r"different settings \(head_dilations\)"):
        run.prepare(str(out), files, {**instances, "head_dilations": [1, 2, 4, 8]},
                    overwrite=False)
