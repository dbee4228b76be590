"""kerasseg.instances.metrics: COCO mask AP, AP50, AP75 and PQ on cases worked out by hand.

One-row images keep the arithmetic visible: a run of columns is an instance.
"""

import math

import numpy as np
import pytest

from kerasseg.instances.metrics import InstanceScores, overlaps


def _row(*runs, width=10):
    """A (1, width) id map: runs are (id, first column, last column)."""
    ids = np.zeros((1, width), np.int32)
    for value, first, last in runs:
        ids[0, first:last + 1] = value
    return ids


def _score(*images):
    scores = InstanceScores()
    for truth, predicted, confidence in images:
        scores.update(truth, predicted, confidence)
    return scores.result()


def test_a_perfect_prediction_scores_one():
    truth = _row((1, 0, 3), (2, 6, 9))
    found = _score((truth, truth, {1: 0.9, 2: 0.8}))
    assert found["ap"] == found["ap50"] == found["ap75"] == 1.0
    assert found["pq"] == found["sq"] == found["rq"] == 1.0
    assert (found["true"], found["predicted"], found["images"]) == (2, 2, 1)


def test_one_instance_at_iou_0_6_counts_at_three_of_ten_thresholds():
    # 6 of the true 10 pixels: IoU 0.6, a match at 0.50, 0.55 and 0.60, a miss above.
    found = _score((_row((1, 0, 9)), _row((1, 0, 5)), {1: 0.7}))
    assert found["ap50"] == 1.0 and found["ap75"] == 0.0
    assert found["ap"] == pytest.approx(0.3)
    assert found["sq"] == pytest.approx(0.6) and found["rq"] == 1.0
    assert found["pq"] == pytest.approx(0.6)


def test_a_confident_false_positive_halves_precision_up_to_the_recall_reached():
    # Two people; the most confident prediction hits nobody, the next finds person 1 exactly.
    # Pooled: recall 0 precision 0, then recall 0.5 precision 0.5. The envelope is 0.5 at the
    # 51 recall points 0.00..0.50 and 0 above: AP = 51 * 0.5 / 101 at every threshold.
    truth = _row((1, 0, 3), (2, 6, 9))
    predicted = _row((1, 4, 5), (2, 0, 3))
    found = _score((truth, predicted, {1: 0.9, 2: 0.5}))
    for key in ("ap", "ap50", "ap75"):
        assert found[key] == pytest.approx(25.5 / 101), key
    # PQ: one true positive (IoU 1), one false positive, one false negative.
    assert found["sq"] == 1.0 and found["rq"] == pytest.approx(1 / (1 + 0.5 + 0.5))
    assert found["pq"] == pytest.approx(0.5)


def test_images_are_pooled_before_precision_is_taken():
    # Image 1: found exactly. Image 2: a person nobody found. Recall stops at 0.5 with
    # precision 1: AP = 51 / 101.
    first = (_row((1, 0, 3)), _row((1, 0, 3)), {1: 0.3})
    second = (_row((1, 2, 8)), _row(), {})
    found = _score(first, second)
    assert found["ap"] == pytest.approx(51 / 101)
    assert found["rq"] == pytest.approx(1 / (1 + 0.5))
    # A false positive in an image without people lowers precision where its score ranks.
    third = (_row(), _row((1, 0, 9)), {1: 0.95})
    assert _score(first, second, third)["ap"] == pytest.approx(51 * 0.5 / 101)
    assert _score(first, second, (third[0], third[1], {1: 0.1}))["ap"] == pytest.approx(51 / 101)


def test_a_true_instance_is_matched_once_and_pq_needs_more_than_half():
    # Two halves of one person, each at IoU exactly 0.5: at 0.50 the more confident half
    # matches and the other is a duplicate (a false positive); PQ's IoU > 0.5 matches neither.
    found = _score((_row((1, 0, 9)), _row((1, 0, 4), (2, 5, 9)), {1: 0.9, 2: 0.8}))
    assert found["ap50"] == 1.0 and found["ap75"] == 0.0
    assert found["ap"] == pytest.approx(0.1)
    assert found["pq"] == 0.0 and found["rq"] == 0.0


def test_empty_cases():
    nothing = _score((_row(), _row(), {}))
    assert math.isnan(nothing["ap"]) and math.isnan(nothing["pq"])
    missed = _score((_row((1, 0, 9)), _row(), {}))
    assert missed["ap"] == 0.0 and missed["pq"] == 0.0
    with pytest.raises(ValueError, match=r"predicted instances \[2\] have no score"):
        _score((_row((1, 0, 9)), _row((1, 0, 4), (2, 5, 9)), {1: 0.5}))
    with pytest.raises(ValueError, match="differ in shape"):
        overlaps(np.zeros((2, 2)), np.zeros((2, 3)))


def test_overlaps_on_ids_that_are_not_consecutive():
    iou, true_labels, predicted_labels = overlaps(_row((3, 0, 3), (7, 6, 9)),
                                                  _row((5, 0, 1), (9, 4, 9)))
    assert true_labels.tolist() == [3, 7] and predicted_labels.tolist() == [5, 9]
    np.testing.assert_allclose(iou, [[0.5, 0.0], [0.0, 4 / 6]])
