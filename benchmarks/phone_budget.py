"""Which person networks fit the phone budget: int8 size and latency against MediaPipe's.

The budget (issue 20's `person-lite`): a full-int8 file of at most 1.0 MB whose 1-thread LiteRT
latency is at most 1.5x that of MediaPipe's square selfie segmenter (256x256) on the same CPU.
Speed does not depend on the weights, nor does size once no two weight tensors are equal (the
converter stores equal constants once: an untrained network's zero biases and unit batch-norm
statistics made its file 4% smaller than the same network trained). So each candidate is built
untrained, every weight moved by a little noise, converted to full int8 (calibrated on random
images) with the metadata a shipped file carries, and timed against MediaPipe's file with the
two interpreters invoked in turn, one run each, for --runs rounds: both see the same state of
the machine, whose speed can drift by half within minutes.

Usage:
    pip download mediapipe==0.10.14 --no-deps -d wheels/     # once
    python benchmarks/phone_budget.py --mediapipe-wheel 'wheels/mediapipe-0.10.14-*.whl'
"""

import argparse
import os
import tempfile

import numpy as np

from person_vs_mediapipe import in_turn, mediapipe_files

# U-Nets on the ImageNet EfficientNet-Lite0 encoder stopped at stride 16 (717K of its
# parameters): `person`'s network, then slimmer decoders (one convolution a level, bilinear
# upsampling) at smaller inputs; and networks without ImageNet weights.
SLIM = {"backbone": "efficientnet_lite0", "depth": 4, "convs_per_level": 1,
        "upsampling": "bilinear"}
TINY = {"backbone": "tiny", "convs_per_level": 1, "upsampling": "bilinear"}
CANDIDATES = [
    ("person's: lite0, decoder 256..16", 224, {"backbone": "efficientnet_lite0", "depth": 4}),
    ("lite0, slim decoder 8", 160, {**SLIM, "filters": 8}),
    ("lite0, slim decoder 8", 144, {**SLIM, "filters": 8}),
    ("lite0, slim decoder 8", 128, {**SLIM, "filters": 8}),
    ("lite0, slim decoder 6", 128, {**SLIM, "filters": 6}),
    ("lite0, slim decoder 4", 128, {**SLIM, "filters": 4}),
    ("lite0, slim decoder 4", 160, {**SLIM, "filters": 4}),
    ("lite0, slim decoder 4", 192, {**SLIM, "filters": 4}),
    ("tiny encoder (no ImageNet), slim decoder 8", 160, {**TINY, "filters": 8}),
    ("tiny encoder (no ImageNet), slim decoder 8", 128, {**TINY, "filters": 8}),
    ("plain U-Net (no ImageNet), filters 8", 256,
     {"filters": 8, "depth": 4, "convs_per_level": 1, "upsampling": "bilinear"}),
]
BUDGET_BYTES, BUDGET_RATIO = 1.0e6, 1.5


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mediapipe-wheel", help="the mediapipe==0.10.14 wheel (a glob is fine)")
    parser.add_argument("--runs", type=int, default=40, help="rounds of timing (default: 40)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import keras

    from kerasseg import metadata
    from kerasseg.export import convert_tflite
    from kerasseg.litert import cpu_description, ready_interpreter
    from kerasseg.models import build_model

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        mediapipe = ready_interpreter(
            mediapipe_files(args.mediapipe_wheel, scratch)["square 256x256"])
        for label, size, kwargs in CANDIDATES:
            keras.utils.set_random_seed(0)
            model = build_model("unet", input_shape=(size, size, 3), **kwargs)
            noise = np.random.default_rng(1)
            for weight in model.weights:
                weight.assign(weight.numpy() + 1e-3 * noise.standard_normal(weight.shape))
            calibration = np.random.default_rng(0).random((8, size, size, 3), np.float32)
            path = os.path.join(scratch, "candidate.tflite")
            # As shipped: with the metadata MediaPipe reads (labels, image properties).
            data, left_out = metadata.add(convert_tflite(model, "int8", calibration),
                                          ["background", "person"], float_input=False)
            if left_out:
                parser.error(left_out)
            with open(path, "wb") as f:
                f.write(data)
            ours, theirs = in_turn(ready_interpreter(path), mediapipe, args.runs)
            size_bytes = os.path.getsize(path)
            fits = size_bytes <= BUDGET_BYTES and ours / theirs <= BUDGET_RATIO
            rows.append((label, f"{size}x{size}", f"{model.count_params():,}",
                         f"{size_bytes / 1e6:.2f} MB", f"{ours:.1f}", f"{theirs:.1f}",
                         f"{ours / theirs:.2f}x", "yes" if fits else "no"))
            print(f"measured {label} at {size}", flush=True)

    print(f"\nfull int8, LiteRT 1 thread, median of {args.runs} runs in turn with MediaPipe's "
          f"square selfie model, on {cpu_description()}\n")
    print("| network | input | parameters | int8 file | ms | MediaPipe ms | ratio | "
          "in budget |")
    print("|---" * 8 + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
