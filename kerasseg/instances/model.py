"""The instance model: a semantic segmenter with a centre heatmap and centre offsets added.

`instance_model(semantic)` takes any binary kerasseg builder's model (U-Net,
DeepLabV3(+), SegNet; trained or not) and adds two small heads on the features
its classifier reads: a centre heatmap and a two-channel offset. The output is one
(h, w, 4) tensor, every channel already in a bounded range (foreground and
centre probabilities by sigmoid, offsets by tanh as fractions of the image), so a
full-int8 TFLite file keeps ~1/128 of the image of offset precision in one
output, built from builtin ops only (convolutions, logistic, tanh, concatenation).
Grouping pixels into instances happens after the network
(`kerasseg.litert.decode_instances`), where TFLite's graph needs nothing special.
"""

import keras
from keras import ops

from kerasseg import metrics as kmetrics
from kerasseg.litert import INSTANCE_CHANNELS

# The heatmap's focal loss is normalised by the number of centres (CenterNet); offsets are
# weighted as Panoptic-DeepLab's (0.01 a pixel) for a 224-pixel image, in fractions of it.
HEATMAP_WEIGHT = 1.0
OFFSET_WEIGHT = 2.0
CENTRE_PRIOR_LOGIT = -4.595   # sigmoid = 0.01
HEAD_DILATIONS = (1, 2, 4, 8)


def instance_model(semantic, head_filters=64, head_dilations=HEAD_DILATIONS, name=None,
                   freeze_semantic=False):
    """An instance model from a binary semantic model.

    The heads read the semantic model's decoder at a quarter of the output's size
    (its last features there) through 3x3 convolutions of growing dilation, so
    that a pixel's head output combines enough of its person to tell where the
    centre is (with the default four, 31 quarter-size pixels across: 124 pixels
    of a 160-pixel image), and their outputs are upsampled bilinearly.

    Args:
        semantic: a binary `keras.Model` from a kerasseg builder (one foreground
            logit; its last convolution named `<name>_logits`). Its weights are
            kept, so a trained person model starts the instance model.
        head_filters: channels of each new head's 3x3 convolutions.
        head_dilations: the dilation rate of each of those convolutions, in order
            (one convolution per rate). Two, (1, 2), combine 7 quarter-size
            pixels across; after the same 20 epochs of heads alone they scored
            mask AP 0.06 where four scored 0.16 (one run each;
            `benchmarks/instance_heads.py`).
        name: the new model's name (default: the semantic model's + "_instances").
        freeze_semantic: train the heads alone: the semantic model's layers are
            not trainable (its BatchNorm in inference mode), so the foreground
            channel stays exactly the trained semantic model's mask.

    Returns:
        A `keras.Model` mapping images in [0, 1] to (batch, h, w, 4): foreground
        probability, centre heatmap, offset y and offset x (fractions of h and w),
        as `kerasseg.litert.INSTANCE_CHANNELS`.

    Example:
        >>> from kerasseg import unet
        >>> model = instance_model(unet((64, 64, 3), filters=8, depth=3))
        >>> model.output_shape
        (None, 64, 64, 4)
    """
    head_dilations = check_head_dilations(head_dilations)
    logits_layer = next((layer for layer in semantic.layers if layer.name.endswith("_logits")),
                        None)
    if logits_layer is None or logits_layer.filters != 1:
        raise ValueError(f"{semantic.name}: an instance model is built on a binary kerasseg "
                         "model (one foreground logit from a layer named *_logits)")
    prefix = logits_layer.name[:-len("_logits")]
    if freeze_semantic:
        for layer in semantic.layers:
            layer.trainable = False
    foreground = semantic.output
    if foreground.shape[-1] != 1:
        raise ValueError(f"{semantic.name}: expected one output channel, got "
                         f"{foreground.shape[-1]}")
    if semantic.layers[-1].get_config().get("activation") != "sigmoid":
        foreground = keras.layers.Activation("sigmoid", dtype="float32",
                                             name=f"{prefix}_foreground")(foreground)
    features = _quarter_features(semantic, logits_layer)
    upsample = foreground.shape[1] // features.shape[1] if features.shape[1] else 1

    def head(channels, activation, label, bias=0.0):
        # No BatchNorm: the heads start from nothing on small instance sets, where moving
        # statistics would lag far behind the weights for many epochs.
        x = features
        for k, rate in enumerate(head_dilations):
            x = keras.layers.Conv2D(head_filters, 3, padding="same", dilation_rate=rate,
                                    name=f"{prefix}_{label}_conv{k + 1}")(x)
            x = keras.layers.ReLU(name=f"{prefix}_{label}_relu{k + 1}")(x)
        x = keras.layers.Conv2D(channels, 1, dtype="float32", name=f"{prefix}_{label}_out",
                                bias_initializer=keras.initializers.Constant(bias))(x)
        if upsample > 1:
            x = keras.layers.UpSampling2D(upsample, interpolation="bilinear", dtype="float32",
                                          name=f"{prefix}_{label}_upsample")(x)
        return keras.layers.Activation(activation, dtype="float32",
                                       name=f"{prefix}_{label}_{activation}")(x)

    # The heatmap starts at 0.01 everywhere (RetinaNet's prior for a focal loss): at 0.5, its
    # first losses ran to hundreds and wrecked the trained person model underneath.
    centre = head(1, "sigmoid", "centre", bias=CENTRE_PRIOR_LOGIT)
    offsets = head(2, "tanh", "offsets")
    output = keras.layers.Concatenate(dtype="float32", name=f"{prefix}_instances")(
        [foreground, centre, offsets])
    return keras.Model(semantic.input, output, name=name or f"{semantic.name}_instances")


def with_foreground(instances, semantic, name=None):
    """An instance model whose foreground is another model's mask.

    Grouping and outline need not come from one network. An instance model trained
    on Penn-Fudan's hundred photos of pedestrians learns where each person's centre
    is, while its own mask loses what a semantic model trained on thousands of photos
    draws: grouping the zoo's `person` mask by such a model's centres and offsets
    scored mask AP 0.490 on Penn-Fudan's validation photos where the instance
    model's own mask scored 0.462 and `person`'s connected components 0.405
    (`docs/design.md`, "Instances"). The semantic model is frozen (its BatchNorm in
    inference mode): training such a model trains the grouping alone, and its
    foreground is exactly the semantic model's mask.

    Args:
        instances: an instance model (`instance_model`), whose centre heatmap and
            offsets are kept.
        semantic: a binary semantic `keras.Model` with the same input shape, whose
            foreground probability replaces the instance model's.
        name: the new model's name (default: the instance model's + "_on_" + the
            semantic model's).

    Returns:
        A `keras.Model` with `instance_model`'s input and output: (batch, h, w, 4),
        foreground probability, centre heatmap, offset y and offset x.

    Example:
        >>> from kerasseg import unet
        >>> grouping = instance_model(unet((64, 64, 3), filters=8, depth=3), name="grouping")
        >>> model = with_foreground(grouping, unet((64, 64, 3), filters=4, depth=3, name="mask"))
        >>> model.output_shape
        (None, 64, 64, 4)
    """
    if not is_instance_model(instances):
        raise ValueError(f"{instances.name}: not an instance model (its output is not the "
                         f"{len(INSTANCE_CHANNELS)} instance channels)")
    if is_instance_model(semantic) or semantic.output_shape[-1] != 1:
        raise ValueError(f"{semantic.name}: the foreground comes from a binary semantic model "
                         f"(one output channel), got output shape {semantic.output_shape}")
    if tuple(semantic.input_shape[1:]) != tuple(instances.input_shape[1:]):
        raise ValueError(f"{semantic.name} takes {semantic.input_shape[1:]} and "
                         f"{instances.name} takes {instances.input_shape[1:]}: the two models "
                         "must read the same image size")
    if tuple(semantic.output_shape[1:3]) != tuple(instances.output_shape[1:3]):
        raise ValueError(f"{semantic.name} outputs {semantic.output_shape[1:3]}, "
                         f"{instances.name} {instances.output_shape[1:3]}: the channels must "
                         "line up pixel for pixel")
    if semantic.name == instances.name:
        raise ValueError(f"both models are named {semantic.name!r}: nested in one model, "
                         "they need names of their own")
    semantic.trainable = False
    image = keras.Input(instances.input_shape[1:], name="image")
    foreground = semantic(image)
    if semantic.layers[-1].get_config().get("activation") != "sigmoid":
        foreground = keras.layers.Activation("sigmoid", dtype="float32",
                                             name="foreground")(foreground)
    grouping = instances(image)[..., 1:]
    name = name or f"{instances.name}_on_{semantic.name}"
    output = keras.layers.Concatenate(dtype="float32", name=f"{name}_instances")(
        [foreground, grouping])
    return keras.Model(image, output, name=name)


def check_head_dilations(head_dilations):
    """`head_dilations` as a tuple; ValueError unless it is one whole number >= 1 a convolution."""
    values = tuple(head_dilations) if isinstance(head_dilations, (list, tuple)) else ()
    if not values or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1
                             for d in values):
        raise ValueError(f"head_dilations: one whole number of at least 1 per convolution, got "
                         f"{head_dilations!r}")
    return values


def _quarter_features(semantic, logits_layer):
    """The last 4-D features computed at a quarter of the output's size (the decoder there,
    after its skip connection), else what the classifier reads."""
    size = semantic.output.shape[1]
    chosen = logits_layer.input
    if not size:
        return chosen
    for layer in semantic.layers:
        shape = getattr(layer.output, "shape", None)
        if shape is not None and len(shape) == 4 and shape[1] == size // 4 and shape[-1] >= 8:
            chosen = layer.output
    return chosen


def is_instance_model(model):
    """True if `model` outputs the four instance channels (what `instance_model` builds)."""
    return model.layers[-1].name.endswith("_instances") and model.output_shape[-1] == len(
        INSTANCE_CHANNELS)


@keras.saving.register_keras_serializable(package="kerasseg.instances")
class InstanceLoss(keras.losses.Loss):
    """Foreground BCE + Dice, a focal loss on the centre heatmap, L1 on the offsets.

    The heatmap's loss is CenterNet's (Zhou et al., 2019): centres are the pixels where
    the target is 1, penalised by (1 - p)^2 log p; the rest by (1 - y)^4 p^2 log(1 - p),
    so pixels near a centre are hardly pushed down; the sum is divided by the number
    of centres. (Mean squared error, Panoptic-DeepLab's, drove a heatmap of a few
    centres in 50,000 pixels to zero on Penn-Fudan in 14 epochs.) Offsets count on
    foreground pixels only.

    y_true: `kerasseg.instances.targets` (batch, h, w, 4); y_pred: the model's output.
    """

    def __init__(self, heatmap_weight=HEATMAP_WEIGHT, offset_weight=OFFSET_WEIGHT,
                 name="instance_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.heatmap_weight = heatmap_weight
        self.offset_weight = offset_weight

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        truth, probability = y_true[..., 0], ops.clip(y_pred[..., 0], 1e-6, 1 - 1e-6)
        bce = -ops.mean(truth * ops.log(probability) + (1 - truth) * ops.log(1 - probability),
                        axis=(1, 2))
        overlap = ops.sum(truth * probability, axis=(1, 2))
        dice = 1 - (2 * overlap + 1) / (ops.sum(truth, axis=(1, 2))
                                        + ops.sum(probability, axis=(1, 2)) + 1)
        target, centre = y_true[..., 1], ops.clip(y_pred[..., 1], 1e-6, 1 - 1e-6)
        peaks = ops.cast(target >= 1 - 1e-4, "float32")
        focal = (peaks * ops.square(1 - centre) * ops.log(centre)
                 + (1 - peaks) * ops.power(1 - target, 4) * ops.square(centre)
                 * ops.log(1 - centre))
        heatmap = -ops.sum(focal, axis=(1, 2)) / ops.maximum(ops.sum(peaks, axis=(1, 2)), 1.0)
        offset_error = ops.sum(ops.abs(y_true[..., 2:] - y_pred[..., 2:]), axis=-1) * truth
        offsets = ops.sum(offset_error, axis=(1, 2)) / (ops.sum(truth, axis=(1, 2)) + 1)
        return (bce + dice + self.heatmap_weight * heatmap + self.offset_weight * offsets)

    def get_config(self):
        return {**super().get_config(), "heatmap_weight": self.heatmap_weight,
                "offset_weight": self.offset_weight}


class _ForegroundChannel:
    """Scores channel 0 of an instance model's output against channel 0 of its targets."""

    def __init__(self, **kwargs):
        super().__init__(**{"num_classes": 1, "from_logits": False, **kwargs})

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(y_true[..., :1], y_pred[..., :1], sample_weight)


@keras.saving.register_keras_serializable(package="kerasseg.instances")
class ForegroundDice(_ForegroundChannel, kmetrics.Dice):
    """Dice of an instance model's foreground (named `dice`, as the semantic models')."""


@keras.saving.register_keras_serializable(package="kerasseg.instances")
class ForegroundIoU(_ForegroundChannel, kmetrics.IoU):
    """IoU of an instance model's foreground (named `iou`, as the semantic models')."""


def foreground_metrics():
    """Dice and IoU of the foreground channel, named `dice` and `iou` as the semantic
    models' are (the run folder keeps the epoch of the best validation Dice)."""
    return [ForegroundDice(), ForegroundIoU()]
