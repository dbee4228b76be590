"""kerasseg.instances.model: the instance head, its loss, training and export to TFLite."""

import json

import numpy as np
import pytest

from kerasseg import instances


def _small_model():
    from kerasseg import unet
    from kerasseg.instances.model import instance_model

    return instance_model(unet((64, 64, 3), filters=8, depth=3))


def _batch(seed=0):
    """Two 64x64 images with two touching boxes each, and their targets."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 0.3, (2, 64, 64, 3)).astype(np.float32)
    ids = np.zeros((2, 64, 64), np.uint8)
    ids[:, 10:40, 8:24], ids[:, 14:50, 24:44] = 1, 2
    images[ids > 0] += 0.6
    return images, np.stack([instances.targets(m) for m in ids]), ids


def _outputs_around_three_steps(model, images, targets):
    """The model's outputs before and after three Adam steps on the instance loss."""
    import keras

    from kerasseg.instances.model import InstanceLoss

    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=InstanceLoss())
    before = model.predict(images, verbose=0)
    for _ in range(3):
        model.train_on_batch(images, targets)
    return before, model.predict(images, verbose=0)


def test_the_head_gives_bounded_channels_and_keeps_the_semantic_weights():
    import keras

    from kerasseg import deeplabv3plus, unet
    from kerasseg.instances.model import instance_model, is_instance_model

    semantic = unet((64, 64, 3), filters=8, depth=3)
    model = instance_model(semantic)
    assert model.output_shape == (None, 64, 64, 4) and is_instance_model(model)
    assert not is_instance_model(semantic)
    out = model.predict(np.random.default_rng(0).uniform(size=(1, 64, 64, 3)), verbose=0)
    assert (0 <= out[..., :2]).all() and (out[..., :2] <= 1).all()
    assert (np.abs(out[..., 2:]) <= 1).all()
    # The semantic model's layers are shared: a trained person model starts the head.
    x = np.random.default_rng(1).uniform(size=(1, 64, 64, 3))
    np.testing.assert_allclose(model.predict(x, verbose=0)[..., 0],
                               keras.ops.sigmoid(semantic.predict(x, verbose=0))[..., 0],
                               atol=1e-6)
    shared = {w.path for w in semantic.weights} & {w.path for w in model.weights}
    assert len(shared) == len(semantic.weights)
    # DeepLabV3+ (logits upsampled at the end) takes the head as well.
    assert instance_model(deeplabv3plus((64, 64, 3), backbone="tiny")).output_shape[-1] == 4
    with pytest.raises(ValueError, match="binary kerasseg model"):
        instance_model(unet((64, 64, 3), num_classes=3, filters=8, depth=3))
    # Each head: one 3x3 convolution per dilation, in order.
    for dilations in ((1, 2, 4, 8), (1, 2)):
        heads = instance_model(unet((64, 64, 3), filters=8, depth=3), head_dilations=dilations)
        for head in ("centre", "offsets"):
            convs = [layer for layer in heads.layers if f"_{head}_conv" in layer.name]
            assert [c.dilation_rate for c in convs] == [(d, d) for d in dilations], head
    for bad in ((), (1, 0), (1.5,)):
        with pytest.raises(ValueError, match="head_dilations"):
            instance_model(unet((64, 64, 3), filters=8, depth=3), head_dilations=bad)


def test_frozen_semantic_model_keeps_its_foreground_while_the_heads_learn():
    import keras

    from kerasseg import unet
    from kerasseg.instances.model import instance_model

    images, targets, _ = _batch()
    keras.utils.set_random_seed(0)
    semantic = unet((64, 64, 3), filters=8, depth=3)
    foreground = keras.ops.convert_to_numpy(keras.ops.sigmoid(semantic(images, training=False)))
    model = instance_model(semantic, freeze_semantic=True)
    heads = {w.path for w in model.trainable_weights}
    assert heads and all("_centre_" in path or "_offsets_" in path for path in heads), heads
    before, after = _outputs_around_three_steps(model, images, targets)
    # BatchNorm included (inference mode): the foreground is still the semantic model's.
    np.testing.assert_allclose(after[..., 0], foreground[..., 0], rtol=0, atol=1e-6)
    assert np.abs(after[..., 1:] - before[..., 1:]).max() > 1e-3


def test_another_models_foreground_stays_exact_while_the_grouping_learns(tmp_path):
    import keras

    from kerasseg import unet
    from kerasseg.instances.model import instance_model, is_instance_model, with_foreground
    from kerasseg.saving import load_keras_model

    images, targets, _ = _batch()
    keras.utils.set_random_seed(0)
    semantic = unet((64, 64, 3), filters=4, depth=3, name="mask")
    foreground = keras.ops.convert_to_numpy(keras.ops.sigmoid(semantic(images, training=False)))
    grouping = instance_model(unet((64, 64, 3), filters=8, depth=3), name="grouping")
    model = with_foreground(grouping, semantic)
    assert is_instance_model(model) and model.output_shape == (None, 64, 64, 4)
    assert {w.path for w in model.trainable_weights} == {w.path for w in grouping.weights
                                                        if w.trainable}
    before, after = _outputs_around_three_steps(model, images, targets)
    np.testing.assert_allclose(after[..., 0], foreground[..., 0], rtol=0, atol=1e-6)
    assert np.abs(after[..., 1:] - before[..., 1:]).max() > 1e-3
    np.testing.assert_allclose(after[..., 1:], grouping.predict(images, verbose=0)[..., 1:],
                               rtol=0, atol=1e-6)
    model.save(tmp_path / "grouped.keras")
    np.testing.assert_allclose(load_keras_model(str(tmp_path / "grouped.keras")).predict(
        images, verbose=0), after, rtol=0, atol=1e-6)


@pytest.mark.parametrize("semantic, message", [
    ("instances", "not an instance model"),
    ("classes", "the foreground comes from a binary semantic model"),
    ("size", "must read the same image size"),
    ("name", "both models are named"),
])
def test_with_foreground_refuses_models_that_do_not_fit(semantic, message):
    from kerasseg import unet
    from kerasseg.instances.model import instance_model, with_foreground

    grouping = instance_model(unet((64, 64, 3), filters=4, depth=3), name="grouping")
    other = {"instances": lambda: unet((64, 64, 3), filters=4, depth=3, name="mask"),
             "classes": lambda: unet((64, 64, 3), filters=4, depth=3, num_classes=3),
             "size": lambda: unet((32, 32, 3), filters=4, depth=3),
             "name": lambda: unet((64, 64, 3), filters=4, depth=3, name="grouping")}[semantic]()
    with pytest.raises(ValueError, match=message):
        if semantic == "instances":   # the grouping model given where the mask goes, swapped
            with_foreground(other, grouping)
        else:
            with_foreground(grouping, other)


def test_loss_rewards_centres_offsets_and_foreground():
    from kerasseg.instances.model import InstanceLoss

    _, targets, _ = _batch()
    loss = InstanceLoss()

    def value(prediction):
        return float(loss(targets, np.clip(prediction, -1, 1)))

    good = np.concatenate([np.clip(targets[..., :1], 1e-4, 1 - 1e-4), targets[..., 1:]], -1)
    shifted = good.copy()
    shifted[..., 2:] += 0.05 * (targets[..., :1] > 0)      # every offset 5% of the image off
    missed = good.copy()
    missed[..., 1] = 0.01                                 # no centre found
    flat = np.full_like(targets, 0.5)
    assert value(good) < 0.5
    assert value(shifted) > value(good) + 0.1 and value(missed) > value(good) + 4
    assert value(flat) > value(good) + 5


@pytest.mark.train
def test_training_lowers_the_loss_and_the_int8_export_stays_close(tmp_path):
    """A small instance model fitted a little, then exported to full int8 with builtin ops
    only: LiteRT's four channels stay within a few int8 steps of Keras's, and both decode.
    (That the int8 file finds the same people is the zoo model's test, on real photos.)"""
    import keras

    from kerasseg.export import export_tflite
    from kerasseg.instances.model import InstanceLoss, foreground_metrics
    from kerasseg.litert import TFLiteSegmenter
    from kerasseg.segmenter import KerasSegmenter

    images, targets, _ = _batch()
    keras.utils.set_random_seed(0)
    model = _small_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=InstanceLoss(),
                  metrics=foreground_metrics())
    before = model.evaluate(images, targets, verbose=0, return_dict=True)
    # The loss first rises (the first steps disturb the heatmap's 0.01 prior) and falls below
    # its start after 15-25 steps, depending on the initial weights; 30 leave a margin. (One
    # batch: `fit` would spend more on each epoch's set-up than on its one step.)
    for _ in range(30):
        model.train_on_batch(images, targets)
    after = model.evaluate(images, targets, verbose=0, return_dict=True)
    assert after["loss"] < before["loss"] and after["dice"] > 0.8, (before, after)
    assert set(after) == {"loss", "dice", "iou"}
    path = tmp_path / "instances_int8.tflite"
    report = export_tflite(model, str(path), "int8", representative=images,
                           labels=["background", "person"])
    assert "no MediaPipe metadata" in report["metadata"]
    sidecar = json.loads((tmp_path / "instances_int8.json").read_text())
    assert sidecar["output"]["kind"] == "instances"
    assert sidecar["output"]["channels"] == list(instances.INSTANCE_CHANNELS)
    lite, keras_side = TFLiteSegmenter(str(path)), KerasSegmenter(model)
    assert lite.task == keras_side.task == "instances" and lite.num_classes == 1
    x = images[:1]
    assert np.abs(lite.outputs(x) - keras_side.outputs(x)).max() < 0.1
    assert lite.probabilities(x).shape == (1, 64, 64, 1)
    photo = np.round(images[0] * 255).astype(np.uint8)
    for side in (keras_side, lite):
        found, items = side.instances(photo, centre_threshold=0.0)
        assert found.shape == (64, 64) and found.max() == len(items) >= 1
