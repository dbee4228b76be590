"""How far the instance heads see: head dilations (1, 2) against (1, 2, 4, 8), heads alone.

Trains the heads of the same instance model twice on the same data for the same epochs,
through `kerasseg.train.train_on_dataset` as `kerasseg train --task instances --init-from person
--freeze-semantic --head-dilations D,D,...` does: the semantic model (`person`) frozen, so only
the heads differ. Scores
each run's last epoch on Penn-Fudan's validation split, each person its own mask (COCO mask
AP, AP50, AP75, PQ), as `kerasseg evaluate --instances` does.

Usage: python benchmarks/instance_heads.py [--data DIR] [--size 160] [--epochs 20]
At 160x160 for 20 epochs on 2 CPU cores (AMD EPYC) the two runs took 5.5 and 7.7 minutes.
"""

import argparse
import os

DILATIONS = ((1, 2), (1, 2, 4, 8))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("KERASSEG_DATA", "../shared/data"))
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default="runs/instance-heads", help="where the runs go")
    args = parser.parse_args()

    import time

    from kerasseg.data.sources import source
    from kerasseg.evaluate import evaluate_instances
    from kerasseg.saving import load_keras_model
    from kerasseg.segmenter import KerasSegmenter
    from kerasseg.train import train_on_dataset

    val = source("pennfudan", args.data, "val", mode="instances")
    rows = []
    for dilations in DILATIONS:
        out = os.path.join(args.out, "dilations-" + "-".join(map(str, dilations)))
        start = time.perf_counter()
        train_on_dataset("unet", "pennfudan", args.data, out_dir=out,
                         model_args={"backbone": "efficientnet_lite0", "depth": 4},
                         image_size=args.size, epochs=args.epochs, batch_size=8,
                         learning_rate=3e-3, task="instances", init_from="person",
                         freeze_semantic=True, copy_paste=0.5, head_dilations=dilations,
                         verbose=0)
        minutes = (time.perf_counter() - start) / 60
        model = load_keras_model(os.path.join(out, "last.keras"))
        scores = evaluate_instances(KerasSegmenter(model), val.records, val.mask_reader,
                                    progress=False)
        row = [str(dilations)] + [f"{scores[k]:.3f}" for k in ("ap", "ap50", "ap75", "pq")]
        rows.append(row + [f"{minutes:.1f}"])
        print(f"dilations {dilations}: AP {row[1]}, AP50 {row[2]}, PQ {row[4]} "
              f"({minutes:.1f} min)", flush=True)
    print(f"\npennfudan, {args.size}x{args.size}, {args.epochs} epochs, heads alone on the "
          "frozen `person` (--freeze-semantic), lr 3e-3 (cosine), batch 8, --copy-paste 0.5; "
          f"Penn-Fudan val ({len(val.records)} photos), each person its own mask\n")
    print("| head dilations | AP | AP50 | AP75 | PQ | training minutes |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
