"""kerasseg: a Keras 3 model zoo for semantic segmentation.

>>> from kerasseg import unet
>>> model = unet(input_shape=(256, 256, 3), num_classes=1)

Submodules and builders load on first use, so `import kerasseg` (and the
`kerasseg --help` command) does not pay for importing TensorFlow.
"""

import importlib

__version__ = "0.1.0"

_BUILDERS = {
    "unet": "kerasseg.models",
    "segnet": "kerasseg.models",
    "deeplabv3": "kerasseg.models",
    "deeplabv3plus": "kerasseg.models",
    "efficientnet_lite": "kerasseg.models",
    "build_preset": "kerasseg.models",
    "build_model": "kerasseg.models",
}
_SUBMODULES = ("models", "losses", "metrics", "data", "viz", "demo", "train", "evaluate", "predict",
               "classic")

__all__ = [*_BUILDERS, *_SUBMODULES]


def __getattr__(name):
    if name in _BUILDERS:
        return getattr(importlib.import_module(_BUILDERS[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"kerasseg.{name}")
    raise AttributeError(f"module 'kerasseg' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
