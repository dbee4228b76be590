import numpy as np
import pytest

from kerasseg import segnet
from tests.models.helpers import fit_and_score


def test_decoder_unpools_by_encoder_positions():
    """The decoder holds values only where the encoder's window maxima were."""
    model = segnet(input_shape=(16, 16, 3), filters=(4,), convs_per_level=1)
    unpool = model.get_layer("segnet_dec0_unpool")
    assert not [layer for layer in model.layers if "upsampling" in type(layer).__name__.lower()]
    import keras

    probe = keras.Model(model.inputs, unpool.output)
    out = probe.predict(np.random.default_rng(0).random((1, 16, 16, 3)), verbose=0)[0]
    windows = out.reshape(8, 2, 8, 2, 4).transpose(0, 2, 4, 1, 3).reshape(8, 8, 4, 4)
    # No ties in real-valued features: exactly one non-zero per window at most.
    assert ((windows != 0).sum(axis=-1) <= 1).all()
    assert (windows != 0).any()


def test_bad_size_is_named():
    with pytest.raises(ValueError, match=r"height 100 is not a multiple of 32.*96 or 128"):
        segnet(input_shape=(100, 128, 3))


def test_convs_per_level_must_match_levels():
    with pytest.raises(ValueError, match="convs_per_level"):
        segnet(filters=(8, 16), convs_per_level=(1, 1, 1))


@pytest.mark.train
def test_learns_real_ph2_lesions(ph2_small):
    images, masks = ph2_small[0][:4], ph2_small[1][:4]
    model = segnet(input_shape=(64, 64, 3), num_classes=1, filters=(16, 32, 64, 128),
                   convs_per_level=1, bottleneck_filters=256)
    assert fit_and_score(model, images, masks, steps=60) > 0.9
