"""Every zoo int8 file in a real client: MediaPipe Tasks' ImageSegmenter (what phone apps run).

MediaPipe's category mask must be the class id (0 background, 1 foreground for binary
models, as for MediaPipe's own segmenters), agree with kerasseg's LiteRT runner, and
score what the card says.

MediaPipe resizes its input without antialiasing; the models were trained on
antialiased (Pillow bilinear) resizes, so an app gives MediaPipe images already
resized to the model's input size, as here (the README shows the numbers both ways).
"""

import numpy as np
import pytest

from kerasseg import zoo

mediapipe = pytest.importorskip("mediapipe", reason="mediapipe not installed (the test extra)")


def _segmenter(path):
    from mediapipe.tasks import python as mp_python
    from mediapipe.tasks.python import vision

    options = vision.ImageSegmenterOptions(
        base_options=mp_python.BaseOptions(model_asset_path=path),
        running_mode=vision.RunningMode.IMAGE, output_category_mask=True)
    return vision.ImageSegmenter.create_from_options(options)


@pytest.mark.parametrize("name", zoo.names())
def test_zoo_int8_file_segments_in_mediapipe_as_in_litert(name, data_root):
    from PIL import Image

    from kerasseg.data.records import load_pair
    from kerasseg.data.sources import source
    from kerasseg.evaluate import scores
    from kerasseg.litert import TFLiteSegmenter

    card = zoo.card(name)
    data = card["dataset"]
    split = source(data["name"], data_root, data["eval_split"], val_fraction=data["val_fraction"],
                   seed=data["split_seed"], mode=data.get("mask_mode"))
    path = zoo.tflite(name, "int8")
    lite = TFLiteSegmenter(path)
    height, width = lite.input_size
    num_classes = max(lite.num_classes, 2)
    agree = pixels = 0
    dice = []
    segmenter = _segmenter(path)
    try:
        for record in split.records:
            image, truth = load_pair(record, split.mask_reader)
            small = np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))
            result = segmenter.segment(mediapipe.Image(image_format=mediapipe.ImageFormat.SRGB,
                                                       data=np.ascontiguousarray(small)))
            category = result.category_mask.numpy_view().reshape(height, width)
            ours = lite.segment(small)  # export/run_tflite.py's mask
            agree += int(np.sum(category == ours))
            pixels += ours.size
            full = np.asarray(Image.fromarray(category).resize(image.shape[1::-1], Image.NEAREST))
            dice.append(scores(truth, full, num_classes)["dice"])
    finally:
        segmenter.close()
    assert set(np.unique(category)) <= set(range(num_classes))
    assert agree / pixels >= 0.99, f"{name}: {agree / pixels:.4f} of pixels agree"
    card_dice = card["tflite"]["int8"]["fidelity"]["dice_tflite"]
    assert np.mean(dice) == pytest.approx(card_dice, abs=0.01), (name, np.mean(dice), card_dice)
