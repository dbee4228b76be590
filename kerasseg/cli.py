"""The `kerasseg` command.

TensorFlow is imported only inside the subcommands that need it, so
`kerasseg --help` answers at once.
"""

import argparse
import inspect
import os
import sys


def _demo(args):
    from kerasseg.demo import run_demo

    report = run_demo(out_dir=args.out, epochs=args.epochs, image_size=args.image_size,
                      train_count=args.train_count, test_count=args.test_count, seed=args.seed)
    print(f"\nheld-out Dice {report['dice']:.4f}, IoU {report['iou']:.4f} "
          f"({report['epochs']} epochs, {report['train_seconds']} s)")
    print(f"wrote {os.path.join(args.out, 'overlay.png')}, model.keras, report.json, report.md")
    return 0


def _data_check(args):
    import json

    from kerasseg.data.check import check, format_report

    report = check(args.dataset, args.root, masks_dir=args.masks, mask_suffix=args.mask_suffix)
    print(format_report(report))
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f, indent=2)
    return 1 if report["problems"] else 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="kerasseg",
        description="Semantic segmentation with Keras 3: U-Net, SegNet, DeepLabV3(+).",
    )
    from kerasseg import __version__

    parser.add_argument("--version", action="version", version=f"kerasseg {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="train and evaluate a small U-Net on built-in synthetic data (no download)",
        description="Train a small U-Net on synthetic lesion images for about a minute, score it "
                    "on held-out images and write an overlay, the model and a report.")
    # The defaults live in run_demo's signature alone (kerasseg.demo imports
    # no TensorFlow at module level).
    from kerasseg.demo import run_demo

    default = {name: p.default for name, p in inspect.signature(run_demo).parameters.items()}
    demo.add_argument("--out", default=default["out_dir"],
                      help=f"output folder (default: {default['out_dir']})")
    demo.add_argument("--epochs", type=_positive_int, default=default["epochs"],
                      help=f"training epochs (default: {default['epochs']})")
    demo.add_argument("--image-size", type=_positive_int, default=default["image_size"],
                      help=f"image height and width, a multiple of 8 (default: {default['image_size']})")
    demo.add_argument("--train-count", type=_positive_int, default=default["train_count"],
                      help=f"training images (default: {default['train_count']})")
    demo.add_argument("--test-count", type=_positive_int, default=default["test_count"],
                      help=f"held-out images (default: {default['test_count']})")
    demo.add_argument("--seed", type=int, default=default["seed"],
                      help=f"random seed (default: {default['seed']})")
    demo.set_defaults(run=_demo)

    data = commands.add_parser("data", help="inspect datasets").add_subparsers(
        dest="data_command", metavar="DATA_COMMAND", required=True)
    check = data.add_parser(
        "check", help="read every image/mask pair and report sizes, mask values, coverage, problems",
        description="Read every image/mask pair of a dataset at full size and report counts, "
                    "image sizes, mask values, lesion/object coverage and each bad file. Exits 1 "
                    "if any problem was found.")
    check.add_argument("root", help="the dataset folder (for --dataset folder: the images folder)")
    check.add_argument("--dataset", required=True,
                       choices=["ph2", "mads", "oxford_pets", "pennfudan", "folder"])
    check.add_argument("--masks", help="for --dataset folder: the masks folder (default: ROOT)")
    check.add_argument("--mask-suffix", default="",
                       help="for --dataset folder: what mask names add to image names, e.g. _mask")
    check.add_argument("--report", help="also write the report as JSON to this file")
    check.set_defaults(run=_data_check)
    return parser


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    # TensorFlow's C++ start-up chatter is noise to a command-line user.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return args.run(args)
    except ValueError as error:  # includes kerasseg.data.DataError
        print(f"kerasseg {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
