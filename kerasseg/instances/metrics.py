"""Instance segmentation: each person its own mask, and how such masks are scored.

Instances are kept as an id map, (H, W) integers with 0 for background and
1..k for the instances, plus one score per id. `from_semantic` makes them from
a binary mask by connected components (the baseline: touching people merge).
`InstanceScores` gives the numbers instance models are compared by: COCO's mask
AP (mean over IoU thresholds 0.50:0.05:0.95 of the 101-point interpolated
average precision, all images pooled), AP50, AP75, and panoptic quality PQ
(= SQ x RQ, matches at IoU > 0.5). `match()` pairs instances one-to-one
(Hungarian matching on IoU) for per-image precision and recall.
"""

import numpy as np
from scipy import optimize

from kerasseg.litert import connected_components


def from_semantic(mask, min_size=0):
    """(H, W) 0/1 mask -> (H, W) int32 instance ids 1..n (0 background): its 8-connected
    regions of at least min_size pixels."""
    labels = connected_components(mask)
    if min_size and labels.any():
        sizes = np.bincount(labels.ravel())
        small = np.flatnonzero(sizes < min_size)
        labels[np.isin(labels, small[small > 0])] = 0
        _, labels = np.unique(labels, return_inverse=True)
        labels = labels.reshape(np.shape(mask))
    return labels.astype(np.int32)


def match(true_ids, predicted_ids, iou_threshold=0.5):
    """Pairs true and predicted instances one-to-one and scores the pairs.

    Args:
        true_ids: (H, W) true instance ids, 0 = background.
        predicted_ids: (H, W) predicted instance ids, 0 = background.
        iou_threshold: a pair counts as a match at this IoU or above.

    Returns:
        A dict: "true" and "predicted" instance counts, "matched" (pairs at or
        above the threshold), "precision", "recall", "matched_iou" (mean IoU
        of those pairs) and "mean_iou" (the mean over true instances of the
        IoU of their assigned prediction, 0 when unassigned).
    """
    true_ids, predicted_ids = np.asarray(true_ids), np.asarray(predicted_ids)
    if true_ids.shape != predicted_ids.shape:
        raise ValueError(f"instance maps differ in shape: {true_ids.shape} vs {predicted_ids.shape}")
    t_labels = [v for v in np.unique(true_ids) if v != 0]
    p_labels = [v for v in np.unique(predicted_ids) if v != 0]
    iou = np.zeros((len(t_labels), len(p_labels)))
    if t_labels and p_labels:
        t_index = np.searchsorted(t_labels, true_ids.ravel())
        p_index = np.searchsorted(p_labels, predicted_ids.ravel())
        both = (true_ids.ravel() != 0) & (predicted_ids.ravel() != 0)
        overlap = np.zeros_like(iou)
        np.add.at(overlap, (t_index[both], p_index[both]), 1)
        t_area = np.array([np.count_nonzero(true_ids == v) for v in t_labels])[:, None]
        p_area = np.array([np.count_nonzero(predicted_ids == v) for v in p_labels])[None, :]
        iou = overlap / (t_area + p_area - overlap)
    rows, cols = optimize.linear_sum_assignment(-iou) if iou.size else ([], [])
    pair_iou = iou[rows, cols] if iou.size else np.zeros(0)
    matched = pair_iou >= iou_threshold
    return {
        "true": len(t_labels),
        "predicted": len(p_labels),
        "matched": int(matched.sum()),
        "precision": float(matched.sum() / len(p_labels)) if p_labels else float(not t_labels),
        "recall": float(matched.sum() / len(t_labels)) if t_labels else 1.0,
        "matched_iou": float(pair_iou[matched].mean()) if matched.any() else 0.0,
        "mean_iou": float(pair_iou.sum() / len(t_labels)) if t_labels else 1.0,
    }


def overlaps(true_ids, predicted_ids):
    """IoU of every true with every predicted instance.

    Returns:
        (iou, true_labels, predicted_labels): iou is (len(true), len(predicted)).
    """
    true_ids, predicted_ids = np.asarray(true_ids), np.asarray(predicted_ids)
    if true_ids.shape != predicted_ids.shape:
        raise ValueError(f"instance maps differ in shape: {true_ids.shape} vs {predicted_ids.shape}")
    t_labels = np.unique(true_ids[true_ids != 0])
    p_labels = np.unique(predicted_ids[predicted_ids != 0])
    iou = np.zeros((len(t_labels), len(p_labels)))
    if len(t_labels) and len(p_labels):
        both = (true_ids != 0) & (predicted_ids != 0)
        overlap = np.zeros_like(iou)
        np.add.at(overlap, (np.searchsorted(t_labels, true_ids[both]),
                            np.searchsorted(p_labels, predicted_ids[both])), 1)
        t_area = np.bincount(np.searchsorted(t_labels, true_ids[true_ids != 0]),
                             minlength=len(t_labels))[:, None]
        p_area = np.bincount(np.searchsorted(p_labels, predicted_ids[predicted_ids != 0]),
                             minlength=len(p_labels))[None, :]
        iou = overlap / (t_area + p_area - overlap)
    return iou, t_labels, p_labels


COCO_THRESHOLDS = np.round(np.arange(0.5, 0.951, 0.05), 2)
_RECALL_POINTS = np.linspace(0.0, 1.0, 101)


class InstanceScores:
    """Mask AP (COCO), AP50, AP75 and panoptic quality over a set of images.

    Feed one image at a time with `update`, read the pooled numbers from `result`.
    Predictions are matched to true instances image by image, in score order,
    each to the unmatched true instance it overlaps most at or above the IoU
    threshold (COCO's rule, up to 100 predictions an image); precision and
    recall are then pooled over all images and AP is the mean of the
    precision envelope at 101 recall points. PQ matches at IoU > 0.5 (unique
    for non-overlapping masks) and ignores scores.

    Example:
        >>> truth = np.array([[1, 1, 0, 2, 2]])
        >>> scores = InstanceScores()
        >>> scores.update(truth, truth, {1: 0.9, 2: 0.8})
        >>> scores.result()["ap"]
        1.0
    """

    def __init__(self, max_detections=100):
        self.max_detections = max_detections
        self._hits = [[] for _ in COCO_THRESHOLDS]   # per threshold: (score, is_match) pairs
        self._true = 0
        self._predicted = 0
        self._images = 0
        self._pq_iou = 0.0
        self._pq_tp = self._pq_fp = self._pq_fn = 0

    def update(self, true_ids, predicted_ids, scores):
        """Adds one image.

        Args:
            true_ids: (H, W) true instance ids, 0 = background.
            predicted_ids: (H, W) predicted instance ids, 0 = background.
            scores: {predicted id: confidence}; every predicted id must have one.
        """
        iou, t_labels, p_labels = overlaps(true_ids, predicted_ids)
        missing = [int(p) for p in p_labels if int(p) not in scores]
        if missing:
            raise ValueError(f"predicted instances {missing[:5]} have no score")
        order = sorted(range(len(p_labels)), key=lambda j: -float(scores[int(p_labels[j])]))
        order = order[:self.max_detections]
        for k, threshold in enumerate(COCO_THRESHOLDS):
            taken = np.zeros(len(t_labels), bool)
            for j in order:
                candidates = np.where(~taken & (iou[:, j] >= threshold - 1e-12), iou[:, j], -1)
                best = int(np.argmax(candidates)) if len(t_labels) else -1
                hit = best >= 0 and candidates[best] >= 0
                if hit:
                    taken[best] = True
                self._hits[k].append((float(scores[int(p_labels[j])]), hit))
        matched = iou > 0.5
        tp = int(matched.sum())
        self._pq_tp += tp
        self._pq_iou += float(iou[matched].sum())
        self._pq_fp += len(p_labels) - int(matched.any(axis=0).sum())
        self._pq_fn += len(t_labels) - int(matched.any(axis=1).sum())
        self._true += len(t_labels)
        self._predicted += len(p_labels)
        self._images += 1

    def result(self):
        """A dict: "ap", "ap50", "ap75" (NaN without true instances), "pq", "sq", "rq",
        "images", "true", "predicted" and "ap_per_threshold"."""
        per_threshold = [self._average_precision(hits) for hits in self._hits]
        tp, fp, fn = self._pq_tp, self._pq_fp, self._pq_fn
        sq = self._pq_iou / tp if tp else 0.0
        rq = tp / (tp + 0.5 * fp + 0.5 * fn) if tp + fp + fn else float("nan")
        at = dict(zip(COCO_THRESHOLDS.tolist(), per_threshold))
        return {"ap": float(np.mean(per_threshold)), "ap50": at[0.5], "ap75": at[0.75],
                "pq": sq * rq, "sq": sq, "rq": rq, "images": self._images, "true": self._true,
                "predicted": self._predicted,
                "ap_per_threshold": {f"{t:.2f}": v for t, v in at.items()}}

    def _average_precision(self, hits):
        if self._true == 0:
            return float("nan")
        if not hits:
            return 0.0
        # Stable sort: equal scores keep the order they came in, as COCO's evaluation does.
        ordered = sorted(hits, key=lambda h: -h[0])
        is_hit = np.array([h[1] for h in ordered], bool)
        tp, fp = np.cumsum(is_hit), np.cumsum(~is_hit)
        recall = tp / self._true
        precision = tp / np.maximum(tp + fp, np.finfo(float).eps)
        envelope = np.maximum.accumulate(precision[::-1])[::-1]
        found = np.searchsorted(recall, _RECALL_POINTS, side="left")
        sampled = np.where(found < len(envelope), envelope[np.minimum(found, len(envelope) - 1)],
                           0.0)
        return float(sampled.mean())
