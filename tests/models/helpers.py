"""Checks every model test applies, and the one harness every builder and backbone goes through."""

import os

import keras
import numpy as np


def assert_round_trip(model, tmp_path, images):
    """Saves to .keras, loads in safe mode without custom_objects, compares outputs exactly."""
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
    path = os.path.join(tmp_path, f"{model.name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), model.predict(images, verbose=0))
    return loaded


def run_segmentation_model_test(builder, kwargs, images, tmp_path,
                                quantizations=("none", "float16", "int8")):
    """Builds, predicts, round-trips and converts one model, as users and the exporter will.

    Args:
        builder: an architecture name for `kerasseg.models.build_model`.
        kwargs: its arguments, without `input_shape` (taken from `images`).
        images: float32 images (N >= 2, H, W, 3) in [0, 1]; also the int8
            calibration set.
        tmp_path: a folder for the .keras file.
        quantizations: the TFLite conversions to run (builtin ops only) and
            compare with the Keras outputs; on a backend other than
            TensorFlow, none run.
    """
    from kerasseg.models import build_model

    # The same initial weights whatever ran before in this process: SegNet's float16 check
    # depends on them (see below), and the order of the test files changes.
    keras.utils.set_random_seed(0)
    shape = images.shape[1:]
    model = build_model(builder, input_shape=shape, **kwargs)
    again = build_model(builder, input_shape=shape, **kwargs)
    assert [layer.name for layer in again.layers] == [layer.name for layer in model.layers]

    outputs = model.predict(images, verbose=0)
    assert outputs.shape == (len(images), *shape[:2], kwargs.get("num_classes", 1))
    assert np.all(np.isfinite(outputs))
    # Inference-mode BatchNorm: an image's output does not depend on its batch companions.
    np.testing.assert_allclose(model.predict(images[:1], verbose=0), outputs[:1], atol=1e-5)
    assert_round_trip(model, tmp_path, images)

    if keras.backend.backend() != "tensorflow":
        return  # TFLite conversion runs where TensorFlow is Keras' backend
    from ai_edge_litert.interpreter import Interpreter

    from kerasseg.export import convert_tflite

    logits = outputs[:1]
    expected = (1 / (1 + np.exp(-logits)) if logits.shape[-1] == 1
                else np.exp(logits) / np.exp(logits).sum(-1, keepdims=True))
    if expected.shape[-1] == 1:
        # Binary files hold [background, foreground]: argmax = class id (MediaPipe's reading).
        expected = np.concatenate([1 - expected, expected], axis=-1)
    for quantize in quantizations:
        interpreter = Interpreter(model_content=convert_tflite(model, quantize, images))
        interpreter.allocate_tensors()  # would fail on any Flex op
        entry, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        x = images[:1]
        if quantize == "int8":
            assert entry["dtype"] == np.uint8 and out["dtype"] == np.uint8
            scale, zero = entry["quantization"]
            x = np.clip(np.round(x / scale + zero), 0, 255).astype(np.uint8)
        interpreter.set_tensor(entry["index"], x)
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"]).astype(np.float32)
        assert y.shape == expected.shape, (builder, quantize)
        if quantize == "int8":
            # Untrained outputs are too flat to judge int8 accuracy on; the trained models
            # in tests/test_export.py and the zoo carry that check.
            scale, zero = out["quantization"]
            y = (y - zero) * scale
            assert np.all(np.isfinite(y)) and y.min() >= 0 and y.max() <= 1.0001, builder
            np.testing.assert_allclose(y.sum(-1), 1.0, atol=0.05)
        elif quantize == "float16" and builder == "segnet":
            # Max-unpooling routes each value to its pooling window's argmax, which a
            # 1e-3 change can move (a 1e-3 input perturbation does it in Keras alone): a
            # few pixels jump, the rest agree as tightly as the other architectures.
            diff = np.abs(y - expected)
            assert np.quantile(diff, 0.99) <= 2e-3 and diff.max() <= 2e-2, (diff.max(),)
        else:
            np.testing.assert_allclose(y, expected, atol=2e-3 if quantize == "float16" else 2e-6)


def fit_and_score(model, images, masks, steps, learning_rate=3e-3):
    """Fits a binary model on (images, masks), all in each step, and returns its inference-mode
    Dice on them.

    On four PH2 cases at 64 x 64 the four architectures of the learning tests pass Dice 0.9
    after 40-50 steps and reach 0.952-0.984 by 60 (seed 1, measured every 10 steps).
    """
    from kerasseg import losses, metrics

    keras.utils.set_random_seed(1)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=losses.get("bce+dice"))
    model.optimizer.build(model.trainable_variables)   # as train() does: one trace, not two
    # One batch, so a step is an epoch; `fit` would spend more on each epoch's set-up (its
    # iterator, its callbacks) than on the step itself.
    for _ in range(steps):
        model.train_on_batch(images, masks)
    dice = metrics.Dice()
    dice.update_state(masks, model.predict(images, verbose=0))
    return float(dice.result())
