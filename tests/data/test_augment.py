import numpy as np
import pytest

from kerasseg.data import Augmentation, ccp, ph2
from kerasseg.data.sources import source


@pytest.mark.parametrize("upright", [True, False])
@pytest.mark.parametrize("canvas", ["reflect", "constant"])
def test_geometry_moves_image_and_mask_together(ph2_masks_128, upright, canvas):
    augment = Augmentation(brightness=0, contrast=0, saturation=0, hue=0, gamma=(1, 1),
                           max_rotation=15, canvas=canvas)
    for i, mask in enumerate(ph2_masks_128[:8]):
        # The image carries the mask in its pixels; after augmentation they must still agree.
        image = np.repeat(mask.astype(np.float32), 3, axis=-1)
        out_image, out_mask = augment(image, mask, [i, 7], upright)
        agreement = np.mean((out_image[..., 0] > 0.5) == (out_mask[..., 0] == 1))
        assert agreement > 0.98
        assert set(np.unique(out_mask)) <= {0, 1}
        assert out_image.dtype == np.float32 and out_mask.shape == mask.shape


def test_nearest_neighbour_masks_keep_their_class_ids(data_root):
    records = ccp.records(data_root)[:4]
    reader = ccp.mask_reader("labels")
    augment = Augmentation()
    for i, record in enumerate(records):
        labels = reader(record)
        image = np.zeros((*labels.shape, 3), np.float32)
        _, out = augment(image, labels[..., None], i)
        # Class ids stay class ids: nothing blended into a value the mask never held.
        assert set(np.unique(out)) <= set(np.unique(labels))


def _top_and_bottom(size=64):
    """A mask whose upper half is class 1 and lower half class 2: its up is visible."""
    mask = np.full((size, size, 1), 2, np.uint8)
    mask[: size // 2] = 1
    return np.zeros((size, size, 3), np.float32), mask


def _upside_down(out):
    """Whether class 1 (the top) now lies below class 2; None where one is out of view."""
    rows = np.arange(out.shape[0])[:, None]
    top, bottom = out[..., 0] == 1, out[..., 0] == 2
    if not top.any() or not bottom.any():
        return None
    return (rows * top).sum() / top.sum() > (rows * bottom).sum() / bottom.sum()


def test_upright_examples_are_never_turned_upside_down():
    image, mask = _top_and_bottom()
    turns = [_upside_down(Augmentation()(image, mask, i, upright=True)[1]) for i in range(200)]
    assert turns.count(False) > 100 and turns.count(True) == 0


def test_examples_without_an_up_are_turned_every_way():
    image, mask = _top_and_bottom()
    turns = [_upside_down(Augmentation()(image, mask, i, upright=False)[1]) for i in range(200)]
    # Vertical flips and quarter turns: upside down about a third to a half of the time.
    assert 40 < turns.count(True) < 120


def test_zoom_reaches_close_ups_and_small_people():
    mask = np.zeros((64, 64, 1), np.uint8)
    mask[16:48, 16:48] = 1           # the object fills a quarter of the frame
    image = np.repeat(mask.astype(np.float32), 3, axis=-1)
    augment = Augmentation(canvas="constant", max_rotation=0)
    shares = [augment(image, mask, i)[1].mean() for i in range(300)]
    assert max(shares) > 0.9         # zoomed in until the object fills the frame
    assert min(shares) < 0.1         # zoomed out until it is small


def test_the_same_seed_gives_the_same_example_and_another_seed_another():
    image = np.random.default_rng(0).random((32, 32, 3), np.float32)
    mask = _top_and_bottom(32)[1]
    augment = Augmentation()
    first = augment(image, mask, [3, 4])
    np.testing.assert_array_equal(first[0], augment(image, mask, [3, 4])[0])
    assert not np.array_equal(first[0], augment(image, mask, [3, 5])[0])


def test_seeded_pipelines_repeat_and_differ_by_seed(data_root):
    def first_batch(seed):
        dataset = ph2.load(f"{data_root}/ph2", "val", image_size=48, batch_size=4, seed=seed,
                           augment=Augmentation())
        return next(iter(dataset))[0].numpy()

    np.testing.assert_array_equal(first_batch(5), first_batch(5))
    assert not np.array_equal(first_batch(5), first_batch(6))


def test_colour_changes_leave_the_mask_alone(ph2_small):
    image, mask = ph2_small[0][0], ph2_small[1][0]
    augment = Augmentation(flip=False, max_rotation=0, max_shift=0, zoom=(1, 1),
                           brightness=0.3, contrast=0.3)
    out_image, out_mask = augment(image, mask, [1, 2])
    np.testing.assert_array_equal(out_mask, mask)
    assert not np.allclose(out_image, image)


def test_identity_settings_change_nothing(ph2_small):
    image, mask = ph2_small[0][0], ph2_small[1][0]
    augment = Augmentation(flip=False, max_rotation=0, max_shift=0, zoom=(1, 1), brightness=0,
                           contrast=0, saturation=0, hue=0, gamma=(1, 1))
    out_image, out_mask = augment(image, mask, 9)
    np.testing.assert_allclose(out_image, image, atol=1e-6)
    np.testing.assert_array_equal(out_mask, mask)


def test_a_mixture_of_datasets_with_and_without_an_up(data_root):
    mixed = source("ccp+ph2", data_root, "val")
    assert {mixed.upright(r) for r in mixed.records} == {True, False}
    images, masks = next(iter(mixed.dataset(48, batch_size=8, shuffle=True,
                                            augment=Augmentation())))
    assert images.shape == (8, 48, 48, 3) and masks.shape == (8, 48, 48, 1)
    assert source("portraits", data_root, "val").upright is True
    assert source("isic2018", data_root, "val").upright is False


@pytest.mark.parametrize("options, words", [
    ({"zoom": (0, 2)}, "zoom"), ({"gamma": (2, 1)}, "gamma"), ({"canvas": "wrap"}, "canvas"),
    ({"hue": -1}, "hue"), ({"max_rotation": float("nan")}, "max_rotation"),
])
def test_bad_settings_are_named(options, words):
    with pytest.raises(ValueError, match=words):
        Augmentation(**options)


def test_settings_rebuild_the_same_recipe():
    import json

    legacy = Augmentation.legacy()
    again = Augmentation(**json.loads(json.dumps(legacy.settings())))  # as config.json keeps it
    image, mask = _top_and_bottom(32)
    np.testing.assert_array_equal(again(image, mask, 4)[1], legacy(image, mask, 4)[1])
    assert again.settings() == legacy.settings() != Augmentation().settings()
