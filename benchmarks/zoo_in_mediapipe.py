"""Every zoo int8 file run by MediaPipe Tasks' ImageSegmenter next to kerasseg's LiteRT runner.

Usage: python benchmarks/zoo_in_mediapipe.py [NAME ...] [--data ../shared/data]
Needs `pip install "kerasseg[mediapipe]"`. Prints, per model, the share of
pixels where MediaPipe's category mask equals LiteRT's, and the Dice of both on
the card's evaluation split, with MediaPipe given images resized to the model's
input first (as apps should) and full-size photos (MediaPipe resizes them itself).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="zoo models (default: all)")
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                       "shared", "data"))
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kerasseg import zoo
    from kerasseg.phone import compare_with_litert

    print("| model | images | agreement (presized) | Dice MediaPipe, presized | Dice MediaPipe, "
          "own resize | Dice LiteRT (card) |")
    print("|---|---|---|---|---|---|")
    # MediaPipe's ImageSegmenter groups no instances: an instance model has no row here.
    for name in args.names or [n for n in zoo.names() if zoo.card(n).get("task") != "instances"]:
        split = zoo.eval_source(zoo.card(name), args.data)
        path = zoo.tflite(name, "int8")
        sized = compare_with_litert(path, split.records, split.mask_reader, presize=True)
        full = compare_with_litert(path, split.records, split.mask_reader, presize=False)
        print(f"| {name} | {sized['images']} | {sized['agreement']:.4f} | "
              f"{sized['dice_mediapipe']:.4f} | {full['dice_mediapipe']:.4f} | "
              f"{sized['dice_litert']:.4f} |")


if __name__ == "__main__":
    main()
