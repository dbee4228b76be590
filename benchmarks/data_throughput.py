"""Images/s of each real-data loader at 256x256 with augmentation, first pass and cached,
next to the images/s that training the AI-for-Beginners U-Net (unet_lite) consumes here.

Usage: python benchmarks/data_throughput.py [--data DIR] [--size 256]
Target (issue 3): every cached pipeline at least 5x faster than training consumes.
"""

import argparse
import os
import time

import numpy as np


def _images_per_second(dataset):
    count, start = 0, time.perf_counter()
    for images, _ in dataset:
        count += int(images.shape[0])
    return count, count / (time.perf_counter() - start)


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

    from kerasseg.data import Augmentation, oxford_pets, pennfudan, ph2

    root = args.data
    loaders = {
        "ph2 (all 160)": lambda **kw: ph2.load(os.path.join(root, "ph2"), "all", args.size, **kw),
        "oxford_pets (all 198)": lambda **kw: oxford_pets.load(
            os.path.join(root, "oxford_pets"), "all", image_size=args.size, **kw),
        "pennfudan (all 136)": lambda **kw: pennfudan.load(root, "all", image_size=args.size, **kw),
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
    print(f"\ntraining unet_lite at {args.size}x{args.size}, batch 16, float32, no XLA: "
          f"{train_rate:.1f} images/s")


if __name__ == "__main__":
    main()
