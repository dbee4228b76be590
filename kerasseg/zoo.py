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
import re

# An installed package holds the zoo as kerasseg/_zoo; a checkout has it at the
# repository root (zoo/, its source of truth).
_PACKAGED_ZOO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_zoo")
_CHECKOUT_ZOO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "zoo")
ZOO_DIR = _PACKAGED_ZOO if os.path.isdir(_PACKAGED_ZOO) else _CHECKOUT_ZOO
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "kerasseg")
NAME_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# An instance model's card keys and how they are shown (kerasseg.instances.InstanceScores).
INSTANCE_SCORES = (("ap", "mask AP"), ("ap50", "AP50"), ("ap75", "AP75"), ("pq", "PQ"))


def names(zoo_dir=None):
    """The zoo's model names, sorted (folders of `zoo_dir` holding a card.json)."""
    zoo_dir = zoo_dir or ZOO_DIR
    if not os.path.isdir(zoo_dir):
        return []
    return sorted(n for n in os.listdir(zoo_dir)
                  if NAME_PATTERN.match(n) and os.path.isfile(os.path.join(zoo_dir, n, "card.json")))


def is_name(text, zoo_dir=None):
    """True if `text` names a model in the zoo."""
    return isinstance(text, str) and bool(NAME_PATTERN.match(text)) and text in names(zoo_dir)


def card(name, zoo_dir=None):
    """The card of a zoo model as a dict; ValueError for an unknown or malformed name."""
    _check_name(name, zoo_dir)
    with open(os.path.join(zoo_dir or ZOO_DIR, name, "card.json")) as f:
        return json.load(f)


def eval_dataset(info):
    """The dataset a card's numbers are measured on: the one it was trained on, unless the
    card names another (`dataset.eval_dataset`: e.g. the one part of a training mixture that
    has what the model is for)."""
    return info["dataset"].get("eval_dataset", info["dataset"]["name"])


def eval_source(info, data_dir, split=None, mode=None):
    """The `kerasseg.data.sources` split a card's numbers are measured on, split as at
    training: `eval_dataset(info)`'s `split` (default: the card's evaluation split), its
    masks read in `mode` (default: the card's mask mode)."""
    from kerasseg.data.sources import source

    data = info["dataset"]
    return source(eval_dataset(info), data_dir, split or data["eval_split"],
                  val_fraction=data["val_fraction"], seed=data["split_seed"],
                  mode=data.get("mask_mode") if mode is None else mode)


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
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
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
    architecture = info["architecture"]
    lines += [
        f"  architecture  {architecture['builder']} {json.dumps(architecture['args'])}"
        + (f", its foreground from {architecture['foreground_from']} (frozen, in the same file)"
           if "foreground_from" in architecture else "") + f", {info['params']:,} parameters",
        f"  input         {info['input']['height']}x{info['input']['width']}: "
        f"{info['input']['preprocessing']}",
        f"  labels        {', '.join(info['labels'])}",
        f"  trained on    {data['name']} {data['train_split']} ({data['train_images']} images)",
        f"  trained with  {info['training']['command']}",
        *_starts(info["training"]),
        f"  scores        on {eval_dataset(info)} {metrics['split']} ({metrics['images']} images): "
        + ", ".join(f"{k} {metrics[k]:.4f}" for k in ("dice", "iou", "accuracy", "sensitivity",
                                                      "specificity", "thresholded_jaccard")
                    if k in metrics)]
    for dataset, scores in metrics.get("per_dataset", {}).items():
        lines.append(f"    {dataset:<12}{scores['images']} images: Dice {scores['dice']:.4f}, "
                     f"IoU {scores['iou']:.4f}")
    if "instances" in info:
        found = info["instances"]
        lines.append(f"  instances     on {eval_dataset(info)} {found['split']} ({found['images']} "
                     f"images, {found['true']} instances): "
                     + ", ".join(f"{label} {found[k]:.4f}" for k, label in INSTANCE_SCORES))
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
        *([f"                {info['instances']['command']}"] if "instances" in info else []),
        f"  weights       {info['weights']['file']} ({info['weights']['bytes'] / 1e6:.2f} MB, "
        f"sha256 {info['weights']['sha256'][:16]}...)"]
    for variant, entry in info.get("tflite", {}).items():
        f = entry["fidelity"]
        lines.append(
            f"  tflite {variant:<8}{entry['file']} ({entry['bytes'] / 1e6:.2f} MB): Dice "
            f"{f['dice_tflite']:.4f}, "
            + (f"mask AP {f['ap_tflite']:.4f}, PQ {f['pq_tflite']:.4f}, " if "ap_tflite" in f
               else "")
            + f"mask agreement with Keras {f['mask_agreement']:.2%}, "
            f"LiteRT {entry['latency_ms']['1']:.1f} ms (1 thread) / "
            f"{entry['latency_ms']['2']:.1f} ms (2) on {entry.get('latency_cpu', 'an unnamed CPU')}")
    return "\n".join(lines)


def _starts(training):
    """One line for each model a card's training started from, the first start last."""
    lines = []
    while "started_from" in training:
        start = training["started_from"]
        training = start.get("training", {})
        lines.append(f"  started from  {start['model']}" + (
            f", trained on {start['dataset']} ({start['train_images']} images) at "
            f"{start['image_size'][0]}x{start['image_size'][1]} with {training['command']}"
            if training else ""))
    return lines


def table(zoo_dir=None):
    """The zoo as a Markdown table, generated from the cards (the README's zoo table)."""
    lines = ["| model | dataset: eval split | input | params | Dice | IoU | int8 TFLite | "
             "int8 Dice | int8 LiteRT, 1 / 2 threads | float16 TFLite |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    cpus = {}   # int8 latency depends on the CPU's vector extensions: each is named
    cards = [card(name, zoo_dir) for name in names(zoo_dir)]
    for info in cards:
        name, metrics = info["name"], info["metrics"]
        lite = info.get("tflite", {})
        cells = [name, f"{eval_dataset(info)}: {metrics['split']} ({metrics['images']} images)",
                 f"{info['input']['height']}x{info['input']['width']}", f"{info['params']:,}",
                 f"{metrics['dice']:.4f}", f"{metrics['iou']:.4f}"]
        if "classes" in metrics:   # multi-class: the mean of the per-class IoUs says more
            cells[-1] += f" (mean class IoU {metrics['classes']['mean_iou']:.4f})"
        if "int8" in lite:
            int8 = lite["int8"]
            cells += [f"{int8['bytes'] / 1e6:.2f} MB", f"{int8['fidelity']['dice_tflite']:.4f}",
                      f"{int8['latency_ms']['1']:.1f} / {int8['latency_ms']['2']:.1f} ms"]
            cpus.setdefault(int8.get("latency_cpu", "an unnamed CPU"), []).append(name)
        else:
            cells += ["-", "-", "-"]
        cells.append(f"{lite['float16']['bytes'] / 1e6:.2f} MB" if "float16" in lite else "-")
        lines.append("| " + " | ".join(cells) + " |")
    grouped = [info for info in cards if "instances" in info]
    if grouped:   # instance models: their instances one by one, which Dice does not see
        lines += ["", "| instance model | dataset: eval split | " + " | ".join(
                      label for _, label in INSTANCE_SCORES) + " | int8 mask AP / PQ |",
                  "|---|---|" + "---|" * (len(INSTANCE_SCORES) + 1)]
        for info in grouped:
            found = info["instances"]
            int8 = info.get("tflite", {}).get("int8", {}).get("fidelity", {})
            lines.append(f"| {info['name']} | {eval_dataset(info)}: {found['split']} "
                         f"({found['images']} images, {found['true']} instances) | "
                         + " | ".join(f"{found[k]:.4f}" for k, _ in INSTANCE_SCORES)
                         + (f" | {int8['ap_tflite']:.4f} / {int8['pq_tflite']:.4f} |"
                            if "ap_tflite" in int8 else " | - |"))
    if len(cpus) == 1:
        lines += ["", f"LiteRT latencies: median of 50 runs on {next(iter(cpus))}."]
    elif cpus:
        lines += ["", "LiteRT latencies: median of 50 runs, " + "; ".join(
            f"on {cpu} for {', '.join(models)}" for cpu, models in cpus.items()) + "."]
    return "\n".join(lines) + "\n"


def write_card(path, info):
    """Writes a card (a dict as `card` returns it) to `path` as JSON."""
    with open(path, "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
