"""Keras functional builders for semantic segmentation.

>>> from kerasseg.models import unet, segnet, deeplabv3, deeplabv3plus, efficientnet_lite
"""

# Imported for their registration: a saved, compiled model then loads with
# kerasseg's losses and metrics too, after any builder import.
from kerasseg import losses as _losses  # noqa: F401
from kerasseg import metrics as _metrics  # noqa: F401
from kerasseg.models.deeplabv3 import deeplabv3, deeplabv3plus
from kerasseg.models.efficientnet import efficientnet_lite
from kerasseg.models.layers import BackbonePreprocessing, MaxUnpooling2D, ResizeLike
from kerasseg.models.presets import ARCHITECTURES, PRESETS, build_model, build_preset
from kerasseg.models.segnet import segnet
from kerasseg.models.unet import unet

__all__ = [
    "BackbonePreprocessing",
    "MaxUnpooling2D",
    "ARCHITECTURES",
    "PRESETS",
    "build_model",
    "ResizeLike",
    "build_preset",
    "deeplabv3",
    "deeplabv3plus",
    "efficientnet_lite",
    "segnet",
    "unet",
]
