"""The zoo: each card's numbers reproduced from the shipped files; loading, caching, checks."""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from kerasseg import zoo
from tests.conftest import REPO

NAMES = zoo.names()


def test_the_zoo_has_its_models():
    assert {"unet-ph2", "segnet-ph2", "deeplabv3plus-ph2", "ph2-mobile", "person",
            "person-parts", "pets-oxford", "lesion", "person-lite",
            "person-instances"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_card_metrics_are_reproduced_from_the_shipped_weights(name, data_root):
    from kerasseg import evaluate
    from kerasseg.segmenter import KerasSegmenter

    card = zoo.card(name)
    split = zoo.eval_source(card, data_root)
    assert len(split.records) == card["metrics"]["images"]
    report = evaluate.evaluate(KerasSegmenter(zoo.load(name)), split.records, split.mask_reader,
                               progress=False)
    # ISIC's thresholded Jaccard: in every binary model's card.
    assert ("thresholded_jaccard" in card["metrics"]) == (len(card["labels"]) == 2)
    for metric in ("dice", "iou", "accuracy", "thresholded_jaccard"):
        if metric in card["metrics"]:
            assert report[metric] == pytest.approx(card["metrics"][metric], abs=0.005), metric
    for dataset, scores in card["metrics"].get("per_dataset", {}).items():
        for metric in ("dice", "iou", "thresholded_jaccard"):
            assert report["per_group"][dataset]["mean"][metric] == pytest.approx(
                scores[metric], abs=0.005), (dataset, metric)
    if "classes" in card["metrics"]:
        assert report["classes"]["mean_iou"] == pytest.approx(
            card["metrics"]["classes"]["mean_iou"], abs=0.005)
    if card.get("task") == "instances":   # and its people, one by one
        found = card["instances"]
        with_ids = zoo.eval_source(card, data_root, found["split"], mode=found["mask_mode"])
        scores = evaluate.evaluate_instances(KerasSegmenter(zoo.load(name)), with_ids.records,
                                             with_ids.mask_reader, progress=False)
        for metric in ("ap", "ap50", "ap75", "pq"):
            assert scores[metric] == pytest.approx(found[metric], abs=0.005), metric
            for dataset, part in found.get("per_dataset", {}).items():
                assert scores["per_dataset"][dataset][metric] == pytest.approx(
                    part[metric], abs=0.005), (dataset, metric)
    assert os.path.getsize(os.path.join(zoo.ZOO_DIR, name, "model.keras")) <= 10e6


@pytest.mark.parametrize("name", NAMES)
def test_shipped_tflite_files_run_in_litert_and_agree_with_keras(name, data_root):
    from kerasseg.data.records import read_image
    from kerasseg.litert import TFLiteSegmenter
    from kerasseg.segmenter import KerasSegmenter, classes_from

    card = zoo.card(name)
    records = zoo.eval_source(card, data_root).records[:6]
    keras_side = KerasSegmenter(zoo.load(name))
    images = np.stack([keras_side.resize_in(read_image(r.image)) for r in records])
    expected = classes_from(keras_side.probabilities(images))
    for variant, entry in card["tflite"].items():
        lite = TFLiteSegmenter(zoo.tflite(name, variant))
        agreement = np.mean(classes_from(lite.probabilities(images)) == expected)
        assert agreement >= (0.995 if variant == "float16" else 0.98), (variant, agreement)
        # The card's int8 cost, measured on the whole evaluation split at export.
        assert abs(entry["fidelity"]["dice_tflite"] - entry["fidelity"]["dice_keras"]) <= 0.01
        if card.get("task") == "instances":   # within 2 mask-AP points of Keras
            assert entry["fidelity"]["ap_tflite"] >= entry["fidelity"]["ap_keras"] - 0.02


def test_names_are_validated():
    for bad in ("../unet-ph2", "UNET-PH2", "unet_ph2", "unet--ph2", "", "unet-ph2/"):
        with pytest.raises(ValueError, match="invalid zoo name"):
            zoo.card(bad)
    with pytest.raises(ValueError, match="unknown zoo model 'unet-nothing'; available: "):
        zoo.load("unet-nothing")


def _copy_card_without_files(name, tmp_path, url):
    folder = tmp_path / "zoo" / name
    folder.mkdir(parents=True)
    card = zoo.card(name)
    card["weights"]["url"] = url
    (folder / "card.json").write_text(json.dumps(card))
    return str(tmp_path / "zoo")


def test_weights_are_fetched_into_the_cache_with_the_sha256_check(tmp_path):
    name = "ph2-mobile"
    source = tmp_path / "server" / "model.keras"
    source.parent.mkdir()
    shutil.copy(os.path.join(zoo.ZOO_DIR, name, "model.keras"), source)
    zoo_dir = _copy_card_without_files(name, tmp_path, source.as_uri())
    cache = tmp_path / "cache"
    model = zoo.load(name, zoo_dir=zoo_dir, cache_dir=str(cache))
    assert (cache / name / "model.keras").is_file()
    assert model.count_params() == zoo.card(name)["params"]


def test_tampered_or_truncated_files_are_refused(tmp_path):
    name = "ph2-mobile"
    source = tmp_path / "server" / "model.keras"
    source.parent.mkdir()
    data = open(os.path.join(zoo.ZOO_DIR, name, "model.keras"), "rb").read()
    source.write_bytes(data[: len(data) // 2])           # truncated on the server
    zoo_dir = _copy_card_without_files(name, tmp_path, source.as_uri())
    with pytest.raises(ValueError, match="could not fetch model.keras .* sha256"):
        zoo.load(name, zoo_dir=zoo_dir, cache_dir=str(tmp_path / "cache"))

    local = tmp_path / "local" / name
    shutil.copytree(os.path.join(zoo.ZOO_DIR, name), local)
    tampered = bytearray(data)
    tampered[len(tampered) // 2] ^= 0xFF
    (local / "model.keras").write_bytes(bytes(tampered))
    with pytest.raises(ValueError, match="sha256 .* differs from the card's"):
        zoo.load(name, zoo_dir=str(tmp_path / "local"))


def test_zoo_names_work_as_models_in_the_commands(data_root, tmp_path, capsys):
    from kerasseg.cli import main

    listing = subprocess.run([sys.executable, "-m", "kerasseg.cli", "zoo", "list"],
                             capture_output=True, text=True, cwd=REPO)
    assert listing.returncode == 0 and "unet-ph2" in listing.stdout
    shown = subprocess.run([sys.executable, "-m", "kerasseg.cli", "zoo", "show", "unet-ph2"],
                           capture_output=True, text=True, cwd=REPO)
    assert shown.returncode == 0 and "kerasseg train --model unet" in shown.stdout
    out = tmp_path / "out"
    image = os.path.join(data_root, "pennfudan", "PennFudanPed", "PNGImages", "FudanPed00001.png")
    assert main(["predict", image, "--model", "person", "--out", str(out)]) == 0, \
        capsys.readouterr().err[-1500:]
    assert (out / "FudanPed00001_mask.png").exists()


def test_readme_zoo_table_is_generated_from_the_cards():
    readme = open(os.path.join(REPO, "README.md")).read()
    assert zoo.table() in readme


def test_instance_models_show_their_people_in_the_table_and_card_text():
    people = [name for name in NAMES if zoo.card(name).get("task") == "instances"]
    assert "person-instances" in people
    table = zoo.table()
    for name in people:
        found = zoo.card(name)["instances"]
        row = next(line for line in table.splitlines() if line.startswith(f"| {name} | ")
                   and "instances) |" in line)
        assert f"| {found['ap']:.4f} | {found['ap50']:.4f} |" in row
        assert f"mask AP {found['ap']:.4f}, AP50 {found['ap50']:.4f}" in zoo.describe(name)
    assert "foreground from person (frozen" in zoo.describe("person-instances")


def test_a_finished_run_is_published_into_a_zoo_that_reads_it_back(data_root, tmp_path):
    from kerasseg.publish import _started_from, publish
    from kerasseg.run import CONFIG
    from kerasseg.train import train_on_dataset

    run = tmp_path / "run"
    train_on_dataset("unet", "ph2", data_root, out_dir=str(run), image_size=32, epochs=1,
                     model_args={"filters": 4, "depth": 2}, batch_size=16, verbose=0)
    zoo_dir = str(tmp_path / "zoo")
    card = publish("tiny-ph2", str(run), data_root, "a tiny test U-Net", ["skin", "lesion"],
                   zoo_dir)
    assert zoo.names(zoo_dir) == ["tiny-ph2"] and zoo.card("tiny-ph2", zoo_dir) == card
    assert card["metrics"]["images"] == 32 and card["dataset"]["train_images"] == 128
    assert card["training"]["command"].startswith("kerasseg train --model unet --arg filters=4")
    assert set(card["tflite"]) == {"float16", "int8"}
    assert "tiny-ph2: a tiny test U-Net" in zoo.describe("tiny-ph2", zoo_dir)
    assert zoo.load("tiny-ph2", zoo_dir).output_shape == (None, 32, 32, 1)
    # The zoo file's config is deflated, its weights stored (h5py reads those faster).
    with zipfile.ZipFile(os.path.join(zoo_dir, "tiny-ph2", "model.keras")) as archive:
        kinds = {member.filename: member.compress_type for member in archive.infolist()}
    assert kinds["config.json"] == zipfile.ZIP_DEFLATED
    assert kinds["model.weights.h5"] == zipfile.ZIP_STORED
    assert not os.path.exists(os.path.join(zoo_dir, "tiny-ph2", "model.keras.partial"))
    assert os.path.isfile(zoo.tflite("tiny-ph2", "int8", zoo_dir))

    # A run started from a zoo model keeps that model's data and training on its card, read
    # before publishing replaces it; `zoo show` names each start.
    started = _started_from("tiny-ph2", zoo_dir)
    assert started["training"] == card["training"] and started["image_size"] == [32, 32]
    assert _started_from(None, zoo_dir) is None
    # A run's checkpoint brings that run's data and training, nesting its own start: runs are
    # not shipped, so the card is where a chain of runs stays readable.
    second = tmp_path / "second"
    train_on_dataset("unet", "ph2", data_root, out_dir=str(second), image_size=32, epochs=1,
                     model_args={"filters": 4, "depth": 2}, batch_size=16, verbose=0,
                     init_from=str(run / "best.keras"))
    chain = _started_from(str(second / "last.keras"), zoo_dir)
    assert chain["dataset"] == "ph2" and chain["image_size"] == [32, 32]
    assert chain["training"]["weights_from"].startswith("last epoch")
    first = chain["training"]["started_from"]
    assert first["model"] == str(run / "best.keras") and first["training"]["epochs_logged"] == 1
    assert first["training"]["weights_from"].startswith("epoch 1 of 1, the best validation Dice")
    assert "started_from" not in first["training"]
    # A folder trained again from its own checkpoint (--force) is not followed round in a loop.
    config = json.loads((second / CONFIG).read_text())
    (second / CONFIG).write_text(json.dumps({**config, "init_from": str(second / "last.keras")}))
    assert _started_from(str(second / "last.keras"), zoo_dir)["training"]["started_from"] == {
        "model": str(second / "last.keras")}
    other = tmp_path / "elsewhere.keras"
    assert _started_from(str(other), zoo_dir) == {"model": str(other)}
    again = {**card, "training": {**card["training"], "started_from": started}}
    zoo.write_card(os.path.join(zoo_dir, "tiny-ph2", "card.json"), again)
    assert ("started from  tiny-ph2, trained on ph2 (128 images) at 32x32 with kerasseg train "
            "--model unet") in zoo.describe("tiny-ph2", zoo_dir)

    # So is a dataset to measure the card on that is not registered.
    with pytest.raises(ValueError, match="nonesuch"):
        publish("other-ph2", str(run), data_root, "", ["skin", "lesion"], zoo_dir,
                eval_dataset="nonesuch")
    assert zoo.names(zoo_dir) == ["tiny-ph2"]

    # An unfinished run is refused before anything is written too.
    config = json.loads((run / CONFIG).read_text())
    config["finished"] = False
    (run / CONFIG).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="not finished"):
        publish("other-ph2", str(run), data_root, "", ["skin", "lesion"], zoo_dir)
    assert zoo.names(zoo_dir) == ["tiny-ph2"]
