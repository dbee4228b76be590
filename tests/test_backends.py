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
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *SUITE], capture_output=True, text=True, cwd=REPO, env=env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "failed" not in done.stdout.splitlines()[-1]
