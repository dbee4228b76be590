import numpy as np
import pytest

from kerasseg.data.synthetic import lesions


def test_shapes_ranges_and_seeded_determinism():
    images, masks = lesions(6, size=48, seed=3)
    assert images.shape == (6, 48, 48, 3) and images.dtype == np.float32
    assert masks.shape == (6, 48, 48, 1) and set(np.unique(masks)) <= {0, 1}
    assert 0.0 <= images.min() and images.max() <= 1.0
    again, _ = lesions(6, size=48, seed=3)
    other, _ = lesions(6, size=48, seed=4)
    np.testing.assert_array_equal(images, again)
    assert not np.array_equal(images, other)


def test_every_image_has_a_lesion_darker_than_its_skin():
    images, masks = lesions(20, size=64, seed=0)
    for image, mask in zip(images, masks[..., 0].astype(bool)):
        assert 0.01 < mask.mean() < 0.6
        assert image[mask].mean() < image[~mask].mean()


def test_bad_arguments():
    with pytest.raises(ValueError, match="count"):
        lesions(0)
