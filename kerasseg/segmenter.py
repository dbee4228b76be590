"""Anything that segments images, behind one interface: a saved Keras model, a zoo name, a classical method.

`evaluate`, `predict` and `export` take `--model PATH_OR_NAME`; `load()` turns
that into a `Segmenter`:
    "runs/unet/best.keras"   a saved Keras model
    "unet-ph2"               a zoo model (`kerasseg zoo list`)
    "classic:otsu"           a classical method (`kerasseg.classic.METHODS`)
"""

import os

import numpy as np

# The pre- and post-processing live in the TensorFlow-free runner module, so a
# Keras model, a classical method and a .tflite file are all treated the same way.
from kerasseg.litert import TFLiteSegmenter, flip_mean, instances_of, mask_at, resize_in
from kerasseg.litert import classes as classes_from
from kerasseg.saving import load_keras_model

__all__ = ["ClassicSegmenter", "KerasSegmenter", "Segmenter", "TFLiteSegmenter", "classes_from",
           "load", "mask_at"]


class Segmenter:
    """Maps RGB images to per-pixel foreground (or class) probabilities.

    Attributes:
        name: what was loaded.
        input_size: (height, width) images are resized to before `probabilities`.
        num_classes: 1 for binary (one foreground probability), else classes.
        task: "semantic", or "instances" for an instance model (`kerasseg.instances`),
            whose `probabilities` are its foreground and `instances()` its people.
    """

    name = ""
    input_size = (256, 256)
    num_classes = 1
    task = "semantic"

    def probabilities(self, images):
        """(N, h, w, 3) float32 images in [0, 1] at `input_size` -> (N, h, w, C) probabilities."""
        raise NotImplementedError

    def probabilities_tta(self, images):
        """The mean of `probabilities` over the image and its horizontal and vertical flips."""
        return flip_mean(self.probabilities, images)

    def resize_in(self, image):
        """One uint8 (H, W, 3) image -> float32 (h, w, 3) in [0, 1] at `input_size` (bilinear)."""
        return resize_in(image, self.input_size)

    def segment(self, image, threshold=0.5):
        """One uint8 RGB image of any size -> (H, W) uint8 class ids at the image's own size."""
        return mask_at(self.probabilities(self.resize_in(image)[None])[0], image.shape[:2], threshold)

    def instances(self, image, **options):
        """One uint8 RGB image -> (ids, instances) at its own size; instance models only
        (`kerasseg.litert.decode_instances` says what the options are)."""
        return instances_of(self, image, **options)


class KerasSegmenter(Segmenter):
    """A Keras segmentation model; logits or probabilities out, sigmoid/softmax applied if logits."""

    def __init__(self, model, name=None, image_size=256):
        self.model = model
        self.name = name or model.name
        _check_weights(model, self.name)
        height, width = model.input_shape[1:3]
        fallback = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        self.input_size = (height or fallback[0], width or fallback[1])
        channels = model.output_shape[-1]
        self.num_classes = 1 if channels == 1 else channels
        from kerasseg.instances.model import is_instance_model
        from kerasseg.models.blocks import outputs_logits

        self.outputs_logits = outputs_logits(model)
        if is_instance_model(model):   # its channels are probabilities, heatmap and offsets
            self.task, self.num_classes, self.outputs_logits = "instances", 1, False

    def outputs(self, images):
        """(N, h, w, 3) float32 images in [0, 1] -> the network's (N, h, w, channels) output."""
        return np.asarray(self.model.predict_on_batch(np.asarray(images, np.float32)), np.float32)

    def probabilities(self, images):
        output = self.outputs(images)
        if self.task == "instances":
            return output[..., :1]
        if not self.outputs_logits:
            return output
        if output.shape[-1] == 1:
            return 1.0 / (1.0 + np.exp(-output))
        output = np.exp(output - output.max(axis=-1, keepdims=True))
        return output / output.sum(axis=-1, keepdims=True)


def _check_weights(model, name):
    """ValueError naming the first layer whose weights hold NaN or infinity: such a model
    predicts background everywhere and would be scored as if it had tried."""
    for layer in model.layers:
        for weight in layer.weights:
            values = np.asarray(weight.numpy())
            if values.dtype.kind == "f" and not np.isfinite(values).all():
                bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
                raise ValueError(f"{name}: {bad} weights of layer {layer.name} are NaN or "
                                 "infinite; the model is broken (saved from a diverged training "
                                 "run?) and cannot segment anything")


class ClassicSegmenter(Segmenter):
    """A method of `kerasseg.classic`, run at `input_size`; its 0/1 mask is the probability."""

    def __init__(self, method, image_size=256, **options):
        from kerasseg import classic

        if method not in classic.METHODS:
            raise ValueError(f"unknown classical method {method!r} in 'classic:{method}'; "
                             f"choose one of {', '.join(classic.METHODS)}")
        self.method, self.options, self.name = method, options, f"classic:{method}"
        self.input_size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)

    def probabilities(self, images):
        from kerasseg import classic

        masks = [classic.segment(self.method, image, **self.options) for image in images]
        return np.stack(masks).astype(np.float32)[..., None]


def load(spec, image_size=256):
    """A `Segmenter` from a path, a zoo name or "classic:METHOD".

    Args:
        spec: a `.keras` file, a zoo model name, or "classic:otsu" (etc.).
        image_size: the size to run at when the model (or method) has no fixed
            input size.

    Returns:
        A `Segmenter`. Raises ValueError naming `spec` if it is none of these,
        or an `image_size` beyond `kerasseg.data.records.MAX_IMAGE_SIZE`.
    """
    from kerasseg.data.records import check_image_size

    check_image_size(image_size, "image_size")
    if spec.startswith("classic:"):
        return ClassicSegmenter(spec.split(":", 1)[1], image_size)
    if spec.endswith(".tflite"):
        return TFLiteSegmenter(spec)
    from kerasseg import zoo

    # A zoo name has no ".keras" ending, so a local file or folder of that name
    # is no model to load: the zoo model is meant, and the user is told.
    if zoo.is_name(spec):
        if os.path.exists(spec):
            import warnings

            run = os.path.join(spec, "best.keras")
            hint = f"; for the run in that folder give {run}" if os.path.isfile(run) else ""
            warnings.warn(f"--model {spec}: loading the zoo model {spec}; the local "
                          f"{'folder' if os.path.isdir(spec) else 'file'} {spec} of the same name "
                          f"is not a .keras model file{hint}", stacklevel=2)
        return KerasSegmenter(zoo.load(spec), name=spec, image_size=image_size)
    if os.path.exists(spec):
        return KerasSegmenter(load_keras_model(spec), name=spec, image_size=image_size)
    raise ValueError(f"--model {spec!r}: not a model file, a zoo name ({', '.join(zoo.names())}) "
                     "or classic:METHOD")
