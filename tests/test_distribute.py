"""tf.distribute on this machine: mirrored over two logical CPUs, multi-worker over two processes."""

import json
import os
import socket
import subprocess
import sys

import numpy as np

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


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multiworker_two_processes_train_and_end_with_identical_weights(data_root, tmp_path):
    import keras

    import kerasseg.models  # noqa: F401  (registers the layers for loading)

    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}))
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "kerasseg.cli", *ARGS, "--epochs", "2", "--val-split", "val",
             "--data-dir", data_root, "--out", str(tmp_path / f"worker{index}"),
             "--strategy", "multiworker"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for process in processes:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
    config = json.loads((tmp_path / "worker0" / "config.json").read_text())
    assert config["replicas"] == 2 and config["finished"]
    models = [keras.saving.load_model(tmp_path / f"worker{i}" / "last.keras", compile=False)
              for i in range(2)]
    for a, b in zip(models[0].weights, models[1].weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    rows = (tmp_path / "worker0" / "log.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert len(rows) == 3 and {"loss", "val_dice"} <= set(header)
    losses = [float(r.split(",")[header.index("loss")]) for r in rows[1:]]
    assert losses[1] < losses[0]  # it trains
