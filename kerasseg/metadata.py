"""TFLite metadata that MediaPipe's ImageSegmenter reads: input normalisation, labels.

MediaPipe Tasks refuses a float model without normalisation metadata and
reports no labels for a file without a labels file. This module writes the
same metadata as MediaPipe's own image segmenter writer (which does not import
in mediapipe 1.2.x: its C++ parts are missing), with the flatbuffer schema
classes MediaPipe ships (`mediapipe.tasks.metadata`), packed as MediaPipe and
LiteRT expect: a "TFLITE_METADATA" buffer in the model and the labels file
appended as a zip archive. LiteRT ignores both, so every file runs there
unchanged. Without MediaPipe installed (`pip install "kerasseg[mediapipe]"`)
`add` leaves the file as it is and says so.

Example:
>>> data = add(tflite_bytes, ["background", "lesion"], float_input=True)  # doctest: +SKIP
>>> read(data[0])["labels"]  # doctest: +SKIP
['background', 'lesion']
"""

import io
import zipfile

FIELD = "TFLITE_METADATA"
LABELS_FILE = "labels.txt"
# The oldest metadata parser that reads what is written here (image properties,
# normalisation, a labels file); MediaPipe's writer computes this in C++.
MIN_PARSER_VERSION = "1.0.0"
METADATA_IDENTIFIER = b"M001"   # the metadata schema's file identifier


def _schemas():
    """(metadata schema, model schema) modules from MediaPipe, or None if it is missing."""
    try:
        from mediapipe.tasks.metadata import metadata_schema_py_generated as metadata_fb
        from mediapipe.tasks.metadata import schema_py_generated as model_fb
    except ImportError:
        return None
    return metadata_fb, model_fb


def add(model, labels, float_input, name="kerasseg segmenter", description=""):
    """The model with ImageSegmenter metadata added.

    Args:
        model: the .tflite file's bytes (without metadata).
        labels: the class names, in the order of the output's channels
            (binary files: background, foreground).
        float_input: the input is float32 in [0, 1] (normalisation mean 0,
            std 255 of 0-255 pixels); False for a uint8 input.
        name, description: the model's name and description in the metadata.

    Returns:
        (bytes, note): the file with metadata, and None; or the file as given
        and a sentence saying what was left out and why.
    """
    schemas = _schemas()
    if schemas is None:
        return model, ("no TFLite metadata written (MediaPipe Tasks needs it for labels and, "
                       "for float files, normalisation): the schema comes with "
                       "pip install \"kerasseg[mediapipe]\"")
    metadata_fb, model_fb = schemas
    import flatbuffers

    image = metadata_fb.TensorMetadataT()
    image.name = "image"
    image.description = "RGB image, " + ("float32 in [0, 1]" if float_input else "uint8 0-255")
    image.content = metadata_fb.ContentT()
    image.content.contentProperties = metadata_fb.ImagePropertiesT()
    image.content.contentProperties.colorSpace = metadata_fb.ColorSpaceType.RGB
    image.content.contentPropertiesType = metadata_fb.ContentProperties.ImageProperties
    image.stats = metadata_fb.StatsT()
    if float_input:
        normalization = metadata_fb.ProcessUnitT()
        normalization.optionsType = metadata_fb.ProcessUnitOptions.NormalizationOptions
        normalization.options = metadata_fb.NormalizationOptionsT()
        normalization.options.mean, normalization.options.std = [0.0], [255.0]
        image.processUnits = [normalization]
        image.stats.min, image.stats.max = [0.0], [1.0]
    else:
        image.stats.min, image.stats.max = [0.0], [255.0]

    masks = metadata_fb.TensorMetadataT()
    masks.name = "segmentation_masks"
    masks.description = "per-pixel class probabilities, one channel per label"
    masks.content = metadata_fb.ContentT()
    masks.content.contentProperties = metadata_fb.ImagePropertiesT()
    masks.content.contentProperties.colorSpace = metadata_fb.ColorSpaceType.GRAYSCALE
    masks.content.contentPropertiesType = metadata_fb.ContentProperties.ImageProperties
    masks.content.range = metadata_fb.ValueRangeT()
    masks.content.range.min, masks.content.range.max = 1, 2
    label_file = metadata_fb.AssociatedFileT()
    label_file.name = LABELS_FILE
    label_file.description = "the class of each output channel"
    label_file.type = metadata_fb.AssociatedFileType.TENSOR_AXIS_LABELS
    masks.associatedFiles = [label_file]

    subgraph = metadata_fb.SubGraphMetadataT()
    subgraph.inputTensorMetadata, subgraph.outputTensorMetadata = [image], [masks]
    info = metadata_fb.ModelMetadataT()
    info.name, info.description = name, description
    info.subgraphMetadata = [subgraph]
    info.minParserVersion = MIN_PARSER_VERSION
    builder = flatbuffers.Builder(0)
    builder.Finish(info.Pack(builder), METADATA_IDENTIFIER)
    metadata = builder.Output()

    # The metadata goes into a buffer of the model, named by a Metadata entry.
    tree = model_fb.ModelT.InitFromObj(model_fb.Model.GetRootAsModel(model, 0))
    buffer = model_fb.BufferT()
    buffer.data = list(metadata)
    tree.buffers = list(tree.buffers or [])
    tree.metadata = list(tree.metadata or [])
    written = [entry for entry in tree.metadata if entry.name.decode() == FIELD]
    if written:   # written before: its buffer takes the new metadata
        tree.buffers[written[0].buffer] = buffer
    else:
        tree.buffers.append(buffer)
        entry = model_fb.MetadataT()
        entry.name, entry.buffer = FIELD, len(tree.buffers) - 1
        tree.metadata.append(entry)
    builder = flatbuffers.Builder(0)
    builder.Finish(tree.Pack(builder), b"TFL3")
    # Associated files follow the flatbuffer as a zip archive, as MediaPipe packs them.
    out = io.BytesIO(bytes(builder.Output()))
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a") as archive:
        archive.writestr(LABELS_FILE, "\n".join(labels) + "\n")
    return out.getvalue(), None


def read(model):
    """The metadata of a .tflite file's bytes, as a dict: "labels", "mean", "std" (None where
    absent), or None for a file without metadata. Needs the MediaPipe extra."""
    schemas = _schemas()
    if schemas is None:
        raise ImportError('reading TFLite metadata needs pip install "kerasseg[mediapipe]"')
    metadata_fb, model_fb = schemas
    tree = model_fb.Model.GetRootAsModel(model, 0)
    for i in range(tree.MetadataLength()):
        entry = tree.Metadata(i)
        if entry.Name().decode() == FIELD:
            data = tree.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
            break
    else:
        return None
    info = metadata_fb.ModelMetadataT.InitFromObj(
        metadata_fb.ModelMetadata.GetRootAsModelMetadata(data, 0))
    image = info.subgraphMetadata[0].inputTensorMetadata[0]
    units = [u for u in (image.processUnits or [])
             if u.optionsType == metadata_fb.ProcessUnitOptions.NormalizationOptions]
    with zipfile.ZipFile(io.BytesIO(model)) as archive:
        labels = archive.read(LABELS_FILE).decode().splitlines()
    return {"name": info.name.decode() if isinstance(info.name, bytes) else info.name,
            "labels": labels,
            "mean": list(units[0].options.mean) if units else None,
            "std": list(units[0].options.std) if units else None}
