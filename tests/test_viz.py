"""Plots are written as real PNGs from real-looking inputs."""

import numpy as np
from PIL import Image

from kerasseg import viz


def test_training_curves_and_score_distribution(tmp_path):
    log = [{"epoch": e, "loss": 1.0 / (e + 1), "dice": e / 10, "val_loss": 1.2 / (e + 1),
            "val_dice": e / 11} for e in range(5)]
    curves = viz.save_training_curves(str(tmp_path / "curves.png"), log)
    assert Image.open(curves).size[0] > Image.open(curves).size[1]  # one panel per metric, side by side
    scores = np.linspace(0.5, 1.0, 20)
    hist = viz.save_score_distribution(str(tmp_path / "dice.png"), scores,
                                       groups=["a", "b"] * 10)
    assert Image.open(hist).format == "PNG"
