"""Evaluation: metrics against hand counts on real masks, both resolutions, groups, the command."""

import json

import numpy as np
import pytest

from kerasseg import evaluate
from kerasseg.segmenter import Segmenter


def test_scores_match_hand_counts_on_a_real_mask(ph2_masks_128):
    truth = ph2_masks_128[0, ..., 0]
    prediction = np.roll(truth, 7, axis=1)          # the lesion moved 7 pixels right
    tp = int(np.sum((truth == 1) & (prediction == 1)))
    fp = int(np.sum((truth == 0) & (prediction == 1)))
    fn = int(np.sum((truth == 1) & (prediction == 0)))
    tn = truth.size - tp - fp - fn
    got = evaluate.scores(truth, prediction)
    assert got["dice"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert got["iou"] == pytest.approx(tp / (tp + fp + fn))
    assert got["accuracy"] == pytest.approx((tp + tn) / truth.size)
    assert got["sensitivity"] == pytest.approx(tp / (tp + fn))
    assert got["specificity"] == pytest.approx(tn / (tn + fp))
    assert 0.5 < got["dice"] < 1.0


def test_scores_edge_cases():
    empty = np.zeros((4, 4), np.uint8)
    got = evaluate.scores(empty, empty)
    assert got["dice"] == 1.0 and got["iou"] == 1.0 and np.isnan(got["sensitivity"])
    with pytest.raises(ValueError, match="truth has 16 pixels but the prediction 9"):
        evaluate.scores(empty, np.zeros((3, 3)))
    ignored = evaluate.scores(np.array([1, 255, 0]), np.array([1, 1, 0]), ignore_index=255)
    assert ignored["dice"] == 1.0


def test_thresholded_jaccard_is_isics_metric_on_hand_made_cases():
    truth = np.zeros((10, 10), np.uint8)
    truth[:, :5] = 1                                  # 50 lesion pixels
    good = truth.copy()
    good[:, 5] = 1                                    # IoU 50/60 = 0.833: kept
    poor = np.zeros_like(truth)
    poor[:, :3] = 1                                   # IoU 30/50 = 0.6: below 0.65, counts 0
    assert evaluate.scores(truth, good)["thresholded_jaccard"] == pytest.approx(50 / 60)
    assert evaluate.scores(truth, poor)["iou"] == pytest.approx(0.6)
    assert evaluate.scores(truth, poor)["thresholded_jaccard"] == 0.0
    edge = np.zeros_like(truth)
    edge.reshape(-1)[:65] = 1                         # IoU exactly 0.65 after the first 50
    truth_65 = np.zeros_like(truth)
    truth_65.reshape(-1)[:100] = 1
    assert evaluate.scores(truth_65, edge)["thresholded_jaccard"] == pytest.approx(0.65)
    # Multi-class masks have no ISIC metric.
    assert np.isnan(evaluate.scores(truth * 2, good * 2, num_classes=3)["thresholded_jaccard"])


class _Truth(Segmenter):
    """Returns each image's own resized ground truth: exact at the model's resolution."""

    def __init__(self, masks_by_mean, size):
        self.masks, self.input_size, self.name = masks_by_mean, (size, size), "truth"

    def probabilities(self, images):
        return np.stack([self.masks[round(float(im.mean()), 5)] for im in images])[..., None] * 1.0


def test_evaluate_scores_both_resolutions_and_groups(data_root):
    from PIL import Image

    from kerasseg.data.records import load_pair
    from kerasseg.data.sources import source

    data = source("ph2", data_root, "val")
    records = data.records[:6]
    size = 64
    masks = {}
    probe = _Truth({}, size)
    for record in records:
        image, mask = load_pair(record, data.mask_reader)
        small = np.asarray(Image.fromarray(mask).resize((size, size), Image.NEAREST))
        masks[round(float(probe.resize_in(image).mean()), 5)] = small.astype(np.float32)
    report = evaluate.evaluate(_Truth(masks, size), records, data.mask_reader, progress=False)

    assert report["model_resolution"]["mean"]["dice"] == 1.0     # exact where it was made
    assert 0.9 < report["dice"] < 1.0                            # upsampled 64 -> ~560x770 loses a bit
    assert report["dice"] == report["original_resolution"]["mean"]["dice"]
    assert set(evaluate.METRICS) <= set(report)
    assert sum(g["images"] for g in report["per_group"].values()) == 6
    assert set(report["per_group"]) <= {"common_nevus", "atypical_nevus", "melanoma"}
    first = report["per_image"][0]
    assert first["size"] == list(load_pair(records[0], data.mask_reader)[1].shape)
    assert "| dice | " in evaluate.markdown(report)


def test_evaluate_command_with_a_classical_method(data_root, tmp_path, capsys):
    from kerasseg.cli import main

    out = tmp_path / "report.json"
    plot = tmp_path / "dice.png"
    code = main(["evaluate", "--model", "classic:otsu", "--dataset", "ph2", "--data-dir",
                 data_root, "--split", "val", "--report", str(out), "--plot", str(plot), "--tta"])
    done = capsys.readouterr()
    assert code == 0, done.err[-2000:]
    report = json.loads(out.read_text())
    assert report["images"] == 32 and report["tta"] is True
    for key in ("dice", "iou", "accuracy", "sensitivity", "specificity", "thresholded_jaccard"):
        assert 0.0 < report[key] <= 1.0
    per_image = [i["original"] for i in report["per_image"]]
    assert report["thresholded_jaccard"] == pytest.approx(np.mean(
        [i["iou"] if i["iou"] >= 0.65 else 0.0 for i in per_image]), abs=1e-6)
    assert report["thresholded_jaccard"] < report["iou"]   # some Otsu masks fall below 0.65
    assert 0.6 < report["dice"] < 0.95
    assert "| dice |" in done.out and "melanoma" in done.out
    assert "| thresholded_jaccard |" in done.out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_command_errors_name_the_problem(data_root, tmp_path, capsys):
    from kerasseg.cli import main

    bad = tmp_path / "notes.keras"
    bad.write_text("not a model")
    for model, message in [(str(bad), "could not be loaded as a Keras model"),
                           ("no-such-model", "not a model file, a zoo name"),
                           ("classic:snake", "unknown classical method 'snake'")]:
        code = main(["evaluate", "--model", model, "--dataset", "ph2", "--data-dir", data_root])
        err = capsys.readouterr().err
        assert code == 2 and message in err, (model, err[-500:])


def test_instances_from_components_against_penn_fudan_ids(data_root):
    from kerasseg import instances
    from kerasseg.data import pennfudan
    from kerasseg.data.records import load_pair

    records = pennfudan.records(data_root)[:10]
    reader = pennfudan.mask_reader("instances")
    matched = true = 0
    for record in records:
        _, ids = load_pair(record, reader)
        perfect = instances.match(ids, ids)
        assert perfect["precision"] == perfect["recall"] == perfect["mean_iou"] == 1.0
        found = instances.match(ids, instances.from_semantic(ids > 0))
        assert found["predicted"] <= found["true"] + 2
        matched, true = matched + found["matched"], true + found["true"]
    # Touching pedestrians merge into one component, so not every person is found.
    assert 0.5 < matched / true <= 1.0


def test_instance_matching_by_hand():
    from kerasseg import instances

    truth = np.zeros((10, 10), int)
    truth[0:4, 0:4], truth[6:10, 6:10] = 1, 2
    predicted = np.zeros((10, 10), int)
    predicted[0:4, 0:2] = 5                      # half of instance 1: IoU 0.5
    predicted[6:10, 6:10] = 9                    # all of instance 2
    predicted[0, 9] = 3                          # a stray pixel
    result = instances.match(truth, predicted)
    assert (result["true"], result["predicted"], result["matched"]) == (2, 3, 2)
    assert result["recall"] == 1.0 and result["precision"] == pytest.approx(2 / 3)
    assert result["mean_iou"] == pytest.approx(0.75)
    assert instances.from_semantic(predicted > 0, min_size=2).max() == 2


def test_instance_evaluation_of_a_perfect_semantic_mask_on_penn_fudan(data_root):
    """A segmenter that returns the true person mask: its components are the people exactly
    where nobody touches (AP and PQ 1), and touching people merge (recall, AP, PQ below 1)."""
    from kerasseg import instances
    from kerasseg.data import pennfudan
    from kerasseg.data.records import load_pair
    from kerasseg.evaluate import evaluate_instances

    reader = pennfudan.mask_reader("instances")

    class Oracle:   # the true mask of each record, in the order evaluate_instances reads them
        name, num_classes, task = "oracle", 1, "semantic"

        def __init__(self, records):
            self.masks = [(load_pair(r, reader)[1] > 0)[..., None] for r in records]

        def resize_in(self, image):
            return self.masks.pop(0)

        def probabilities(self, images):
            return images.astype(np.float32)

    separate, merged = [], []
    for record in pennfudan.records(data_root)[:40]:
        ids = reader(record)
        split = instances.from_semantic(ids > 0, min_size=50).max()
        (separate if split == ids.max() == len(np.unique(ids)) - 1 else merged).append(record)
    assert len(separate) >= 3 and merged, "these 40 images hold both cases"
    found = evaluate_instances(Oracle(separate[:3]), separate[:3], reader, progress=False)
    assert found["ap"] == found["pq"] == 1.0 and found["true"] == found["matched"] > 3, found
    found = evaluate_instances(Oracle(merged[:2]), merged[:2], reader, progress=False)
    assert found["recall"] < 1.0 and found["pq"] < 1.0 and found["ap"] < 1.0, found


def test_instances_of_a_mixture_are_scored_per_dataset_too(data_root):
    """Penn-Fudan's ids beside single-person photos (one instance each), pooled and apart: a
    segmenter that returns each photo's true person mask finds every single person."""
    from kerasseg.data.records import load_pair
    from kerasseg.data.sources import source
    from kerasseg.evaluate import evaluate_instances

    mixed = source("ccp+pennfudan+portraits", data_root, "val", mode="instances")
    records = [r for name in ("ccp", "pennfudan", "portraits")
               for r in [r for r in mixed.records if r.meta["dataset"] == name][:2]]

    class Oracle:
        name, num_classes, task = "oracle", 1, "semantic"

        def __init__(self):
            self.masks = [(load_pair(r, mixed.mask_reader)[1] > 0)[..., None] for r in records]

        def resize_in(self, image):
            return self.masks.pop(0)

        def probabilities(self, images):
            return images.astype(np.float32)

    found = evaluate_instances(Oracle(), records, mixed.mask_reader, progress=False)
    parts = found["per_dataset"]
    assert list(parts) == ["ccp", "pennfudan", "portraits"]
    assert [part["images"] for part in parts.values()] == [2, 2, 2]
    for name in ("ccp", "portraits"):
        # PQ just under 1: the oracle's specks under 50 pixels are not instances.
        assert parts[name]["true"] == 2 and parts[name]["ap"] == 1.0 < parts[name]["pq"] + 1e-3
    assert parts["pennfudan"]["true"] == found["true"] - 4
