"""People one by one: instance models against `person`'s connected components, per dataset.

Scores each model's instances on the validation photos of the person mixture (CCP and the
portraits: one person each; Penn-Fudan: pedestrians, often touching) with COCO's mask AP,
AP50 and panoptic quality PQ, as `kerasseg evaluate --instances` does. A semantic model is
scored on the connected components of its mask, an instance model on its own instances, so
the table says whether an instance model beats what a user gets from `person` alone: the
zoo's bar for a `person-instances`.

Usage: python benchmarks/instances_vs_components.py [--data DIR] [--models MODEL ...]
About 4 minutes a model on 2 CPU cores (446 photos at their own size).
"""

import argparse
import os

DATASET = "ccp+pennfudan:4+portraits"
PARTS = ("pennfudan", "ccp", "portraits")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("KERASSEG_DATA", "../shared/data"))
    parser.add_argument("--models", nargs="+", default=["person"],
                        help="zoo names or .keras/.tflite files (default: person)")
    args = parser.parse_args()

    from kerasseg.evaluate import evaluate_dataset

    rows = []
    for model in args.models:
        found = evaluate_dataset(model, DATASET, args.data, split="val", instances=True,
                                 progress=False)["instances"]
        parts = found["per_dataset"]
        rows.append([model, found["method"].split(" of ")[0].replace("the ", ""),
                     *(f"{found[k]:.3f}" for k in ("ap", "ap50", "pq")),
                     *(f"{parts[p]['ap']:.3f} / {parts[p]['pq']:.3f}" for p in PARTS)])
        print(f"{model}: mask AP {found['ap']:.3f}, AP50 {found['ap50']:.3f}, PQ "
              f"{found['pq']:.3f} on {found['images']} photos", flush=True)
    print(f"\n{DATASET}, val: mask AP, AP50 and PQ over all photos; AP / PQ per dataset\n")
    print("| model | instances from | AP | AP50 | PQ | "
          + " | ".join(f"{p} AP / PQ" for p in PARTS) + " |")
    print("|---" * (5 + len(PARTS)) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
