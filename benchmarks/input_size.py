"""A trained model at other input sizes, same weights: does it pay to train at a larger one?

The zoo's models are fully convolutional, so a model trained at 224x224 can be rebuilt at
288x288 or 352x352 and keep its weights. Its scores there (mean per-image IoU and Dice at each
image's own size, as `kerasseg evaluate` measures them, per dataset for a mixture) say how much
a larger input could give before any training at that size: on small, far people it is much of
it. The model is rebuilt from its config with only the input's shape changed.

Usage:
    python benchmarks/input_size.py --model person --dataset ccp+pennfudan:4+portraits \
        --mask-mode person --sizes 224 288 352 [--data DIR] [--split val]
About 0.1-0.3 s an image per size on 2 CPU cores (more at larger sizes).
"""

import argparse
import json
import os


def at_size(model, size):
    """`model` rebuilt for size x size inputs with its weights (a functional Keras model)."""
    config = json.loads(json.dumps(model.get_config()))
    inputs = [layer for layer in config["layers"] if layer["class_name"] == "InputLayer"]
    if len(inputs) != 1:
        raise ValueError(f"{model.name}: expected one input layer, found {len(inputs)}")
    shape = inputs[0]["config"]["batch_shape"]
    inputs[0]["config"]["batch_shape"] = [shape[0], size, size, shape[-1]]
    rebuilt = model.__class__.from_config(config)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a zoo name or a .keras file")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--mask-mode")
    parser.add_argument("--sizes", type=int, nargs="+", required=True)
    parser.add_argument("--data", default=os.environ.get("KERASSEG_DATA", "../shared/data"))
    parser.add_argument("--split", default="val")
    args = parser.parse_args()
    if any(size < 32 or size % 32 for size in args.sizes):
        parser.error(f"--sizes must be multiples of 32 (the encoders' stride), got {args.sizes}")

    from kerasseg import evaluate, segmenter
    from kerasseg.data.sources import source
    from kerasseg.segmenter import KerasSegmenter

    try:
        loaded = segmenter.load(args.model)
    except ValueError as error:
        parser.error(str(error))
    if not isinstance(loaded, KerasSegmenter):
        parser.error(f"--model {args.model}: a zoo name or a .keras file is needed")
    model = loaded.model
    split = source(args.dataset, args.data, args.split, mode=args.mask_mode)
    print(f"{args.model} on {args.dataset} {args.split} ({len(split.records)} images), "
          "same weights at each size: IoU / Dice")
    groups = None
    rows = []
    for size in args.sizes:
        report = evaluate.evaluate(KerasSegmenter(at_size(model, size), name=f"{size}x{size}"),
                                   split.records, split.mask_reader, progress=True)
        parts = report.get("per_group", {})
        groups = groups or sorted(parts)
        rows.append([f"{size}x{size}", f"{report['iou']:.4f} / {report['dice']:.4f}"]
                    + [f"{parts[g]['mean']['iou']:.4f} / {parts[g]['mean']['dice']:.4f}"
                       for g in groups])
    print("| " + " | ".join(["input", "all"] + groups) + " |")
    print("|---" * (2 + len(groups)) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
