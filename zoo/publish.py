"""Maintainers' tool: turn a finished training run into a zoo entry with a measured card.

    python zoo/publish.py NAME --run runs/zoo/NAME --data-dir ../shared/data \
        --title "..." --labels skin,lesion [--eval-split val]
    python zoo/publish.py NAME --reexport --data-dir ../shared/data   # TFLite files again
    python zoo/publish.py --latency       # every card's LiteRT latency again (on an idle CPU)
    python zoo/publish.py --metadata      # MediaPipe's metadata into every zoo file, in place
    python zoo/publish.py --readme        # regenerate the README's zoo table from the cards

Writes zoo/NAME/ (model.keras, the TFLite files with their sidecars, card.json) through
`kerasseg.publish`, which measures what the card (`kerasseg.zoo`) holds. Every number is
measured here, now.
"""

import argparse
import json
import os
import sys

ZOO = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(ZOO)
README = os.path.join(REPO, "README.md")
BEGIN = "<!-- zoo table: generated from zoo/*/card.json by `python zoo/publish.py --readme` -->"
END = "<!-- end of zoo table -->"


def update_readme():
    from kerasseg.zoo import table

    text = open(README).read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{README}: the zoo table markers are missing")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(README, "w") as f:
        f.write(f"{head}{BEGIN}\n{table(ZOO)}{END}{tail}")
    print(f"updated the zoo table in {README}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name", nargs="?")
    parser.add_argument("--run")
    parser.add_argument("--data-dir")
    parser.add_argument("--title", default="")
    parser.add_argument("--description", default="")
    parser.add_argument("--labels", default="background,foreground")
    parser.add_argument("--eval-split", default="val")
    parser.add_argument("--eval-dataset",
                        help="the dataset the card is measured on (default: the run's)")
    parser.add_argument("--calibration-split", default="train")
    parser.add_argument("--checkpoint", choices=["last", "best"], default="last",
                        help="the run's last epoch (default) or its best validation Dice")
    parser.add_argument("--reexport", action="store_true",
                        help="export NAME's TFLite files again from its zoo model and card")
    parser.add_argument("--latency", action="store_true",
                        help="measure the LiteRT latency of NAME's files (default: every zoo "
                             "model's) again and update the cards")
    parser.add_argument("--metadata", action="store_true",
                        help="write MediaPipe's metadata (labels, normalisation) into NAME's "
                             "files (default: every zoo model's) in place and update the cards")
    parser.add_argument("--readme", action="store_true", help="regenerate the README zoo table")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, REPO)
    from kerasseg import publish, zoo

    try:
        if args.metadata:
            publish.add_metadata([args.name] if args.name else zoo.names(ZOO), ZOO)
        elif args.latency:
            for name in [args.name] if args.name else zoo.names(ZOO):
                publish.remeasure_latency([name], ZOO)
                for variant, entry in zoo.card(name, ZOO)["tflite"].items():
                    print(f"{name} {variant}: {entry['latency_ms']} ms on {entry['latency_cpu']}")
        elif args.name and args.reexport:
            if not args.data_dir:
                parser.error("--reexport needs --data-dir")
            card = publish.reexport(args.name, args.data_dir, ZOO, args.calibration_split)
            print(json.dumps({k: v["fidelity"] for k, v in card["tflite"].items()}, indent=2))
        elif args.name:
            if not (args.run and args.data_dir):
                parser.error("publishing needs --run and --data-dir")
            card = publish.publish(args.name, args.run, args.data_dir, args.title,
                                   args.labels.split(","), ZOO, args.eval_split,
                                   args.calibration_split, args.description,
                                   checkpoint=args.checkpoint,
                                   eval_dataset=args.eval_dataset)
            print(json.dumps({k: card[k] for k in ("name", "params", "metrics")}, indent=2))
    except ValueError as error:
        raise SystemExit(f"publish.py: {error}") from None
    if args.readme:
        update_readme()


if __name__ == "__main__":
    main()
