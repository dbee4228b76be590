"""Datasets: tf.data pipelines for real data, and a synthetic set for demos.

One module per dataset, each with `records(...)` (what is on disk) and
`load(...)` (a tf.data pipeline of (image, mask) pairs):

>>> from kerasseg.data import ph2, oxford_pets, pennfudan, mads, folder, Augmentation
>>> train = ph2.load("/data/ph2", split="train", image_size=256, batch_size=8,
...                  augment=Augmentation())  # doctest: +SKIP
"""

import importlib

from kerasseg.data.records import DataError, Record

_LAZY = {"Augmentation": "kerasseg.data.augment", "build_dataset": "kerasseg.data.pipeline"}
DATASETS = ("ph2", "mads", "oxford_pets", "pennfudan", "folder")

__all__ = ["DataError", "Record", *_LAZY, *DATASETS, "synthetic", "tfds_builders"]


def __getattr__(name):
    # Dataset modules and TensorFlow load on first use.
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in (*DATASETS, "synthetic", "tfds_builders"):
        return importlib.import_module(f"kerasseg.data.{name}")
    raise AttributeError(f"module 'kerasseg.data' has no attribute {name!r}")
