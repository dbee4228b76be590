import keras
import numpy as np
import pytest

from kerasseg import unet
from tests.models.helpers import fit_and_score


def test_any_size_when_shape_is_none():
    model = unet(num_classes=2, filters=4, depth=2, upsampling="bilinear")
    for size in [(16, 16), (40, 24)]:
        assert model(np.zeros((1, *size, 3), np.float32)).shape == (1, *size, 2)


def test_probabilities_output_sums_to_one():
    model = unet(input_shape=(16, 16, 3), num_classes=3, filters=4, depth=2, output="probabilities")
    probabilities = model.predict(np.random.default_rng(0).random((1, 16, 16, 3)), verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)


def test_layer_names_are_deterministic():
    names = [layer.name for layer in unet(input_shape=(32, 32, 3), filters=4, depth=2).layers]
    again = [layer.name for layer in unet(input_shape=(32, 32, 3), filters=4, depth=2).layers]
    assert names == again
    assert "unet_enc1_0_conv" in names and "unet_dec0_concat" in names


def test_bad_size_names_the_size_and_nearest_valid_sizes():
    with pytest.raises(ValueError, match=r"height 250 is not a multiple of 16.*240 or 256"):
        unet(input_shape=(250, 256, 3))
    with pytest.raises(ValueError, match=r"width 10 is not a multiple of 8.*nearest valid sizes: 8 or 16"):
        unet(input_shape=(64, 10, 3), depth=3)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_classes": 0}, "num_classes"),
    ({"output": "softmax"}, "output"),
    ({"upsampling": "nearest"}, "upsampling"),
    ({"backbone": "vgg"}, "unknown backbone"),
    ({"backbone": "mobilenetv2", "depth": 3}, "depth"),
    ({"backbone": "mobilenetv2", "weights": "imagenet"}, "download"),
    ({"backbone": "mobilenetv2", "weights": "/no/such/file.h5"}, "does not exist"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        unet(input_shape=(64, 64, 3), **kwargs)


def test_resnet50_encoder():
    # MobileNetV2's U-Net is built, run and saved in test_every_model.py, and its nested
    # encoder found by name below.
    model = unet(input_shape=(64, 64, 3), num_classes=1, backbone="resnet50")
    assert model.get_layer("unet_resnet50").name == "unet_resnet50"
    assert model.predict(np.zeros((1, 64, 64, 3)), verbose=0).shape == (1, 64, 64, 1)


def test_backbone_loads_a_local_weights_file(tmp_path):
    reference = keras.applications.MobileNetV2(input_shape=(None, None, 3), include_top=False,
                                                weights=None)
    path = str(tmp_path / "mobilenet_v2_no_top.weights.h5")
    reference.save_weights(path)
    model = unet(input_shape=(64, 64, 3), backbone="mobilenetv2", weights=path)
    loaded = model.get_layer("unet_mobilenetv2").get_layer("Conv1").get_weights()[0]
    np.testing.assert_array_equal(loaded, reference.get_layer("Conv1").get_weights()[0])


@pytest.mark.train
def test_learns_real_ph2_lesions(ph2_small):
    images, masks = ph2_small[0][:4], ph2_small[1][:4]
    model = unet(input_shape=(64, 64, 3), num_classes=1, filters=16, depth=4, convs_per_level=1,
                 upsampling="bilinear")
    assert fit_and_score(model, images, masks, steps=60) > 0.9
