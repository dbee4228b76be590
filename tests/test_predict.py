"""`kerasseg predict` on real images of odd sizes, with a bad file among them."""

import glob
import os
import shutil

import numpy as np
from PIL import Image


def _inputs(data_root, folder):
    pets = sorted(glob.glob(os.path.join(data_root, "oxford_pets", "images", "*.jpg")))[:2]
    people = sorted(glob.glob(os.path.join(data_root, "pennfudan", "PennFudanPed", "PNGImages",
                                           "*.png")))[:2]
    for path in pets + people:
        shutil.copy(path, folder)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return {os.path.splitext(os.path.basename(p))[0]: Image.open(p).size for p in pets + people}


def test_predict_writes_masks_at_each_images_size_and_reports_bad_files(data_root, tmp_path,
                                                                       capsys):
    from kerasseg import unet
    from kerasseg.cli import main

    images = tmp_path / "images"
    images.mkdir()
    sizes = _inputs(data_root, images)
    assert len(set(sizes.values())) > 1  # the images really differ in size
    model_path = tmp_path / "tiny.keras"
    unet((64, 64, 3), filters=4, depth=2).save(model_path)

    out = tmp_path / "out"
    code = main(["predict", str(images), "--model", str(model_path), "--out", str(out)])
    done = capsys.readouterr()
    assert code == 1  # one file failed, the rest were written
    assert "broken.png" in done.err and "cannot decode image" in done.err
    assert f"wrote {len(sizes)} masks" in done.out
    for name, size in sizes.items():
        mask = Image.open(out / f"{name}_mask.png")
        assert mask.size == size
        assert set(np.unique(np.asarray(mask)).tolist()) <= {0, 255}
        assert Image.open(out / f"{name}_overlay.png").size == size


def test_predict_with_a_classical_method_finds_a_drawn_object(tmp_path):
    from kerasseg.predict import predict
    from kerasseg.segmenter import load

    image = np.full((90, 130, 3), 210, np.uint8)
    image[20:70, 30:100] = 30
    Image.fromarray(image).save(tmp_path / "drawn.png")
    result = predict(load("classic:otsu", image_size=64), str(tmp_path / "drawn.png"),
                     str(tmp_path / "out"), overlays=False, progress=False)
    assert not result["failed"]
    mask = np.asarray(Image.open(result["written"][0])) > 0
    truth = np.zeros((90, 130), bool)
    truth[20:70, 30:100] = True
    assert mask.shape == truth.shape and (mask == truth).mean() > 0.98
    assert not (tmp_path / "out" / "drawn_overlay.png").exists()
