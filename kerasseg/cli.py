"""The `kerasseg` command.

TensorFlow is imported only inside the subcommands that need it, so
`kerasseg --help` answers at once.
"""

import argparse
import inspect
import os
import re
import sys

from kerasseg.data.sources import NAMES


def _demo(args):
    from kerasseg.demo import run_demo

    report = run_demo(out_dir=args.out, epochs=args.epochs, image_size=args.image_size,
                      train_count=args.train_count, test_count=args.test_count, seed=args.seed,
                      data_dir=args.data_dir)
    print(f"\nheld-out Dice {report['dice']:.4f}, IoU {report['iou']:.4f} "
          f"({report['epochs']} epochs, {report['train_seconds']} s); int8 TFLite run by LiteRT: "
          f"Dice {report['tflite_int8_dice']:.4f} ({report['tflite_int8_bytes'] / 1e3:.0f} KB)")
    for row in report.get("zoo_comparison", []):
        print(f"PH2 val, {row['images']} images: {row['model']:<20} Dice {row['dice']:.4f}, "
              f"IoU {row['iou']:.4f}")
    print(f"wrote {args.out}/: overlay.png, model.keras, model_int8.tflite, report.json, report.md"
          + (", zoo_comparison.png, zoo_comparison.md" if args.data_dir else ""))
    return 0


def _data_check(args):
    from kerasseg import outputs
    from kerasseg.data.check import check, format_report, report_reason

    if args.report:  # before reading the whole dataset
        outputs.check_file(args.report, "--report", args.force, report_reason)
    report = check(args.dataset, args.root, masks_dir=args.masks_dir, mask_suffix=args.mask_suffix)
    print(format_report(report))
    if args.report:
        outputs.write_json(args.report, report, kind="data-check")
    return 1 if report["problems"] else 0


def _train(args):
    import shlex

    from kerasseg.train import train_on_dataset

    result = train_on_dataset(
        args.model, args.dataset, args.data_dir, out_dir=args.out, model_args=dict(args.arg),
        image_size=args.image_size, epochs=args.epochs, batch_size=args.batch_size,
        loss=args.loss, learning_rate=args.learning_rate, schedule=args.schedule,
        early_stopping=args.early_stopping, freeze_encoder_epochs=args.freeze_encoder_epochs,
        augment=args.augment, mask_mode=args.mask_mode,
        train_split=args.train_split, val_split=args.val_split, val_fraction=args.val_fraction,
        seed=args.seed, masks_dir=args.masks_dir, mask_suffix=args.mask_suffix,
        jit_compile=args.xla, precision=args.precision, strategy=args.strategy,
        overwrite=args.force, command="kerasseg " + shlex.join(args.argv), on_error=args.on_error,
        task=args.task, init_from=args.init_from, copy_paste=args.copy_paste,
        freeze_semantic=args.freeze_semantic, head_dilations=args.head_dilations,
        foreground_from=args.foreground_from)
    last = result["history"][-1] if result["history"] else {}
    summary = ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k != "epoch")
    print(f"\n{args.out}: {len(result['history'])} epochs ({result['epochs_run']} in this call); "
          f"last epoch: {summary}")
    skipped = result.get("skipped", [])
    if skipped:
        print(f"skipped {len(skipped)} unreadable pairs (listed in {args.out}/config.json), e.g. "
              f"{skipped[0]['image']}: {skipped[0]['error']}", file=sys.stderr)
    for warning in result["warnings"]:
        print(f"kerasseg train: warning: {warning}", file=sys.stderr)
    return 1 if result["warnings"] else 0


def _evaluate(args):
    from kerasseg import evaluate

    report = evaluate.evaluate_dataset(
        args.model, args.dataset, args.data_dir, split=args.split, val_fraction=args.val_fraction,
        seed=args.seed, mask_mode=args.mask_mode, masks_dir=args.masks_dir,
        mask_suffix=args.mask_suffix, image_size=args.image_size, tta=args.tta,
        threshold=args.threshold, instances=args.instances, report_path=args.report,
        plot_path=args.plot, force=args.force, on_error=args.on_error)
    print(evaluate.markdown(report, f"{args.model} on {args.dataset} {args.split}"))
    for path in (args.report, args.plot):
        if path:
            print(f"wrote {path}")
    return 0


def _predict(args):
    from kerasseg.predict import plan, predict
    from kerasseg.segmenter import load

    # The inputs and --out are checked before the model is loaded.
    plan(args.inputs, args.out, overlays=not args.no_overlay, force=args.force)
    segmenter = load(args.model, image_size=args.image_size)
    result = predict(segmenter, args.inputs, args.out, tta=args.tta, threshold=args.threshold,
                     overlays=not args.no_overlay, force=args.force)
    if result["left_out"]:
        print(f"left out {len(result['left_out'])} files named like masks or overlays "
              f"(*_mask.png, *_overlay.png), e.g. {result['left_out'][0]}; name them one by one "
              "to predict on them", file=sys.stderr)
    kind = "instance maps" if segmenter.task == "instances" else "masks"
    print(f"wrote {len(result['written'])} {kind} to {args.out}"
          + (f"; {len(result['failed'])} files failed (listed above)" if result["failed"] else ""))
    return 1 if result["failed"] else 0


def _export(args):
    from kerasseg.export import export_model

    report = export_model(
        args.model, args.out, args.format, quantize=args.quantize, data_dir=args.data_dir,
        representative_data=args.representative_data, fidelity_data=args.fidelity_data,
        samples=args.samples, labels=args.labels.split(",") if args.labels else None,
        int8_io=args.int8_io, masks_dir=args.masks_dir, mask_suffix=args.mask_suffix,
        force=args.force)
    if args.format == "savedmodel":
        print(f"wrote {args.out} (signatures: serving_default on uint8 images of any size, raw)")
        return 0
    line = f"wrote {args.out}: {report['bytes'] / 1e6:.2f} MB, {args.quantize}"
    if "fidelity" in report:
        f = report["fidelity"]
        line += (f"; on {f['images']} {f['data']} images: mask agreement {f['mask_agreement']:.4%}, "
                 f"max abs diff {f['max_abs_diff']:.4f}, Dice Keras {f['dice_keras']:.4f} / "
                 f"TFLite {f['dice_tflite']:.4f}")
    else:
        line += " (no --fidelity-data: fidelity not measured)"
    print(line)
    return 0


def _web(args):
    from kerasseg.web import serve

    serve(host=args.host, port=args.port, web_dir=args.web_dir)
    return 0


def _zoo_list(args):
    from kerasseg import zoo

    if not zoo.names():
        print(f"the zoo is empty ({zoo.ZOO_DIR} holds no cards)")
        return 0
    print(zoo.table(), end="")
    return 0


def _zoo_show(args):
    import json

    from kerasseg import zoo

    print(json.dumps(zoo.card(args.name), indent=2) if args.json else zoo.describe(args.name))
    return 0


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
    demo.add_argument("--image-size", type=_image_size, default=default["image_size"],
                      help=f"image height and width, a multiple of 8 (default: {default['image_size']})")
    demo.add_argument("--train-count", type=_positive_int, default=default["train_count"],
                      help=f"training images (default: {default['train_count']})")
    demo.add_argument("--test-count", type=_positive_int, default=default["test_count"],
                      help=f"held-out images (default: {default['test_count']})")
    demo.add_argument("--seed", type=_seed, default=default["seed"],
                      help=f"random seed (default: {default['seed']})")
    demo.add_argument("--data-dir", help="a PH2 copy (or its parent): also compare the zoo's PH2 "
                                         "models and Otsu on its real validation images")
    demo.set_defaults(run=_demo)

    data = commands.add_parser("data", help="inspect datasets").add_subparsers(
        dest="data_command", metavar="DATA_COMMAND", required=True)
    check = data.add_parser(
        "check", help="read every image/mask pair and report sizes, mask values, coverage, problems",
        description="Read every image/mask pair of a dataset at full size and report counts, "
                    "image sizes, mask values, lesion/object coverage and each bad file. Exits 1 "
                    "if any problem was found.")
    check.add_argument("root", help="the dataset folder (for --dataset folder: the images folder)")
    check.add_argument("--dataset", required=True, choices=NAMES)
    check.add_argument("--masks-dir", "--masks", dest="masks_dir",
                       help="for --dataset folder: the masks folder (default: ROOT)")
    check.add_argument("--mask-suffix", default="",
                       help="for --dataset folder: what mask names add to image names, e.g. _mask")
    check.add_argument("--report", help="also write the report as JSON to this file")
    check.add_argument("--force", action="store_true",
                       help="replace a --report file that kerasseg wrote (never another file)")
    check.set_defaults(run=_data_check)

    train = commands.add_parser(
        "train", help="train a model on a dataset; writes a resumable run folder",
        description="Train a segmentation model. The run folder gets config.json, best.keras "
                    "(best validation Dice), last.keras, log.csv, tensorboard/ and curves.png. "
                    "Rerunning an interrupted command resumes it from the last completed epoch.")
    train.add_argument("--model", required=True,
                       help="unet, segnet, deeplabv3, deeplabv3plus, or a preset (unet_lite, ...)")
    train.add_argument("--arg", action="append", default=[], type=_key_value, metavar="NAME=VALUE",
                       help="a builder argument, e.g. --arg filters=16 --arg backbone=mobilenetv2 "
                            "(values are read as JSON where they parse, else as text)")
    _add_data_arguments(train)
    train.add_argument("--train-split", default="train", help="split to train on (default: train)")
    train.add_argument("--val-split", default="val",
                       help="split to validate on, or 'none' (default: val)")
    train.add_argument("--image-size", type=_image_size, default=256,
                       help="square training size, a multiple of the model's stride (default: 256)")
    train.add_argument("--epochs", type=_positive_int, default=50, help="total epochs (default: 50)")
    train.add_argument("--batch-size", type=_positive_int, default=8,
                       help="global batch size (default: 8; small batches keep BatchNorm's "
                            "statistics in step on small datasets)")
    train.add_argument("--loss", default="bce+dice", help="loss, e.g. dice, bce+dice, focal+dice "
                                                          "(default: bce+dice)")
    train.add_argument("--learning-rate", type=float, default=1e-3, help="Adam's (default: 1e-3)")
    train.add_argument("--schedule", choices=["cosine", "plateau", "constant"], default="cosine",
                       help="learning-rate schedule (default: cosine)")
    train.add_argument("--early-stopping", type=_positive_int, metavar="EPOCHS",
                       help="stop after this many epochs without a better validation Dice")
    train.add_argument("--freeze-encoder-epochs", type=_non_negative_int, default=0,
                       metavar="EPOCHS",
                       help="train only the decoder for this many first epochs, the backbone "
                            "encoder (e.g. ImageNet's) held as it is (default: 0)")
    train.add_argument("--xla", action=argparse.BooleanOptionalAction, default=None,
                       help="compile with XLA (default: on with a GPU, off on CPU where it is slower; "
                            "always on under JAX)")
    train.add_argument("--precision", choices=["float32", "mixed_float16", "mixed_bfloat16"],
                       default="float32", help="compute precision (default: float32)")
    train.add_argument("--strategy", choices=["none", "data-parallel", "mirrored", "multiworker"],
                       default="none",
                       help="data-parallel: all local devices (tf.distribute on TensorFlow, "
                            "keras.distribution on JAX); mirrored: TensorFlow's name for it; "
                            "multiworker: the machines in TF_CONFIG (TensorFlow)")
    train.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                       help="flips, rotations, scale, colour jitter (default: on)")
    train.add_argument("--task", choices=["semantic", "instances"], default="semantic",
                       help="semantic: a mask of classes (default); instances: each object its "
                            "own mask (a centre heatmap and offsets on the --model; masks read as "
                            "instance ids, e.g. --dataset pennfudan)")
    train.add_argument("--copy-paste", type=_probability, default=0.0, metavar="P",
                       help="with --task instances: the chance that a training photo gets people "
                            "from another training photo pasted on it (default 0: none)")
    train.add_argument("--head-dilations", type=_dilations, metavar="D,D,...",
                       help="with --task instances: the dilation of each 3x3 convolution of the "
                            "centre and offset heads (default 1,2,4,8)")
    train.add_argument("--init-from", metavar="MODEL",
                       help="start from this zoo model's or .keras file's weights (same --model "
                            "and --arg values), e.g. person; with --task instances, an instance "
                            "model's file starts the heads too")
    train.add_argument("--freeze-semantic", action="store_true",
                       help="with --task instances and --init-from: train the instance heads "
                            "alone, so the foreground stays exactly the starting model's mask")
    train.add_argument("--foreground-from", metavar="MODEL",
                       help="with --task instances: a binary semantic zoo model or .keras file "
                            "whose mask, frozen, is the foreground; the instance model learns "
                            "to group it into people")
    train.add_argument("--out", required=True, help="the run folder")
    train.add_argument("--force", action="store_true",
                       help="replace the run in --out: a finished one, or an unfinished one with "
                            "other settings")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser(
        "evaluate", help="score a model or classical method on a dataset split",
        description="Per-image and mean Dice, IoU, accuracy, sensitivity and specificity, at the "
                    "images' own resolution and at the model's; per diagnosis for PH2.")
    _add_model_arguments(evaluate)
    _add_data_arguments(evaluate)
    evaluate.add_argument("--split", default="val",
                          help="train, val, test or all (default: val)")
    evaluate.add_argument("--report", help="write the full report (per image too) as JSON here")
    evaluate.add_argument("--plot", help="write a PNG of the per-image Dice distribution here")
    evaluate.add_argument("--instances", action="store_true",
                          help="also score instances (an instance model's own, a semantic "
                               "model's connected components) against instance ids: Penn-Fudan "
                               "or a mixture with it, whose other photos count one person each")
    evaluate.add_argument("--force", action="store_true",
                          help="replace a --report or --plot file that kerasseg wrote (never "
                               "another file)")
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser(
        "predict", help="write masks and overlays for images or folders of images",
        description="Masks at each image's own size (PNG, 0/255 for binary models) and overlays, "
                    "named after each image (X.jpg -> X_mask.png, X_overlay.png; X_jpg_mask.png "
                    "where two inputs share a name; an instance model writes X_instances.png, "
                    "X_instances.json and X_overlay.png). Files named like these outputs are not "
                    "read from folders, and nothing in --out is replaced without --force.")
    predict.add_argument("inputs", nargs="+", help="image files or folders")
    _add_model_arguments(predict)
    predict.add_argument("--out", required=True, help="output folder")
    predict.add_argument("--no-overlay", action="store_true", help="write masks only")
    predict.add_argument("--force", action="store_true",
                         help="replace files already in --out (never replaced otherwise)")
    predict.set_defaults(run=_predict)

    exporter = commands.add_parser(
        "export", help="export to SavedModel or TFLite (float32, float16, dynamic, int8)",
        description="Export a model. TFLite files are batch 1, builtin ops only, with a JSON "
                    "sidecar (input scaling, labels) and a fidelity report against Keras on real "
                    "images. Nothing is overwritten without --force; writes are atomic.")
    exporter.add_argument("--model", required=True, help="a .keras file or a zoo name")
    exporter.add_argument("--format", choices=["savedmodel", "tflite"], required=True)
    exporter.add_argument("--out", required=True, help="SavedModel folder or .tflite file")
    exporter.add_argument("--quantize", choices=["none", "float16", "dynamic", "int8"],
                          default="none", help="TFLite weights/compute type (default: none)")
    exporter.add_argument("--int8-io", choices=["uint8", "int8"], default="uint8",
                          help="input/output type of a full int8 model (default: uint8)")
    exporter.add_argument("--representative-data", metavar="DATASET:SPLIT",
                          help="calibration images for int8, e.g. ph2:train")
    exporter.add_argument("--fidelity-data", metavar="DATASET:SPLIT",
                          help="images with masks to check the export on (default: the "
                               "representative dataset's val split)")
    exporter.add_argument("--data-dir", help="where those datasets are")
    exporter.add_argument("--masks-dir", help="for folder:SPLIT data: the masks folder (default: "
                                              "--data-dir)")
    exporter.add_argument("--mask-suffix", default="",
                          help="for folder:SPLIT data: what mask names add to image names, "
                               "e.g. _mask")
    exporter.add_argument("--samples", type=_positive_int, default=64,
                          help="representative images (default: 64)")
    exporter.add_argument("--labels", help="comma-separated class names for the sidecar (default: "
                                           "the zoo card's, else background,foreground)")
    exporter.add_argument("--force", action="store_true", help="replace existing outputs")
    exporter.set_defaults(run=_export)

    page = commands.add_parser(
        "web", help="serve a page that runs the zoo in the browser (MediaPipe Tasks)",
        description="Serve web/ (a static page running @mediapipe/tasks-vision), the MediaPipe "
                    "runtime and the zoo's TFLite files on one local address, then open it in a "
                    "browser: pick a model and a photo or the webcam. Needs `npm ci` in web/ once.")
    page.add_argument("--port", type=_port, default=8000, help="TCP port (default: 8000; 0: any free one)")
    page.add_argument("--host", default="127.0.0.1",
                      help="address to listen on (default: 127.0.0.1, this machine only)")
    page.add_argument("--web-dir", help="the page's folder (default: web/ of this checkout)")
    page.set_defaults(run=_web)

    zoo = commands.add_parser("zoo", help="the pretrained models: list, show").add_subparsers(
        dest="zoo_command", metavar="ZOO_COMMAND", required=True)
    zoo.add_parser("list", help="the models with their measured scores and sizes").set_defaults(
        run=_zoo_list)
    show = zoo.add_parser("show", help="one model's card")
    show.add_argument("name", help="a zoo name, e.g. unet-ph2")
    show.add_argument("--json", action="store_true", help="print the whole card as JSON")
    show.set_defaults(run=_zoo_show)
    return parser


def _add_model_arguments(parser):
    parser.add_argument("--model", required=True,
                        help="a .keras file, a zoo name (kerasseg zoo list) or classic:METHOD "
                             "(threshold, otsu, multiotsu, kmeans, edges)")
    parser.add_argument("--image-size", type=_image_size, default=256,
                        help="size to run at when the model has no fixed input size (default: 256)")
    parser.add_argument("--tta", action="store_true", help="average over flipped copies")
    parser.add_argument("--threshold", type=_threshold, default=0.5,
                        help="foreground probability threshold (default: 0.5)")


def _add_data_arguments(parser):
    parser.add_argument("--dataset", required=True, type=_dataset_spec,
                        help=f"one of {', '.join(NAMES)}; mix several as ccp+pennfudan, each "
                             "with an optional :N (times per epoch) or share below 1 of its training "
                             "photos, e.g. ccp+pennfudan:2+portraits:0.25")
    parser.add_argument("--mask-mode", help="how masks are read, e.g. --dataset ccp: person "
                                            "(default), parts or labels")
    parser.add_argument("--data-dir", required=True,
                        help="the dataset folder (or a folder holding one named after the dataset)")
    parser.add_argument("--val-fraction", type=_fraction, default=0.2,
                        help="share held out as 'val' where there is no official split (default: 0.2)")
    parser.add_argument("--seed", type=_seed, default=0,
                        help="seed of splits, shuffles and weights")
    parser.add_argument("--masks-dir", help="for --dataset folder: the masks folder (default: "
                                            "--data-dir)")
    parser.add_argument("--mask-suffix", default="",
                        help="for --dataset folder: what mask names add to image names, e.g. _mask")
    parser.add_argument("--on-error", choices=["raise", "skip"], default="raise",
                        help="an unreadable image or mask: stop, naming it (raise, the default), "
                             "or leave it out and go on (skip; the skipped files are listed)")


def _dataset_spec(text):
    from kerasseg.data.sources import parse_names

    try:
        parse_names(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _number(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _threshold(text):
    value = _number(text)
    if not 0.0 < value < 1.0:  # NaN fails this too
        raise argparse.ArgumentTypeError(
            f"expected a probability between 0 and 1 (exclusive), got {text}: nothing or "
            "everything would be foreground")
    return value


def _dilations(text):
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected whole numbers of at least 1 separated by "
                                         f"commas, e.g. 1,2,4,8, got {text}")
    return values


def _probability(text):
    value = _number(text)
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"expected a probability from 0 to 1, got {text}")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0, got {text}")
    return value


def _fraction(text):
    value = _number(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a share from 0 up to (not including) 1, "
                                         f"got {text}")
    return value


def _key_value(text):
    import json

    name, separator, value = text.partition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def _integer_from(minimum, what):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


_positive_int = _integer_from(1, "a positive integer")


def _port(text):
    what = "a TCP port from 0 (any free one) to 65535"
    value = _integer_from(0, what)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
    return value


def _image_size(text):
    from kerasseg.data.records import check_image_size

    try:
        return check_image_size(_positive_int(text), "--image-size")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--image-size ")) from None
_non_negative_int = _integer_from(0, "a whole number, 0 or more")


# What TensorFlow's C++ side logs while it loads, before its log level applies
# (glog lines such as "I0000 00:00:17.5 7460 cudart_stub.cc:31] Could not find
# cuda drivers", "E0000 ... failed call to cuInit" on a machine without a GPU),
# the absl notice above them and the CPU-feature advice below.
_STARTUP_NOISE = re.compile(r"([IWEF]\d{4} \d\d:\d\d:[\d.]+ +\d+ \S+:\d+\] "
                            r"|WARNING: All log messages before absl::InitializeLog\(\) "
                            r"|To enable the following instructions: )")


def _needs_tensorflow(args):
    model = getattr(args, "model", "") or ""
    if args.command == "train":   # on JAX it needs none
        return _keras_backend() == "tensorflow"
    if args.command in ("export", "demo"):
        return True
    return args.command in ("evaluate", "predict") and not (
        model.startswith("classic:") or model.endswith(".tflite"))


def _keras_backend():
    """The backend Keras will load, read as Keras reads it but without importing Keras (which
    would import TensorFlow before its start-up noise can be captured)."""
    import json

    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"


def _backend_problem(command):
    """One sentence if Keras cannot load the backend KERAS_BACKEND names, else None."""
    if command not in ("train", "evaluate", "predict", "export", "demo"):
        return None
    try:
        import keras  # noqa: F401  (it loads its backend on import)
    except (ImportError, ValueError) as error:
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        return (f"Keras cannot load the backend KERAS_BACKEND={backend} ({error}); install it "
                "or choose another (kerasseg trains on tensorflow and jax)")
    return None


def _start_tensorflow_quietly():
    """Imports TensorFlow and finds its devices with stderr captured at the file-descriptor
    level (the C++ side writes there directly), then passes on all but the start-up noise."""
    if "tensorflow" in sys.modules:
        return
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # where CUDA starts, or says it cannot
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode(errors="replace").splitlines()
                    if line.strip() and not _STARTUP_NOISE.match(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def _warnings_as_sentences(command):
    """kerasseg's own warnings print as "kerasseg COMMAND: warning: ...", without the
    file:line and source line Python adds; other libraries' keep their form."""
    import warnings

    _WARNING_PREFIX[0] = f"kerasseg {command}: warning: "
    if getattr(warnings.formatwarning, "kerasseg", False):
        return  # installed by an earlier main() in this process
    package = os.path.dirname(os.path.abspath(__file__))
    original = warnings.formatwarning

    def format_warning(message, category, filename, lineno, line=None):
        if os.path.abspath(filename).startswith(package + os.sep):
            return f"{_WARNING_PREFIX[0]}{message}\n"
        return original(message, category, filename, lineno, line)

    format_warning.kerasseg = True
    warnings.formatwarning = format_warning


_WARNING_PREFIX = ["kerasseg: warning: "]


def main(argv=None):
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    # TensorFlow's C++ start-up chatter is noise to a command-line user. A value
    # the user set is kept.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _warnings_as_sentences(args.command)
    if _needs_tensorflow(args):
        _start_tensorflow_quietly()
    problem = _backend_problem(args.command)   # after the noise of TensorFlow's start
    if problem:
        print(f"kerasseg {args.command}: error: {problem}", file=sys.stderr)
        return 2
    try:
        return args.run(args)
    except KeyboardInterrupt as error:
        # Ctrl-C: a few lines, no traceback. Every file is written whole or not at all.
        detail = str(error) or ("interrupted; every file already written is whole (none is "
                                "left half-written)")
        print(f"\nkerasseg {args.command}: {detail}", file=sys.stderr)
        return 130
    except (ValueError, ArithmeticError) as error:
        print(f"kerasseg {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a file that cannot be read or written: its name and why
        where = f"{error.filename}: " if error.filename else ""
        print(f"kerasseg {args.command}: error: {where}{error.strerror or error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
