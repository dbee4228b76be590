"""Training images/s of one model on each Keras backend installed, float32 and mixed_bfloat16.

The same U-Net (the `person` zoo model's architecture: EfficientNet-Lite0 encoder cut at
stride 16, no pretrained weights needed for timing), batch and image size on every backend,
each backend in its own process (Keras picks it at import), fed from arrays in memory so the
input pipeline does not enter the number. The epoch that compiles is not timed. Each row
names the device (the CPU's model, or the GPU's name).

Usage: python benchmarks/backend_speed.py [--size 224] [--batch 16] [--steps 20]
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys

_ONE = r"""
import json, sys, time
import numpy as np
import keras
from kerasseg import losses
from kerasseg.models import build_model
from kerasseg.train import device_description

size, batch, steps, precision = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
keras.config.set_dtype_policy(precision)
keras.utils.set_random_seed(0)
model = build_model("unet", input_shape=(size, size, 3), num_classes=1, depth=4,
                    backbone="efficientnet_lite0")
model.compile(optimizer="adam", loss=losses.get("bce+dice"),
              jit_compile=True if keras.backend.backend() == "jax" else "auto")
rng = np.random.default_rng(0)
images = rng.random((batch * steps, size, size, 3), dtype=np.float32)
masks = (rng.random((batch * steps, size, size, 1)) > 0.5).astype(np.float32)
model.fit(images[:batch * 2], masks[:batch * 2], batch_size=batch, epochs=1, verbose=0)
start = time.perf_counter()
model.fit(images, masks, batch_size=batch, epochs=1, verbose=0)
seconds = time.perf_counter() - start
print(json.dumps({"images_per_s": batch * steps / seconds, "device": device_description()}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per row")
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    args = parser.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    print(f"U-Net (EfficientNet-Lite0 encoder, depth 4), {args.size}x{args.size}, "
          f"batch {args.batch}, {args.steps} timed steps, arrays in memory\n")
    print("| backend | precision | device | images/s |\n|---|---|---|---|")
    for backend in args.backends.split(","):
        if importlib.util.find_spec(backend) is None:
            print(f"| {backend} | - | - | not installed |")
            continue
        for precision in ("float32", "mixed_bfloat16"):
            env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
            done = subprocess.run([sys.executable, "-c", _ONE, str(args.size), str(args.batch),
                                   str(args.steps), precision], capture_output=True, text=True,
                                  cwd=repo, env=env)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["failed"])[-1]
                print(f"| {backend} | {precision} | - | failed: {last[:120]} |")
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"| {backend} | {precision} | {row['device']} | {row['images_per_s']:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
