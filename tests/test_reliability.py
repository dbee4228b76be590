"""Reliability: no file lost or overwritten, no nonsense passed off as success, plain messages.

One test per case of the reliability review (test_caseNN_...). Each checks that
the file that must survive keeps its bytes, the exit code and the words of the
message. The data are copies of real files (PH2, Oxford-IIIT Pet) in tmp_path;
synthetic files only where real data cannot show the problem (a 16-bit PNG, an
EXIF-rotated photo, a truncated .keras file).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile

import numpy as np
import pytest

from kerasseg.cli import main
from tests.conftest import REPO

TRAIN = ["train", "--model", "unet", "--arg", "filters=4", "--arg", "depth=2", "--image-size", "32",
         "--batch-size", "4", "--epochs", "1", "--val-fraction", "0.25"]


def _ph2_folder(data_root, folder, count=8):
    """`count` real PH2 pairs laid out as a user's folder: images/IMDx.png, masks/IMDx_mask.bmp."""
    from kerasseg.data.sources import source

    images, masks = folder / "images", folder / "masks"
    images.mkdir(parents=True)
    masks.mkdir()
    for record in source("ph2", data_root, "all").records[:count]:
        shutil.copy(record.image, images / f"{record.id}{os.path.splitext(record.image)[1]}")
        shutil.copy(record.mask, masks / f"{record.id}_mask.bmp")
    return images, masks


def _train_args(images, masks, out, *extra):
    return [*TRAIN, "--dataset", "folder", "--data-dir", str(images), "--masks-dir", str(masks),
            "--mask-suffix", "_mask", "--out", str(out), *extra]


def _snapshot(folder):
    """{relative path: bytes} of every file under `folder` (the lock file aside)."""
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            if name != ".lock":
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    found[os.path.relpath(path, folder)] = f.read()
    return found


@pytest.fixture(scope="module")
def ph2_pairs(data_root, tmp_path_factory):
    """Eight real PH2 pairs as a folder dataset (6 train, 2 val at --val-fraction 0.25)."""
    return _ph2_folder(data_root, tmp_path_factory.mktemp("ph2_folder"))


@pytest.fixture(scope="module")
def finished_run(ph2_pairs, tmp_path_factory):
    """A finished one-epoch run folder; tests copy it before touching it."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main(_train_args(*ph2_pairs, out)) == 0
    return out


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """An untrained 64x64 binary U-Net saved as .keras."""
    from kerasseg import unet

    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    unet((64, 64, 3), filters=4, depth=2).save(path)
    return path


# ---------------------------------------------------------------- files lost or overwritten


def test_case01_predict_replaces_nothing_reads_no_mask_and_names_every_output(
        data_root, tiny_model, tmp_path, capsys):
    from PIL import Image

    pets = os.path.join(data_root, "oxford_pets")
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(os.path.join(pets, "images", "Abyssinian_107.jpg"), folder)
    # The user's ground truth, named as predict names its masks.
    truth = folder / "Abyssinian_107_mask.png"
    shutil.copy(os.path.join(pets, "annotations", "trimaps", "Abyssinian_107.png"), truth)
    # Two photos with one stem.
    shutil.copy(os.path.join(pets, "images", "Abyssinian_109.jpg"), folder / "shared.jpg")
    shutil.copy(os.path.join(data_root, "pennfudan", "PennFudanPed", "PNGImages",
                             "FudanPed00001.png"), folder / "shared.png")
    before = _snapshot(folder)

    command = ["predict", str(folder), "--model", str(tiny_model)]
    assert main([*command, "--out", str(folder)]) == 2
    err = capsys.readouterr().err
    assert (f"--out {folder} already holds Abyssinian_107_mask.png; predict replaces no file "
            "without --force") in err
    assert _snapshot(folder) == before

    out = tmp_path / "out"
    assert main([*command, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "wrote 3 masks" in captured.out
    assert "left out 1 files named like masks or overlays" in captured.err
    assert sorted(os.listdir(out)) == sorted(
        f"{stem}_{kind}.png" for stem in ("Abyssinian_107", "shared_jpg", "shared_png")
        for kind in ("mask", "overlay"))
    assert Image.open(out / "shared_jpg_mask.png").size == Image.open(folder / "shared.jpg").size
    assert Image.open(out / "shared_png_mask.png").size == Image.open(folder / "shared.png").size
    assert _snapshot(folder) == before

    written = _snapshot(out)
    assert main([*command, "--out", str(out)]) == 2
    assert "already holds Abyssinian_107_mask.png, Abyssinian_107_overlay.png" in \
        capsys.readouterr().err
    assert _snapshot(out) == written
    assert main([*command, "--out", str(out), "--force"]) == 0


@pytest.mark.train
def test_case02_train_force_checks_everything_before_touching_the_finished_run(
        ph2_pairs, finished_run, tmp_path, capsys):
    images, masks = ph2_pairs
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    before = _snapshot(out)
    assert {"best.keras", "last.keras", "log.csv", "curves.png", "config.json"} <= set(before)

    assert main(_train_args(images, masks, out, "--force", "--loss", "dcie")) == 2
    assert "unknown loss 'dcie'" in capsys.readouterr().err
    assert _snapshot(out) == before

    assert main(_train_args(images, masks, out, "--force", "--arg", "num_classes=3")) == 2
    assert ("outputs 3 channels but the data has binary masks" in capsys.readouterr().err)
    assert _snapshot(out) == before

    broken = tmp_path / "broken"
    shutil.copytree(images, broken)
    victim = sorted(os.listdir(broken))[0]
    (broken / victim).write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    assert main(_train_args(broken, masks, out, "--force")) == 2
    err = capsys.readouterr().err
    assert f"{victim}: cannot decode image" in err and "Traceback" not in err
    assert _snapshot(out) == before


def test_case03_export_force_replaces_only_what_kerasseg_exported(data_root, tiny_model, tmp_path,
                                                                   capsys):
    # A working folder of the user's (what --out . would be).
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(os.path.join(data_root, "oxford_pets", "images", "Abyssinian_107.jpg"), work)
    (work / "notes.txt").write_text("mine\n")
    before = _snapshot(work)
    export = ["export", "--model", str(tiny_model), "--format", "savedmodel", "--force"]
    assert main([*export, "--out", str(work)]) == 2
    assert (f"{work} holds files that are not a SavedModel (Abyssinian_107.jpg, notes.txt); "
            "--force replaces only a SavedModel") in capsys.readouterr().err
    assert _snapshot(work) == before
    # Onto a file: one line, no traceback.
    assert main([*export, "--out", str(work / "notes.txt")]) == 2
    err = capsys.readouterr().err
    assert f"{work / 'notes.txt'} is a file; a SavedModel is a folder" in err
    assert "Traceback" not in err and _snapshot(work) == before

    # A SavedModel kerasseg wrote is replaced with --force, and only with it.
    saved = tmp_path / "saved"
    assert main([*export[:-1], "--out", str(saved)]) == 0
    assert main([*export[:-1], "--out", str(saved)]) == 2
    assert f"{saved} already exists; pass --force to replace it" in capsys.readouterr().err
    assert main([*export, "--out", str(saved)]) == 0
    assert (saved / "saved_model.pb").exists()

    # TFLite: a model.json beside model.tflite that is not kerasseg's sidecar stays.
    (work / "model.json").write_text('{"my": "settings"}')
    before = _snapshot(work)
    assert main(["export", "--model", str(tiny_model), "--format", "tflite", "--force",
                 "--out", str(work / "model.tflite")]) == 2
    assert (f"--out {work / 'model.json'}: is not a file kerasseg wrote (not a sidecar or "
            "report written at export); --force replaces only those") in capsys.readouterr().err
    assert _snapshot(work) == before


@pytest.mark.train
def test_case04_checkpoints_are_written_atomically_and_a_resume_repairs_them(
        ph2_pairs, tmp_path, monkeypatch, capsys):
    import keras

    from kerasseg.saving import load_keras_model
    from kerasseg.run import completed_epochs

    images, masks = ph2_pairs
    out = tmp_path / "run"
    command = _train_args(images, masks, out, "--epochs", "3")
    real_save, calls, kept = keras.Model.save, [], {}

    def killed_mid_write(model, filepath, *args, **kwargs):
        calls.append(filepath)
        if len(calls) == 3:  # epoch 2's last.keras (epoch 1 wrote last.keras, then best.keras)
            kept["last.keras"] = (out / "last.keras").read_bytes()
            with open(filepath, "wb") as f:
                f.write(b"PK\x03\x04 half a zip")
            raise KeyboardInterrupt  # the kill, halfway through the write
        return real_save(model, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", killed_mid_write)
    assert main(command) == 130   # what Ctrl-C ends with
    assert "interrupted in epoch 2 of" in capsys.readouterr().err
    monkeypatch.undo()
    assert (out / "last.keras").read_bytes() == kept["last.keras"]  # the old file, whole
    assert zipfile.is_zipfile(out / "last.keras") and zipfile.is_zipfile(out / "best.keras")
    assert not [name for name in os.listdir(out) if name.startswith(".tmp-")]
    assert completed_epochs(str(out / "backup")) == 1
    assert "finished" not in json.loads((out / "config.json").read_text())

    # What a kill left with earlier versions (Keras wrote in place): a 0-byte best.keras.
    (out / "best.keras").write_bytes(b"")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(command) == 0
    assert any("best.keras is damaged (0 bytes, not a .keras archive); the resumed run writes it "
               "again" in str(w.message) for w in caught)
    assert "3 epochs (2 in this call)" in capsys.readouterr().out
    for name in ("best.keras", "last.keras"):
        load_keras_model(str(out / name))
    assert json.loads((out / "config.json").read_text())["finished"] is True


@pytest.mark.train
def test_case05_a_second_train_on_the_same_folder_is_refused(ph2_pairs, finished_run, tmp_path,
                                                             capsys):
    images, masks = ph2_pairs
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    before = _snapshot(out)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom kerasseg.run import lock\n"
         f"handle = lock({str(out)!r})\nprint('locked', flush=True)\ntime.sleep(300)\n"],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(_train_args(images, masks, out, "--force")) == 2
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert (f"{out} is in use by another kerasseg train (process {holder.pid}); wait for it to "
            "end or choose another output folder") in err
    assert _snapshot(out) == before
    # The lock dies with its process: no stale lock to clear by hand.
    assert main(_train_args(images, masks, out, "--force")) == 0


@pytest.mark.train
def test_case06_nan_keeps_only_finite_models_and_the_corrected_command_runs(
        ph2_pairs, tmp_path, monkeypatch, capsys):
    import keras

    from kerasseg.data.sources import source
    from kerasseg.models import build_model
    from kerasseg.saving import load_keras_model
    from kerasseg.run import completed_epochs
    from kerasseg.train import NaNLossError, train

    images, masks = ph2_pairs
    # From the command line: the rate explodes in the first epoch; nothing is kept.
    out = tmp_path / "cli"
    assert main(_train_args(images, masks, out, "--learning-rate", "1e30",
                            "--batch-size", "2")) == 2
    err = capsys.readouterr().err
    assert "loss became" in err and "at epoch 1, batch" in err
    assert f"No epoch completed, so {out} keeps nothing of this run" in err
    assert not (out / "config.json").exists()
    # (That the corrected command then runs there: case07, after a crash in epoch 1.)

    # Through the API: epoch 1 completes, then NaN reaches the data in epoch 2.
    def data(split):
        return source("folder", str(images), split, val_fraction=0.25, masks_dir=str(masks),
                      mask_suffix="_mask").dataset(32, batch_size=4)

    def model():
        return build_model("unet", input_shape=(32, 32, 3), filters=4, depth=2)

    run = tmp_path / "api"

    def killed(self, epoch, logs=None):
        raise KeyboardInterrupt  # after the savers: epoch 1 is done

    monkeypatch.setattr(keras.callbacks.TensorBoard, "on_epoch_end", killed)
    with pytest.raises(KeyboardInterrupt):
        train(model, data("train"), data("val"), out_dir=str(run), epochs=3, verbose=0)
    monkeypatch.undo()
    good = {name: (run / name).read_bytes() for name in ("best.keras", "last.keras")}
    poisoned = data("train").map(lambda x, y: (x * float("nan"), y))
    with pytest.raises(NaNLossError, match=r"the loss became nan at epoch 2, batch 1.*keeps "
                                           r"epoch 1, the last finite one.*resumes from it"):
        train(model, poisoned, data("val"), out_dir=str(run), epochs=3, verbose=0)
    for name, content in good.items():
        assert (run / name).read_bytes() == content
        weights = load_keras_model(str(run / name)).get_weights()
        assert all(np.isfinite(w).all() for w in weights)
    assert completed_epochs(str(run / "backup")) == 1  # the resume state survived
    assert len((run / "log.csv").read_text().splitlines()) == 2  # header + epoch 1, no NaN row

    # The corrected command: refused with the way out named, then run with it.
    with pytest.raises(ValueError, match=r"different settings \(learning_rate\).*\(--force\)"):
        train(model, data("train"), data("val"), out_dir=str(run), epochs=3, learning_rate=3e-4,
              verbose=0)
    result = train(model, data("train"), data("val"), out_dir=str(run), epochs=1,
                   learning_rate=3e-4, overwrite=True, verbose=0)
    assert len(result["history"]) == 1 and result["epochs_run"] == 1
    assert not (run / "backup").exists()


@pytest.mark.train
def test_case07_a_failed_start_leaves_nothing_that_blocks_the_corrected_command(
        ph2_pairs, finished_run, tmp_path, monkeypatch, capsys):
    import keras

    images, masks = ph2_pairs
    out = tmp_path / "run"
    # Bad settings fail before the folder exists.
    for extra, words in ((["--loss", "dcie"], "unknown loss 'dcie'"),
                         (["--arg", "num_classes=3"], "outputs 3 channels"),
                         (["--arg", "input_shape=[30,30,3]"], "30")):
        assert main(_train_args(images, masks, out, *extra)) == 2
        assert words in capsys.readouterr().err
        assert not out.exists()

    # A crash in the first epoch: no epoch completed, so no run is left.
    def crash(self, batch, logs=None):
        raise MemoryError("out of memory")

    monkeypatch.setattr(keras.callbacks.TensorBoard, "on_train_batch_end", crash)
    with pytest.raises(MemoryError):
        main(_train_args(images, masks, out))
    monkeypatch.undo()
    assert not out.exists()

    # What a kill in the first epoch leaves (config.json, no completed epoch)
    # does not block the corrected command, with other settings.
    out.mkdir()
    config = json.loads((finished_run / "config.json").read_text())
    del config["finished"]
    config["learning_rate"] = 1.0
    (out / "config.json").write_text(json.dumps(config))
    assert main(_train_args(images, masks, out)) == 0
    assert json.loads((out / "config.json").read_text())["learning_rate"] == 1e-3


# ---------------------------------------------------------------- wrong results reported as success


def test_case08_images_are_read_as_they_display(data_root, tiny_model, tmp_path, capsys):
    from PIL import Image

    from kerasseg import litert
    from kerasseg.data.records import read_image

    photo = os.path.join(data_root, "oxford_pets", "images", "Abyssinian_107.jpg")
    upright = read_image(photo)
    height, width = upright.shape[:2]
    assert height != width

    # A phone photo: pixels stored sideways, EXIF orientation 6 (turn 90 degrees clockwise).
    sideways = tmp_path / "phone.png"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.rot90(upright, 1)).save(sideways, exif=exif)
    for reader in (read_image, litert.read_image):  # training/evaluation/predict, LiteRT runner
        np.testing.assert_array_equal(reader(str(sideways)), upright)

    # A 16-bit gray PNG (no real copy holds one): Pillow's RGB conversion made it all white.
    gray = np.asarray(Image.open(photo).convert("L"))
    deep = tmp_path / "deep.png"
    Image.fromarray((gray.astype(np.uint16) * 257)).save(deep)
    assert Image.open(deep).mode.startswith("I")
    for reader in (read_image, litert.read_image):
        np.testing.assert_array_equal(reader(str(deep)), np.repeat(gray[..., None], 3, axis=-1))

    # predict writes the phone photo's mask upright, at its displayed size.
    out = tmp_path / "out"
    assert main(["predict", str(sideways), "--model", str(tiny_model), "--out", str(out)]) == 0
    assert "wrote 1 masks" in capsys.readouterr().out
    assert Image.open(out / "phone_mask.png").size == (width, height)
    assert Image.open(sideways).size == (height, width)  # the file itself is left as it is


@pytest.mark.train
def test_case09_nonsense_is_refused_or_flagged(ph2_pairs, tmp_path, capsys):
    from kerasseg import unet

    images, masks = ph2_pairs
    data = ["--dataset", "folder", "--data-dir", str(images), "--masks-dir", str(masks),
            "--mask-suffix", "_mask", "--split", "all"]
    report = tmp_path / "report.json"

    three = tmp_path / "three.keras"
    unet((64, 64, 3), num_classes=3, filters=4, depth=2).save(three)
    assert main(["evaluate", "--model", str(three), *data, "--report", str(report)]) == 2
    assert (f"{three} predicts 3 classes but these masks hold only 0, 1"
            in capsys.readouterr().err)

    broken = unet((64, 64, 3), filters=4, depth=2)
    kernel = broken.layers[1].weights[0]
    kernel.assign(np.full(kernel.shape, np.nan, np.float32))
    broken.save(tmp_path / "nan.keras")
    assert main(["evaluate", "--model", str(tmp_path / "nan.keras"), *data]) == 2
    assert f"weights of layer {broken.layers[1].name} are NaN or infinite; the model is broken" \
        in capsys.readouterr().err

    # Any segmenter (a .tflite file too) whose output is NaN: refused, not scored as background.
    from kerasseg.data.sources import source
    from kerasseg.evaluate import evaluate
    from kerasseg.segmenter import Segmenter

    class Diverged(Segmenter):
        name = "diverged.tflite"

        def probabilities(self, images):
            return np.full((*images.shape[:3], 1), np.nan, np.float32)

    folder = source("folder", str(images), "all", masks_dir=str(masks), mask_suffix="_mask")
    with pytest.raises(ValueError, match=r"diverged.tflite outputs NaN or infinite values for "
                                         r".*IMD\d+\.\w+: its weights are broken"):
        evaluate(Diverged(), folder.records[:2], folder.mask_reader, progress=False)

    for value in ("2", "-1", "nan"):
        with pytest.raises(SystemExit) as stop:
            main(["evaluate", "--model", "classic:otsu", *data, "--threshold", value])
        assert stop.value.code == 2
        assert (f"--threshold: expected a probability between 0 and 1 (exclusive), got {value}"
                in capsys.readouterr().err)
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", "--model", "classic:otsu", *data, "--val-fraction", "-0.5"])
    assert stop.value.code == 2
    assert "--val-fraction: expected a share from 0 up to (not including) 1, got -0.5" in \
        capsys.readouterr().err
    assert not report.exists()

    # A run whose loss exploded finishes, but says so and exits 1.
    out = tmp_path / "run"
    assert main(_train_args(images, masks, out, "--learning-rate", "1000", "--schedule",
                            "constant", "--batch-size", "2", "--epochs", "2")) == 1
    assert "kerasseg train: warning: the run diverged: the training loss of its last epoch is" \
        in capsys.readouterr().err
    assert json.loads((out / "config.json").read_text())["diverged"] is True


def test_case10_data_check_reports_masks_without_foreground(data_root, tmp_path, capsys):
    pets = os.path.join(data_root, "oxford_pets")
    root = tmp_path / "oxford_pets"
    (root / "annotations" / "trimaps").mkdir(parents=True)
    (root / "images").mkdir()
    # Abyssinian_34: the real copy's trimap has no pet at all; Abyssinian_107 is a normal one.
    for name in ("Abyssinian_34", "Abyssinian_107"):
        shutil.copy(os.path.join(pets, "images", f"{name}.jpg"), root / "images")
        shutil.copy(os.path.join(pets, "annotations", "trimaps", f"{name}.png"),
                    root / "annotations" / "trimaps")
    before = _snapshot(root)
    report = tmp_path / "check.json"
    assert main(["data", "check", str(root), "--dataset", "oxford_pets",
                 "--report", str(report)]) == 1
    out = capsys.readouterr().out
    assert "problems     1" in out
    assert "Abyssinian_34.png: no foreground (every pixel is background)" in out
    assert "Abyssinian_107" not in out
    found = json.loads(report.read_text())
    assert [os.path.basename(p) for p in found["no_foreground"]] == ["Abyssinian_34.png"]
    assert _snapshot(root) == before


# ---------------------------------------------------------------- messages


@pytest.mark.train
def test_case11_one_sentence_instead_of_a_traceback(ph2_pairs, tiny_model, tmp_path, capsys):
    images, masks = ph2_pairs
    photo = str(images / sorted(os.listdir(images))[0])

    # predict --out that is a file, or a folder that takes no file.
    taken = tmp_path / "taken.txt"
    taken.write_text("mine\n")
    assert main(["predict", photo, "--model", str(tiny_model), "--out", str(taken)]) == 2
    err = capsys.readouterr().err
    assert f"--out {taken}: is a file, not a folder" in err and "Traceback" not in err
    assert taken.read_text() == "mine\n"
    try:  # /sys takes no file, even from root (chmod would not stop root)
        with tempfile.TemporaryFile(dir="/sys"):
            unwritable = None
    except OSError as error:
        unwritable = error.strerror
    if unwritable:
        assert main(["predict", photo, "--model", str(tiny_model), "--out", "/sys"]) == 2
        assert f"--out /sys: cannot write there ({unwritable})" in capsys.readouterr().err

    # --arg of the wrong type.
    out = tmp_path / "run"
    args = _train_args(images, masks, out)
    args[args.index("filters=4")] = "filters=abc"
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--model unet cannot be built with --arg filters='abc' --arg depth=2:" in err
    assert "Traceback" not in err and not out.exists()

    # An image that cannot be decoded, met while reading the training data.
    broken = tmp_path / "broken"
    shutil.copytree(images, broken)
    victim = broken / sorted(os.listdir(broken))[-1]
    victim.write_bytes(victim.read_bytes()[:200])  # a copy cut short
    assert main(_train_args(broken, masks, out)) == 2
    err = capsys.readouterr().err
    assert f"kerasseg train: error: {victim}: cannot decode image" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()

    # export --format savedmodel --force onto a file.
    assert main(["export", "--model", str(tiny_model), "--format", "savedmodel", "--force",
                 "--out", str(taken)]) == 2
    err = capsys.readouterr().err
    assert f"{taken} is a file; a SavedModel is a folder: choose another --out" in err
    assert taken.read_text() == "mine\n"


def test_case12_messages_say_what_is_wrong(ph2_pairs, tiny_model, tmp_path, capsys):
    from kerasseg import unet

    images, masks = ph2_pairs
    photo = str(images / sorted(os.listdir(images))[0])

    # A .keras file cut short (no real copy is): not "File not found".
    cut = tmp_path / "cut.keras"
    cut.write_bytes(tiny_model.read_bytes()[:1000])
    assert main(["predict", photo, "--model", str(cut), "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert (f"{cut}: could not be loaded as a Keras model: it is not a .keras archive (1000 "
            "bytes, no zip directory), e.g. cut short by an interrupted save or copy") in err
    assert "File not found" not in err
    assert not (tmp_path / "p").exists()  # nothing created for a command that could not run

    # A strategy that drops the last partial batch, with fewer images than a batch.
    out = tmp_path / "run"
    assert main(_train_args(images, masks, out, "--strategy", "mirrored",
                            "--batch-size", "16")) == 2
    err = capsys.readouterr().err
    assert ("the train split has 6 images, fewer than one batch of 16; --strategy mirrored drops "
            "a last partial batch") in err and "is empty" not in err
    assert not out.exists()

    # SavedModel export of a model without a fixed size: no word of TFLite.
    free = tmp_path / "free.keras"
    unet((None, None, 3), filters=4, depth=2).save(free)
    assert main(["export", "--model", str(free), "--format", "savedmodel",
                 "--out", str(tmp_path / "saved")]) == 2
    err = capsys.readouterr().err
    assert "SavedModel export (its serving signature resizes to it) needs one" in err
    assert "TFLite" not in err

    # A local folder named like a zoo model: the zoo model is loaded, and the user told.
    work = tmp_path / "work"
    (work / "ph2-mobile").mkdir(parents=True)
    (work / "ph2-mobile" / "best.keras").write_bytes(tiny_model.read_bytes())
    done = subprocess.run([sys.executable, "-c", "import sys\nfrom kerasseg.cli import main\n"
                           "sys.exit(main())", "predict", photo, "--model", "ph2-mobile",
                           "--out", "masks"], cwd=work, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=REPO))
    assert done.returncode == 0, done.stderr[-2000:]
    assert ("kerasseg predict: warning: --model ph2-mobile: loading the zoo model ph2-mobile; "
            "the local folder ph2-mobile of the same name is not a .keras model file; for the "
            f"run in that folder give {os.path.join('ph2-mobile', 'best.keras')}") in done.stderr
    assert (work / "ph2-mobile" / "best.keras").read_bytes() == tiny_model.read_bytes()


def test_case13_evaluate_checks_outputs_and_options_before_the_work(ph2_pairs, tmp_path, capsys,
                                                                    monkeypatch):
    from kerasseg import evaluate

    def never(*args, **kwargs):
        raise AssertionError("the evaluation ran before the check")

    monkeypatch.setattr(evaluate, "evaluate", never)
    images, masks = ph2_pairs
    data = ["--model", "classic:otsu", "--dataset", "folder", "--data-dir", str(images),
            "--masks-dir", str(masks), "--mask-suffix", "_mask", "--split", "all"]
    missing = tmp_path / "missing"
    for option in ("--report", "--plot"):
        target = missing / "out.file"
        assert main(["evaluate", *data, option, str(target)]) == 2
        assert (f"{option} {target}: the folder {missing} does not exist"
                in capsys.readouterr().err)
    assert main(["evaluate", *data, "--report", str(tmp_path)]) == 2
    assert f"--report {tmp_path}: is a folder; give a file name" in capsys.readouterr().err
    assert main(["evaluate", *data, "--instances"]) == 2
    assert ("--instances needs instance ids (several people per image, one id each): folder "
            "has none; datasets with them: pennfudan" in capsys.readouterr().err)
    # Instances are scored without flipped copies: --tta beside them is refused, not ignored.
    assert main(["evaluate", *data, "--instances", "--tta"]) == 2
    assert "--tta and --instances: instances are scored without flipped" in \
        capsys.readouterr().err
    # data check reads the whole dataset: its --report is checked before that too.
    monkeypatch.setattr("kerasseg.data.check.check", never)
    assert main(["data", "check", str(images), "--dataset", "folder", "--masks", str(masks),
                 "--mask-suffix", "_mask", "--report", str(missing / "check.json")]) == 2
    assert f"--report {missing / 'check.json'}: the folder {missing} does not exist" in \
        capsys.readouterr().err
    assert not missing.exists()


def test_case14_export_takes_a_folder_dataset_for_calibration(ph2_pairs, tiny_model, tmp_path,
                                                               capsys):
    images, masks = ph2_pairs
    before = _snapshot(images.parent)
    out = tmp_path / "tiny_int8.tflite"
    assert main(["export", "--model", str(tiny_model), "--format", "tflite", "--quantize", "int8",
                 "--representative-data", "folder:train", "--data-dir", str(images),
                 "--masks-dir", str(masks), "--mask-suffix", "_mask", "--samples", "4",
                 "--out", str(out)]) == 0
    assert "on 2 folder:val images: mask agreement" in capsys.readouterr().out
    report = json.loads((tmp_path / "tiny_int8.report.json").read_text())
    assert report["quantize"] == "int8" and report["fidelity"]["data"] == "folder:val"
    assert _snapshot(images.parent) == before


def test_case15_tensorflow_start_up_noise_stays_out_of_the_output(ph2_pairs, tiny_model, tmp_path,
                                                                  monkeypatch, capsys):
    import re

    images, _ = ph2_pairs
    photo = str(images / sorted(os.listdir(images))[0])
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-m", "kerasseg.cli", "predict", photo, "--model",
                           str(tiny_model), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "wrote 1 masks" in done.stdout
    for noise in ("cuInit", "cudart_stub", "absl::InitializeLog", "cpu_feature_guard",
                  "rebuild TensorFlow"):
        assert noise not in done.stderr, done.stderr
    assert not re.search(r"^[IWEF]\d{4} ", done.stderr, re.MULTILINE), done.stderr

    # A level the user chose is theirs.
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    assert main(["zoo", "list"]) == 0
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    assert "ph2-mobile" in capsys.readouterr().out


# ---------------------------------------------------------------- round two


def test_case16_evaluate_replaces_no_file_it_did_not_write(ph2_pairs, tiny_model, tmp_path,
                                                           capsys):
    images, masks = ph2_pairs
    work = tmp_path / "work"
    work.mkdir()
    model = work / "m2.keras"
    shutil.copy(tiny_model, model)
    photo = work / "photo.png"
    shutil.copy(images / sorted(os.listdir(images))[0], photo)
    before = _snapshot(work)
    data = ["--model", str(model), "--dataset", "folder", "--data-dir", str(images),
            "--masks-dir", str(masks), "--mask-suffix", "_mask", "--split", "all"]
    # The model being evaluated, and a photo: refused with or without --force, before any work.
    for extra in ([], ["--force"]):
        assert main(["evaluate", *data, "--report", str(model), *extra]) == 2
        err = capsys.readouterr().err
        assert f"--report {model}:" in err and "Traceback" not in err
        assert main(["evaluate", *data, "--plot", str(photo), *extra]) == 2
        assert f"--plot {photo}:" in capsys.readouterr().err
    assert "is not a file kerasseg wrote (a PNG that kerasseg did not write)" in (
        main(["evaluate", *data, "--plot", str(photo), "--force"]) == 2 and
        capsys.readouterr().err)
    assert _snapshot(work) == before
    # What evaluate wrote is replaced with --force, and only with it.
    report, plot = work / "report.json", work / "dice.png"
    assert main(["evaluate", *data, "--report", str(report), "--plot", str(plot)]) == 0
    written = _snapshot(work)
    assert main(["evaluate", *data, "--report", str(report)]) == 2
    assert "already exists; kerasseg replaces no file without --force" in capsys.readouterr().err
    assert _snapshot(work) == written
    assert main(["evaluate", *data, "--report", str(report), "--plot", str(plot),
                 "--force"]) == 0
    assert json.loads(report.read_text())["format"] == "kerasseg-evaluation"
    # data check's report follows the same rule.
    assert main(["data", "check", str(images), "--dataset", "folder", "--masks-dir", str(masks),
                 "--mask-suffix", "_mask", "--report", str(model)]) == 2
    assert _snapshot(work)[os.path.basename(model)] == before[os.path.basename(model)]


def test_case17_ctrl_c_in_train_says_what_was_kept_and_how_to_resume(ph2_pairs, tmp_path):
    import signal
    import time

    images, masks = ph2_pairs
    out = tmp_path / "run"
    args = _train_args(images, masks, out)
    args[args.index("--epochs") + 1] = "40"
    # As from a terminal: SIGINT at its default, so Python turns it into KeyboardInterrupt.
    # (A pytest started in the background by a non-interactive shell has SIGINT ignored,
    # and its children inherit that: the run would go on to its last epoch.)
    started = subprocess.Popen([sys.executable, "-m", "kerasseg.cli", *args], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    log = out / "log.csv"
    deadline = time.time() + 240
    while time.time() < deadline and not (log.exists() and len(log.read_text().splitlines()) >= 3):
        time.sleep(0.2)   # a header and two finished epochs
    started.send_signal(signal.SIGINT)
    _, err = started.communicate(timeout=120)
    assert started.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    import re

    found = re.search(r"kerasseg train: interrupted in epoch (\d+) of 40: (\S+) keeps epoch (\d+)",
                      err)
    assert found and found.group(2) == str(out), err[-3000:]
    kept = int(found.group(3))
    # Epoch `kept` is whole on disk (the log may already hold the interrupted one).
    assert int(found.group(1)) == kept + 1 and 1 <= kept <= len(log.read_text().splitlines()) - 1
    assert "run the same command to resume from it" in err and f"--out {out}" in err
    assert not (out / ".lock").exists()
    assert {"last.keras", "config.json", "log.csv"} <= set(os.listdir(out))


def test_case17_ctrl_c_elsewhere_is_a_sentence_and_leaves_whole_files(
        ph2_pairs, tiny_model, tmp_path, monkeypatch, capsys):
    from kerasseg import outputs

    images, masks = ph2_pairs
    calls = []
    real = outputs.write_bytes

    def interrupted_on_the_second(path, data):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(path, data)

    monkeypatch.setattr(outputs, "write_bytes", interrupted_on_the_second)
    out = tmp_path / "out"
    assert main(["predict", str(images), "--model", str(tiny_model), "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "kerasseg predict: interrupted; every file already written is whole" in err
    assert "Traceback" not in err
    # The first mask is whole; the interrupted overlay was never put in place.
    assert os.listdir(out) == [os.path.basename(calls[0])]


def test_case18_on_error_skip_trains_and_scores_the_rest_and_names_what_it_left_out(
        ph2_pairs, tmp_path, capsys):
    images, masks = ph2_pairs
    broken = tmp_path / "images"
    shutil.copytree(images, broken)
    victim = broken / sorted(os.listdir(broken))[0]
    victim.write_bytes(b"")   # a 0-byte file among real photos
    out = tmp_path / "run"
    assert main(_train_args(broken, masks, out)) == 2
    assert f"{victim}: cannot decode image" in capsys.readouterr().err and not out.exists()
    assert main(_train_args(broken, masks, out, "--on-error", "skip", "--train-split",
                            "all", "--val-split", "none")) == 0
    err = capsys.readouterr().err
    assert f"skipped 1 unreadable pairs (listed in {out}/config.json), e.g. {victim}" in err
    config = json.loads((out / "config.json").read_text())
    assert [item["image"] for item in config["skipped"]["train"]] == [str(victim)]
    assert config["train_images"] == 8   # found; 7 of them trained on
    assert len(config["skipped"]["val"]) == 0

    report = tmp_path / "report.json"
    data = ["--model", "classic:otsu", "--dataset", "folder", "--data-dir", str(broken),
            "--masks-dir", str(masks), "--mask-suffix", "_mask", "--split", "all"]
    assert main(["evaluate", *data]) == 2
    assert f"{victim}: cannot decode image" in capsys.readouterr().err
    assert main(["evaluate", *data, "--on-error", "skip", "--report", str(report)]) == 0
    assert "Means over 7 of 8 images: 1 unreadable and skipped" in capsys.readouterr().out
    written = json.loads(report.read_text())
    assert written["images"] == 7 and written["images_found"] == 8
    assert [item["image"] for item in written["skipped"]] == [str(victim)]


def test_case19_an_absurd_image_size_is_refused_with_the_limit(ph2_pairs, tiny_model, tmp_path,
                                                               capsys):
    images, masks = ph2_pairs
    commands = [
        ["evaluate", "--model", "classic:otsu", "--dataset", "folder", "--data-dir", str(images),
         "--masks-dir", str(masks), "--mask-suffix", "_mask"],
        ["predict", str(images), "--model", "classic:otsu", "--out", str(tmp_path / "out")],
        _train_args(images, masks, tmp_path / "run")]
    for command in commands:
        with pytest.raises(SystemExit) as stopped:
            main([*command, "--image-size", "100000"])
        assert stopped.value.code == 2
        assert ("--image-size: 100000: sizes run from 1 to 4096 pixels a side"
                in capsys.readouterr().err)
    assert not (tmp_path / "out").exists() and not (tmp_path / "run").exists()
    from kerasseg.segmenter import load

    with pytest.raises(ValueError, match="image_size 100000: sizes run from 1 to 4096"):
        load("classic:otsu", image_size=100000)


def test_case20_the_masks_folder_option_has_one_name_everywhere(ph2_pairs, capsys):
    images, masks = ph2_pairs
    for option in ("--masks-dir", "--masks"):   # the old name stays as an alias
        assert main(["data", "check", str(images), "--dataset", "folder", option, str(masks),
                     "--mask-suffix", "_mask"]) == 0
        assert "pairs        8 found, 8 readable" in capsys.readouterr().out
