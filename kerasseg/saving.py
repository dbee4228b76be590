"""Loading a saved `.keras` segmentation model: the one place that does it.

The zoo, `kerasseg.segmenter.load` and the maintainers' publish tool all load
through `load_keras_model`, so a bad file gets the same clear error everywhere.
"""

import os
import zipfile


def load_keras_model(path):
    """Loads a saved `.keras` model for inference (not compiled).

    Args:
        path: a `.keras` file written by `model.save` or `kerasseg train`.

    Returns:
        The `keras.Model`, with kerasseg's layers, losses and metrics registered.

    Raises:
        ValueError naming `path` if it is a folder, not a `.keras` file, cut
        short, or not loadable.

    Example:
        >>> from kerasseg.saving import load_keras_model
        >>> model = load_keras_model("runs/unet/best.keras")  # doctest: +SKIP
    """
    import keras

    import kerasseg.models  # noqa: F401  (registers kerasseg's layers, losses and metrics)

    if os.path.isdir(path) or not path.endswith(".keras"):
        raise ValueError(f"{path}: not a Keras model file (expected a .keras file)")
    if os.path.isfile(path) and not zipfile.is_zipfile(path):
        # Keras says "File not found" for these: the file is there, but incomplete.
        raise ValueError(f"{path}: could not be loaded as a Keras model: it is not a .keras "
                         f"archive ({os.path.getsize(path)} bytes, no zip directory), e.g. cut "
                         "short by an interrupted save or copy")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 (zip, JSON and h5 errors alike)
        raise ValueError(f"{path}: could not be loaded as a Keras model: {error}") from error
