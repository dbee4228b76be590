"""Checks every model test applies."""

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


def fit_and_score(model, images, masks, epochs, learning_rate=3e-3):
    """Fits a binary model on (images, masks) and returns its inference-mode Dice on them."""
    from kerasseg import losses, metrics

    keras.utils.set_random_seed(1)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=losses.get("bce+dice"))
    model.fit(images, masks, batch_size=len(images), epochs=epochs, verbose=0)
    dice = metrics.Dice()
    dice.update_state(masks, model.predict(images, verbose=0))
    return float(dice.result())
