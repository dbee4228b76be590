"""Export to SavedModel and TFLite, each checked against the Keras model.

TFLite files are batch 1 at the model's input size, builtin ops only, with the
probabilities (sigmoid/softmax applied) as output. Next to `model.tflite` go
`model.json` (the sidecar: input scaling, labels; read by `kerasseg.litert`)
and `model.report.json` (size, and fidelity on real images: max abs difference
and mask agreement against Keras, Dice of both against the ground truth).

Every file is written to a temporary name and renamed into place, so an
interrupted export leaves nothing half-written; an existing output is only
replaced with `force=True`, and only if kerasseg wrote it (a SavedModel
folder, a .tflite file, its sidecar or report): never a folder of other files.
"""

import contextlib
import io
import json
import os
import re
import shutil
import tempfile

import numpy as np

QUANTIZATIONS = ("none", "float16", "dynamic", "int8")


class ExportError(ValueError):
    """The model cannot be exported as asked; the message says why."""


# What a SavedModel folder holds; --force replaces a folder holding nothing else.
SAVEDMODEL_ENTRIES = {"saved_model.pb", "saved_model.pbtxt", "variables", "assets", "assets.extra",
                      "fingerprint.pb", "keras_metadata.pb"}


def _check_target(path, force, exported_by_us):
    """Refuses an existing `path` unless `force`, and even then unless kerasseg wrote it
    (`kerasseg.outputs.check_file`); `exported_by_us` recognises the file."""
    from kerasseg import outputs

    try:
        outputs.check_file(path, "--out", force, exported_by_us, make_folder=True)
    except outputs.OutputError as error:
        raise ExportError(str(error)) from None


def _check_savedmodel_target(out_dir, force):
    """A SavedModel folder may replace only an empty folder or a SavedModel, and only with force."""
    if not os.path.exists(out_dir):
        return
    if not os.path.isdir(out_dir):
        raise ExportError(f"{out_dir} is a file; a SavedModel is a folder: choose another --out")
    entries = sorted(os.listdir(out_dir))
    if not entries:
        return
    if not force:
        raise ExportError(f"{out_dir} already exists; pass --force to replace it")
    others = [name for name in entries if name not in SAVEDMODEL_ENTRIES]
    if others or "saved_model.pb" not in entries:
        reason = (", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
                  if others else "no saved_model.pb")
        raise ExportError(f"{out_dir} holds files that are not a SavedModel ({reason}); --force "
                          "replaces only a SavedModel: choose another --out")


def check_outputs(export_format, out, force=False):
    """The output checks of `export_savedmodel` / `export_tflite`, without the model: what the
    command runs before loading anything."""
    from kerasseg.litert import sidecar_path

    if export_format == "savedmodel":
        return _check_savedmodel_target(out, force)
    if not out.endswith(".tflite"):
        raise ExportError(f"{out}: a TFLite file name must end in .tflite")
    _check_target(out, force, _tflite_file_reason)
    _check_target(sidecar_path(out), force,
                  lambda path: _json_file_reason(path, [("format", "kerasseg-tflite"),
                                                        ("labels", None)]))
    _check_target(_report_path(out), force,
                  lambda path: _json_file_reason(path, [("file", None), ("quantize", None),
                                                        ("bytes", None)]))


def _report_path(out_path):
    return os.path.splitext(out_path)[0] + ".report.json"


def _tflite_file_reason(path):
    with open(path, "rb") as f:
        head = f.read(8)
    return None if head[4:8] == b"TFL3" else "no TFLite flatbuffer header"


def _json_file_reason(path, keys):
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return "not JSON"
    if not isinstance(data, dict) or not all(key in data for key, _ in keys) or \
            not all(value is None or str(data[key]).startswith(value) for key, value in keys):
        return "not a sidecar or report written at export"
    return None


def _probabilities_fn(model):
    """The model in inference mode with sigmoid/softmax applied, as a plain function."""
    import tensorflow as tf

    from kerasseg.models.blocks import outputs_logits

    logits = outputs_logits(model)

    def run(x):
        y = tf.cast(model(x, training=False), tf.float32)
        if not logits:
            return y
        return tf.sigmoid(y) if y.shape[-1] == 1 else tf.nn.softmax(y, axis=-1)

    return run


def _batch_one_probabilities(model):
    """A functional wrapper: batch 1, the model's size, probabilities with one channel per class.

    A binary model's one foreground probability p becomes two channels,
    [1 - p, p], so that the argmax is the class id (0 background, 1
    foreground): what MediaPipe Tasks' ImageSegmenter reports as its category
    mask, as for MediaPipe's own segmenters. With one channel it marks the
    foreground 0 and everything else 255.
    """
    import keras

    from kerasseg.instances.model import is_instance_model
    from kerasseg.models.blocks import outputs_logits

    height, width = input_size(model)
    inputs = keras.Input((height, width, 3), batch_size=1, name="image")
    outputs = model(inputs, training=False)
    if is_instance_model(model):   # its channels are already bounded: kept as they are
        return keras.Model(inputs, outputs, name=model.name)
    if outputs_logits(model):
        activation = "sigmoid" if model.output_shape[-1] == 1 else "softmax"
        outputs = keras.layers.Activation(activation, dtype="float32",
                                          name="probabilities")(outputs)
    if model.output_shape[-1] == 1:
        background = keras.layers.Rescaling(-1.0, offset=1.0, dtype="float32",
                                            name="background")(outputs)
        outputs = keras.layers.Concatenate(dtype="float32", name="classes")(
            [background, outputs])
    return keras.Model(inputs, outputs, name=model.name)


def input_size(model, purpose="TFLite export"):
    """(height, width) of a model with a fixed input size; ExportError naming `purpose` otherwise."""
    height, width = model.input_shape[1:3]
    if height is None or width is None:
        raise ExportError(f"model {model.name} has no fixed input size ({model.input_shape}); "
                          f"{purpose} needs one: rebuild it with input_shape=(H, W, 3)")
    return int(height), int(width)


def export_savedmodel(model, out_dir, force=False):
    """Writes a SavedModel with two signatures.

    `serving_default` takes uint8 images of any height and width
    ([batch, H, W, 3]), resizes and scales them inside, and returns
    "probabilities" ([batch, H, W, C] float32) and "mask" ([batch, H, W] uint8)
    at the input's size. `raw` is the Keras model itself on float32 inputs in
    [0, 1] at its own size.

    Args:
        model: a Keras segmentation model with a fixed input size.
        out_dir: the SavedModel folder to write.
        force: replace an existing `out_dir` that holds a SavedModel (and
            nothing else): never a file or a folder of other files.

    Returns:
        `out_dir`.
    """
    import tensorflow as tf

    _check_savedmodel_target(out_dir, force)
    height, width = input_size(model, "SavedModel export (its serving signature resizes to it)")
    probabilities = _probabilities_fn(model)
    channels = model.output_shape[-1]

    class Serving(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
        def serve(self, images):
            size = tf.shape(images)[1:3]
            x = tf.image.resize(tf.cast(images, tf.float32) / 255.0, (height, width),
                                method="bilinear")
            p = tf.image.resize(probabilities(x), size, method="bilinear")
            if channels == 1:
                mask = tf.cast(p[..., 0] > 0.5, tf.uint8)
            else:
                mask = tf.cast(tf.argmax(p, axis=-1), tf.uint8)
            return {"probabilities": p, "mask": mask}

        @tf.function(input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32,
                                                    name="inputs")])
        def raw(self, inputs):
            return {"outputs": model(inputs, training=False)}

    module = Serving()
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    temporary = tempfile.mkdtemp(dir=parent, prefix=".tmp-savedmodel-")
    try:
        tf.saved_model.save(module, temporary,
                            signatures={"serving_default": module.serve, "raw": module.raw})
        # Checked again: the folder may have changed during the save.
        _check_savedmodel_target(out_dir, force)
        old = None
        if os.path.exists(out_dir):
            old = tempfile.mkdtemp(dir=parent, prefix=".tmp-replaced-")
            os.rmdir(old)
            os.replace(out_dir, old)
        os.replace(temporary, out_dir)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return out_dir


def representative_images(source, image_size, count=64, seed=0):
    """Up to `count` float32 images in [0, 1] from a `kerasseg.data.sources.Source`, as the
    training pipeline decodes and resizes them (calibration data for full int8)."""
    dataset = source.dataset(image_size, shuffle=True, seed=seed)
    return np.stack([image.numpy() for image, _ in dataset.take(count)])


def _check_representative(images, size):
    images = np.asarray(images)
    expected = (size[0], size[1], 3)
    if images.ndim != 4 or tuple(images.shape[1:]) != expected:
        raise ExportError(f"representative data has shape {images.shape}; expected "
                          f"(N, {expected[0]}, {expected[1]}, 3) like the model's input")
    if images.dtype != np.float32:
        raise ExportError(f"representative data has dtype {images.dtype}; expected float32 "
                          "images in [0, 1]")
    if len(images) == 0 or images.min() < 0 or images.max() > 1:
        raise ExportError("representative data must hold at least one image with values in "
                          f"[0, 1] (got {len(images)} images)")
    return images


def convert_tflite(model, quantize="none", representative=None, int8_io="uint8"):
    """The model as TFLite flatbuffer bytes (batch 1, builtin ops only, probabilities out).

    Args:
        model: a Keras segmentation model with a fixed input size.
        quantize: "none" (float32), "float16" (weights), "dynamic" (int8
            weights, float compute) or "int8" (everything int8; needs
            `representative`).
        representative: for "int8", float32 images (N, H, W, 3) in [0, 1].
        int8_io: for "int8", the input/output type: "uint8" or "int8".

    Returns:
        bytes. Raises ExportError naming the ops (and the layers they came
        from) that are not TFLite builtins.
    """
    import tensorflow as tf

    if quantize not in QUANTIZATIONS:
        raise ExportError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    if int8_io not in ("uint8", "int8"):
        raise ExportError(f"int8 input/output type must be 'uint8' or 'int8', got {int8_io!r}")
    height, width = input_size(model)
    wrapped = _batch_one_probabilities(model)
    serve = tf.function(lambda image: wrapped(image, training=False)).get_concrete_function(
        tf.TensorSpec((1, height, width, 3), tf.float32, name="image"))
    # From the one traced function and the variables it reads: `from_keras_model` goes
    # through Keras' SavedModel export, which traces the model eight times and walks every
    # layer's objects (lite0 DeepLabV3+ at 64 x 64: 34 s, 15 s this way) for the same file
    # but for the output tensor's internal name (same ops, outputs, signature and I/O names).
    holder = tf.Module()
    holder.variables_read = list(serve.variables)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve], holder)
    # Builtins only: Flex (SELECT_TF_OPS) kernels ship in neither interpreter wheel.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize == "int8":
        if representative is None:
            raise ExportError("full int8 needs representative data (e.g. --representative-data "
                              "ph2:train --data-dir DIR)")
        images = _check_representative(representative, (height, width))
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in images)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = getattr(tf, int8_io)
        converter.inference_output_type = getattr(tf, int8_io)
    try:
        # The converter saves a temporary SavedModel and prints its signature
        # to stdout; that listing is noise to a command-line user.
        with contextlib.redirect_stdout(io.StringIO()):
            data = converter.convert()
    except Exception as error:  # noqa: BLE001 (the converter raises several types)
        raise ExportError(_explain_conversion_error(str(error), model, serve.graph)) from error
    return strip_tensor_names(data)


def strip_tensor_names(data):
    """The .tflite bytes without the names of intermediate tensors.

    The converter names every tensor after the ops it fused ("unet_1/unet_1/dec3/...;..."),
    about 3% of a full-int8 file (27.9 KB of a 1.01 MB EfficientNet-Lite0 U-Net) that no
    runtime reads; a phone budget counts them. The input and output tensors keep their names
    and the signature its keys, so what an app looks up is unchanged (TFLite's own
    `flatbuffer_utils.strip_strings` drops those too).
    """
    from tensorflow.lite.tools import flatbuffer_utils

    tree = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    for subgraph in tree.subgraphs:
        keep = set(subgraph.inputs) | set(subgraph.outputs)
        for index, tensor in enumerate(subgraph.tensors):
            if index not in keep:
                tensor.name = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(tree))


def _explain_conversion_error(message, model, graph):
    """The converter's error as a sentence: which ops are not builtins, and from which layers.

    The layers are found in the traced graph, whose op names carry each layer's name scope
    with a call suffix (e.g. "bad_1/bad_1/argmax_pool_1/MaxPoolWithArgmax").
    """
    ops = sorted(set(re.findall(r"'(tf\.[A-Za-z0-9_]+)' op", message)))
    if not ops:
        return f"TFLite conversion of {model.name} failed: {message.strip()[:2000]}"
    layer_names = [layer.name for layer in model.layers]
    found = []
    for op in ops:
        op_type = op.split(".", 1)[1]
        scopes = [node.name.split("/")[:-1] for node in graph.get_operations()
                  if node.type == op_type]
        layers = sorted({name for name in layer_names for scope in scopes
                         if any(re.fullmatch(rf"{re.escape(name)}(_\d+)?", part)
                                for part in scope)})
        found.append(f"{op} (from layer {', '.join(layers) if layers else 'unknown'})")
    return (f"{model.name} uses ops that are not TFLite builtins: {'; '.join(found)}. "
            "They would need the Flex delegate, which no LiteRT wheel ships; replace those layers "
            "with builtin-friendly ones (see docs/design.md: index-free unpooling, no Resizing layer).")


def fidelity(model, tflite_path, records, mask_reader, threshold=0.5):
    """Keras vs the exported file on real images, and both against the ground truth.

    For an instance model, the masks are instance ids: Dice is of the foreground,
    and mask AP and PQ of each side's instances are added.

    Args:
        model: the Keras model that was exported.
        tflite_path: the exported file (its sidecar beside it).
        records: `kerasseg.data.Record`s with masks.
        mask_reader: callable(record) -> (H, W) class ids.
        threshold: foreground threshold.

    Returns:
        A dict: "images", "max_abs_diff" (probabilities, at the model's size),
        "mask_agreement" (share of pixels where the masks agree), "dice_keras"
        and "dice_tflite" (mean per-image Dice at the images' own size); for an
        instance model also "ap_keras", "ap_tflite", "pq_keras", "pq_tflite".
    """
    from kerasseg.data.records import load_pair
    from kerasseg.evaluate import scores
    from kerasseg.segmenter import KerasSegmenter, classes_from, mask_at
    from kerasseg.litert import TFLiteSegmenter

    keras_side, lite_side = KerasSegmenter(model), TFLiteSegmenter(tflite_path)
    num_classes = max(keras_side.num_classes, 2)
    instances = keras_side.task == "instances"
    if instances:
        from kerasseg.instances import InstanceScores

        found = {"keras": InstanceScores(), "tflite": InstanceScores()}
    max_diff, agree, pixels, dice_keras, dice_lite = 0.0, 0, 0, [], []
    for record in records:
        image, truth = load_pair(record, mask_reader)
        x = keras_side.resize_in(image)[None]
        p_keras, p_lite = keras_side.probabilities(x)[0], lite_side.probabilities(x)[0]
        # An instance model's heatmap and offsets count too; a semantic one's probabilities.
        both = (keras_side.outputs(x)[0], lite_side.outputs(x)[0]) if instances else (p_keras,
                                                                                      p_lite)
        difference = float(np.abs(both[0] - both[1]).max())
        max_diff = max(max_diff, difference if np.isfinite(difference) else float("inf"))
        m_keras, m_lite = classes_from(p_keras, threshold), classes_from(p_lite, threshold)
        agree += int(np.sum(m_keras == m_lite))
        pixels += m_keras.size
        semantic = (truth > 0).astype(np.uint8) if instances else truth
        for probabilities, sink in ((p_keras, dice_keras), (p_lite, dice_lite)):
            full = mask_at(probabilities, truth.shape, threshold)
            sink.append(scores(semantic, full, num_classes)["dice"])
        if instances:
            for side, segmenter in (("keras", keras_side), ("tflite", lite_side)):
                ids, items = segmenter.instances(image, threshold=threshold)
                found[side].update(truth, ids, {i["id"]: i["score"] for i in items})
    report = {
        "images": len(records),
        "max_abs_diff": round(max_diff, 6),
        "mask_agreement": round(agree / pixels, 6),
        "dice_keras": round(float(np.mean(dice_keras)), 6),
        "dice_tflite": round(float(np.mean(dice_lite)), 6),
    }
    if instances:
        for side in ("keras", "tflite"):
            result = found[side].result()
            report.update({f"{key}_{side}": round(result[key], 6) for key in ("ap", "pq")})
    return report


def export_tflite(model, out_path, quantize="none", representative=None, int8_io="uint8",
                  labels=None, fidelity_data=None, source_name=None, force=False):
    """Converts, writes the file, its sidecar and its fidelity report.

    Args:
        model: a Keras segmentation model with a fixed input size.
        out_path: the `.tflite` file to write.
        quantize, representative, int8_io: see `convert_tflite`.
        labels: class names stored in the sidecar (default background and
            foreground for binary models).
        fidelity_data: None, or a `kerasseg.data.sources.Source` of real
            images to measure the export on.
        source_name: what `model` was (a path or zoo name), for the report.
        force: replace existing files that kerasseg exported (a .tflite
            file, a sidecar, a report), never others.

    Returns:
        The report dict (also written to `<stem>.report.json`).
    """
    from kerasseg.instances.model import is_instance_model
    from kerasseg.litert import sidecar, sidecar_path

    # --force replaces the file, its sidecar and its report only where kerasseg wrote them.
    check_outputs("tflite", out_path, force)
    report_path = _report_path(out_path)
    instances = is_instance_model(model)
    channels = 1 if instances else int(model.output_shape[-1])
    labels = list(labels or (["background", "foreground"] if channels == 1 else
                             [f"class_{i}" for i in range(channels)]))
    expected = 2 if channels == 1 else channels
    if len(labels) != expected:
        raise ExportError(f"{len(labels)} labels given ({', '.join(labels)}) but the model has "
                          f"{expected} classes")

    from kerasseg import metadata, outputs

    data = convert_tflite(model, quantize, representative, int8_io)
    height, width = input_size(model)
    meta = sidecar(source_name or model.name, height, width, labels, quantize,
                   binary=channels == 1, instances=instances)
    if instances:
        # MediaPipe's ImageSegmenter would read the four channels as four classes: an
        # instance file is run by kerasseg's runner (litert.py), which groups the people.
        left_out = ("no MediaPipe metadata: an instance model's output is decoded by "
                    "kerasseg.litert.decode_instances (export/run_tflite.py), not by "
                    "MediaPipe's ImageSegmenter")
    else:
        # What MediaPipe Tasks reads: the labels, and for float input the normalisation.
        data, left_out = metadata.add(data, labels, float_input=quantize != "int8",
                                      name=meta["model"])
    if left_out and not instances:
        import warnings

        warnings.warn(left_out, stacklevel=2)
    # The sidecar goes first: a .tflite file is never there without it.
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    outputs.write_json(sidecar_path(out_path), meta)
    outputs.write_bytes(out_path, data)
    report = {"file": os.path.basename(out_path), "model": meta["model"], "quantize": quantize,
              "bytes": len(data), "input": [height, width], "params": int(model.count_params()),
              "metadata": left_out or f"ImageSegmenter metadata: labels {', '.join(labels)}"
              + (", normalisation mean 0, std 255" if quantize != "int8" else "")}
    if fidelity_data is not None:
        report["fidelity"] = {
            "data": f"{fidelity_data.name}:{fidelity_data.split}",
            **fidelity(model, out_path, fidelity_data.records, fidelity_data.mask_reader)}
    outputs.write_json(report_path, report)
    return report


def dataset_split(spec):
    """"ph2:train" -> ("ph2", "train"); a mixture's weights stay with its name:
    "isic2018+ph2:2:train" -> ("isic2018+ph2:2", "train"), "isic2018+ph2:0.5" ->
    ("isic2018+ph2:0.5", "")."""
    name, _, split = str(spec).rpartition(":")
    try:
        float(split)
        weight = True
    except ValueError:
        weight = False
    return (name, split) if name and not weight else (str(spec), "")


def export_model(model, out, export_format="tflite", quantize="none", data_dir=None,
                 representative_data=None, fidelity_data=None, samples=64, labels=None,
                 int8_io="uint8", masks_dir=None, mask_suffix="", force=False):
    """Exports a model named by path or zoo name: what `kerasseg export` runs.

    Outputs are checked before the model is loaded, so a mistake costs nothing.

    Args:
        model: a `.keras` file or a zoo name.
        out: the SavedModel folder or the `.tflite` file to write.
        export_format: "tflite" or "savedmodel".
        quantize: for TFLite: "none", "float16", "dynamic" or "int8".
        data_dir: where the datasets named below are.
        representative_data: "DATASET:SPLIT" of images to calibrate full int8
            on (needed for "int8").
        fidelity_data: "DATASET:SPLIT" to measure the export on; defaults to
            the representative dataset's "val" split.
        samples: calibration images.
        labels: class names for the sidecar; a zoo model's card's by default.
        int8_io: for "int8": "uint8" or "int8" input and output.
        masks_dir, mask_suffix: for "folder:SPLIT" data.
        force: replace outputs that kerasseg exported (never other files).

    Returns:
        The report dict of `export_tflite`, or {"savedmodel": out}.

    Example:
    >>> export_model("unet-ph2", "unet_ph2_int8.tflite", quantize="int8",
    ...              data_dir="../shared/data", representative_data="ph2:train")  # doctest: +SKIP
    """
    from kerasseg import zoo
    from kerasseg.data.sources import source
    from kerasseg.segmenter import KerasSegmenter, load

    if export_format not in ("tflite", "savedmodel"):
        raise ExportError(f"export_format must be 'tflite' or 'savedmodel', got {export_format!r}")
    check_outputs(export_format, out, force)  # before loading anything
    if quantize == "int8" and not representative_data:
        raise ExportError("--quantize int8 needs --representative-data DATASET:SPLIT "
                          "(e.g. ph2:train) and --data-dir")
    segmenter = load(model)
    if not isinstance(segmenter, KerasSegmenter):
        raise ExportError(f"--model {model}: only Keras models (a .keras file or a zoo name) "
                          "can be exported")
    keras_model = segmenter.model
    if export_format == "savedmodel":
        export_savedmodel(keras_model, out, force=force)
        return {"savedmodel": out}

    def data(spec, option):
        from kerasseg.data.sources import has_instance_ids

        name, split = dataset_split(spec)
        if not data_dir:
            raise ExportError(f"{option} {spec} needs --data-dir")
        # An instance model is checked on instance ids where the dataset (or a part of the
        # mixture) has them.
        mode = ("instances" if segmenter.task == "instances" and has_instance_ids(name)
                else None)
        return source(name, data_dir, split or "train", masks_dir=masks_dir,
                      mask_suffix=mask_suffix, mode=mode)

    representative = None
    if quantize == "int8":
        representative = representative_images(
            data(representative_data, "--representative-data"), input_size(keras_model),
            count=samples)
    fidelity_data = fidelity_data or (
        f"{dataset_split(representative_data)[0]}:val" if representative_data else None)
    if labels is None and zoo.is_name(model):
        labels = zoo.card(model)["labels"]
    return export_tflite(
        keras_model, out, quantize, representative=representative, int8_io=int8_io,
        labels=labels,
        fidelity_data=data(fidelity_data, "--fidelity-data") if fidelity_data else None,
        source_name=model, force=force)
