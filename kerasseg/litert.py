"""Running an exported `.tflite` segmenter with LiteRT alone: numpy, Pillow and ai-edge-litert.

This file imports nothing else (no TensorFlow, no other kerasseg module), so it
can be copied to a device as it is. It does what a phone app does with the
file: resize the image to the model's input, scale it as the sidecar JSON says
(or as the input's quantization says), run, dequantize, resize the
probabilities back to the image's size and threshold them.

    python export/run_tflite.py model.tflite photo.jpg --out mask.png
"""

import json
import os

import numpy as np
from PIL import Image


SIDECAR_FORMAT = "kerasseg-tflite/2"

# What an instance model's output channels hold (kerasseg.instances): the person
# probability, the instance-centre heatmap, and each pixel's offset to its instance's
# centre as fractions of the image's height and width.
INSTANCE_CHANNELS = ("foreground", "centre", "offset_y", "offset_x")


def sidecar_path(model_path):
    """`unet.tflite` -> `unet.json`: the normalisation and labels written at export."""
    return os.path.splitext(model_path)[0] + ".json"


def sidecar(model_name, height, width, labels, quantize, binary, instances=False):
    """The sidecar JSON of an exported file, as a dict: the input/output contract.

    Input: RGB, resized to (height, width), pixel * scale + offset (a quantized
    input's own scale and zero point apply on top). Output: probabilities, one
    channel per label; a binary model's file holds [background, foreground],
    so that argmax is the class id (what MediaPipe Tasks reports). An instance
    model's file holds `INSTANCE_CHANNELS`, grouped by `decode_instances`.
    """
    if instances:
        output = {"kind": "instances", "channels": list(INSTANCE_CHANNELS),
                  "decode": ("foreground probability > threshold; centres = heatmap peaks "
                             "(local maxima above a threshold); each foreground pixel joins the "
                             "centre nearest to pixel + offset * (height, width), among the "
                             "centres of its connected region (a centre's region: where most "
                             "of its pixels are; a region with no centre is dropped); score = "
                             "mean foreground probability (kerasseg.litert.decode_instances)")}
    else:
        output = {"kind": "probabilities", "channels": len(labels), "binary": binary,
                  "decode": ("argmax = class id; channel 1 is the foreground probability"
                             if binary else "argmax = class id")}
    return {
        "format": SIDECAR_FORMAT,
        "model": model_name,
        "input": {"height": height, "width": width, "channels": 3, "color": "RGB",
                  "scale": 1 / 255, "offset": 0.0,
                  "note": "model input = pixel * scale + offset; a quantized input's own "
                          "scale and zero point apply on top"},
        "output": output,
        "labels": list(labels),
        "quantize": quantize,
    }


class TFLiteSegmenter:
    """A `.tflite` segmentation model with its sidecar, run by the LiteRT interpreter.

    Args:
        model_path: the `.tflite` file.
        num_threads: interpreter threads.

    Attributes:
        input_size: (height, width) of the model's input.
        num_classes: 1 for binary (one foreground probability), else classes.
        labels: class names from the sidecar.
    """

    def __init__(self, model_path, num_threads=1):
        from ai_edge_litert.interpreter import Interpreter

        if not os.path.isfile(model_path):
            raise ValueError(f"{model_path}: no such model file")
        meta_path = sidecar_path(model_path)
        if not os.path.isfile(meta_path):
            raise ValueError(f"{meta_path}: the sidecar written at export is missing; it holds "
                             "the input normalisation and the labels")
        try:
            with open(meta_path) as f:
                self.meta = json.load(f)
        except ValueError as error:
            raise ValueError(f"{meta_path}: the sidecar is not JSON ({error})") from error
        scaling = self.meta.get("input") if isinstance(self.meta, dict) else None
        if not isinstance(scaling, dict) or not {"scale", "offset"} <= set(scaling):
            raise ValueError(f"{meta_path}: not a kerasseg sidecar (no input scale and offset); "
                             "export the model again to write it")
        try:
            self.interpreter = Interpreter(model_path=model_path, num_threads=num_threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise ValueError(f"{model_path}: LiteRT cannot load it: {error}") from error
        self.name = model_path
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        self.input_size = tuple(int(v) for v in self._input["shape"][1:3])
        channels = int(self._output["shape"][-1])
        # Binary files since kerasseg-tflite/2 hold [background, foreground]
        # (class id = argmax, as MediaPipe reads them); older ones the foreground alone.
        self._foreground_only = bool(self.meta.get("output", {}).get("binary")) and channels == 2
        # An instance model's file holds INSTANCE_CHANNELS; its probabilities are the first.
        self.task = "instances" if self.meta.get("output", {}).get("kind") == "instances" \
            else "semantic"
        self.num_classes = 1 if channels == 1 or self._foreground_only or \
            self.task == "instances" else channels
        self.labels = self.meta.get("labels", [])

    def probabilities(self, images):
        """(N, h, w, 3) float32 images in [0, 1] at `input_size` -> (N, h, w, C) probabilities."""
        found = self.outputs(images)
        return found[..., :1] if self.task == "instances" else found

    def outputs(self, images):
        """(N, h, w, 3) float32 images in [0, 1] -> the network's (N, h, w, channels) output."""
        return np.stack([self._run_one(image) for image in np.asarray(images, np.float32)])

    def instances(self, image, **options):
        """One uint8 RGB image -> (ids, instances) at its own size (`decode_instances`)."""
        return instances_of(self, image, **options)

    def probabilities_tta(self, images):
        """The mean over the image and its horizontal and vertical flips."""
        return flip_mean(self.probabilities, images)

    def resize_in(self, image):
        """One uint8 (H, W, 3) image -> float32 (h, w, 3) in [0, 1] at `input_size` (bilinear)."""
        return resize_in(image, self.input_size)

    def _run_one(self, image):
        details = self._input
        scale, offset = self.meta["input"]["scale"], self.meta["input"]["offset"]
        x = image * 255.0 * scale + offset   # the model's own input scaling, from the sidecar
        if details["dtype"] in (np.uint8, np.int8):
            q_scale, q_zero = details["quantization"]
            info = np.iinfo(details["dtype"])
            x = np.clip(np.round(x / q_scale + q_zero), info.min, info.max)
        self.interpreter.set_tensor(details["index"], x[None].astype(details["dtype"]))
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self._output["index"])[0]
        if self._output["dtype"] in (np.uint8, np.int8):
            q_scale, q_zero = self._output["quantization"]
            y = (y.astype(np.float32) - q_zero) * q_scale
        if self._foreground_only:
            y = y[..., 1:]
        return y.astype(np.float32)

    def segment(self, image, threshold=0.5):
        """One uint8 RGB image of any size -> (H, W) uint8 class ids at the image's own size."""
        return mask_at(self.probabilities(self.resize_in(image)[None])[0], image.shape[:2], threshold)


def read_image(path, at_least=None):
    """Reads an image file as (H, W, 3) uint8 RGB, the way it displays.

    The EXIF orientation is applied (a phone photo stored sideways comes out
    upright, as every viewer shows it) and 16-bit gray images are scaled to 8
    bits (Pillow's RGB conversion clips them: all white). Gray, palette and
    RGBA images become RGB (alpha dropped). Raises what Pillow raises.

    `at_least` = (height, width): a JPEG at least twice as large on both sides
    may be decoded at 1/2, 1/4 or 1/8 of its size (the decoder's own scaling,
    far cheaper for a 30-megapixel photo), never below that size.
    """
    from PIL import ImageOps

    with Image.open(path) as image:
        if at_least is not None and image.format == "JPEG":
            # Both orders: the EXIF orientation may turn the image afterwards.
            side = max(at_least)
            image.draft("RGB", (side, side))
        image.load()
        image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image).astype(np.float64)
        top = float(values.max(initial=0))
        if image.mode == "F":
            scale = 255.0 if top <= 1.0 else 1.0          # floats in [0, 1], else 0..255
        elif image.mode.startswith("I;16") or 255 < top <= 65535:
            scale = 255.0 / 65535.0                       # 16-bit
        else:
            scale = 255.0 / top if top > 65535 else 1.0   # 32-bit: its own range
        gray = np.clip(np.round(values * scale), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, np.uint8)


def resize_in(image, size):
    """uint8 (H, W, 3) -> float32 (h, w, 3) in [0, 1] at `size` = (h, w), bilinear like training."""
    height, width = size
    if image.shape[:2] != (height, width):
        image = np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))
    return image.astype(np.float32) / 255.0


def flip_mean(probabilities, images):
    """Flip test-time augmentation: the mean of `probabilities` over the images and their
    horizontal and vertical flips, each flipped back."""
    total = probabilities(images)
    total = total + probabilities(images[:, :, ::-1])[:, :, ::-1]
    total = total + probabilities(images[:, ::-1])[:, ::-1]
    return total / 3.0


def resize(probabilities, size):
    """(h, w, C) float probabilities -> (H, W, C), bilinear, for `size` = (H, W)."""
    height, width = size
    if probabilities.shape[:2] == (height, width):
        return probabilities
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(probabilities[..., c], np.float32),
                                           mode="F").resize((width, height), Image.BILINEAR))
                for c in range(probabilities.shape[-1])]
    return np.stack(channels, axis=-1)


def classes(probabilities, threshold=0.5):
    """(…, C) probabilities -> (…) uint8 class ids (binary: foreground above `threshold`)."""
    if probabilities.shape[-1] == 1:
        return (probabilities[..., 0] > threshold).astype(np.uint8)
    return probabilities.argmax(axis=-1).astype(np.uint8)


def mask_at(probabilities, size, threshold=0.5):
    """(h, w, C) probabilities at the model's size -> (H, W) uint8 class ids at `size`.

    The one post-processing step of every path (evaluation, prediction, export
    checks, this runner): probabilities are resized, then thresholded or argmaxed.
    """
    return classes(resize(probabilities, size), threshold)


def instances_of(segmenter, image, **options):
    """The one inference path of instance models, for a Keras model and a TFLite file alike:
    resize in, run, `decode_instances` at the image's size (options are its keywords)."""
    if getattr(segmenter, "task", "semantic") != "instances":
        raise ValueError(f"{segmenter.name}: a semantic model gives no instances (its connected "
                         "components are what evaluate --instances scores for such a model)")
    output = segmenter.outputs(segmenter.resize_in(image)[None])[0]
    return decode_instances(output, size=image.shape[:2], **options)


def decode_instances(output, size=None, threshold=0.5, centre_threshold=0.1, nms_size=None,
                     top_k=100, min_size=0, foreground=None):
    """An instance model's output -> instance ids and scores (numpy only).

    Centres are the local maxima of the heatmap (within `nms_size` pixels, above
    `centre_threshold`; of equal neighbours, one), at most `top_k`. Every foreground
    pixel is given to the centre nearest to where its offset points, at the image's
    own size (the probability and offsets are resized there first; offsets are
    fractions of the image, so they need no rescaling). Centres split the
    foreground's connected components, they do not join them: each centre belongs to
    the component holding most of the pixels that point to it, a component's pixels
    join the nearest of its own centres, and a component that is no centre's is left
    out (a fragment, or a person the heatmap missed). Where there is foreground but no
    peak, the heatmap's maximum on the foreground is the one centre and all the
    foreground its instance. An instance's score is its mean foreground probability.

    Args:
        output: (h, w, 4) channels as `INSTANCE_CHANNELS`, at the model's size.
        size: (H, W) to decode at (default: the output's).
        threshold: foreground probability threshold.
        centre_threshold: the lowest heatmap peak that makes an instance.
        nms_size: the window, in output pixels, in which a peak must be the maximum
            (default: 15% of the output's longer side; chosen on Penn-Fudan's training
            photos, where 7 pixels of 160 left two centres on many a person).
        top_k: at most this many instances, the strongest centres first.
        min_size: instances smaller than this many pixels (at `size`) are dropped.
        foreground: None, or an (H, W) bool mask at `size` to group instead of the
            thresholded probability: with the true mask, it measures what the
            centres and offsets alone are worth (`benchmarks/instance_errors.py`).

    Returns:
        (ids, instances): (H, W) int32 ids, 0 background and 1..k by descending score,
        and a list of dicts {"id", "score", "box": [x0, y0, x1, y1], "area"}.
    """
    output = np.asarray(output, np.float32)
    if output.ndim != 3 or output.shape[-1] != len(INSTANCE_CHANNELS):
        raise ValueError(f"an instance model's output has {len(INSTANCE_CHANNELS)} channels "
                         f"({', '.join(INSTANCE_CHANNELS)}), got shape {output.shape}")
    h, w = output.shape[:2]
    height, width = size or (h, w)
    if nms_size is None:
        nms_size = 2 * round(0.075 * max(h, w)) + 1
    heat = output[..., 1]
    pad = nms_size // 2
    # A square window's maximum is the maximum over its rows' maxima: two passes of
    # nms_size comparisons a pixel instead of nms_size squared (49 x 49 at 320 pixels).
    windows = np.lib.stride_tricks.sliding_window_view
    padded = np.pad(heat, pad, constant_values=-np.inf)
    local_max = windows(windows(padded, nms_size, axis=0).max(axis=-1), nms_size,
                        axis=1).max(axis=-1)
    ys, xs = np.nonzero((heat >= local_max) & (heat > centre_threshold))
    order = np.argsort(-heat[ys, xs], kind="stable")
    # Equal neighbours are all local maxima (a quantized heatmap has plateaus): of the
    # peaks within the window of a stronger or earlier one, only that one is kept.
    kept = []
    for i in order:
        if all(max(abs(ys[i] - ys[j]), abs(xs[i] - xs[j])) > pad for j in kept):
            kept.append(i)
            if len(kept) == top_k:
                break
    ys, xs = ys[kept], xs[kept]
    full = resize(output[..., [0, 2, 3]], (height, width))
    if foreground is None:
        foreground = full[..., 0] > threshold
    elif np.shape(foreground) != (height, width):
        raise ValueError(f"foreground has shape {np.shape(foreground)}, not the decoded size "
                         f"{(height, width)}")
    foreground = np.asarray(foreground, bool)
    ids = np.zeros((height, width), np.int32)
    if not foreground.any():
        return ids, []
    peaks = len(ys) > 0
    if not peaks:
        # Foreground but no peak above the threshold (a person filling a portrait spreads
        # the heatmap thin): the strongest point on the foreground is its one centre, so
        # that someone is found.
        on = output[..., 0] > threshold
        y, x = np.unravel_index(np.argmax(np.where(on, heat, -np.inf) if on.any() else heat),
                                heat.shape)
        ys, xs = np.array([y]), np.array([x])
    # Centres at the image's size (pixel centres map through the resize).
    centres_y = (ys + 0.5) * height / h - 0.5
    centres_x = (xs + 0.5) * width / w - 0.5
    py, px = np.nonzero(foreground)
    pointed_y = py + full[py, px, 1] * height
    pointed_x = px + full[py, px, 2] * width

    def nearest(pixels, candidates):
        """Index into `candidates` of the centre nearest to where each pixel points."""
        found = np.empty(len(pixels), np.int64)
        for start in range(0, len(pixels), 1 << 16):   # in blocks: pixels x centres is large
            part = pixels[start:start + (1 << 16)]
            found[start:start + len(part)] = (
                (pointed_y[part, None] - centres_y[candidates][None]) ** 2
                + (pointed_x[part, None] - centres_x[candidates][None]) ** 2).argmin(axis=1)
        return found

    owner = nearest(np.arange(len(py)), np.arange(len(ys)))
    if peaks:
        # Stray offsets would hand part of a person to a neighbour's centre, and a region
        # without a peak to someone across the photo: centres only split components.
        component = connected_components(foreground)[py, px]
        votes = np.zeros((len(ys), int(component.max()) + 1), np.int64)
        np.add.at(votes, (owner, component), 1)
        home = np.where(votes.any(axis=1), votes.argmax(axis=1), 0)
        owner = np.full(len(py), -1)
        for part in np.unique(home[home > 0]):
            mine, theirs = np.flatnonzero(component == part), np.flatnonzero(home == part)
            owner[mine] = theirs[nearest(mine, theirs)]
    found = []
    for k in range(len(ys)):
        mine = owner == k
        area = int(mine.sum())
        if area == 0 or area < min_size:
            continue
        found.append((float(full[py[mine], px[mine], 0].mean()), py[mine], px[mine]))
    found.sort(key=lambda item: -item[0])
    instances = []
    for number, (score, iy, ix) in enumerate(found, start=1):
        ids[iy, ix] = number
        instances.append({"id": number, "score": round(score, 6),
                          "box": [int(ix.min()), int(iy.min()), int(ix.max()) + 1,
                                  int(iy.max()) + 1],
                          "area": int(len(iy))})
    return ids, instances


def connected_components(mask):
    """(H, W) bool -> (H, W) int32 ids of its 8-connected regions, 1..n in raster order.

    numpy and a loop over each row's runs (union-find), so that a device needs no
    SciPy; the same regions as `scipy.ndimage.label` with a 3x3 structure.
    """
    mask = np.asarray(mask, bool)
    height, width = mask.shape
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rows, starts = np.nonzero(edges == 1)
    ends = np.nonzero(edges == -1)[1]              # exclusive; same order as the starts
    parent = list(range(len(starts)))   # a set's root is its first run, in raster order

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    starts, ends = starts.tolist(), ends.tolist()
    first = np.searchsorted(rows, np.arange(height + 1)).tolist()
    for row in range(1, height):
        i, j = first[row], first[row - 1]
        while i < first[row + 1] and j < first[row]:
            # Runs of adjacent rows touch (diagonals included) when each starts at most
            # one column past the other's last.
            if starts[i] <= ends[j] and starts[j] <= ends[i]:
                a, b = root(i), root(j)
                parent[max(a, b)] = min(a, b)
            if ends[i] < ends[j]:
                i += 1
            else:
                j += 1
    roots = np.array([root(i) for i in range(len(starts))], np.int64)
    number = np.zeros(len(starts), np.int32)
    firsts = np.unique(roots)
    number[firsts] = np.arange(1, len(firsts) + 1)
    ids = np.zeros((height, width), np.int32)
    for row, start, end, run_root in zip(rows, starts, ends, roots):
        ids[row, start:end] = number[run_root]
    return ids


def instance_files(image, ids, instances, label="person", model=None, source=None):
    """What `kerasseg predict` and this runner write for an instance model, per image.

    Returns:
        (ids_png, record, tinted): the id map as a PNG array (uint8 when at most 255
        instances, else uint16; 0 = none, 1..k), the JSON record (the image's size and
        per instance: id, label, score, box [x0, y0, x1, y1] and area, at the image's
        own size) and the image with each instance in its own colour, uint8.
    """
    count = int(ids.max()) if ids.size else 0
    ids_png = ids.astype(np.uint8 if count <= 255 else np.uint16)
    record = {"format": "kerasseg-instances", "image": source, "model": model,
              "width": int(image.shape[1]),
              "height": int(image.shape[0]), "count": len(instances),
              "instances": [{"id": item["id"], "label": label, "score": item["score"],
                             "box": item["box"], "area": item["area"]} for item in instances]}
    tinted = image.astype(np.float32)
    for k in range(1, count + 1):
        chosen = ids == k
        # Golden-angle hues: neighbours in id order get far-apart colours.
        hue = (k * 0.381966) % 1.0
        color = 255 * np.clip(np.abs((hue * 6 + np.array([0, 4, 2])) % 6 - 3) - 1, 0, 1)
        tinted[chosen] = 0.5 * tinted[chosen] + 0.5 * color
    return ids_png, record, tinted.round().clip(0, 255).astype(np.uint8)


def overlay(image, mask, color=(255, 38, 25), alpha=0.45):
    """The image with the mask's pixels tinted, uint8."""
    out = image.astype(np.float32)
    chosen = mask.astype(bool)
    out[chosen] = (1 - alpha) * out[chosen] + alpha * np.asarray(color, np.float32)
    return out.round().clip(0, 255).astype(np.uint8)


def cpu_description():
    """The CPU's model name and the vector extensions that decide int8 speed.

    Every latency kerasseg prints or stores names it: the same int8 file runs
    several times faster with AVX-512 VNNI than on an AVX2-only CPU.
    """
    import platform

    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    name = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                if name and flags:
                    break
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")
    present = [flag for flag in wanted if flag in flags]
    return f"{name} ({', '.join(present) or 'no AVX2/AVX-512/VNNI'}; {os.cpu_count()} cores)"


def ready_interpreter(model_path, num_threads=1):
    """A LiteRT interpreter for a .tflite file with random input set, invoked once to warm up."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=model_path, num_threads=num_threads)
    interpreter.allocate_tensors()
    entry = interpreter.get_input_details()[0]
    x = np.random.default_rng(0).random(entry["shape"]).astype(np.float32)
    if entry["dtype"] in (np.uint8, np.int8):
        x = (x * 255 + np.iinfo(entry["dtype"]).min).astype(entry["dtype"])
    interpreter.set_tensor(entry["index"], x)
    interpreter.invoke()
    return interpreter


def latency_ms(model_path, num_threads=1, runs=50):
    """Median milliseconds of one `invoke()` of a .tflite file on random input, after a warm-up."""
    import statistics
    import time

    interpreter = ready_interpreter(model_path, num_threads)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(argv=None):
    import argparse
    import time

    parser = argparse.ArgumentParser(
        description="Segment an image with an exported .tflite model, using LiteRT only.")
    parser.add_argument("model", help="the .tflite file (its .json sidecar beside it)")
    parser.add_argument("image", help="an RGB image of any size")
    parser.add_argument("--out", required=True,
                        help="mask PNG to write (0/255 for binary models; for an instance model "
                             "the instance ids, with their JSON beside it)")
    parser.add_argument("--overlay", help="overlay PNG to write (default: next to --out)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args(argv)
    if not 0 < args.threshold < 1:
        parser.error(f"--threshold: expected a probability between 0 and 1 (exclusive), got "
                     f"{args.threshold}: nothing or everything would be foreground")

    try:
        model = TFLiteSegmenter(args.model, num_threads=args.threads)
        image = read_image(args.image)
    except (ValueError, OSError) as error:
        parser.exit(2, f"run_tflite: error: {error}\n")
    stem = os.path.splitext(args.out)[0]
    overlay_path = args.overlay or stem + "_overlay.png"
    written = [args.out, overlay_path] + ([stem + ".json"] if model.task == "instances" else [])
    # A device has no record of what kerasseg wrote: no file is ever replaced.
    inputs = {os.path.realpath(p) for p in (args.model, args.image, sidecar_path(args.model))}
    for path in written:
        if os.path.realpath(path) in inputs:
            parser.exit(2, f"run_tflite: error: {path}: would overwrite an input (the model, "
                           "its sidecar or the image); choose another --out\n")
        if os.path.exists(path):
            parser.exit(2, f"run_tflite: error: {path}: already exists, and this runner "
                           "replaces no file; choose another --out or remove it\n")
    if len(set(map(os.path.realpath, written))) < len(written):
        parser.exit(2, f"run_tflite: error: --out and --overlay name the same file "
                       f"({overlay_path})\n")
    start = time.perf_counter()
    if model.task == "instances":   # NAME_instances.png/.json and an overlay, as predict writes
        ids, found = model.instances(image, threshold=args.threshold)
        elapsed = time.perf_counter() - start
        ids_png, record, tinted = instance_files(image, ids, found, model.labels[-1] if
                                                 model.labels else "object", args.model,
                                                 args.image)
        Image.fromarray(ids_png).save(args.out)
        with open(stem + ".json", "w") as f:
            json.dump(record, f, indent=2)
        Image.fromarray(tinted).save(overlay_path)
        print(f"{args.image}: {image.shape[1]}x{image.shape[0]}, {len(found)} instances, "
              f"{elapsed * 1000:.1f} ms; wrote {args.out}, {stem}.json and {overlay_path}")
        return 0
    mask = model.segment(image, args.threshold)
    elapsed = time.perf_counter() - start
    Image.fromarray(mask * 255 if model.num_classes == 1 else mask).save(args.out)
    Image.fromarray(overlay(image, mask > 0)).save(overlay_path)
    share = float(np.mean(mask > 0))
    print(f"{args.image}: {image.shape[1]}x{image.shape[0]}, {share:.1%} foreground, "
          f"{elapsed * 1000:.1f} ms; wrote {args.out} and {overlay_path}")
    return 0
