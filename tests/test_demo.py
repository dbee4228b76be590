import json
import os

from kerasseg.demo import run_demo


def test_demo_trains_scores_and_writes_its_outputs(tmp_path):
    out = str(tmp_path / "demo")
    report = run_demo(out_dir=out, epochs=4, image_size=32, train_count=128, test_count=16,
                      verbose=0)
    for name in ("overlay.png", "model.keras", "report.json", "report.md"):
        assert os.path.getsize(os.path.join(out, name)) > 0
    with open(os.path.join(out, "report.json")) as f:
        assert json.load(f) == report
    # Held-out synthetic lesions, inference mode: a working pipeline gets most pixels right.
    assert report["dice"] > 0.8, report
