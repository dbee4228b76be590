"""Copy-paste on real Penn-Fudan photos: pasted people are new instances and hide what they
cover, the same seed pastes the same people, and both loaders run it."""

import numpy as np
import pytest

from kerasseg import instances
from kerasseg.data.augment import Augmentation
from kerasseg.instances.copy_paste import CopyPaste

SIZE = 96


@pytest.fixture(scope="module")
def pennfudan_train(data_root):
    from kerasseg.data.sources import source

    split = source("pennfudan", data_root, "train", mode="instances")
    split.records = split.records[:12]
    return split


def _example(split, index):
    from kerasseg.data.records import load_pair

    image, ids = load_pair(split.records[index], split.mask_reader, (SIZE, SIZE))
    return image.astype(np.float32) / 255.0, ids[..., None]


def test_pasted_people_are_new_instances_that_hide_what_they_cover(pennfudan_train):
    paste = CopyPaste.from_source(pennfudan_train, SIZE, augment=None, probability=1.0)
    assert paste.images.shape == (12, SIZE, SIZE, 3) and paste.masks.shape == (12, SIZE, SIZE)
    image, ids = _example(pennfudan_train, 0)
    own = int(ids.max())
    covered_people = 0
    for seed in range(8):
        out_image, out_ids = paste(image, ids, seed)
        assert out_image.shape == image.shape and out_ids.shape == ids.shape
        out_ids = out_ids[..., 0]
        pasted = out_ids > own
        assert pasted.any(), seed
        # Outside the pasted people the photo and its ids are untouched.
        np.testing.assert_array_equal(out_ids[~pasted], ids[..., 0][~pasted])
        np.testing.assert_array_equal(out_image[~pasted], image[~pasted])
        # Each pasted person is one donor's person, pixels and all.
        for person in np.unique(out_ids[pasted]):
            where = out_ids == person
            matches = [d for d in range(len(paste.images))
                       if len(np.unique(paste.masks[d][where])) == 1 and paste.masks[d][where][0]
                       and np.allclose(out_image[where], paste.images[d][where] / 255.0)]
            assert matches, (seed, person)
        # Occlusion is in the targets: a covered person keeps only what still shows.
        covered_people += sum(1 for person in range(1, own + 1)
                              if ((ids[..., 0] == person) & pasted).any())
        made = instances.targets(out_ids)
        np.testing.assert_array_equal(made[..., 0] > 0, out_ids > 0)
        assert (made[..., 1] == 1.0).sum() == len(np.unique(out_ids[out_ids > 0]))
    assert covered_people > 0, "some pasted person should stand in front of someone"


def test_same_seed_same_example_and_no_paste_leaves_the_recipe_alone(pennfudan_train):
    recipe = Augmentation()
    image, ids = _example(pennfudan_train, 3)
    never = CopyPaste.from_source(pennfudan_train, SIZE, augment=recipe, probability=0.0)
    for seed in (1, [4, 5]):
        expected = recipe(image, ids, seed, True)
        got = never(image, ids, seed, True)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
    always = CopyPaste((never.images, never.masks, never.ups),
                       augment=recipe, probability=1.0, max_donors=2)
    first, again, other = always(image, ids, 7), always(image, ids, 7), always(image, ids, 8)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])


@pytest.mark.parametrize("loader", ["tf.data", "grain"])
def test_both_loaders_paste_and_repeat_themselves(pennfudan_train, loader):
    if loader == "grain":
        pytest.importorskip("grain", reason="grain not installed (the grain extra)")
    runs = {}
    for probability in (1.0, 1.0, 0.0):
        paste = CopyPaste.from_source(pennfudan_train, SIZE, augment=Augmentation(),
                                      probability=probability)
        data = pennfudan_train.dataset(SIZE, batch_size=4, augment=paste, seed=3, loader=loader)
        images, ids = next(iter(data))
        runs.setdefault(probability, []).append((np.asarray(images), np.asarray(ids)))
    (images, ids), (again_images, again_ids) = runs[1.0]
    plain_ids = runs[0.0][0][1]
    assert images.shape == (4, SIZE, SIZE, 3) and ids.dtype == np.uint8
    np.testing.assert_array_equal(images, again_images)
    np.testing.assert_array_equal(ids, again_ids)
    # Pasting only puts people on top: where it changed an id, a person stands.
    changed = ids != plain_ids
    assert changed.any() and (ids[changed] > 0).all()


def test_bad_settings_are_refused(pennfudan_train, data_root, tmp_path):
    from kerasseg.cli import main
    from kerasseg.train import train_on_dataset

    donors = (np.zeros((1, 8, 8, 3), np.uint8), np.ones((1, 8, 8), np.uint8), np.ones(1, bool))
    with pytest.raises(ValueError, match="probability must be between 0 and 1, got 1.5"):
        CopyPaste(donors, probability=1.5)
    with pytest.raises(ValueError, match="max_donors must be a whole number >= 1, got 0"):
        CopyPaste(donors, max_donors=0)
    paste = CopyPaste(donors, probability=1.0)
    with pytest.raises(ValueError, match="the example is 16x16, the donors 8x8"):
        paste(np.zeros((16, 16, 3), np.float32), np.zeros((16, 16, 1), np.uint8), 0)
    with pytest.raises(ValueError, match="copy-paste pastes people as new instances: it needs "
                                         "--task instances"):
        train_on_dataset("unet", "pennfudan", data_root, out_dir=str(tmp_path / "run"),
                         copy_paste=0.5)
    with pytest.raises(SystemExit):
        main(["train", "--model", "unet", "--dataset", "pennfudan", "--data-dir", data_root,
              "--task", "instances", "--copy-paste", "nan", "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()
