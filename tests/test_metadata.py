"""The TFLite metadata MediaPipe reads: written by every export, read back by MediaPipe itself."""

import json

import numpy as np
import pytest

from kerasseg import metadata

pytest.importorskip("mediapipe", reason="mediapipe not installed (the test extra)")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from kerasseg import unet

    return unet((32, 32, 3), num_classes=3, filters=4, depth=2)


@pytest.mark.parametrize("quantize", ["none", "float16", "int8"])
def test_every_export_carries_labels_and_normalisation_that_mediapipe_reads(
        tiny, quantize, ph2_small, tmp_path, monkeypatch):
    from ai_edge_litert.interpreter import Interpreter

    from kerasseg import export
    from kerasseg.phone import mediapipe_masks, mediapipe_segmenter

    images = ph2_small[0][:4, :32, :32]
    labels = ["background", "skin lesion", "ruler"]
    path = tmp_path / "tiny.tflite"
    converted, convert_tflite = [], export.convert_tflite   # the converter's own bytes

    def convert(*args, **kwargs):
        converted.append(convert_tflite(*args, **kwargs))
        return converted[-1]

    monkeypatch.setattr(export, "convert_tflite", convert)
    report = export.export_tflite(tiny, str(path), quantize, representative=images, labels=labels)
    data = path.read_bytes()
    found = metadata.read(data)
    assert found["labels"] == labels
    if quantize == "int8":
        assert found["mean"] is None and "normalisation" not in report["metadata"]
    else:
        assert (found["mean"], found["std"]) == ([0.0], [255.0])
        assert "normalisation mean 0, std 255" in report["metadata"]
    # MediaPipe opens it (a float file only through the normalisation) and names the classes.
    segmenter = mediapipe_segmenter(path)
    try:
        assert segmenter.labels == labels
        category, confidence = mediapipe_masks(segmenter, (images[0] * 255).astype(np.uint8))
    finally:
        segmenter.close()
    assert category.shape == (32, 32) and confidence.shape == (32, 32, 3)
    # LiteRT ignores the metadata: the same outputs as the bare converted file.
    (bare,) = converted
    assert metadata.read(bare) is None and bare != data
    outputs = []
    for content in (data, bare):
        interpreter = Interpreter(model_content=content)
        interpreter.allocate_tensors()
        entry = interpreter.get_input_details()[0]
        x = images[:1]
        if entry["dtype"] == np.uint8:
            scale, zero = entry["quantization"]
            x = np.clip(np.round(x / scale + zero), 0, 255).astype(np.uint8)
        interpreter.set_tensor(entry["index"], x)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_writing_twice_keeps_one_metadata_entry_and_one_labels_file(tiny, ph2_small):
    from kerasseg.export import convert_tflite

    bare = convert_tflite(tiny, "none")
    once, _ = metadata.add(bare, ["a", "b", "c"], float_input=True)
    twice, _ = metadata.add(once, ["x", "y", "z"], float_input=True)
    assert metadata.read(twice)["labels"] == ["x", "y", "z"]
    assert abs(len(twice) - len(once)) < 64
    assert metadata.read(bare) is None


def test_without_the_schema_the_export_still_works_and_says_what_it_left_out(
        tiny, tmp_path, monkeypatch):
    from kerasseg.export import export_tflite

    monkeypatch.setattr(metadata, "_schemas", lambda: None)
    path = tmp_path / "bare.tflite"
    with pytest.warns(UserWarning, match=r'no TFLite metadata written .*pip install '
                                         r'"kerasseg\[mediapipe\]"'):
        report = export_tflite(tiny, str(path), "none", labels=["a", "b", "c"])
    assert report["metadata"].startswith("no TFLite metadata written")
    assert json.loads((tmp_path / "bare.json").read_text())["labels"] == ["a", "b", "c"]
