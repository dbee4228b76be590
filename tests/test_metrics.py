import numpy as np
import pytest

from kerasseg import metrics


def _numpy_scores(truth, predicted):
    truth, predicted = truth.astype(bool).ravel(), predicted.astype(bool).ravel()
    tp = np.sum(truth & predicted)
    fp = np.sum(~truth & predicted)
    fn = np.sum(truth & ~predicted)
    tn = np.sum(~truth & ~predicted)
    return {"dice": 2 * tp / (2 * tp + fp + fn), "iou": tp / (tp + fp + fn),
            "pixel_accuracy": (tp + tn) / truth.size, "sensitivity": tp / (tp + fn),
            "specificity": tn / (tn + fp)}


METRICS = {"dice": metrics.Dice, "iou": metrics.IoU, "pixel_accuracy": metrics.PixelAccuracy,
           "sensitivity": metrics.Sensitivity, "specificity": metrics.Specificity}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_binary_metrics_equal_numpy_on_real_ph2_masks(name, ph2_masks_128):
    truth = ph2_masks_128
    # A plausible imperfect prediction: the real mask shifted and partly cut.
    predicted = np.roll(truth, (6, -4), axis=(1, 2))
    predicted[:, :20] = 0
    expected = _numpy_scores(truth, predicted)[name]
    logits = np.where(predicted > 0, 3.0, -3.0).astype(np.float32)
    metric = METRICS[name]()
    for start in range(0, len(truth), 5):       # streaming over uneven batches
        metric.update_state(truth[start:start + 5], logits[start:start + 5])
    np.testing.assert_allclose(float(metric.result()), expected, rtol=1e-6)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_probabilities_and_threshold(ph2_masks_128):
    truth = ph2_masks_128[:4]
    probabilities = np.where(truth > 0, 0.7, 0.2).astype(np.float32)
    loose, strict = metrics.Dice(from_logits=False), metrics.Dice(from_logits=False, threshold=0.8)
    loose.update_state(truth, probabilities)
    strict.update_state(truth, probabilities)
    assert float(loose.result()) == pytest.approx(1.0)
    assert float(strict.result()) == pytest.approx(0.0)


def test_multiclass_per_class_and_mean_equal_numpy(ph2_masks_128):
    # Three real classes: background, lesion, and the lesion's upper half as a third class.
    truth = ph2_masks_128[..., 0].astype(np.int64)
    truth[:, :64][truth[:, :64] == 1] = 2
    predicted = np.roll(truth, 5, axis=2)
    logits = np.eye(3, dtype=np.float32)[predicted] * 4.0
    iou, dice = metrics.IoU(num_classes=3), metrics.Dice(num_classes=3)
    for metric in (iou, dice):
        metric.update_state(truth, logits)
    expected_iou = [np.sum((truth == k) & (predicted == k)) / np.sum((truth == k) | (predicted == k))
                    for k in range(3)]
    np.testing.assert_allclose(np.asarray(iou.per_class()), expected_iou, rtol=1e-6)
    np.testing.assert_allclose(float(iou.result()), np.mean(expected_iou), rtol=1e-6)
    expected_dice = [2 * np.sum((truth == k) & (predicted == k))
                     / (np.sum(truth == k) + np.sum(predicted == k)) for k in range(3)]
    np.testing.assert_allclose(float(dice.result()), np.mean(expected_dice), rtol=1e-6)
    lesion = metrics.IoU(num_classes=3, class_id=1)
    lesion.update_state(truth, logits)
    np.testing.assert_allclose(float(lesion.result()), expected_iou[1], rtol=1e-6)


def test_ignore_index_leaves_pixels_out():
    truth = np.array([[[0, 1, 255, 255]]])
    logits = np.array([[[[-5.0], [5.0], [5.0], [-5.0]]]], np.float32)
    accuracy = metrics.PixelAccuracy(ignore_index=255)
    accuracy.update_state(truth, logits)
    assert float(accuracy.result()) == 1.0


def test_wrong_channel_count_is_named():
    with pytest.raises(ValueError, match="3 channels but the metric was made for num_classes=1"):
        metrics.Dice().update_state(np.zeros((1, 2, 2)), np.zeros((1, 2, 2, 3), np.float32))


def test_counts_stay_exact_past_float32s_two_to_the_24_pixels():
    # Three batches of 8.4M foreground pixels: 25,165,824 true positives, past 2**24, then one
    # false negative. A float32 counter stops counting single pixels at 2**24.
    metric = metrics.Sensitivity()
    truth = np.ones((2, 2048, 2048), np.uint8)
    logits = np.full((2, 2048, 2048, 1), 5.0, np.float32)
    for _ in range(3):
        metric.update_state(truth, logits)
    metric.update_state(np.ones((1, 1, 1), np.uint8), np.full((1, 1, 1, 1), -5.0, np.float32))
    high, low = (np.asarray(v, np.float64) for v in (metric.high, metric.low))
    counts = high * 2.0 ** 22 + low
    assert counts[1, 1] == 3 * 2 * 2048 * 2048 and counts[1, 0] == 1
    assert float(metric.result()) == pytest.approx(counts[1, 1] / (counts[1, 1] + 1), rel=1e-7)
