"""Where an instance model loses mask AP: its foreground, or how it splits it into people.

Scores each model three ways on photos with instance ids (Penn-Fudan's validation split by
default), with COCO's mask AP, AP50, AP75 and panoptic quality PQ:
- as it is (an instance model's own instances; a semantic model's connected components);
- the true foreground grouped by the model's centres and offsets (instance models only:
  `kerasseg.litert.decode_instances(foreground=...)`), what the grouping alone is worth;
- the model's foreground grouped by the true instances (each foreground pixel given to the
  nearest true person), what the mask alone is worth.
Instances are scored by their mean foreground probability in every row.

Usage: python benchmarks/instance_errors.py --models RUN/last.keras [person ...]
           [--data DIR] [--dataset pennfudan] [--split val]
About a minute a model on 2 CPU cores (27 photos).
"""

import argparse
import os


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", required=True,
                        help="zoo names or .keras files (instance or binary semantic models)")
    parser.add_argument("--data", default=os.environ.get("KERASSEG_DATA", "../shared/data"))
    parser.add_argument("--dataset", default="pennfudan")
    parser.add_argument("--split", default="val")
    args = parser.parse_args()

    import numpy as np
    from scipy import ndimage

    from kerasseg import instances
    from kerasseg.data.records import load_pair
    from kerasseg.data.sources import source
    from kerasseg.litert import decode_instances, resize
    from kerasseg.segmenter import load

    split = source(args.dataset, args.data, args.split, mode="instances")
    ways = ("as it is", "true foreground, its grouping", "its foreground, true grouping")
    rows = []
    for name in args.models:
        segmenter = load(name)
        if segmenter.num_classes != 1:
            parser.error(f"{name} predicts {segmenter.num_classes} classes; give binary or "
                         "instance models")
        found = {way: instances.InstanceScores() for way in ways}
        for record in split.records:
            image, truth = load_pair(record, split.mask_reader)
            batch = segmenter.resize_in(image)[None]
            if segmenter.task == "instances":
                output = segmenter.outputs(batch)[0]
                probability = resize(output[..., :1], truth.shape)[..., 0]
            else:
                probability = resize(segmenter.probabilities(batch)[0], truth.shape)[..., 0]

            def scored(ids):
                return ids, {int(k): float(probability[ids == k].mean())
                             for k in np.unique(ids) if k}

            if segmenter.task == "instances":
                ids, items = decode_instances(output, truth.shape, min_size=50)
                found[ways[0]].update(truth, ids, {i["id"]: i["score"] for i in items})
                found[ways[1]].update(truth, *scored(decode_instances(
                    output, truth.shape, min_size=50, foreground=truth > 0)[0]))
            else:
                found[ways[0]].update(truth, *scored(
                    instances.from_semantic(probability > 0.5, 50)))
            _, (near_y, near_x) = ndimage.distance_transform_edt(truth == 0, return_indices=True)
            found[ways[2]].update(truth, *scored(np.where(probability > 0.5,
                                                          truth[near_y, near_x], 0)))
        for way in ways:
            if way == ways[1] and segmenter.task != "instances":
                continue
            scores = found[way].result()
            rows.append((name, way, scores))

    print(f"{args.dataset} {args.split} ({len(split.records)} photos): mask AP, AP50, AP75, PQ\n")
    print("| model | foreground and grouping | AP | AP50 | AP75 | PQ |")
    print("|---|---|---|---|---|---|")
    for name, way, s in rows:
        print(f"| {name} | {way} | {s['ap']:.3f} | {s['ap50']:.3f} | {s['ap75']:.3f} "
              f"| {s['pq']:.3f} |")


if __name__ == "__main__":
    main()
