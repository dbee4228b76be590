"""Segmentation losses, registered so that saved models load without custom_objects.

Every loss takes `y_pred` of shape (batch, H, W, C): C = 1 for a binary mask
(sigmoid), C >= 2 for classes (softmax); logits unless `from_logits=False`.
`y_true` is a binary mask of 0/1 (binary), or class ids of shape
(batch, H, W) / (batch, H, W, 1), or one-hot of shape (batch, H, W, C).

`class_weights` (one weight per class; for binary, [background, foreground])
weights pixels by their true class: what Keras's `class_weight` cannot do for
4-D targets. Pixels whose label equals `ignore_index` (e.g. the Oxford-IIIT
Pet border) count nowhere.

>>> import kerasseg.losses as L
>>> loss = L.get("bce+dice")          # CrossEntropy() + Dice()
"""

import keras
from keras import ops

__all__ = ["CombinedLoss", "CrossEntropy", "Dice", "Focal", "Jaccard", "Tversky", "get"]


def _targets(y_true, y_pred, ignore_index):
    """Returns (one-hot targets, valid-pixel mask), both (batch, H, W, C') float32.

    C' is 1 for binary predictions, else the number of classes.
    """
    num_classes = y_pred.shape[-1]
    y_true = ops.convert_to_tensor(y_true)
    if num_classes > 1 and len(y_true.shape) == 4 and y_true.shape[-1] == num_classes:
        onehot = ops.cast(y_true, "float32")
        return onehot, ops.ones_like(onehot[..., :1])
    if len(y_true.shape) == 4:
        y_true = y_true[..., 0]
    labels = ops.cast(y_true, "float32")
    valid = ops.ones_like(labels)
    if ignore_index is not None:
        valid = ops.cast(ops.not_equal(labels, float(ignore_index)), "float32")
        labels = labels * valid
    valid = ops.expand_dims(valid, -1)
    if num_classes == 1:
        return ops.expand_dims(labels, -1), valid
    return ops.one_hot(ops.cast(labels, "int32"), num_classes), valid


def _probabilities(y_pred, from_logits):
    y_pred = ops.cast(y_pred, "float32")
    if not from_logits:
        return y_pred
    return ops.sigmoid(y_pred) if y_pred.shape[-1] == 1 else ops.softmax(y_pred, axis=-1)


def _class_weights(class_weights, num_channels):
    """Per-channel weights; for binary, [background, foreground] as two channels."""
    if class_weights is None:
        return None
    weights = ops.convert_to_tensor(class_weights, dtype="float32")
    expected = 2 if num_channels == 1 else num_channels
    if weights.shape[0] != expected:
        raise ValueError(
            f"class_weights has {weights.shape[0]} entries; this output needs {expected} "
            "(for a binary output: [background, foreground])"
        )
    return weights


class _SegmentationLoss(keras.losses.Loss):
    """Shared arguments and config of kerasseg's losses."""

    def __init__(self, from_logits=True, class_weights=None, ignore_index=None, name=None,
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]
        self.ignore_index = ignore_index

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "class_weights": self.class_weights, "ignore_index": self.ignore_index}


@keras.saving.register_keras_serializable(package="kerasseg.losses")
class CrossEntropy(_SegmentationLoss):
    """Per-pixel cross-entropy: binary (sigmoid) for one channel, categorical (softmax) for more.

    Args:
        from_logits: whether `y_pred` holds logits (the builders' default).
        class_weights: one weight per class ([background, foreground] for
            binary), applied to each pixel by its true class.
        ignore_index: a label value to leave out of the loss.
        name: the loss's name.

    Example:
    >>> loss = CrossEntropy(class_weights=[1.0, 3.0])   # foreground counts 3x
    """

    def __init__(self, from_logits=True, class_weights=None, ignore_index=None,
                 name="cross_entropy", **kwargs):
        super().__init__(from_logits, class_weights, ignore_index, name=name, **kwargs)

    def call(self, y_true, y_pred):
        target, valid = _targets(y_true, y_pred, self.ignore_index)
        y_pred = ops.cast(y_pred, "float32")
        if y_pred.shape[-1] == 1:
            if self.from_logits:
                # The numerically stable form of sigmoid cross-entropy on logits.
                per_pixel = (ops.relu(y_pred) - y_pred * target
                             + ops.log1p(ops.exp(-ops.abs(y_pred))))
            else:
                p = ops.clip(y_pred, 1e-7, 1 - 1e-7)
                per_pixel = -(target * ops.log(p) + (1 - target) * ops.log(1 - p))
        else:
            log_p = (ops.log_softmax(y_pred, axis=-1) if self.from_logits
                     else ops.log(ops.clip(y_pred, 1e-7, 1.0)))
            per_pixel = -ops.sum(target * log_p, axis=-1, keepdims=True)
        weights = _class_weights(self.class_weights, y_pred.shape[-1])
        if weights is not None:
            if y_pred.shape[-1] == 1:
                per_pixel = per_pixel * (weights[0] + (weights[1] - weights[0]) * target)
            else:
                per_pixel = per_pixel * ops.sum(target * weights, axis=-1, keepdims=True)
        total = ops.sum(per_pixel * valid, axis=(1, 2, 3))
        return total / ops.maximum(ops.sum(valid, axis=(1, 2, 3)), 1.0)


@keras.saving.register_keras_serializable(package="kerasseg.losses")
class Focal(_SegmentationLoss):
    """Focal loss (Lin et al., 2017): cross-entropy scaled by (1 - p_true)**gamma.

    Args:
        gamma: focusing strength; 0 gives plain cross-entropy.
        from_logits, class_weights, ignore_index, name: as for `CrossEntropy`;
            `class_weights` plays the role of the paper's alpha.
    """

    def __init__(self, gamma=2.0, from_logits=True, class_weights=None, ignore_index=None,
                 name="focal", **kwargs):
        super().__init__(from_logits, class_weights, ignore_index, name=name, **kwargs)
        self.gamma = float(gamma)

    def call(self, y_true, y_pred):
        target, valid = _targets(y_true, y_pred, self.ignore_index)
        p = ops.clip(_probabilities(y_pred, self.from_logits), 1e-7, 1 - 1e-7)
        if p.shape[-1] == 1:
            target = ops.concatenate([1 - target, target], axis=-1)
            p = ops.concatenate([1 - p, p], axis=-1)
        per_class = -target * ops.power(1 - p, self.gamma) * ops.log(p)
        weights = _class_weights(self.class_weights, y_pred.shape[-1])
        if weights is not None:
            per_class = per_class * weights
        per_pixel = ops.sum(per_class, axis=-1, keepdims=True)
        total = ops.sum(per_pixel * valid, axis=(1, 2, 3))
        return total / ops.maximum(ops.sum(valid, axis=(1, 2, 3)), 1.0)

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma}


@keras.saving.register_keras_serializable(package="kerasseg.losses")
class Tversky(_SegmentationLoss):
    """Tversky loss (Salehi et al., 2017): 1 - TP / (TP + alpha FP + beta FN), soft, per image.

    With alpha = beta = 0.5 it is the Dice loss; with alpha = beta = 1, the
    Jaccard loss. For binary outputs it scores the foreground; for classes,
    the (class-weighted) mean over classes.

    Args:
        alpha: weight of false positives.
        beta: weight of false negatives; beta > alpha favours recall.
        smooth: added to numerator and denominator, so empty masks score 0 loss
            when predicted empty.
        from_logits, class_weights, ignore_index, name: as for `CrossEntropy`.
    """

    def __init__(self, alpha=0.5, beta=0.5, smooth=1.0, from_logits=True, class_weights=None,
                 ignore_index=None, name="tversky", **kwargs):
        super().__init__(from_logits, class_weights, ignore_index, name=name, **kwargs)
        self.alpha, self.beta, self.smooth = float(alpha), float(beta), float(smooth)

    def call(self, y_true, y_pred):
        target, valid = _targets(y_true, y_pred, self.ignore_index)
        p = _probabilities(y_pred, self.from_logits) * valid
        target = target * valid
        axes = (1, 2)
        tp = ops.sum(p * target, axis=axes)
        fp = ops.sum(p * (1 - target), axis=axes)
        fn = ops.sum((1 - p) * target, axis=axes)
        score = (tp + self.smooth) / (tp + self.alpha * fp + self.beta * fn + self.smooth)
        weights = _class_weights(self.class_weights, y_pred.shape[-1])
        if weights is None or y_pred.shape[-1] == 1:
            return 1.0 - ops.mean(score, axis=-1)
        return 1.0 - ops.sum(score * weights, axis=-1) / ops.sum(weights)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta,
                "smooth": self.smooth}


@keras.saving.register_keras_serializable(package="kerasseg.losses")
class Dice(Tversky):
    """Soft Dice loss, 1 - 2 TP / (2 TP + FP + FN), per image (Milletari et al., 2016).

    Args:
        smooth, from_logits, class_weights, ignore_index, name: as for `Tversky`.
    """

    def __init__(self, smooth=1.0, from_logits=True, class_weights=None, ignore_index=None,
                 name="dice", **kwargs):
        kwargs.pop("alpha", None), kwargs.pop("beta", None)
        super().__init__(0.5, 0.5, smooth, from_logits, class_weights, ignore_index, name=name,
                         **kwargs)


@keras.saving.register_keras_serializable(package="kerasseg.losses")
class Jaccard(Tversky):
    """Soft Jaccard (IoU) loss, 1 - TP / (TP + FP + FN), per image.

    Args:
        smooth, from_logits, class_weights, ignore_index, name: as for `Tversky`.
    """

    def __init__(self, smooth=1.0, from_logits=True, class_weights=None, ignore_index=None,
                 name="jaccard", **kwargs):
        kwargs.pop("alpha", None), kwargs.pop("beta", None)
        super().__init__(1.0, 1.0, smooth, from_logits, class_weights, ignore_index, name=name,
                         **kwargs)


@keras.saving.register_keras_serializable(package="kerasseg.losses")
class CombinedLoss(keras.losses.Loss):
    """A weighted sum of losses, e.g. cross-entropy + Dice.

    Args:
        losses: Keras losses (kerasseg's or any serializable one).
        weights: one weight per loss; defaults to 1 each.
        name: the loss's name.

    Example:
    >>> loss = CombinedLoss([CrossEntropy(), Dice()], weights=[1.0, 0.5])
    """

    def __init__(self, losses, weights=None, name="combined", reduction="sum_over_batch_size",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.losses = [keras.losses.get(loss) if isinstance(loss, dict) else loss
                       for loss in losses]
        if not self.losses:
            raise ValueError("CombinedLoss needs at least one loss")
        self.weights = [1.0] * len(self.losses) if weights is None else [float(w) for w in weights]
        if len(self.weights) != len(self.losses):
            raise ValueError(
                f"CombinedLoss: {len(self.losses)} losses but {len(self.weights)} weights"
            )

    def call(self, y_true, y_pred):
        # Each part is reduced to one value per image, so the parts add up.
        total = 0.0
        for loss, weight in zip(self.losses, self.weights):
            value = loss.call(y_true, y_pred)
            if len(value.shape) > 1:
                value = ops.mean(value, axis=tuple(range(1, len(value.shape))))
            total = total + weight * value
        return total

    def get_config(self):
        return {**super().get_config(),
                "losses": [keras.saving.serialize_keras_object(loss) for loss in self.losses],
                "weights": self.weights}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["losses"] = [keras.saving.deserialize_keras_object(loss)
                            for loss in config["losses"]]
        return cls(**config)


_NAMES = {
    "ce": CrossEntropy, "bce": CrossEntropy, "cross_entropy": CrossEntropy,
    "dice": Dice, "jaccard": Jaccard, "iou": Jaccard, "focal": Focal, "tversky": Tversky,
}


def get(identifier, **kwargs):
    """A loss from a name such as "dice" or a sum such as "bce+dice".

    Args:
        identifier: a name among ce, bce, cross_entropy, dice, jaccard, iou,
            focal and tversky, or several joined by "+"; a loss instance is
            returned as it is.
        **kwargs: arguments given to every named loss (e.g. `from_logits`,
            `class_weights`, `ignore_index`).

    Returns:
        A Keras loss.
    """
    if not isinstance(identifier, str):
        return identifier
    parts = [part.strip().lower() for part in identifier.split("+")]
    unknown = [part for part in parts if part not in _NAMES]
    if unknown:
        raise ValueError(f"unknown loss {unknown[0]!r} in {identifier!r}; choose from {sorted(_NAMES)}")
    losses = [_NAMES[part](**kwargs) for part in parts]
    if len(losses) == 1:
        return losses[0]
    return CombinedLoss(losses, name="_".join(parts))
