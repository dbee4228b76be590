"""Where an instance model's int8 file loses mask AP: which of its four channels.

Decodes each photo from the Keras model's four output channels with one group of them
taken from the TFLite file instead (the foreground, the centre heatmap, the offsets), and
from the file alone, and scores each with COCO's mask AP, AP50, AP75 and PQ on photos with
instance ids (Penn-Fudan's validation split by default). The channel whose swap costs what
the whole file costs is the one to quantize better. A last row rounds Keras' heatmap to the
file's output step, to tell a loss at the output's rounding from one inside the network.

Usage: python benchmarks/instance_int8.py --model RUN/last.keras --tflite FILE_int8.tflite
           [--data DIR] [--dataset pennfudan] [--split val]
About a minute on 2 CPU cores (27 photos).
"""

import argparse
import os

# Channel groups of kerasseg.litert.INSTANCE_CHANNELS taken from the file in each row.
SWAPS = (("Keras alone", ()), ("int8 foreground", (0,)), ("int8 centre heatmap", (1,)),
         ("int8 offsets", (2, 3)), ("int8 heatmap and offsets", (1, 2, 3)),
         ("int8 file alone", (0, 1, 2, 3)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="an instance model's .keras file")
    parser.add_argument("--tflite", required=True, help="the same model's exported .tflite")
    parser.add_argument("--data", default=os.environ.get("KERASSEG_DATA", "../shared/data"))
    parser.add_argument("--dataset", default="pennfudan")
    parser.add_argument("--split", default="val")
    args = parser.parse_args()

    import numpy as np

    from kerasseg import instances
    from kerasseg.data.records import load_pair
    from kerasseg.data.sources import source
    from kerasseg.litert import TFLiteSegmenter, decode_instances
    from kerasseg.segmenter import load

    keras_side, lite = load(args.model), TFLiteSegmenter(args.tflite)
    for side, path in ((keras_side, args.model), (lite, args.tflite)):
        if side.task != "instances":
            parser.error(f"{path} is not an instance model")
    split = source(args.dataset, args.data, args.split, mode="instances")
    scale, zero = lite.interpreter.get_output_details()[0]["quantization"]
    rounded = "Keras, heatmap rounded to the file's output step"
    scores = {name: instances.InstanceScores() for name, _ in SWAPS}
    if scale:
        scores[rounded] = instances.InstanceScores()
    for record in split.records:
        image, truth = load_pair(record, split.mask_reader)
        ours = keras_side.outputs(keras_side.resize_in(image)[None])[0]
        theirs = lite.outputs(lite.resize_in(image)[None])[0]
        outputs = {}
        for name, channels in SWAPS:
            outputs[name] = ours.copy()
            outputs[name][..., list(channels)] = theirs[..., list(channels)]
        if scale:
            outputs[rounded] = ours.copy()
            outputs[rounded][..., 1] = (np.round(ours[..., 1] / scale + zero) - zero) * scale
        for name, output in outputs.items():
            ids, found = decode_instances(output, truth.shape, min_size=50)
            scores[name].update(truth, ids, {item["id"]: item["score"] for item in found})
    print(f"{args.dataset} {args.split} ({len(split.records)} photos): {args.model}, its channels "
          f"in turn from {args.tflite}\n")
    print("| channels from the file | mask AP | AP50 | AP75 | PQ |")
    print("|---|---|---|---|---|")
    for name in scores:
        s = scores[name].result()
        print(f"| {name} | {s['ap']:.3f} | {s['ap50']:.3f} | {s['ap75']:.3f} | {s['pq']:.3f} |")


if __name__ == "__main__":
    main()
