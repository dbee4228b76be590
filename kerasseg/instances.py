"""Instance masks from a semantic mask by connected components, scored by matched IoU.

A first step towards instance segmentation: each 8-connected foreground region
of a binary mask becomes one instance. `match()` pairs predicted and true
instances one-to-one (Hungarian matching on IoU), as Penn-Fudan's instance ids
allow.
"""

import numpy as np
from scipy import ndimage, optimize


def from_semantic(mask, min_size=0):
    """(H, W) 0/1 mask -> (H, W) int32 instance ids 1..n (0 background), regions >= min_size pixels."""
    labels, count = ndimage.label(np.asarray(mask).astype(bool), structure=np.ones((3, 3)))
    if min_size and count:
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
