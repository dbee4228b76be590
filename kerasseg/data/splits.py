"""Deterministic, seeded train/val splits and k-fold cross-validation over records.

Both split by `Record.group`, so samples that must stay together (the frames
of one MADS sequence) land on one side; with `stratify`, each stratum (e.g. a
PH2 diagnosis) is split in proportion.
"""

import numpy as np

SPLITS = ("train", "val", "all")


def _strata(records, stratify):
    """{stratum: sorted groups} for the records."""
    strata = {}
    for record in records:
        key = stratify(record) if stratify else ""
        strata.setdefault(key, set()).add(record.group)
    return {key: sorted(groups) for key, groups in sorted(strata.items())}


def train_val(records, split, val_fraction=0.2, seed=0, stratify=None, dataset="dataset"):
    """The "train", "val" or "all" part of `records`.

    Args:
        records: a list of `Record`.
        split: "train", "val" or "all".
        val_fraction: share of each stratum's groups kept for "val" (at least
            one where a stratum has several groups and the share is not 0).
        seed: seed of the assignment; the same seed gives the same split.
        stratify: optional callable(record) -> stratum key.
        dataset: the dataset's name, for error messages.

    Returns:
        The records of that part, in their original order.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown {dataset} split {split!r}; choose one of {SPLITS}")
    if not 0 <= val_fraction < 1:  # a negative share would be taken from the end of the order
        raise ValueError(f"val_fraction must be from 0 up to (not including) 1, got {val_fraction}")
    if split == "all":
        return list(records)
    val_groups = set()
    for groups in _strata(records, stratify).values():
        count = int(round(len(groups) * val_fraction))
        if val_fraction > 0 and len(groups) > 1:
            count = max(1, count)
        order = np.random.default_rng(seed).permutation(len(groups))
        val_groups.update(groups[i] for i in order[:count])
    return [r for r in records if (r.group in val_groups) == (split == "val")]


def kfold(records, k=5, seed=0, stratify=None):
    """k (train, val) pairs in which every group is in exactly one val part.

    Args:
        records: a list of `Record`.
        k: number of folds, at least 2.
        seed: seed of the assignment.
        stratify: optional callable(record) -> stratum key; each val part
            then holds each stratum in proportion.

    Returns:
        A list of k (train_records, val_records) pairs.
    """
    if k < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    fold_of, offset = {}, 0
    for groups in _strata(records, stratify).values():
        order = np.random.default_rng(seed).permutation(len(groups))
        for position, i in enumerate(order):
            fold_of[groups[i]] = (position + offset) % k
        offset += len(groups)
    return [([r for r in records if fold_of[r.group] != f], [r for r in records if fold_of[r.group] == f])
            for f in range(k)]
