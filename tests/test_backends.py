"""The metrics, the losses and the model harness on Keras' other backends.

Each backend runs in its own process (Keras picks its backend once, at
import). JAX is in the test extra, so under CI=true a missing JAX fails;
PyTorch runs where it is installed and skips with the reason otherwise.
The harness runs three of its cases here, to keep the suite short;
`KERAS_BACKEND=jax python -m pytest tests/models/test_every_model.py` runs
all of them.
"""

import importlib.util
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

# Every metric and loss test; of the harness, a U-Net, SegNet (its index-free unpooling) and a
# DeepLabV3+ on the ImageNet EfficientNet-Lite encoder (the "]" ends a case id).
HARNESS_CASES = "not test_builds or unet] or segnet] or deeplabv3plus-efficientnet_lite0"
SUITE = ["tests/test_metrics.py", "tests/test_losses.py", "tests/models/test_every_model.py",
         "-k", HARNESS_CASES]


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_metrics_losses_and_models_on_another_backend(backend):
    if importlib.util.find_spec(backend) is None:
        message = f"{backend} is not installed (pip install {backend})"
        if backend == "jax" and os.environ.get("CI") == "true":
            pytest.fail(message + "; it is in the test extra")
        pytest.skip(message)
    env = _backend_env(backend)
    # One process (-o addopts: not the suite's workers per core): it runs beside the others.
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-o", "addopts=-ra", *SUITE], capture_output=True, text=True,
                          cwd=REPO, env=env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "failed" not in done.stdout.splitlines()[-1]


# Runs the command line as if TensorFlow were not installed: its import fails, and
# importlib.util.find_spec does not find it.
_WITHOUT_TENSORFLOW = """
import importlib.util, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ModuleNotFoundError("No module named 'tensorflow' (blocked by the test)")
find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] == "tensorflow" else find_spec(name, *a)
sys.meta_path.insert(0, Block())
from kerasseg.cli import main
code = main(sys.argv[1:])
assert "tensorflow" not in sys.modules
sys.exit(code)
"""


def _backend_env(backend, devices=1):
    """The environment of a process on `backend`; on JAX, `devices` CPU devices.

    XLA's CPU optimisation passes took most of these runs' time (a 5-epoch U-Net at 32 x 32
    from scratch: 89 s with them, 38 s without, same losses): the steps of models this small
    cost nothing either way, so JAX compiles without them here.
    """
    env = {**os.environ, "KERAS_BACKEND": backend}
    if backend == "jax":
        flags = ["--xla_backend_optimization_level=0"]
        if devices > 1:
            flags.append(f"--xla_force_host_platform_device_count={devices}")
        env["XLA_FLAGS"] = " ".join([env.get("XLA_FLAGS", ""), *flags]).strip()
    return env


def _jax_and_grain(devices=1):
    if importlib.util.find_spec("jax") is None or importlib.util.find_spec("grain") is None:
        message = "training on JAX needs jax and grain (pip install kerasseg[jax])"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; they are in the test extra")
        pytest.skip(message)
    return _backend_env("jax", devices)


@pytest.mark.train
def test_train_on_jax_without_tensorflow_resumes_after_a_kill(data_root, tmp_path):
    import json
    import signal
    import time

    from kerasseg import run

    env, out, epochs = _jax_and_grain(), tmp_path / "run", 5
    # PH2's 32 validation images for both training and validation: four steps an epoch.
    command = [sys.executable, "-c", _WITHOUT_TENSORFLOW, "train", "--model", "unet",
               "--arg", "filters=4", "--arg", "depth=3", "--dataset", "ph2",
               "--data-dir", data_root, "--image-size", "32", "--batch-size", "8",
               "--train-split", "val", "--epochs", str(epochs), "--out", str(out)]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        # Epoch 1's resume state is written after the log's second row begins.
        if len(run.read_log(str(out / "log.csv"))) >= 2:
            break
        time.sleep(0.05)
    assert process.poll() is None, "training ended before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 2 <= len(run.read_log(str(out / "log.csv"))) < epochs

    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = run.read_log(str(out / "log.csv"))
    assert [row["epoch"] for row in log] == list(range(epochs))
    assert all(0 < row["val_dice"] <= 1 for row in log)
    assert int(done.stdout.split("epochs (")[1].split(" in this call")[0]) < epochs
    config = json.loads((out / "config.json").read_text())
    assert (config["backend"], config["loader"], config["jit_compile"]) == ("jax", "grain", True)
    assert (out / "best.keras").exists() and (out / "curves.png").exists()


# Two runs of one epoch, without augmentation so both see the same batches: on one device,
# and split over two (the global batch of 8 halved on each); then an instance model on two
# devices in mixed_bfloat16, and TensorFlow's strategy refused. One process: JAX starts once.
_DATA_PARALLEL = """
import json, sys
from kerasseg.train import train_on_dataset
logs = []
for strategy in ("none", "data-parallel"):
    result = train_on_dataset("unet", "ph2", sys.argv[1], out_dir=sys.argv[2] + "/" + strategy,
                              model_args={"filters": 4, "depth": 3}, image_size=32, epochs=1,
                              augment=False, strategy=strategy, verbose=0, train_split="val")
    logs.append(result["history"][0])
# Instances on both devices in mixed_bfloat16, with people pasted from other photos (Grain
# runs copy-paste). Penn-Fudan's 27 validation photos make no whole number of batches of 8:
# the devices split whole batches only, and the run says what it left out.
import keras
import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    result = train_on_dataset("unet", "pennfudan", sys.argv[1],
                              out_dir=sys.argv[2] + "/instances",
                              model_args={"filters": 4, "depth": 3}, image_size=32, epochs=1,
                              task="instances", copy_paste=0.5, head_dilations=(1, 2),
                              strategy="data-parallel",
                              precision="mixed_bfloat16", verbose=0, train_split="val")
assert any("sees 24 of the 27 val images" in str(w.message) for w in caught), caught
model = keras.saving.load_model(result["last"], compile=False)
assert model.output_shape == (None, 32, 32, 4), model.output_shape
# Mixed precision: bfloat16 layers, the output float32.
assert model.layers[-1].compute_dtype == "float32", model.layers[-1].compute_dtype
assert any(layer.compute_dtype == "bfloat16" for layer in model.layers)
assert 0 < result["history"][0]["loss"] < float("inf"), result["history"]
try:
    train_on_dataset("unet", "ph2", sys.argv[1], out_dir=sys.argv[2] + "/mirrored",
                     strategy="mirrored")
except ValueError as error:
    assert "use --strategy data-parallel" in str(error), error
else:
    raise AssertionError("--strategy mirrored was accepted under JAX")
print(json.dumps(logs))
"""


@pytest.mark.train
def test_data_parallel_on_two_devices_trains_as_one_and_bfloat16_and_instances_run(data_root,
                                                                                  tmp_path):
    import json

    env = _jax_and_grain(devices=2)
    done = subprocess.run([sys.executable, "-c", _DATA_PARALLEL, data_root, str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    one, two = json.loads(done.stdout.strip().splitlines()[-1])
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-3)
    assert two["val_dice"] == pytest.approx(one["val_dice"], abs=1e-3)
    assert json.loads((tmp_path / "data-parallel" / "config.json").read_text())["replicas"] == 2
    config = json.loads((tmp_path / "instances" / "config.json").read_text())
    assert (config["task"], config["copy_paste"], config["loader"], config["replicas"],
            config["precision"], config["head_dilations"]) == (
        "instances", 0.5, "grain", 2, "mixed_bfloat16", [1, 2])
    assert "--head-dilations 1,2" in config["command"]   # not the default: on the command
