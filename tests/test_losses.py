import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasseg import losses
from kerasseg.models import unet

ALL = [losses.CrossEntropy, losses.Dice, losses.Jaccard, losses.Focal, losses.Tversky]


def _logits_from_masks(masks, confidence=8.0):
    return np.where(masks > 0, confidence, -confidence).astype(np.float32)


@pytest.mark.parametrize("loss_class", ALL)
def test_gradients_are_finite_even_for_saturated_logits(loss_class, ph2_masks_128):
    masks = ph2_masks_128[:4].astype(np.float32)
    logits = np.random.default_rng(0).normal(0, 30, masks.shape).astype(np.float32)
    value, gradient = _value_and_gradient(lambda x: loss_class()(masks, x), logits)
    assert np.isfinite(value) and np.isfinite(gradient).all()
    assert np.abs(gradient).sum() > 0


def _value_and_gradient(function, x):
    """function(x) and its gradient, on whichever backend Keras runs."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        value, gradient = jax.value_and_grad(function)(x)
        return float(value), np.asarray(gradient)
    if backend == "torch":
        import torch

        x = torch.tensor(x, requires_grad=True)
        value = function(x)
        value.backward()
        return float(value), x.grad.numpy()
    variable = tf.Variable(x)
    with tf.GradientTape() as tape:
        value = function(variable)
    return float(value), tape.gradient(value, variable).numpy()


@pytest.mark.parametrize("loss_class", ALL)
def test_near_zero_for_a_confident_right_answer_and_large_for_a_wrong_one(loss_class, ph2_masks_128):
    masks = ph2_masks_128[:4].astype(np.float32)
    right = float(loss_class()(masks, _logits_from_masks(masks)))
    wrong = float(loss_class()(masks, _logits_from_masks(1 - masks)))
    assert right < 0.01 and wrong > 0.5


def test_binary_cross_entropy_matches_keras(ph2_masks_128):
    masks = ph2_masks_128[:4].astype(np.float32)
    logits = np.random.default_rng(0).normal(0, 2, masks.shape).astype(np.float32)
    expected = keras.losses.BinaryCrossentropy(from_logits=True)(masks, logits)
    np.testing.assert_allclose(float(losses.CrossEntropy()(masks, logits)), float(expected), rtol=1e-5)


def test_class_weights_for_4d_targets_weight_each_pixel_by_its_class(ph2_masks_128):
    masks = ph2_masks_128[:2].astype(np.float32)
    logits = np.random.default_rng(0).normal(0, 2, masks.shape).astype(np.float32)
    per_pixel = np.maximum(logits, 0) - logits * masks + np.log1p(np.exp(-np.abs(logits)))
    expected = (per_pixel * np.where(masks > 0, 4.0, 0.5)).mean()
    value = losses.CrossEntropy(class_weights=[0.5, 4.0])(masks, logits)
    np.testing.assert_allclose(float(value), expected, rtol=1e-4)


def test_multiclass_matches_keras_and_ignores_the_ignore_index():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (2, 8, 8, 1))
    logits = rng.normal(size=(2, 8, 8, 3)).astype(np.float32)
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    np.testing.assert_allclose(float(losses.CrossEntropy()(labels, logits)), float(expected), rtol=1e-5)
    # With class 2 ignored, changing logits on those pixels changes nothing.
    changed = logits.copy()
    changed[labels[..., 0] == 2] = 100.0
    for loss in (losses.CrossEntropy(ignore_index=2), losses.Dice(ignore_index=2)):
        np.testing.assert_allclose(float(loss(labels, logits)), float(loss(labels, changed)),
                                   rtol=1e-6)


def test_one_hot_and_index_targets_agree():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, (2, 8, 8))
    logits = rng.normal(size=(2, 8, 8, 4)).astype(np.float32)
    for loss in (losses.CrossEntropy(), losses.Dice(), losses.Focal()):
        np.testing.assert_allclose(float(loss(labels, logits)),
                                   float(loss(np.eye(4)[labels], logits)), rtol=1e-5)


def test_tversky_generalises_dice_and_jaccard(ph2_masks_128):
    masks = ph2_masks_128[:4].astype(np.float32)
    logits = np.random.default_rng(0).normal(0, 2, masks.shape).astype(np.float32)
    np.testing.assert_allclose(float(losses.Tversky(0.5, 0.5)(masks, logits)),
                               float(losses.Dice()(masks, logits)), rtol=1e-6)
    np.testing.assert_allclose(float(losses.Tversky(1.0, 1.0)(masks, logits)),
                               float(losses.Jaccard()(masks, logits)), rtol=1e-6)


def test_sum_by_name():
    masks = np.ones((1, 4, 4, 1), np.float32)
    logits = np.zeros((1, 4, 4, 1), np.float32)
    combined = losses.get("bce+dice")
    expected = float(losses.CrossEntropy()(masks, logits)) + float(losses.Dice()(masks, logits))
    np.testing.assert_allclose(float(combined(masks, logits)), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown loss 'lovasz'"):
        losses.get("bce+lovasz")


def test_class_weights_of_the_wrong_length_are_named():
    with pytest.raises(ValueError, match="class_weights has 3 entries; this output needs 2"):
        losses.CrossEntropy(class_weights=[1, 2, 3])(np.ones((1, 2, 2, 1)), np.zeros((1, 2, 2, 1)))


def test_compiled_losses_and_metrics_survive_save_and_load(tmp_path):
    from kerasseg import metrics

    model = unet(input_shape=(16, 16, 3), filters=4, depth=2)
    # Dice is both a loss and a metric: their registered names must not collide.
    loss = losses.CombinedLoss([losses.CrossEntropy(class_weights=[1.0, 2.0]), losses.Dice(),
                                losses.Focal(gamma=1.5)], weights=[1.0, 1.0, 0.5])
    model.compile(optimizer="adam", loss=loss, metrics=[metrics.Dice(), metrics.IoU()])
    rng = np.random.default_rng(0)
    images, masks = rng.random((4, 16, 16, 3)), (rng.random((4, 16, 16, 1)) > 0.5).astype("float32")
    model.fit(images, masks, epochs=1, verbose=0)
    path = str(tmp_path / "compiled.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.loss.get_config() == loss.get_config()
    np.testing.assert_allclose(loaded.evaluate(images, masks, verbose=0),
                               model.evaluate(images, masks, verbose=0), rtol=1e-5)
