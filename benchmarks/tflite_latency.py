"""TFLite size and LiteRT latency per architecture and variant, next to Keras on CPU.

For each architecture (kerasseg's zoo configurations, untrained: size and speed do not depend
on the weights) at 256x256: the file size of each variant (float32, float16, dynamic-range
int8, full int8 calibrated on real PH2 images), the median LiteRT latency over --runs
invocations with 1 and 2 threads, and the median Keras latency (model(x, training=False),
batch 1, float32) on this CPU.

Usage: python benchmarks/tflite_latency.py [--data DIR] [--size 256] [--runs 50]
Targets (issue 5): full int8 <= 0.28x the float32 size and <= 0.4x its 1-thread latency;
float16 <= 0.52x the float32 size.

Latency depends on the CPU (int8 runs several times faster with AVX-512 VNNI than on an
AVX2-only CPU): the table names the CPU, and its last column gives each file's 1-thread
latency as a ratio to the reference, the plain U-Net's full-int8 file, measured in the same run.
"""

import argparse
import os
import statistics
import tempfile
import time

ARCHITECTURES = {
    "unet": ("unet", {"filters": 16}),
    "segnet": ("segnet", {"filters": [16, 32, 64, 128, 128]}),
    "deeplabv3": ("deeplabv3", {"backbone": "mobilenetv2", "aspp_filters": 64}),
    "deeplabv3plus": ("deeplabv3plus", {"backbone": "mobilenetv2", "aspp_filters": 64,
                                        "decoder_filters": 64, "low_level_filters": 24}),
    "unet (EfficientNet-Lite0, depth 4)": ("unet", {"backbone": "efficientnet_lite0", "depth": 4}),
    "deeplabv3plus (EfficientNet-Lite0, depth 4)": (
        "deeplabv3plus", {"backbone": "efficientnet_lite0", "backbone_depth": 4,
                          "aspp_filters": 128, "decoder_filters": 128}),
}
REFERENCE = ("unet", "int8")
VARIANTS = ("none", "float16", "dynamic", "int8")


def _median_ms(function, runs):
    function()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                       "shared", "data"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--only", nargs="*", choices=list(ARCHITECTURES),
                        help="architectures to measure (default: all)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from kerasseg.data.sources import source
    from kerasseg.export import convert_tflite, representative_images
    from kerasseg.litert import cpu_description, latency_ms
    from kerasseg.models import build_model

    calibration = representative_images(source("ph2", args.data, "train"), (args.size, args.size),
                                        count=16)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.only or ARCHITECTURES:
            builder, kwargs = ARCHITECTURES[name]
            model = build_model(builder, input_shape=(args.size, args.size, 3), **kwargs)
            x = calibration[:1]
            keras_ms = _median_ms(lambda: model(x, training=False), args.runs)
            for variant in VARIANTS:
                path = os.path.join(scratch, f"{name}_{variant}.tflite")
                with open(path, "wb") as f:
                    f.write(convert_tflite(model, variant, calibration))
                rows.append((name, variant, model.count_params(), os.path.getsize(path),
                             latency_ms(path, 1, args.runs), latency_ms(path, 2, args.runs),
                             keras_ms))
                print(f"measured {name} {variant}", flush=True)

    print(f"\n{args.size}x{args.size}, batch 1, median of {args.runs} runs on {cpu_description()}; "
          "size and 1-thread ratios against the same architecture's float32 file; the last "
          f"column against {' '.join(REFERENCE)} in this run\n")
    print("| architecture | variant | params | size (MB) | size ratio | LiteRT 1 thread (ms) | "
          "LiteRT 2 threads (ms) | 1-thread ratio | Keras CPU (ms) | vs reference |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = {r[0]: r for r in rows if r[1] == "none"}
    reference = next((r[4] for r in rows if r[:2] == REFERENCE), None)
    for name, variant, params, size, one, two, keras_ms in rows:
        versus = f"{one / reference:.2f}" if reference else "-"
        print(f"| {name} | {variant} | {params:,} | {size / 1e6:.2f} | {size / base[name][3]:.3f} | "
              f"{one:.1f} | {two:.1f} | {one / base[name][4]:.2f} | {keras_ms:.1f} | {versus} |")


if __name__ == "__main__":
    main()
