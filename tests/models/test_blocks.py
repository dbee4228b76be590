"""The shared blocks: what a model's output is, read from its last layer."""

import keras
import pytest

from kerasseg.models import deeplabv3plus, unet
from kerasseg.models.blocks import outputs_logits


@pytest.mark.parametrize("output", ["logits", "probabilities"])
def test_builders_output_what_they_say(output):
    for model in (unet(input_shape=(32, 32, 3), filters=4, depth=2, output=output),
                  deeplabv3plus(input_shape=(32, 32, 3), num_classes=3, backbone="mobilenetv2",
                                output=output)):
        assert outputs_logits(model) == (output == "logits"), model.name


def test_models_built_elsewhere_are_read_by_their_last_layer():
    inputs = keras.Input((8, 8, 3))
    ends = {"logits": keras.layers.Conv2D(1, 1, name="out_probabilities"),   # the name misleads
            "sigmoid conv": keras.layers.Conv2D(1, 1, activation="sigmoid", name="head"),
            "softmax layer": keras.layers.Softmax(name="head")}
    found = {what: outputs_logits(keras.Model(inputs, layer(inputs))) for what, layer in ends.items()}
    assert found == {"logits": True, "sigmoid conv": False, "softmax layer": False}
