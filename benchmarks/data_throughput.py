"""Images/s of each real-data loader at 256x256 with augmentation, first pass and cached,
next to the images/s that training the AI-for-Beginners U-Net (unet_lite) consumes here.

Usage: python benchmarks/data_throughput.py [--data DIR] [--size 256]
Target (issue 3): every cached pipeline at least 5x faster than training consumes.
"""

import argparse
import csv
import os
import shutil
import tempfile
import time

import numpy as np


def _images_per_second(dataset):
    count, start = 0, time.perf_counter()
    for images, _ in dataset:
        count += int(images.shape[0])
    return count, count / (time.perf_counter() - start)


def _mads_tree(manifest, scratch, count):
    """The first `count` rows of the real MADS manifest laid out with generated 512x384 frames
    (the MADS images are not available here); noisy content so PNG decoding costs what a photo's does."""
    from PIL import Image

    base = os.path.join(scratch, "segmentation_full_body_mads_dataset_1192_img")
    os.makedirs(os.path.join(base, "images"))
    os.makedirs(os.path.join(base, "masks"))
    with open(manifest) as f:
        rows = list(csv.DictReader(f))[:count]
    rng = np.random.default_rng(0)
    with open(os.path.join(base, "df.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        frame = rng.integers(0, 256, (384, 512, 3), dtype=np.uint8)
        person = np.zeros((384, 512), np.uint8)
        person[60:360, 200:320] = 255
        Image.fromarray(frame).save(os.path.join(base, row["images"]))
        Image.fromarray(person).save(os.path.join(base, row["masks"]))
    return scratch


def _training_rate(size, batch_size=16, steps=8):
    from kerasseg import losses
    from kerasseg.models import build_preset

    model = build_preset("unet_lite", input_shape=(size, size, 3))
    model.compile(optimizer="adam", loss=losses.get("bce+dice"))
    rng = np.random.default_rng(0)
    images = rng.random((batch_size * steps, size, size, 3), dtype=np.float32)
    masks = (rng.random((batch_size * steps, size, size, 1)) > 0.5).astype(np.uint8)
    model.fit(images[:batch_size], masks[:batch_size], batch_size=batch_size, verbose=0)  # compile
    start = time.perf_counter()
    model.fit(images, masks, batch_size=batch_size, epochs=1, verbose=0)
    return len(images) / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("KERASSEG_DATA", "../shared/data"))
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()

    from kerasseg.data import Augmentation, folder, mads, oxford_pets, pennfudan, ph2

    root = args.data
    penn = os.path.join(root, "pennfudan", "PennFudanPed")
    scratch = tempfile.mkdtemp(prefix="kerasseg-mads-")
    mads_root = _mads_tree(os.path.join(root, "mads", "df.csv"), scratch, count=200)
    loaders = {
        "ph2 (all 160)": lambda **kw: ph2.load(os.path.join(root, "ph2"), "all", args.size, **kw),
        "oxford_pets (all 198)": lambda **kw: oxford_pets.load(
            os.path.join(root, "oxford_pets"), "all", image_size=args.size, **kw),
        "pennfudan (all 136)": lambda **kw: pennfudan.load(root, "all", image_size=args.size, **kw),
        "folder (Penn-Fudan PNGImages + PedMasks)": lambda **kw: folder.load(
            os.path.join(penn, "PNGImages"), os.path.join(penn, "PedMasks"), mask_suffix="_mask",
            image_size=args.size, **kw),
        "mads (200 generated 512x384 frames)": lambda **kw: mads.load(
            mads_root, "all", image_size=args.size, **kw),
    }
    train_rate = _training_rate(args.size)
    print(f"| loader @ {args.size}x{args.size}, augmented, batch 16 | images | first pass img/s "
          f"| cached img/s | cached / training |")
    print("|---|---|---|---|---|")
    for name, make in loaders.items():
        dataset = make(batch_size=16, augment=Augmentation(), shuffle=True)
        count, first = _images_per_second(dataset)
        _, cached = _images_per_second(dataset)
        print(f"| {name} | {count} | {first:.1f} | {cached:.1f} | {cached / train_rate:.1f}x |")
    shutil.rmtree(scratch)
    print(f"\ntraining unet_lite at {args.size}x{args.size}, batch 16, float32, no XLA: "
          f"{train_rate:.1f} images/s")


if __name__ == "__main__":
    main()
