"""Building blocks and argument checks shared by every architecture.

Layer names are always passed in, so a model's layer names say where each
layer sits (`unet_enc2_conv1`, `deeplabv3_aspp_rate6`) and never depend on how
many models were built before.
"""

import keras

# With few steps per epoch, Keras's default BatchNorm momentum (0.99) leaves
# the moving statistics far from the batch statistics the weights were trained
# with, and inference-mode output collapses (docs/design.md: Dice 0.008 on PH2).
# 0.9 tracks them within ~50 steps.
BATCH_NORM_MOMENTUM = 0.9

OUTPUTS = ("logits", "probabilities")


def check_common_args(name, input_shape, num_classes, output, multiple):
    """Validates the arguments every builder shares; raises a clear ValueError.

    Args:
        name: the model's name, used in messages.
        input_shape: (height, width, channels); height and width may be None.
        num_classes: 1 for binary, N >= 2 for N classes.
        output: "logits" or "probabilities".
        multiple: the model's total stride; fixed heights and widths must be
            multiples of it.
    """
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(
            f"{name}: num_classes must be a positive integer (1 for a binary mask), got {num_classes!r}"
        )
    if output not in OUTPUTS:
        raise ValueError(f"{name}: output must be one of {OUTPUTS}, got {output!r}")
    check_input_shape(name, input_shape, multiple)


def check_input_shape(name, input_shape, multiple):
    """Raises ValueError unless input_shape is (H, W, C) with H, W multiples of `multiple`."""
    if len(tuple(input_shape)) != 3:
        raise ValueError(
            f"{name}: input_shape must be (height, width, channels), got {input_shape!r}"
        )
    height, width, channels = input_shape
    if channels is None or int(channels) < 1:
        raise ValueError(f"{name}: the number of input channels must be known, got {input_shape!r}")
    for axis, size in (("height", height), ("width", width)):
        if size is None:
            continue
        if int(size) < multiple or int(size) % multiple:
            lower = (int(size) // multiple) * multiple
            nearest = [n for n in (lower, lower + multiple) if n >= multiple]
            raise ValueError(
                f"{name}: input {axis} {size} is not a multiple of {multiple}, the model's total "
                f"stride; nearest valid sizes: {' or '.join(str(n) for n in nearest)}. Resize or "
                f"pad the images, or use None for any valid size."
            )


def conv_bn_act(x, filters, name, kernel_size=3, strides=1, dilation_rate=1, batch_norm=True,
                separable=False, activation="relu"):
    """Conv (optionally depthwise-separable), BatchNorm, activation.

    The convolution has no bias when BatchNorm follows: BatchNorm's offset
    makes it redundant.
    """
    conv = keras.layers.SeparableConv2D if separable else keras.layers.Conv2D
    x = conv(filters, kernel_size, strides=strides, padding="same", dilation_rate=dilation_rate,
             use_bias=not batch_norm, name=f"{name}_conv")(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{name}_bn")(x)
    if activation:
        x = keras.layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def segmentation_head(x, num_classes, output, name, upsample=1):
    """1x1 convolution to per-class logits, bilinear upsampling, optional sigmoid/softmax.

    Logits are upsampled (not the wider features before them) to keep memory
    low. All three layers compute in float32, so the model's output stays
    float32 under a mixed-precision policy.
    """
    x = keras.layers.Conv2D(num_classes, 1, dtype="float32", name=f"{name}_logits")(x)
    if upsample > 1:
        x = keras.layers.UpSampling2D(upsample, interpolation="bilinear", dtype="float32",
                                      name=f"{name}_upsample")(x)
    if output == "probabilities":
        activation = "sigmoid" if num_classes == 1 else "softmax"
        x = keras.layers.Activation(activation, dtype="float32", name=f"{name}_probabilities")(x)
    return x


def outputs_logits(model):
    """True if `model` ends in logits, False if in probabilities.

    Read from what the last layer computes (a sigmoid or softmax activation,
    or a Softmax layer), not from its name, so a model built outside kerasseg
    is treated as it is.
    """
    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return False
    return last.get_config().get("activation") not in ("sigmoid", "softmax")
