"""SegNet (Badrinarayanan et al., 2017)."""

import keras

from kerasseg.models.blocks import check_common_args, conv_bn_act, segmentation_head
from kerasseg.models.layers import MaxUnpooling2D


def segnet(input_shape=(None, None, 3), num_classes=1, filters=(64, 128, 256, 512, 512),
           convs_per_level=(2, 2, 3, 3, 3), bottleneck_filters=None, batch_norm=True,
           dropout=0.0, output="logits", name="segnet"):
    """SegNet as a Keras functional model: decoder unpooling by the encoder's max positions.

    The encoder is a stack of levels, each of 3x3 convolutions followed by 2x2
    max pooling (VGG16's 13 convolutions by default). The decoder mirrors it:
    each level unpools its input to the positions where the encoder level's
    maxima were (see `MaxUnpooling2D`: no stored indices, so it runs under
    XLA and exports to TFLite with builtin ops), then convolves; the last
    convolution of a level narrows to the next level's width.

    Args:
        input_shape: (height, width, channels) of images in [0, 1]; height and
            width must be multiples of 2**len(filters), or None for any such size.
        num_classes: 1 for a binary mask (one logit channel, sigmoid), N >= 2
            for N classes (softmax).
        filters: channels of each encoder level, shallowest first.
        convs_per_level: 3x3 convolutions per level: one int for all, or one
            per level.
        bottleneck_filters: if set, one more convolution of this width at the
            lowest resolution (the AI-for-Beginners SegNet has 256); the
            decoder projects it back before unpooling.
        batch_norm: BatchNorm after each convolution (as in SegNet).
        dropout: dropout rate at the lowest resolution, 0 for none.
        output: "logits" or "probabilities".
        name: the model's name and the prefix of its layer names.

    Returns:
        A `keras.Model` mapping images of shape `(batch, H, W, C)` to
        `(batch, H, W, num_classes)` logits or probabilities.

    Example:
    >>> model = segnet(input_shape=(64, 64, 3), num_classes=3, filters=(8, 16), convs_per_level=1)
    >>> model.output_shape
    (None, 64, 64, 3)
    """
    filters = tuple(filters)
    if not filters:
        raise ValueError(f"{name}: filters must name at least one level")
    if isinstance(convs_per_level, int):
        convs_per_level = (convs_per_level,) * len(filters)
    convs_per_level = tuple(convs_per_level)
    if len(convs_per_level) != len(filters) or min(convs_per_level) < 1:
        raise ValueError(
            f"{name}: convs_per_level must be a positive int or one positive int per level "
            f"({len(filters)} levels), got {convs_per_level!r}"
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout}")
    check_common_args(name, input_shape, num_classes, output, multiple=2 ** len(filters))

    inputs = keras.Input(input_shape, name="image")
    x, encoder = inputs, []
    for level, (width, count) in enumerate(zip(filters, convs_per_level)):
        for i in range(count):
            x = conv_bn_act(x, width, f"{name}_enc{level}_{i}", batch_norm=batch_norm)
        encoder.append(x)
        x = keras.layers.MaxPooling2D(name=f"{name}_enc{level}_pool")(x)
    if bottleneck_filters:
        x = conv_bn_act(x, bottleneck_filters, f"{name}_bottleneck", batch_norm=batch_norm)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_bottleneck_dropout")(x)

    for level in reversed(range(len(filters))):
        if x.shape[-1] != filters[level]:
            x = conv_bn_act(x, filters[level], f"{name}_dec{level}_project", batch_norm=batch_norm)
        x = MaxUnpooling2D(name=f"{name}_dec{level}_unpool")([x, encoder[level]])
        count = convs_per_level[level]
        for i in range(count):
            width = filters[level] if i < count - 1 else filters[max(level - 1, 0)]
            x = conv_bn_act(x, width, f"{name}_dec{level}_{i}", batch_norm=batch_norm)

    outputs = segmentation_head(x, num_classes, output, name)
    return keras.Model(inputs, outputs, name=name)
