"""The zoo: pretrained models with cards, by name.

Each model lives in `zoo/<name>/` at the repository root: `card.json` (what it
is, how it was trained and measured), the weights (`model.keras`) and its
exported `.tflite` files.

>>> from kerasseg import zoo
>>> zoo.names()  # doctest: +SKIP
['unet-ph2', ...]
>>> model = zoo.load("unet-ph2")  # doctest: +SKIP
"""

import json
import os
import re

ZOO_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "zoo")
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def names(zoo_dir=None):
    """The zoo's model names, sorted (folders of `zoo_dir` holding a card.json)."""
    zoo_dir = zoo_dir or ZOO_DIR
    if not os.path.isdir(zoo_dir):
        return []
    return sorted(n for n in os.listdir(zoo_dir)
                  if _NAME.match(n) and os.path.isfile(os.path.join(zoo_dir, n, "card.json")))


def is_name(text, zoo_dir=None):
    """True if `text` names a model in the zoo."""
    return isinstance(text, str) and bool(_NAME.match(text)) and text in names(zoo_dir)


def card(name, zoo_dir=None):
    """The card of a zoo model as a dict; ValueError for an unknown or malformed name."""
    _check_name(name, zoo_dir)
    with open(os.path.join(zoo_dir or ZOO_DIR, name, "card.json")) as f:
        return json.load(f)


def load(name, zoo_dir=None):
    """A zoo model, ready for inference, as a `keras.Model`."""
    from kerasseg.segmenter import load_keras_model

    info = card(name, zoo_dir)
    return load_keras_model(os.path.join(zoo_dir or ZOO_DIR, name, info["weights"]["file"]))


def _check_name(name, zoo_dir=None):
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"invalid zoo name {name!r}: names are lowercase letters, digits and "
                         "single hyphens (e.g. 'unet-ph2')")
    if name not in names(zoo_dir):
        available = ", ".join(names(zoo_dir)) or "none yet"
        raise ValueError(f"unknown zoo model {name!r}; available: {available}")
