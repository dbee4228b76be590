"""The two loaders of kerasseg.data.pipeline on real PH2 cases: tf.data and Grain give the
same examples; Grain's epochs each have their own order and augmentation, whatever the
number of reading threads, and a bad file is named when the pipeline is built."""

import os
import shutil

import numpy as np
import pytest

from kerasseg.data import Augmentation, DataError, source
from kerasseg.data.pipeline import build_dataset

pytest.importorskip("grain", reason="the Grain loader needs grain (pip install kerasseg[grain])")


@pytest.fixture(scope="module")
def val(data_root):
    return source("ph2", data_root, "val")


def test_grain_gives_what_tf_data_gives(val):
    records = val.records[:10]
    options = dict(image_size=48, allowed_values=val.allowed_values, batch_size=4)
    tf_batches = list(build_dataset(records, val.mask_reader, loader="tf.data", **options))
    grain_batches = build_dataset(records, val.mask_reader, loader="grain", **options)
    assert len(grain_batches) == len(tf_batches) == 3   # 4 + 4 + 2
    for (tf_images, tf_masks), (images, masks) in zip(tf_batches, grain_batches):
        np.testing.assert_array_equal(images, tf_images.numpy())
        np.testing.assert_array_equal(masks, tf_masks.numpy())
        assert images.dtype == np.float32 and masks.dtype == np.uint8 and masks.shape[-1] == 1
    assert 0 < masks.mean() < 1   # real lesions, not empty masks


def test_grain_epochs_have_their_own_order_and_augmentation(val):
    import grain

    data = build_dataset(val.records[:12], val.mask_reader, image_size=32, batch_size=4,
                         allowed_values=val.allowed_values, shuffle=True,
                         augment=Augmentation(), seed=3, loader="grain", epochs=3)
    assert data.per_epoch == 3 and len(data) == 9
    first, second = data[0], data[3]
    assert not np.array_equal(first[0], second[0])
    # Twelve examples per epoch, in batches of 4.
    assert sum(len(data[i][1]) for i in range(3)) == sum(len(data[i][1]) for i in range(3, 6)) == 12
    # Threads change nothing, and a resumed run's epoch 2 is what epoch 2 was.
    threaded = list(data.to_iter_dataset(grain.ReadOptions(num_threads=4)))
    for index, (images, masks) in enumerate(threaded):
        np.testing.assert_array_equal(images, data[index][0])
        np.testing.assert_array_equal(masks, data[index][1])
    resumed = data.epoch(2)
    assert len(resumed) == 3
    np.testing.assert_array_equal(resumed[0][0], data[6][0])
    # Grain's repeat() wraps around.
    np.testing.assert_array_equal(data.repeat()[9][0], data[0][0])


def test_grain_names_a_bad_file_when_built(data_root, tmp_path):
    source_folder = os.path.join(data_root, "ph2", "PH2Dataset", "PH2 Dataset images")
    target = tmp_path / "PH2Dataset" / "PH2 Dataset images"
    cases = sorted(os.listdir(source_folder))[:3]
    for case in cases:
        shutil.copytree(os.path.join(source_folder, case), target / case)
    image = target / cases[1] / f"{cases[1]}_Dermoscopic_Image" / f"{cases[1]}.png"
    image.write_bytes(image.read_bytes()[:2000])   # a truncated copy of a real file
    part = source("ph2", str(tmp_path), "all")
    options = dict(image_size=32, batch_size=2, loader="grain")
    with pytest.raises(DataError, match=rf"{cases[1]}\.png: cannot decode image"):
        part.dataset(**options)
    skipped = []
    with pytest.warns(UserWarning, match=rf"skipping {cases[1]}"):
        data = part.dataset(on_error="skip", skipped=skipped, **options)
    assert len(data) == 1 and len(data[0][0]) == 2
    assert [item["id"] for item in skipped] == [cases[1]]


def test_loader_and_epochs_are_checked(val):
    with pytest.raises(ValueError, match="loader must be one of"):
        build_dataset(val.records[:2], val.mask_reader, loader="torch")
    with pytest.raises(ValueError, match="epochs must be a whole number, at least 1"):
        build_dataset(val.records[:2], val.mask_reader, loader="grain", epochs=0)
