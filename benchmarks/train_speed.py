"""Training images/s of the AI-for-Beginners U-Net (unet_lite) at 256x256 on PH2, two ways:

1. the lesson's recipe: every training image preloaded into numpy arrays, `model.fit` on the
   arrays, batch 64, no augmentation;
2. kerasseg's pipeline: `kerasseg.data.sources` + tf.data with augmentation (flips, rotations,
   scale, colour jitter), the same batch 64, and kerasseg's default batch 8;

each with XLA off and on, in one run. The epoch that compiles is not timed.

Usage: python benchmarks/train_speed.py [--data DIR] [--size 256] [--epochs 2]
Target (issue 4): kerasseg at least as fast as the lesson's recipe while augmenting.
"""

import argparse
import os
import time

import numpy as np


def _time_fit(model, data, epochs, **fit_args):
    model.fit(data, epochs=1, verbose=0, **fit_args)  # builds and compiles; not timed
    start = time.perf_counter()
    model.fit(data, epochs=epochs, verbose=0, **fit_args)
    return time.perf_counter() - start


def _model(size, jit_compile):
    import keras

    from kerasseg import losses
    from kerasseg.models import build_preset

    keras.utils.set_random_seed(0)
    model = build_preset("unet_lite", input_shape=(size, size, 3))
    model.compile(optimizer="adam", loss=losses.get("bce+dice"), jit_compile=jit_compile)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                       "shared", "data"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per row")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from kerasseg.data.augment import Augmentation
    from kerasseg.data.records import load_pair
    from kerasseg.data.sources import source

    train = source("ph2", args.data, "train")
    count = len(train.records)
    # The lesson's way: decode and resize everything up front into arrays.
    start = time.perf_counter()
    pairs = [load_pair(r, train.mask_reader, (args.size, args.size)) for r in train.records]
    images = np.stack([p[0] for p in pairs]).astype(np.float32) / 255.0
    masks = np.stack([p[1] for p in pairs])[..., None]
    preload = time.perf_counter() - start
    print(f"PH2 train split: {count} images at {args.size}x{args.size}; the lesson's preload "
          f"took {preload:.1f} s (not counted below)\n")

    rows = []
    for jit in (False, True):
        seconds = _time_fit(_model(args.size, jit), images, args.epochs, y=masks, batch_size=64,
                            shuffle=True)
        rows.append(("lesson: numpy arrays, no augmentation", 64, jit, count * args.epochs / seconds))
        for batch in (64, 8):
            data = train.dataset(args.size, batch_size=batch, shuffle=True, augment=Augmentation())
            seconds = _time_fit(_model(args.size, jit), data, args.epochs)
            rows.append(("kerasseg: tf.data + augmentation", batch, jit,
                         count * args.epochs / seconds))

    lesson = {jit: rate for name, batch, jit, rate in rows if name.startswith("lesson")}
    print("| recipe | batch | XLA | images/s | vs lesson (same XLA) |")
    print("|---|---|---|---|---|")
    for name, batch, jit, rate in rows:
        print(f"| {name} | {batch} | {'on' if jit else 'off'} | {rate:.1f} | "
              f"{rate / lesson[jit]:.2f}x |")


if __name__ == "__main__":
    main()
