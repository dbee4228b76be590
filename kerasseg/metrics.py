"""Streaming segmentation metrics built on one accumulated confusion matrix.

Each metric counts pixels over every batch it sees (not a mean of per-batch
scores), for binary masks (`num_classes=1`, one output channel) or N classes.
Predictions are logits by default (`from_logits=True`, as the builders output);
pass `from_logits=False` for probabilities. A binary prediction is foreground
where its probability is above `threshold`; a multi-class one is the argmax.

Binary metrics score the foreground class unless `class_id` says otherwise;
multi-class Dice, IoU, sensitivity and specificity average over the classes
that occur (in the truth or the prediction), or score `class_id` alone.
`per_class()` returns the score of every class.

The counts are exact on every Keras backend (TensorFlow, JAX, PyTorch) with
no float64, which JAX lacks by default: each batch's counts are float32 sums
(exact below 2**24 pixels per cell and batch), carried into two float32
matrices, one of whole multiples of 2**22 pixels and one of the remainder,
so the state stays exact up to 2**46 pixels.

>>> import kerasseg.metrics as M
>>> metrics = [M.Dice(), M.IoU(), M.PixelAccuracy()]
"""

import keras
from keras import ops

__all__ = ["Dice", "IoU", "PixelAccuracy", "Sensitivity", "Specificity"]

_WORD = 2.0 ** 22   # the low word stays below it, so low + a batch's counts stays exact


class _ConfusionMatrixMetric(keras.metrics.Metric):
    """Accumulates a (classes x classes) confusion matrix: rows true, columns predicted."""

    def __init__(self, num_classes=1, from_logits=True, threshold=0.5, class_id=None,
                 ignore_index=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"{name}: num_classes must be a positive integer, got {num_classes!r}")
        self.num_classes = num_classes
        self.from_logits = bool(from_logits)
        self.threshold = float(threshold)
        self.class_id = class_id
        self.ignore_index = ignore_index
        self.size = 2 if num_classes == 1 else num_classes
        if class_id is not None and not 0 <= class_id < self.size:
            raise ValueError(f"{name}: class_id {class_id} is out of range for {self.size} classes")
        # Two float32 words per cell: exact counts far beyond float32's 2**24 on every backend.
        self.high = self.add_variable(shape=(self.size, self.size), initializer="zeros",
                                      dtype="float32", name="confusion_high")
        self.low = self.add_variable(shape=(self.size, self.size), initializer="zeros",
                                     dtype="float32", name="confusion_low")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(y_pred, "float32")
        if y_pred.shape[-1] != self.num_classes:
            raise ValueError(
                f"{self.name}: predictions have {y_pred.shape[-1]} channels but the metric was "
                f"made for num_classes={self.num_classes}"
            )
        if self.num_classes == 1:
            probability = ops.sigmoid(y_pred) if self.from_logits else y_pred
            predicted = ops.cast(probability[..., 0] > self.threshold, "int32")
        else:
            predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        y_true = ops.convert_to_tensor(y_true)
        if self.num_classes > 1 and len(y_true.shape) == 4 and y_true.shape[-1] == self.num_classes:
            y_true = ops.argmax(y_true, axis=-1)
        elif len(y_true.shape) == 4:
            y_true = y_true[..., 0]
        y_true = ops.cast(y_true, "int32")
        weight = ops.ones_like(y_true, dtype="float32")
        if self.ignore_index is not None:
            weight = ops.cast(ops.not_equal(y_true, self.ignore_index), "float32")
            y_true = ops.where(ops.equal(y_true, self.ignore_index), 0, y_true)
        if self.num_classes == 1:
            y_true = ops.cast(y_true > 0, "int32")
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, "float32")
            while len(sample_weight.shape) < len(weight.shape):
                sample_weight = ops.expand_dims(sample_weight, -1)
            weight = weight * sample_weight
        # One-hot products rather than bincount: same counts, and XLA compiles them.
        truth = ops.reshape(ops.one_hot(y_true, self.size, dtype="float32"), (-1, self.size))
        truth = truth * ops.reshape(weight, (-1, 1))
        guess = ops.reshape(ops.one_hot(predicted, self.size, dtype="float32"), (-1, self.size))
        total = self.low + ops.matmul(ops.transpose(truth), guess)
        carry = ops.floor(total / _WORD)
        self.high.assign(self.high + carry)
        self.low.assign(total - carry * _WORD)

    @property
    def matrix(self):
        """The confusion matrix (float32; its state is exact, see the module doc)."""
        return self.high * _WORD + self.low

    def _counts(self):
        """True positives, false positives, false negatives and true negatives per class."""
        matrix = self.matrix
        tp = ops.diagonal(matrix)
        fp = ops.sum(matrix, axis=0) - tp
        fn = ops.sum(matrix, axis=1) - tp
        tn = ops.sum(matrix) - tp - fp - fn
        return tp, fp, fn, tn

    def per_class(self):
        """This metric's score for each class (background first), NaN where undefined."""
        numerator, denominator = self._ratio()
        return ops.where(denominator > 0, numerator / ops.maximum(denominator, 1e-12), float("nan"))

    def _ratio(self):
        raise NotImplementedError

    def result(self):
        numerator, denominator = self._ratio()
        if self.class_id is not None or self.num_classes == 1:
            k = 1 if self.class_id is None else self.class_id
            return ops.cast(ops.divide_no_nan(numerator[k], denominator[k]), "float32")
        present = ops.cast(denominator > 0, "float32")
        scores = ops.divide_no_nan(numerator, denominator)
        return ops.cast(ops.divide_no_nan(ops.sum(scores * present), ops.sum(present)), "float32")

    def reset_state(self):
        self.high.assign(ops.zeros(self.high.shape, "float32"))
        self.low.assign(ops.zeros(self.low.shape, "float32"))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "from_logits": self.from_logits, "threshold": self.threshold,
                "class_id": self.class_id, "ignore_index": self.ignore_index}


@keras.saving.register_keras_serializable(package="kerasseg.metrics")
class Dice(_ConfusionMatrixMetric):
    """Dice coefficient (F1), 2 TP / (2 TP + FP + FN), over all pixels seen.

    Args:
        num_classes: 1 for a binary output, N for N classes.
        from_logits: whether predictions are logits (True) or probabilities.
        threshold: foreground probability threshold for binary outputs.
        class_id: score this class alone; binary defaults to the foreground.
        ignore_index: a label value whose pixels are not counted.
        name: the metric's name.
    """

    def __init__(self, num_classes=1, from_logits=True, threshold=0.5, class_id=None,
                 ignore_index=None, name="dice", dtype=None):
        super().__init__(num_classes, from_logits, threshold, class_id, ignore_index, name, dtype)

    def _ratio(self):
        tp, fp, fn, _ = self._counts()
        return 2 * tp, 2 * tp + fp + fn


@keras.saving.register_keras_serializable(package="kerasseg.metrics")
class IoU(_ConfusionMatrixMetric):
    """Intersection over union (Jaccard), TP / (TP + FP + FN); mean IoU for classes.

    Args: as for `Dice`.
    """

    def __init__(self, num_classes=1, from_logits=True, threshold=0.5, class_id=None,
                 ignore_index=None, name="iou", dtype=None):
        super().__init__(num_classes, from_logits, threshold, class_id, ignore_index, name, dtype)

    def _ratio(self):
        tp, fp, fn, _ = self._counts()
        return tp, tp + fp + fn


@keras.saving.register_keras_serializable(package="kerasseg.metrics")
class Sensitivity(_ConfusionMatrixMetric):
    """Sensitivity (recall), TP / (TP + FN).

    Args: as for `Dice`.
    """

    def __init__(self, num_classes=1, from_logits=True, threshold=0.5, class_id=None,
                 ignore_index=None, name="sensitivity", dtype=None):
        super().__init__(num_classes, from_logits, threshold, class_id, ignore_index, name, dtype)

    def _ratio(self):
        tp, _, fn, _ = self._counts()
        return tp, tp + fn


@keras.saving.register_keras_serializable(package="kerasseg.metrics")
class Specificity(_ConfusionMatrixMetric):
    """Specificity, TN / (TN + FP).

    Args: as for `Dice`.
    """

    def __init__(self, num_classes=1, from_logits=True, threshold=0.5, class_id=None,
                 ignore_index=None, name="specificity", dtype=None):
        super().__init__(num_classes, from_logits, threshold, class_id, ignore_index, name, dtype)

    def _ratio(self):
        _, fp, _, tn = self._counts()
        return tn, tn + fp


@keras.saving.register_keras_serializable(package="kerasseg.metrics")
class PixelAccuracy(_ConfusionMatrixMetric):
    """The fraction of pixels whose predicted class is right.

    Args: as for `Dice` (`class_id` does not apply).
    """

    def __init__(self, num_classes=1, from_logits=True, threshold=0.5, class_id=None,
                 ignore_index=None, name="pixel_accuracy", dtype=None):
        super().__init__(num_classes, from_logits, threshold, None, ignore_index, name, dtype)

    def result(self):
        correct = ops.sum(ops.diagonal(self.matrix))
        return ops.cast(ops.divide_no_nan(correct, ops.sum(self.matrix)), "float32")

    def per_class(self):
        """Each class's accuracy as a one-vs-rest problem: (TP + TN) / all pixels."""
        tp, _, _, tn = self._counts()
        return (tp + tn) / ops.maximum(ops.sum(self.matrix), 1e-12)
