import numpy as np
import tensorflow as tf

from kerasseg.data import Augmentation, ph2


def test_geometry_moves_image_and_mask_together(ph2_masks_128):
    augment = Augmentation(brightness=0, contrast=0, saturation=0, hue=0, max_rotation=15,
                           max_shift=0.08, scale_range=(1.0, 1.3))
    for i, mask in enumerate(ph2_masks_128[:8]):
        # The image carries the mask in its pixels; after augmentation they must still agree.
        image = tf.repeat(tf.constant(mask, tf.float32), 3, axis=-1)
        out_image, out_mask = augment(image, tf.constant(mask), [i, 7])
        agreement = np.mean((out_image.numpy()[..., 0] > 0.5) == (out_mask.numpy()[..., 0] == 1))
        assert agreement > 0.98
        assert set(np.unique(out_mask.numpy())) <= {0, 1}


def test_seeded_pipelines_repeat_and_differ_by_seed(data_root):
    def first_batch(seed):
        dataset = ph2.load(f"{data_root}/ph2", "val", image_size=48, batch_size=4, seed=seed,
                           augment=Augmentation())
        return next(iter(dataset))[0].numpy()

    np.testing.assert_array_equal(first_batch(5), first_batch(5))
    assert not np.array_equal(first_batch(5), first_batch(6))


def test_colour_changes_leave_the_mask_alone(ph2_small):
    image, mask = ph2_small[0][0], ph2_small[1][0]
    augment = Augmentation(flip=False, rotate90=False, max_rotation=0, max_shift=0,
                           scale_range=(1, 1), brightness=0.3, contrast=0.3)
    out_image, out_mask = augment(tf.constant(image), tf.constant(mask), [1, 2])
    np.testing.assert_array_equal(out_mask.numpy(), mask)
    assert not np.allclose(out_image.numpy(), image)
