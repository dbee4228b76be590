"""Small copies of what a training needs, to carry to another machine (a GPU box).

    python tools/carry.py data ../shared/data .carry/data --datasets ccp,pennfudan,portraits --size 224
    python tools/carry.py encoder lite0 4 .carry/lite0-depth4.weights.h5
    python tools/carry.py encoder lite0 4 .carry/person-encoder.weights.h5 --from person

`data` writes each dataset in its own layout, every photo and its mask resized
by the same factor so the longer side is at most --size (photos re-encoded as
JPEG, whatever their name says, which every kerasseg reader accepts; masks
resized nearest-neighbour, .mat masks rewritten with the same variables). A
training at --size reads them as it reads the originals. `encoder` writes the
ImageNet weights of an EfficientNet-Lite encoder cut at `depth` as a Keras
weights file, a few MB instead of the package's full .pth: pass it as
`--arg weights=PATH` with the same backbone and depth. With `--from MODEL` it
writes the encoder of a zoo model (or .keras file) on that encoder instead, to
start another network from it (a slimmer decoder, another input size).

Both refuse to write into a folder or file that exists: nothing is overwritten.
"""

import argparse
import os
import shutil
import sys

import numpy as np

PHOTO_MODES = ("RGB", "RGBA", "CMYK", "YCbCr")


def _scale(size, longest):
    width, height = size
    factor = min(1.0, longest / max(width, height))
    return max(1, round(width * factor)), max(1, round(height * factor))


def copy_dataset(source, target, longest, quality=90):
    """Copies one dataset folder, photos and masks shrunk; returns (files, bytes) written."""
    from PIL import Image, ImageOps
    from scipy.io import loadmat, savemat

    count = size = 0
    for folder, _, names in os.walk(source):
        out_folder = os.path.join(target, os.path.relpath(folder, source))
        os.makedirs(out_folder, exist_ok=True)
        for name in sorted(names):
            path, out = os.path.join(folder, name), os.path.join(out_folder, name)
            extension = os.path.splitext(name)[1].lower()
            if extension in (".jpg", ".jpeg", ".png", ".bmp"):
                with Image.open(path) as image:
                    if image.mode in PHOTO_MODES:
                        image = ImageOps.exif_transpose(image).convert("RGB")
                        image.resize(_scale(image.size, longest), Image.Resampling.LANCZOS).save(
                            out, format="JPEG", quality=quality)
                    else:
                        image.resize(_scale(image.size, longest), Image.Resampling.NEAREST).save(
                            out, format="PNG" if extension != ".bmp" else "BMP")
            elif extension == ".mat" and os.path.basename(name) != "label_list.mat":
                variables = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
                for key, value in variables.items():
                    if isinstance(value, np.ndarray) and value.ndim == 2 and value.size > 1:
                        height, width = value.shape
                        shape = _scale((width, height), longest)
                        rows = (np.arange(shape[1]) * height / shape[1]).astype(int)
                        cols = (np.arange(shape[0]) * width / shape[0]).astype(int)
                        variables[key] = value[rows][:, cols]
                savemat(out, variables, do_compression=True)
            else:
                shutil.copyfile(path, out)
            count, size = count + 1, size + os.path.getsize(out)
    return count, size


def save_encoder(variant, depth, path, size=224, source=None):
    import keras

    from kerasseg.models.efficientnet import efficientnet_lite_features

    images = keras.Input((size, size, 3))
    features = efficientnet_lite_features(images, variant, weights=None if source else "imagenet",
                                          depth=depth)
    encoder = keras.Model(images, features)
    if source:
        _copy_encoder(encoder, variant, source)
    encoder.save_weights(path)


def _copy_encoder(encoder, variant, source):
    """Sets `encoder`'s layers from the same layers of the model `source` (a zoo name or .keras
    file built by a kerasseg builder on that EfficientNet-Lite variant)."""
    from kerasseg import zoo
    from kerasseg.models.backbones import encoder_layers
    from kerasseg.saving import load_keras_model

    model = zoo.load(source) if zoo.is_name(source) else load_keras_model(source)
    prefix = f"{model.name}_efficientnet_{variant}_"
    theirs = {layer.name[len(prefix):]: layer for layer in encoder_layers(model)
              if layer.name.startswith(prefix)}
    for layer in encoder.layers:
        if not layer.weights:
            continue
        name = layer.name.split("_", 1)[1]   # "backbone_stem_conv" -> "stem_conv"
        if name not in theirs:
            sys.exit(f"carry.py: --from {source} has no EfficientNet-{variant.title()} layer "
                     f"{name}; is it built on that encoder, at this depth or deeper?")
        layer.set_weights(theirs[name].get_weights())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    data = commands.add_parser("data", help="shrunk copies of datasets")
    data.add_argument("root", help="the data root (e.g. ../shared/data)")
    data.add_argument("out", help="a new folder")
    data.add_argument("--datasets", required=True, help="comma-separated folder names")
    data.add_argument("--size", type=int, default=256, help="longest side (default 256)")
    data.add_argument("--quality", type=int, default=90, help="JPEG quality (default 90)")
    encoder = commands.add_parser("encoder", help="ImageNet encoder weights")
    encoder.add_argument("variant", choices=["lite0", "lite1", "lite2"])
    encoder.add_argument("depth", type=int)
    encoder.add_argument("out", help="a new .weights.h5 file")
    encoder.add_argument("--from", dest="source", metavar="MODEL",
                         help="copy the encoder of this zoo model or .keras file (built on the "
                              "same variant) instead of ImageNet's")
    args = parser.parse_args(argv)
    if os.path.exists(args.out):
        sys.exit(f"carry.py: {args.out} exists; give a new path")
    if args.command == "encoder":
        save_encoder(args.variant, args.depth, args.out, source=args.source)
        print(f"{args.out}: {os.path.getsize(args.out) / 1e6:.1f} MB")
        return
    for name in args.datasets.split(","):
        if not os.path.isdir(os.path.join(args.root, name)):
            sys.exit(f"carry.py: {os.path.join(args.root, name)} is not a folder")
    for name in args.datasets.split(","):
        count, size = copy_dataset(os.path.join(args.root, name), os.path.join(args.out, name),
                                   args.size, args.quality)
        print(f"{name}: {count} files, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
