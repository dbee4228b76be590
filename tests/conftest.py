"""Shared fixtures: where the real data is, and small real PH2 samples.

The data root is $KERASSEG_DATA, else ../shared/data beside the repository.
Without it, tests that need it skip with the reason, except under CI=true,
where a missing data root is a failure.
"""

import glob
import os

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# pytest-xdist runs one worker per core, and TensorFlow sizes its thread pools to the whole
# machine in each: two workers on two cores ran four compute threads. Giving each worker its
# share of the cores (set before TensorFlow starts; the processes a test starts inherit it)
# took 10% off the wall time of the model, export and evaluation tests here.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _share = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", _share)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", _share)
# TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512 VNNI and newer:
# on an AVX2-only CPU they were off, and Keras inference ran 1.47x slower without them (the
# `person` model, one thread: 202 against 137 ms an image). On whatever the CPU: the card
# reproductions took 12% less there; training steps took as long either way.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def _data_root():
    root = os.environ.get("KERASSEG_DATA") or os.path.join(REPO, "..", "shared", "data")
    return os.path.abspath(root)


@pytest.fixture(scope="session")
def data_root():
    root = _data_root()
    if not os.path.isdir(root):
        message = f"real data not found at {root} (set KERASSEG_DATA)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root


def load_ph2(root, count, size):
    """The first `count` PH2 cases, resized to size x size: (images in [0, 1], 0/1 masks)."""
    from PIL import Image

    cases = sorted(glob.glob(os.path.join(root, "ph2", "PH2Dataset", "PH2 Dataset images", "IMD*")))
    if len(cases) < count:
        pytest.fail(f"expected at least {count} PH2 cases under {root}/ph2, found {len(cases)}")
    images, masks = [], []
    for case in cases[:count]:
        case_id = os.path.basename(case)
        image_path = glob.glob(os.path.join(case, f"{case_id}_Dermoscopic_Image", f"{case_id}.*"))[0]
        mask_path = os.path.join(case, f"{case_id}_lesion", f"{case_id}_lesion.bmp")
        image = Image.open(image_path).convert("RGB").resize((size, size), Image.BILINEAR)
        mask = Image.open(mask_path).convert("L").resize((size, size), Image.NEAREST)
        images.append(np.asarray(image, np.float32) / 255.0)
        masks.append((np.asarray(mask) > 0).astype(np.uint8)[..., None])
    return np.stack(images), np.stack(masks)


@pytest.fixture(scope="session")
def ph2_small(data_root):
    """Eight real PH2 cases at 64 x 64."""
    return load_ph2(data_root, 8, 64)


@pytest.fixture(scope="session")
def ph2_masks_128(data_root):
    """Sixteen real PH2 lesion masks at 128 x 128."""
    return load_ph2(data_root, 16, 128)[1]


# The files that take longest (a full run here: 195-285 s each of the suite's 2,100 s of
# test time, the rest under 110 s) go first: `--dist loadfile` hands files to the workers in
# collection order, and a long file handed out last leaves the other worker idle to the end.
LONG_FILES = ("test_train.py", "test_zoo.py", "models/test_every_model.py", "test_mediapipe.py",
              "test_reliability.py", "test_backends.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        path = item.nodeid.split("::")[0]
        return next((i for i, name in enumerate(LONG_FILES) if path.endswith("tests/" + name)),
                    len(LONG_FILES))

    items.sort(key=rank)   # stable: within a file, and among the rest, the order is kept
