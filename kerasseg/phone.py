"""Exported files in the client phone apps use: MediaPipe Tasks' ImageSegmenter.

`pip install "kerasseg[mediapipe]"`. MediaPipe runs the same C++ task on
Android, iOS, the web and Python, so what it reports here is what an app gets.
"""

import numpy as np
from PIL import Image


def mediapipe_segmenter(path):
    """A MediaPipe Tasks ImageSegmenter for a .tflite file, giving category masks."""
    from mediapipe.tasks import python as mp_python
    from mediapipe.tasks.python import vision

    options = vision.ImageSegmenterOptions(
        base_options=mp_python.BaseOptions(model_asset_path=str(path)),
        running_mode=vision.RunningMode.IMAGE, output_category_mask=True,
        output_confidence_masks=True)
    return vision.ImageSegmenter.create_from_options(options)


def mediapipe_category_mask(segmenter, image):
    """MediaPipe's category mask (class ids) of one uint8 RGB image, at the image's size."""
    return mediapipe_masks(segmenter, image)[0]


def mediapipe_masks(segmenter, image):
    """MediaPipe's category mask (class ids, H x W) and confidence masks (H x W x classes)
    of one uint8 RGB image, at the image's size."""
    import mediapipe

    picture = mediapipe.Image(image_format=mediapipe.ImageFormat.SRGB,
                              data=np.ascontiguousarray(image))
    result = segmenter.segment(picture)
    # numpy_view() does not own its memory: copy while `result` still holds it
    # (a view returned past this frame read freed memory on another machine).
    mask = np.array(result.category_mask.numpy_view(), copy=True)
    confidence = np.stack([np.array(m.numpy_view(), copy=True).reshape(image.shape[:2])
                           for m in result.confidence_masks], axis=-1)
    return mask.reshape(image.shape[:2]), confidence


def compare_with_litert(path, records, mask_reader, presize=True):
    """MediaPipe against kerasseg's LiteRT runner on real images, and both against the truth.

    Args:
        path: an exported .tflite file (its sidecar beside it).
        records, mask_reader: real images with masks (e.g. a `Source`'s).
        presize: give MediaPipe images already resized (Pillow bilinear, as in
            training) to the model's input size, and upsample its category mask
            (nearest) to each image's size. MediaPipe's own resize has no
            antialiasing, which costs accuracy on photos much larger than the
            input (docs/design.md).

    Returns:
        {"images", "agreement" (share of pixels where MediaPipe's mask equals
        LiteRT's, at the size MediaPipe was given), "dice_mediapipe" and
        "dice_litert" (mean per-image Dice at each image's own size),
        "labels" (what MediaPipe reads from the file's metadata) and
        "confidence_max_diff" (largest difference between MediaPipe's
        confidence masks and LiteRT's probabilities, on presized images)}.
    """
    from kerasseg.data.records import load_pair
    from kerasseg.evaluate import scores
    from kerasseg.litert import TFLiteSegmenter, mask_at

    lite = TFLiteSegmenter(path)
    height, width = lite.input_size
    num_classes = max(lite.num_classes, 2)
    agree = pixels = 0
    confidence_diff = 0.0
    dice_mp, dice_lite = [], []
    segmenter = mediapipe_segmenter(path)
    labels = list(segmenter.labels)
    try:
        for record in records:
            image, truth = load_pair(record, mask_reader)
            given = (np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))
                     if presize else image)
            category, confidence = mediapipe_masks(segmenter, given)
            # One run serves both sizes: LiteRT resizes `image` exactly as `given` was resized.
            probability = lite.probabilities(lite.resize_in(given)[None])[0]
            ours = mask_at(probability, given.shape[:2])
            if presize:
                both = (np.concatenate([1 - probability, probability], axis=-1)
                        if probability.shape[-1] == 1 else probability)   # as the file holds them
                confidence_diff = max(confidence_diff, float(np.abs(confidence - both).max()))
            agree += int(np.sum(category == ours))
            pixels += ours.size
            if presize:
                category = np.asarray(Image.fromarray(category).resize(image.shape[1::-1],
                                                                       Image.NEAREST))
            dice_mp.append(scores(truth, category, num_classes)["dice"])
            dice_lite.append(scores(truth, mask_at(probability, image.shape[:2]),
                                    num_classes)["dice"])
    finally:
        segmenter.close()
    return {"images": len(records), "agreement": agree / pixels,
            "dice_mediapipe": float(np.mean(dice_mp)), "dice_litert": float(np.mean(dice_lite)),
            "labels": labels, "confidence_max_diff": confidence_diff if presize else None}
