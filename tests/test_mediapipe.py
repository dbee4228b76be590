"""Every zoo int8 file in a real client: MediaPipe Tasks' ImageSegmenter (what phone apps run).

MediaPipe's category mask must be the class id (0 background, 1 foreground for binary
models, as for MediaPipe's own segmenters), agree with kerasseg's LiteRT runner
(`export/run_tflite.py`) on >= 99% of pixels, and score what the card says.
"""

import pytest

from kerasseg import zoo

pytest.importorskip("mediapipe", reason="mediapipe not installed (the test extra)")


@pytest.mark.parametrize("name", zoo.names())
def test_zoo_int8_file_segments_in_mediapipe_as_in_litert(name, data_root):
    from kerasseg.data.sources import source
    from kerasseg.phone import compare_with_litert

    card = zoo.card(name)
    data = card["dataset"]
    split = source(data["name"], data_root, data["eval_split"], val_fraction=data["val_fraction"],
                   seed=data["split_seed"], mode=data.get("mask_mode"))
    found = compare_with_litert(zoo.tflite(name, "int8"), split.records, split.mask_reader)
    assert found["agreement"] >= 0.99, (name, found)
    card_dice = card["tflite"]["int8"]["fidelity"]["dice_tflite"]
    assert found["dice_litert"] == pytest.approx(card_dice, abs=1e-4), (name, found)
    assert found["dice_mediapipe"] == pytest.approx(card_dice, abs=0.01), (name, found)


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
