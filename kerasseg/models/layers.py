"""The few custom layers kerasseg models need, registered for safe-mode loading.

Each one exists because no stock Keras layer does the job in a way that
serializes, runs under XLA and exports to TFLite with builtin ops only.
Importing `kerasseg` registers them, so `keras.saving.load_model(path)` needs
no `custom_objects`.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasseg")
class MaxUnpooling2D(keras.layers.Layer):
    """SegNet's max unpooling, computed without pooling indices.

    SegNet places each decoder value at the position its encoder window's
    maximum came from. `tf.nn.max_pool_with_argmax` plus a scatter does that but
    has no XLA kernel, is no TFLite builtin and breaks int8 calibration. This
    layer finds the same positions by comparing the encoder features with their
    own pooled maxima, upsampled: ops that XLA and TFLite builtins both have.
    Where a window holds several equal maxima, each of them receives the value.

    Call it on `[decoder, encoder]`: `decoder` at the pooled resolution and
    `encoder` the features before pooling, with the same number of channels.

    Args:
        pool_size: the encoder's pooling window and stride.
    """

    def __init__(self, pool_size=2, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = int(pool_size)

    def call(self, inputs):
        decoder, encoder = inputs
        k = self.pool_size
        pooled = ops.max_pool(encoder, pool_size=k, strides=k, padding="valid")
        size = (ops.shape(encoder)[1], ops.shape(encoder)[2])
        maxima = ops.image.resize(pooled, size, interpolation="nearest")
        mask = ops.cast(ops.equal(encoder, maxima), decoder.dtype)
        return ops.image.resize(decoder, size, interpolation="nearest") * mask

    def compute_output_shape(self, input_shape):
        decoder_shape, encoder_shape = input_shape
        return (*encoder_shape[:3], decoder_shape[-1])

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}


@keras.saving.register_keras_serializable(package="kerasseg")
class ResizeLike(keras.layers.Layer):
    """Resizes a feature map to the height and width of a reference tensor.

    Used where the factor is not known when the model is built (any input
    size), e.g. DeepLab's image-pooling branch. Unlike
    `keras.layers.Resizing`, it has no training-mode side effects (see
    docs/design.md: Resizing made later BatchNorm run in training mode on export).

    Call it on `[x, reference]`.

    Args:
        interpolation: "bilinear" or "nearest".
    """

    def __init__(self, interpolation="bilinear", **kwargs):
        super().__init__(**kwargs)
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(
                f"ResizeLike: interpolation must be 'bilinear' or 'nearest', got {interpolation!r}"
            )
        self.interpolation = interpolation

    def call(self, inputs):
        x, reference = inputs
        size = (ops.shape(reference)[1], ops.shape(reference)[2])
        return ops.image.resize(x, size, interpolation=self.interpolation)

    def compute_output_shape(self, input_shape):
        x_shape, reference_shape = input_shape
        return (x_shape[0], reference_shape[1], reference_shape[2], x_shape[-1])

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}


# ImageNet statistics that keras.applications' "caffe" preprocessing subtracts,
# in BGR order.
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_MODES = ("tf", "caffe", "efficientnet_lite")


@keras.saving.register_keras_serializable(package="kerasseg")
class BackbonePreprocessing(keras.layers.Layer):
    """Maps images in [0, 1] to what a keras.applications backbone expects.

    kerasseg models all take RGB images in [0, 1]; backbones were trained on
    other scales. Doing the mapping inside the model means exported files
    need no per-backbone preprocessing on the device.

    Args:
        mode: "tf" for [-1, 1] (MobileNetV2), "caffe" for BGR minus the
            ImageNet mean on a 0-255 scale (ResNet50), or "efficientnet_lite"
            for (x - 127) / 128 on a 0-255 scale.
    """

    def __init__(self, mode="tf", **kwargs):
        super().__init__(**kwargs)
        if mode not in _MODES:
            raise ValueError(f"BackbonePreprocessing: mode must be one of {_MODES}, got {mode!r}")
        self.mode = mode

    def call(self, images):
        if self.mode == "tf":
            return images * 2.0 - 1.0
        if self.mode == "efficientnet_lite":
            return (images * 255.0 - 127.0) / 128.0
        bgr = ops.flip(images, axis=-1) * 255.0
        return bgr - ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=bgr.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
