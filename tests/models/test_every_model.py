"""Every builder and decoder option through one harness: build, predict, .keras, TFLite."""

import pytest

from tests.models.helpers import run_segmentation_model_test

ALL = ("none", "float16", "int8")
# Full int8 converts the float graph first, so an op that is not a builtin fails it too: int8
# alone shows both. float16 stores the same ops' weights in half precision: checked on the
# two architectures whose outputs it can move (U-Net, SegNet's unpooling).
INT8 = ("int8",)

# Each builder and decoder option at least once, on the tiny, MobileNetV2 and
# EfficientNet-Lite0 encoders; sizes include a non-square one, class counts both 1
# (binary) and 3. The encoders new to a case's op set convert; mobilenetv2 is built, run
# and saved, not converted (the conversions took 40-100 s each on a 2-core CPU and showed
# no op the others lack: a MobileNetV2 U-Net in float32 holds ADD, CONCATENATION, CONV_2D,
# DEPTHWISE_CONV_2D, LOGISTIC, MUL, SUB, TRANSPOSE_CONV, each also in a converted case
# here). ResNet50 and EfficientNet-Lite1/2 are left to their own tests (20-30 s a case
# here, for no layer the others lack: ResNet's plain convolutions, lite0's ops at other
# widths): tests/models/test_deeplabv3.py and test_unet.py build and run ResNet50 in
# DeepLabV3+ and U-Net, test_efficientnet_lite.py builds lite1 and lite2 and round-trips the
# dilated encoder the DeepLab cases use.
CASES = {
    "unet": ("unet", {"filters": 4, "depth": 2}, 48, ALL),
    "unet-3-classes-bilinear": ("unet", {"num_classes": 3, "filters": 4, "depth": 3,
                                         "upsampling": "bilinear"}, 64, INT8),
    "unet-mobilenetv2": ("unet", {"backbone": "mobilenetv2", "filters": 4}, 64, ()),
    "unet-efficientnet_lite0-depth4": ("unet", {"backbone": "efficientnet_lite0", "depth": 4,
                                                "num_classes": 3, "filters": 4}, 48, INT8),
    "segnet": ("segnet", {"filters": (4, 8), "convs_per_level": (1, 2)}, 48, ALL),
    "segnet-3-classes": ("segnet", {"num_classes": 3, "filters": (4, 8, 8),
                                    "convs_per_level": 1}, 64, INT8),
    "deeplabv3-tiny": ("deeplabv3", {"backbone": "tiny", "num_classes": 3, "aspp_filters": 8},
                       48, INT8),
    "deeplabv3plus-tiny": ("deeplabv3plus", {"backbone": "tiny", "aspp_filters": 8,
                                             "decoder_filters": 8, "low_level_filters": 4}, 48,
                           INT8),
    "deeplabv3plus-mobilenetv2-os8": ("deeplabv3plus", {"backbone": "mobilenetv2",
                                                        "output_stride": 8, "num_classes": 3,
                                                        "aspp_filters": 8, "decoder_filters": 8},
                                      64, ()),
    "deeplabv3plus-efficientnet_lite0": ("deeplabv3plus", {"backbone": "efficientnet_lite0",
                                                           "aspp_filters": 8,
                                                           "decoder_filters": 8,
                                                           "low_level_filters": 4}, 64, INT8),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_builds_predicts_round_trips_and_converts(case, ph2_small, tmp_path):
    builder, kwargs, width, quantizations = CASES[case]
    # Real PH2 images (64 x 64): the inputs and the int8 calibration set.
    images = ph2_small[0][:4, :, :width]
    run_segmentation_model_test(builder, kwargs, images, tmp_path, quantizations)
