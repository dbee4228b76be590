"""Every zoo file in a real client: MediaPipe Tasks' ImageSegmenter (what phone apps run).

Every float16 and int8 file opens (float files through the normalisation in their
metadata), MediaPipe reads the card's labels from it, its category mask is the class id (0
background, 1 foreground for binary models, as for MediaPipe's own segmenters) and agrees
with kerasseg's LiteRT runner (`export/run_tflite.py`) on >= 99% of pixels, its confidence
masks with LiteRT's probabilities, and the int8 files score what the card says (LiteRT on every
evaluation image; MediaPipe within 0.01 Dice of LiteRT on the first 16).
"""

import pytest

from kerasseg import zoo

pytest.importorskip("mediapipe", reason="mediapipe not installed (the test extra)")


# Instance models' files are decoded by kerasseg's runner: ImageSegmenter has no instances.
SEGMENTERS = [name for name in zoo.names() if zoo.card(name).get("task") != "instances"]


@pytest.mark.parametrize("variant", ["int8", "float16"])
@pytest.mark.parametrize("name", SEGMENTERS)
def test_zoo_file_opens_in_mediapipe_with_its_labels_and_segments_as_in_litert(name, variant,
                                                                              data_root):
    from kerasseg.phone import compare_with_litert

    card = zoo.card(name)
    split = zoo.eval_source(card, data_root)
    # MediaPipe against LiteRT on the first images of the evaluation split (16 for the int8
    # file, whose Dice the card states, 8 for float16, the same network at another precision);
    # the card's int8 Dice is then reproduced by LiteRT alone on every image.
    records = split.records[:16] if variant == "int8" else split.records[:8]
    path = zoo.tflite(name, variant)
    found = compare_with_litert(path, records, split.mask_reader)
    # The labels come from the file's own metadata: what an app shows.
    assert found["labels"] == card["labels"], (name, found["labels"])
    assert found["agreement"] >= 0.99, (name, found)
    assert found["confidence_max_diff"] <= 0.02, (name, found)
    assert found["dice_mediapipe"] == pytest.approx(found["dice_litert"], abs=0.01), (name, found)
    if variant == "int8":
        card_dice = card["tflite"]["int8"]["fidelity"]["dice_tflite"]
        assert _litert_dice(path, split) == pytest.approx(card_dice, abs=1e-4), name


def _litert_dice(path, split):
    """Mean per-image Dice of a .tflite file at each image's own size, as its card measures it."""
    import numpy as np

    from kerasseg.data.records import load_pair
    from kerasseg.evaluate import scores
    from kerasseg.litert import TFLiteSegmenter
    from kerasseg.segmenter import mask_at

    lite = TFLiteSegmenter(path)
    num_classes = max(lite.num_classes, 2)
    dice = []
    for record in split.records:
        image, truth = load_pair(record, split.mask_reader)
        probabilities = lite.probabilities(lite.resize_in(image)[None])[0]
        dice.append(scores(truth, mask_at(probabilities, truth.shape), num_classes)["dice"])
    return float(np.mean(dice))


def test_category_ids_are_class_ids(data_root):
    """A binary file's category mask holds 0 (background) and 1 (foreground), not 0/255."""
    import numpy as np

    from kerasseg.data.records import read_image
    from kerasseg.data.sources import source
    from kerasseg.phone import mediapipe_category_mask, mediapipe_segmenter

    record = source("ph2", data_root, "val").records[0]
    segmenter = mediapipe_segmenter(zoo.tflite("ph2-mobile", "int8"))
    try:
        category = mediapipe_category_mask(segmenter, read_image(record.image))
    finally:
        segmenter.close()
    assert set(np.unique(category)) == {0, 1}
