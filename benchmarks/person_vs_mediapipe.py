"""The zoo's person models against MediaPipe's selfie segmenter on the same images.

MediaPipe's models ship as .tflite files inside the mediapipe==0.10.14 wheel
(mediapipe/modules/selfie_segmentation/: RGB float32 in [0, 1], 256x256 square and 144x256
landscape, one person-probability channel). This script reads them straight from the wheel (or
from an installed mediapipe package that has them) and runs them with LiteRT, as it runs the zoo
model's own .tflite files: same images (the validation splits of CCP, Penn-Fudan and the portraits,
which no zoo model trained on), same scoring (mean per-image IoU and Dice at each image's own size,
foreground above 0.5), same interpreter, latency in the same run on the same CPU; the last column
times each file in turn with MediaPipe's square model (one invoke each, alternately), so that the
ratio holds while the machine's speed drifts.

Usage:
    pip download mediapipe==0.10.14 --no-deps -d wheels/     # once
    python benchmarks/person_vs_mediapipe.py --mediapipe-wheel wheels/mediapipe-0.10.14-*.whl \
        [--models person person-lite]      # default: every binary person model of the zoo
Targets (issue 20): person's IoU above MediaPipe's on every set, >= 0.96 on the portraits, >= 0.93
on CCP and >= 0.80 on Penn-Fudan; person-lite: IoU above MediaPipe's on every set, an int8 file
<= 1.0 MB, 1-thread int8 latency <= 1.5x MediaPipe's square model's.
"""

import argparse
import glob
import importlib.util
import os
import statistics
import tempfile
import time
import zipfile

import numpy as np

from kerasseg.segmenter import Segmenter

SETS = {"ccp": "CCP", "pennfudan": "Penn-Fudan", "portraits": "portraits"}
MEDIAPIPE_MODELS = {"square 256x256": "selfie_segmentation.tflite",
                    "landscape 144x256": "selfie_segmentation_landscape.tflite"}


class _MediaPipeSelfie(Segmenter):
    """The selfie segmenter's .tflite through LiteRT: float RGB in [0, 1], person probability out."""

    def __init__(self, path, num_threads=1):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=path, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self.entry = self.interpreter.get_input_details()[0]
        self.exit = self.interpreter.get_output_details()[0]
        self.input_size = tuple(int(v) for v in self.entry["shape"][1:3])
        self.num_classes, self.name = 1, os.path.basename(path)

    def probabilities(self, images):
        outputs = []
        for image in images:
            self.interpreter.set_tensor(self.entry["index"], image[None].astype(np.float32))
            self.interpreter.invoke()
            outputs.append(self.interpreter.get_tensor(self.exit["index"])[0])
        return np.stack(outputs)


def in_turn(first, second, runs):
    """Median milliseconds of each interpreter's invoke(), the two run alternately."""
    times = ([], [])
    for _ in range(runs):
        for interpreter, found in zip((first, second), times):
            start = time.perf_counter()
            interpreter.invoke()
            found.append(time.perf_counter() - start)
    return tuple(1000 * statistics.median(found) for found in times)


def mediapipe_files(wheel_pattern, scratch):
    """{label: path} of MediaPipe's selfie models: from the wheel `wheel_pattern` (a glob; its
    files are extracted into `scratch`), else from an installed mediapipe package."""
    member = "mediapipe/modules/selfie_segmentation/"
    if wheel_pattern:
        matches = sorted(glob.glob(wheel_pattern))
        if not matches:
            raise SystemExit(f"no file matches {wheel_pattern}")
        wheel = matches[-1]
        found = {}
        with zipfile.ZipFile(wheel) as archive:
            for label, name in MEDIAPIPE_MODELS.items():
                found[label] = archive.extract(member + name, scratch)
        return found
    spec = importlib.util.find_spec("mediapipe")
    if spec is None:
        raise SystemExit("MediaPipe's model not found: pass --mediapipe-wheel (pip download "
                         "mediapipe==0.10.14 --no-deps -d DIR) or pip install mediapipe==0.10.14")
    base = os.path.join(os.path.dirname(spec.origin), "modules", "selfie_segmentation")
    return {label: os.path.join(base, name) for label, name in MEDIAPIPE_MODELS.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                       "shared", "data"))
    parser.add_argument("--mediapipe-wheel", help="the mediapipe==0.10.14 wheel (a glob is fine)")
    parser.add_argument("--models", nargs="+",
                        help="zoo models to measure (default: every binary zoo model whose "
                             "foreground is a person)")
    parser.add_argument("--split", default="val", help="split of each dataset (default: val)")
    parser.add_argument("--runs", type=int, default=50, help="latency runs (default: 50)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from kerasseg import zoo
    from kerasseg.data.sources import source
    from kerasseg.evaluate import evaluate
    from kerasseg.litert import TFLiteSegmenter, cpu_description, latency_ms, ready_interpreter
    from kerasseg.segmenter import KerasSegmenter

    models = args.models or [name for name in zoo.names()
                             if zoo.card(name)["labels"] == ["background", "person"]]
    card = zoo.card(models[0])  # the zoo's person models share one split
    datasets = {name: source(name, args.data, args.split,
                             val_fraction=card["dataset"]["val_fraction"],
                             seed=card["dataset"]["split_seed"],
                             mode="person" if name == "ccp" else None) for name in SETS}
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        files = mediapipe_files(args.mediapipe_wheel, scratch)
        square = ready_interpreter(files["square 256x256"])
        candidates = [(f"MediaPipe selfie, {label}", path, _MediaPipeSelfie(path))
                      for label, path in files.items()]
        for name in models:
            for variant in ("int8", "float16"):
                path = zoo.tflite(name, variant)
                candidates.append((f"{name}, {variant} TFLite", path, TFLiteSegmenter(path)))
            candidates.append((f"{name}, Keras float32", None,
                               KerasSegmenter(zoo.load(name), name=name)))
        for label, path, segmenter in candidates:
            scores = []
            for data in datasets.values():
                report = evaluate(segmenter, data.records, data.mask_reader, progress=False)
                scores += [report["iou"], report["dice"]]
            latency = ("-", "-", "-")
            if path:
                ours, theirs = in_turn(ready_interpreter(path), square, args.runs)
                latency = (*(f"{latency_ms(path, threads, args.runs):.1f}" for threads in (1, 2)),
                           f"{ours / theirs:.2f}x")
            rows.append((label, *scores,
                         f"{os.path.getsize(path) / 1e3:.0f} KB" if path else "-",
                         "x".join(map(str, segmenter.input_size)), *latency))
            print(f"measured {label}", flush=True)

    counts = ", ".join(f"{name} {len(data.records)}" for name, data in datasets.items())
    print(f"\n{args.split} splits ({counts} images); mean per-image IoU and Dice at each "
          f"image's own size; LiteRT median of {args.runs} runs on {cpu_description()}\n")
    print("| model | " + " | ".join(f"{title} IoU | {title} Dice" for title in SETS.values())
          + " | file | input | LiteRT 1 thread (ms) | 2 threads (ms) | 1 thread, in turn with "
          "MediaPipe square |")
    print("|---" * (6 + 2 * len(SETS)) + "|")
    for label, *cells in rows:
        scores, rest = cells[:2 * len(SETS)], cells[2 * len(SETS):]
        print(f"| {label} | " + " | ".join(f"{v:.4f}" for v in scores) + " | "
              + " | ".join(rest) + " |")


if __name__ == "__main__":
    main()
