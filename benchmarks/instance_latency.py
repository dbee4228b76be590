"""An instance model's time a photo on a device: the LiteRT network and the numpy decoding.

The network's time is what a card's latency holds (`latency_ms`: median of 50 invokes on
random input). Decoding (`kerasseg.litert.decode_instances`: peaks, offsets, grouping at
the photo's own size) runs after it on every photo and depends on the photo's size and
its people, so it is timed on real photos: the median over a dataset split's photos.

Usage: python benchmarks/instance_latency.py [--tflite FILE ...] [--data DIR]
           [--dataset pennfudan] [--split val] [--threads 1]
By default every zoo instance model's TFLite files. About a minute on 2 CPU cores.
"""

import argparse
import os
import statistics
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tflite", nargs="+",
                        help="instance models' .tflite files (default: the zoo's)")
    parser.add_argument("--data", default=os.environ.get("KERASSEG_DATA", "../shared/data"))
    parser.add_argument("--dataset", default="pennfudan")
    parser.add_argument("--split", default="val")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    from kerasseg import zoo
    from kerasseg.data.records import read_image
    from kerasseg.data.sources import source
    from kerasseg.litert import TFLiteSegmenter, cpu_description, decode_instances, latency_ms

    files = args.tflite or [zoo.tflite(name, variant) for name in zoo.names()
                            if zoo.card(name).get("task") == "instances"
                            for variant in zoo.card(name)["tflite"]]
    models = {}
    for path in files:
        models[path] = TFLiteSegmenter(path, num_threads=args.threads)
        if models[path].task != "instances":
            parser.error(f"{path} is not an instance model's file")
    photos = [read_image(record.image) for record in
              source(args.dataset, args.data, args.split).records]

    print(f"{len(photos)} {args.dataset} {args.split} photos; LiteRT, {args.threads} "
          f"thread(s); {cpu_description()}\n")
    print("| file | network ms | decoding ms (median, min-max) | total ms |")
    print("|---|---|---|---|")
    for path, model in models.items():
        network = latency_ms(path, args.threads)
        decoding = []
        for image in photos:
            output = model.outputs(model.resize_in(image)[None])[0]
            start = time.perf_counter()
            decode_instances(output, size=image.shape[:2])
            decoding.append(1000 * (time.perf_counter() - start))
        middle = statistics.median(decoding)
        print(f"| {os.path.basename(os.path.dirname(path))}/{os.path.basename(path)} | "
              f"{network:.1f} | {middle:.1f} ({min(decoding):.1f}-{max(decoding):.1f}) | "
              f"{network + middle:.1f} |")


if __name__ == "__main__":
    main()
