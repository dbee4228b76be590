"""tf.distribute on this machine: mirrored over two logical CPUs; multi-worker refused clearly."""

import json
import subprocess
import sys

from tests.conftest import REPO

ARGS = ["train", "--model", "unet", "--arg", "filters=4", "--arg", "depth=2", "--dataset", "ph2",
        "--image-size", "32", "--batch-size", "16", "--epochs", "1", "--val-split", "none"]

MIRRORED = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from kerasseg.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_mirrored_strategy_over_two_logical_cpus(data_root, tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-c", MIRRORED, *ARGS, "--data-dir", data_root,
                           "--out", str(out), "--strategy", "mirrored"],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["replicas"] == 2 and config["finished"]


def test_multiworker_strategy_is_refused_with_the_reason(data_root, tmp_path):
    done = subprocess.run([sys.executable, "-m", "kerasseg.cli", *ARGS, "--data-dir", data_root,
                           "--out", str(tmp_path / "run"), "--strategy", "multiworker"],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 2
    assert "keras-team/keras#20585" in done.stderr and "--strategy mirrored" in done.stderr
