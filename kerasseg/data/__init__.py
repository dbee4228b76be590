"""Datasets: tf.data pipelines for real data, and a synthetic set for demos.

`load(name, root, split, ...)` is the one way in for every registered dataset
(`kerasseg.data.sources`) and for mixtures of them; each dataset's module
(`ph2`, `ccp`, `pennfudan`, `oxford_pets`, `mads`, `folder`) parses its own
layout and keeps its own `load(...)` with dataset-specific options:

>>> from kerasseg import data
>>> train = data.load("ph2", "/data", split="train", image_size=256, batch_size=8,
...                   augment=data.Augmentation())  # doctest: +SKIP
"""

import importlib

from kerasseg.data.records import DataError, Record

from kerasseg.data.sources import NAMES as DATASETS
from kerasseg.data.sources import load, source

_LAZY = {"Augmentation": "kerasseg.data.augment", "build_dataset": "kerasseg.data.pipeline"}

__all__ = ["DataError", "Record", "load", "source", *_LAZY, *DATASETS, "synthetic",
           "tfds_builders"]


def __getattr__(name):
    # Dataset modules and TensorFlow load on first use.
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in (*DATASETS, "synthetic", "tfds_builders"):
        return importlib.import_module(f"kerasseg.data.{name}")
    raise AttributeError(f"module 'kerasseg.data' has no attribute {name!r}")
