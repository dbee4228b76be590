"""People one by one: instance models against `person`'s connected components, per dataset.

Scores each model's instances on the validation photos of the person mixture (CCP and the
portraits: one person each; Penn-Fudan: pedestrians, often touching) with COCO's mask AP,
AP50 and panoptic quality PQ, as `kerasseg evaluate --instances` does. A semantic model is
scored on the connected components of its mask, an instance model on its own instances, so
the table says whether an instance model beats what a user gets from `person` alone: the
zoo's bar for a `person-instances`.

`--foreground-from person` scores each instance model's centres and offsets grouping another
model's mask instead of its own (`kerasseg.instances.model.with_foreground`, as a run trained
with `kerasseg train --foreground-from` does), before any training of that pair.

`--split train --per-dataset 110` scores training photos instead (each photo once, the first
110 of each dataset): what decoding choices are made on, so that the validation photos stay
a measurement.

Usage: python benchmarks/instances_vs_components.py [--data DIR] [--models MODEL ...]
           [--split val] [--per-dataset N] [--foreground-from MODEL]
About 4 minutes a model on 2 CPU cores (446 validation photos at their own size).
"""

import argparse
import collections
import os

DATASET = "ccp+pennfudan:4+portraits"
PARTS = ("pennfudan", "ccp", "portraits")


def photos(records, per_dataset):
    """Each photo once (a mixture's training split repeats a weighted part's records), at
    most `per_dataset` of each dataset (0: all)."""
    seen, kept, count = set(), [], collections.Counter()
    for record in records:
        part = record.meta["dataset"]
        if record.image in seen or (per_dataset and count[part] >= per_dataset):
            continue
        seen.add(record.image)
        count[part] += 1
        kept.append(record)
    return kept


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("KERASSEG_DATA", "../shared/data"))
    parser.add_argument("--models", nargs="+", default=["person"],
                        help="zoo names or .keras/.tflite files (default: person)")
    parser.add_argument("--split", default="val", choices=("train", "val"))
    parser.add_argument("--per-dataset", type=int, default=0,
                        help="at most this many photos of each dataset (default: all)")
    parser.add_argument("--foreground-from", metavar="MODEL",
                        help="a binary semantic model whose mask the instance models group "
                             "(zoo name or .keras file)")
    args = parser.parse_args()
    if args.per_dataset < 0:
        parser.error(f"--per-dataset must be 0 (all) or more, got {args.per_dataset}")

    from kerasseg.data.sources import source
    from kerasseg.evaluate import evaluate_instances
    from kerasseg.segmenter import KerasSegmenter, load

    def loaded(model):
        segmenter = load(model)
        if args.foreground_from is None:
            return segmenter
        from kerasseg.instances.model import with_foreground

        if segmenter.task != "instances" or not hasattr(segmenter, "model"):
            parser.error(f"--foreground-from: {model} is not a Keras instance model")
        return KerasSegmenter(with_foreground(segmenter.model, load(args.foreground_from).model),
                              name=f"{model} grouping {args.foreground_from}")

    split = source(DATASET, args.data, args.split, mode="instances")
    records = photos(split.records, args.per_dataset)
    rows = []
    for model in args.models:
        segmenter = loaded(model)
        found = evaluate_instances(segmenter, records, split.mask_reader, progress=False)
        parts = found["per_dataset"]
        label = segmenter.name if args.foreground_from else model
        rows.append([label, found["method"].split(" of ")[0].replace("the ", ""),
                     *(f"{found[k]:.3f}" for k in ("ap", "ap50", "pq")),
                     *(f"{parts[p]['ap']:.3f} / {parts[p]['pq']:.3f}" for p in PARTS)])
        print(f"{model}: mask AP {found['ap']:.3f}, AP50 {found['ap50']:.3f}, PQ "
              f"{found['pq']:.3f} on {found['images']} photos", flush=True)
    counts = collections.Counter(record.meta["dataset"] for record in records)
    print(f"\n{DATASET}, {args.split} ({', '.join(f'{counts[p]} {p}' for p in PARTS)} photos): "
          "mask AP, AP50 and PQ over all photos; AP / PQ per dataset\n")
    print("| model | instances from | AP | AP50 | PQ | "
          + " | ".join(f"{p} AP / PQ" for p in PARTS) + " |")
    print("|---" * (5 + len(PARTS)) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
