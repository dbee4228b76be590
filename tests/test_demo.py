import json
import os

from kerasseg.cli import main
from kerasseg.demo import _markdown


def test_demo_trains_scores_exports_and_compares_the_zoo_on_real_ph2(tmp_path, data_root):
    """One `kerasseg demo` run: synthetic lesions trained, scored and exported, then (with the
    data) the zoo's PH2 models and Otsu on real PH2."""
    out = str(tmp_path / "demo")
    assert main(["demo", "--out", out, "--epochs", "4", "--image-size", "32", "--train-count",
                 "128", "--test-count", "16", "--data-dir", data_root]) == 0
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    for name in ("overlay.png", "model.keras", "model_int8.tflite", "model_int8.json",
                 "report.json", "report.md", "zoo_comparison.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0
    assert open(os.path.join(out, "report.md")).read() == _markdown(report)
    # Held-out synthetic lesions, inference mode: a working pipeline gets most pixels right.
    assert report["dice"] > 0.8, report
    # The int8 file, run by LiteRT, costs at most a point of Dice.
    assert abs(report["tflite_int8_dice"] - report["dice"]) <= 0.01, report

    models = [row["model"] for row in report["zoo_comparison"]]
    assert "unet-ph2" in models and models[-1] == "classic:otsu"
    scores = {row["model"]: row["dice"] for row in report["zoo_comparison"]}
    assert scores["unet-ph2"] > scores["classic:otsu"]
    assert "| unet-ph2 | 32 |" in open(os.path.join(out, "zoo_comparison.md")).read()

    # Without data (the README's first command) the report is the same less the comparison.
    alone = _markdown({k: v for k, v in report.items() if k != "zoo_comparison"})
    assert "| Dice (all pixels) |" in alone and "Zoo models" not in alone
