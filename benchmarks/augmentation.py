"""The augmentation recipe, chosen by measurement: `Augmentation.legacy()` against the default.

Trains the same model on the same data for the same epochs once per recipe (through
`kerasseg.train.train_on_dataset`, as `kerasseg train` does), then scores each run's last epoch
on the validation split of each person dataset apart: CCP (full-body fashion photos),
Penn-Fudan (pedestrians) and the portraits (head and shoulders). Prints per-image IoU at each
image's own size, as `kerasseg evaluate` reports it.

Usage: python benchmarks/augmentation.py [--data DIR] [--size 160] [--epochs 6]
Needs the imagenet extra; at 160x160 an epoch of ccp+pennfudan:4+portraits is about 10 minutes
on 2 CPU cores.
"""

import argparse
import os


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("KERASSEG_DATA", "../shared/data"))
    parser.add_argument("--dataset", default="ccp+pennfudan:4+portraits")
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--out", default="runs/augmentation", help="where the runs go")
    args = parser.parse_args()

    from kerasseg.data.augment import Augmentation
    from kerasseg.evaluate import evaluate_dataset
    from kerasseg.train import train_on_dataset

    sets = ("ccp", "pennfudan", "portraits")
    rows = []
    for name, recipe in (("legacy()", Augmentation.legacy()), ("default", Augmentation())):
        out = os.path.join(args.out, name.strip("()"))
        train_on_dataset("unet", args.dataset, args.data, out_dir=out,
                         model_args={"backbone": "efficientnet_lite0", "weights": "imagenet",
                                     "depth": 4},
                         mask_mode="person", image_size=args.size, epochs=args.epochs,
                         batch_size=8, learning_rate=5e-4, augment=recipe, verbose=0)
        row = [name]
        for dataset in sets:
            report = evaluate_dataset(os.path.join(out, "last.keras"), dataset, args.data,
                                      split="val", mask_mode="person" if dataset == "ccp" else None,
                                      progress=False)
            row.append(f"{report['iou']:.4f}")
            print(f"{name} on {dataset} val: IoU {report['iou']:.4f}", flush=True)
        rows.append(row)
    print(f"\n{args.dataset}, {args.size}x{args.size}, {args.epochs} epochs, U-Net on ImageNet "
          "EfficientNet-Lite0, lr 5e-4 (cosine), batch 8; per-image IoU on each val split\n")
    print("| recipe | " + " | ".join(f"{s} IoU" for s in sets) + " |")
    print("|---" * (1 + len(sets)) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
