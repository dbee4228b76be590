"""Named configurations that match published architectures, with their parameter counts.

`published_params` is the figure the source states or, for the AI-for-Beginners
lesson, the count of its own TensorFlow code; a test keeps each preset within 2%
of it. kerasseg's convolutions drop the bias where BatchNorm follows, and its
lesson presets add BatchNorm to the bottleneck: that is the small difference.
"""

from kerasseg.models.deeplabv3 import deeplabv3, deeplabv3plus
from kerasseg.models.segnet import segnet
from kerasseg.models.unet import unet

_BUILDERS = {"unet": unet, "segnet": segnet, "deeplabv3": deeplabv3,
             "deeplabv3plus": deeplabv3plus}

PRESETS = {
    "unet_original": {
        "builder": "unet",
        "kwargs": {"num_classes": 2, "filters": 64, "depth": 4, "convs_per_level": 2,
                   "batch_norm": False, "upsampling": "transpose"},
        "published_params": 31_030_000,
        "source": "Ronneberger, Fischer & Brox, U-Net (MICCAI 2015): 23 convolutions, "
                  "64 to 1024 channels, 2x2 up-convolutions; ~31.0M parameters as commonly cited",
    },
    "segnet_original": {
        "builder": "segnet",
        "kwargs": {"num_classes": 12, "filters": (64, 128, 256, 512, 512),
                   "convs_per_level": (2, 2, 3, 3, 3), "batch_norm": True},
        "published_params": 29_460_000,
        "source": "Badrinarayanan, Kendall & Cipolla, SegNet (TPAMI 2017), Table 6: "
                  "VGG16 encoder and its mirrored decoder, 29.46M parameters (CamVid, 12 classes)",
    },
    "unet_lite": {
        "builder": "unet",
        "kwargs": {"num_classes": 1, "filters": 16, "depth": 4, "convs_per_level": 1,
                   "batch_norm": True, "upsampling": "bilinear"},
        "published_params": 975_345,
        "source": "Microsoft AI-for-Beginners, lesson 12 (semantic segmentation, TensorFlow): "
                  "U-Net with encoder 16/32/64/128, a 256 bottleneck and bilinear upsampling",
    },
    "segnet_lite": {
        "builder": "segnet",
        "kwargs": {"num_classes": 1, "filters": (16, 32, 64, 128), "convs_per_level": 1,
                   "bottleneck_filters": 256, "batch_norm": True},
        "published_params": 781_793,
        "source": "Microsoft AI-for-Beginners, lesson 12 (semantic segmentation, TensorFlow): "
                  "SegNet with encoder 16/32/64/128 and a 256 bottleneck (the lesson upsamples "
                  "bilinearly; kerasseg unpools by max positions, which adds no parameters)",
    },
}


def build_preset(preset, **overrides):
    """Builds a named published configuration.

    Args:
        preset: a key of `PRESETS`: "unet_original", "segnet_original",
            "unet_lite" or "segnet_lite".
        **overrides: builder arguments that replace the preset's, e.g.
            `input_shape` or `num_classes`.

    Returns:
        A `keras.Model` named after the preset.

    Example:
    >>> model = build_preset("unet_lite", input_shape=(256, 256, 3))
    >>> model.name
    'unet_lite'
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    spec = PRESETS[preset]
    kwargs = {"name": preset, **spec["kwargs"], **overrides}
    return _BUILDERS[spec["builder"]](**kwargs)


ARCHITECTURES = tuple(_BUILDERS)


def build_model(name, **kwargs):
    """Builds a model by architecture or preset name, checking the arguments.

    Args:
        name: "unet", "segnet", "deeplabv3", "deeplabv3plus" or a key of
            `PRESETS`.
        **kwargs: the builder's arguments (`input_shape`, `num_classes`, ...).

    Returns:
        A `keras.Model`. An argument the builder does not take raises
        ValueError listing the ones it does.

    Example:
    >>> model = build_model("unet", input_shape=(64, 64, 3), filters=8, depth=3)
    >>> model.name
    'unet'
    """
    import inspect

    if name not in _BUILDERS and name not in PRESETS:
        raise ValueError(f"unknown model {name!r}; choose an architecture "
                         f"({', '.join(_BUILDERS)}) or a preset ({', '.join(sorted(PRESETS))})")
    builder = _BUILDERS[PRESETS[name]["builder"] if name in PRESETS else name]
    accepted = list(inspect.signature(builder).parameters)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"{name} takes no argument {unknown[0]!r}; its arguments are "
                         f"{', '.join(accepted)}")
    if name in PRESETS:
        return build_preset(name, **kwargs)
    return builder(**kwargs)
