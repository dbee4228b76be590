import keras
import numpy as np
import pytest

from kerasseg import deeplabv3, deeplabv3plus
from tests.models.helpers import assert_round_trip, fit_and_score


@pytest.mark.parametrize("backbone, output_stride", [
    ("tiny", 8), ("tiny", 16), ("mobilenetv2", 8), ("mobilenetv2", 16), ("resnet50", 16),
    ("efficientnet_lite0", 8), ("efficientnet_lite0", 16),
])
def test_output_stride_sets_the_aspp_resolution(backbone, output_stride):
    model = deeplabv3plus(input_shape=(64, 64, 3), backbone=backbone,
                          output_stride=output_stride, aspp_filters=32, decoder_filters=32)
    aspp_input = model.get_layer("deeplabv3plus_aspp_1x1_conv").input
    assert aspp_input.shape[1:3] == (64 // output_stride, 64 // output_stride)
    assert model.predict(np.zeros((1, 64, 64, 3)), verbose=0).shape == (1, 64, 64, 1)


def test_atrous_rates_default_and_double_at_stride_8():
    names = {layer.name for layer in deeplabv3(input_shape=(32, 32, 3), backbone="tiny").layers}
    assert {"deeplabv3_aspp_rate6_conv", "deeplabv3_aspp_rate18_conv"} <= names
    model = deeplabv3(input_shape=(32, 32, 3), backbone="tiny", output_stride=8)
    assert model.get_layer("deeplabv3_aspp_rate12_conv").dilation_rate == (12, 12)


def test_image_pooling_branch_and_mobilenet_round_trip(tmp_path):
    model = deeplabv3(input_shape=(None, None, 3), num_classes=2, backbone="mobilenetv2",
                      aspp_filters=32)
    assert isinstance(model.get_layer("deeplabv3_aspp_image_pool"),
                      keras.layers.GlobalAveragePooling2D)
    assert_round_trip(model, tmp_path, np.random.default_rng(0).random((1, 64, 96, 3)))


def test_bad_output_stride_and_size():
    with pytest.raises(ValueError, match="output_stride"):
        deeplabv3(backbone="tiny", output_stride=32)
    with pytest.raises(ValueError, match=r"height 72 is not a multiple of 16.*64 or 80"):
        deeplabv3plus(input_shape=(72, 64, 3), backbone="tiny")


@pytest.mark.train
@pytest.mark.parametrize("builder", [deeplabv3, deeplabv3plus])
def test_learns_real_ph2_lesions(builder, ph2_small):
    images, masks = ph2_small[0][:4], ph2_small[1][:4]
    # ASPP rates that fit the 8 x 8 feature map of a 64 x 64 input: at the default (12, 24, 36)
    # every tap of each 3 x 3 but the centre falls in the padding, and the step took 3x as long.
    model = builder(input_shape=(64, 64, 3), num_classes=1, backbone="tiny", output_stride=8,
                    atrous_rates=(2, 4, 6), aspp_filters=64, dropout=0.0)
    assert fit_and_score(model, images, masks, steps=60) > 0.9
