"""Lesion models across dermoscopes: every lesion model of the zoo and the classical baselines on
PH2's validation split (one dermoscope, one clinic) and ISIC 2018's (many clinics and devices).

Prints Dice and ISIC's thresholded Jaccard (per-image Jaccard, 0 below 0.65, averaged), each a
mean over images at their own size, as `kerasseg evaluate` reports them. The `-ph2` models
reproduce the course and are trained on PH2 alone; a model trained on ISIC too is the one to
deploy on photos from other clinics.

Usage: python benchmarks/lesion_cross_source.py [--data DIR] [--models NAME ...]
About 3 minutes on 2 CPU cores (417 ISIC and 32 PH2 images per model).
"""

import argparse
import os

SETS = (("ph2", "PH2 val"), ("isic2018", "ISIC 2018 val"))


def lesion_models():
    """The zoo's models trained on dermoscopy (PH2, ISIC 2018 or both), by their cards."""
    from kerasseg import zoo

    return [name for name in zoo.names()
            if set(zoo.card(name)["dataset"]["name"].replace(":", "+").split("+"))
            & {"ph2", "isic2018"}]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("KERASSEG_DATA", "../shared/data"))
    parser.add_argument("--models", nargs="+", help="zoo names or classic:METHOD (default: every "
                                                    "lesion model of the zoo, Otsu and k-means)")
    args = parser.parse_args()

    from kerasseg.evaluate import evaluate_dataset

    models = args.models or [*lesion_models(), "classic:otsu", "classic:kmeans"]
    rows = []
    for model in models:
        row = [model]
        for dataset, _ in SETS:
            report = evaluate_dataset(model, dataset, args.data, split="val", image_size=256,
                                      progress=False)
            row += [f"{report['dice']:.4f}", f"{report['thresholded_jaccard']:.4f}"]
            print(f"{model} on {dataset} val ({report['images']} images): Dice "
                  f"{report['dice']:.4f}, thresholded Jaccard {report['thresholded_jaccard']:.4f}",
                  flush=True)
        rows.append(row)
    print("\n| model | " + " | ".join(f"{title} Dice | {title} thr. Jaccard" for _, title in SETS)
          + " |")
    print("|---" * (1 + 2 * len(SETS)) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
