import json
import os

from kerasseg.demo import run_demo


def test_demo_trains_scores_exports_and_compares_the_zoo_on_real_ph2(tmp_path, data_root):
    """One demo run: synthetic lesions trained, scored and exported, then (with the data) the
    zoo's PH2 models and Otsu on real PH2. `kerasseg demo` without data: tests/test_cli.py."""
    out = str(tmp_path / "demo")
    report = run_demo(out_dir=out, epochs=4, image_size=32, train_count=128, test_count=16,
                      verbose=0, data_dir=data_root)
    for name in ("overlay.png", "model.keras", "model_int8.tflite", "model_int8.json",
                 "report.json", "report.md", "zoo_comparison.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0
    with open(os.path.join(out, "report.json")) as f:
        assert json.load(f) == report
    # Held-out synthetic lesions, inference mode: a working pipeline gets most pixels right.
    assert report["dice"] > 0.8, report
    # The int8 file, run by LiteRT, costs at most a point of Dice.
    assert abs(report["tflite_int8_dice"] - report["dice"]) <= 0.01, report

    models = [row["model"] for row in report["zoo_comparison"]]
    assert "unet-ph2" in models and models[-1] == "classic:otsu"
    scores = {row["model"]: row["dice"] for row in report["zoo_comparison"]}
    assert scores["unet-ph2"] > scores["classic:otsu"]
    assert "| unet-ph2 | 32 |" in open(os.path.join(out, "zoo_comparison.md")).read()
