"""Image/mask records and the file reading every dataset shares.

A `Record` names one image, its mask and what is known about it (an id, a
group that must not straddle splits, dataset-specific metadata). Datasets
build records from their own layout; `kerasseg.data.pipeline` turns records
into a tf.data pipeline. Reading uses Pillow, which decodes what real copies
hold and TensorFlow does not (1-bit BMP masks, a GIF named .jpg, RGBA PNG),
and every problem names its file.
"""

import dataclasses
import os

import numpy as np


class DataError(ValueError):
    """A dataset file or layout problem; the message names the file and what is wrong."""


# Far above any segmentation model's input (phones run 128-512), far below what
# exhausts memory: one 4096x4096 float image is 200 MB, a batch of 8 is 1.6 GB.
MAX_IMAGE_SIZE = 4096


def check_image_size(size, option="image_size"):
    """ValueError naming `option` unless `size` (an int or (height, width)) is from 1 to
    `MAX_IMAGE_SIZE` pixels on each side."""
    sides = (size, size) if isinstance(size, int) else tuple(size)
    if not all(isinstance(s, int) and 1 <= s <= MAX_IMAGE_SIZE for s in sides):
        raise ValueError(f"{option} {size}: sizes run from 1 to {MAX_IMAGE_SIZE} pixels a side; "
                         "a larger image would need gigabytes per batch (the model runs at this "
                         "size, and masks are scored at each image's own size anyway)")
    return size


@dataclasses.dataclass(frozen=True)
class Record:
    """One image and its mask.

    Attributes:
        id: the sample's name (e.g. "IMD003").
        image: path of the image file.
        mask: path of the mask file.
        group: samples sharing a group are kept on one side of a split
            (e.g. a MADS sequence); defaults to the id.
        meta: dataset-specific facts (e.g. {"diagnosis": "melanoma"}).
    """

    id: str
    image: str
    mask: str
    group: str = ""
    meta: dict = dataclasses.field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        if not self.group:
            object.__setattr__(self, "group", self.id)


def read_image(path, at_least=None):
    """Reads any Pillow-readable image as (H, W, 3) uint8 RGB, the way it displays.

    The EXIF orientation is applied and 16-bit images are scaled to 8 bits;
    grayscale, palette and RGBA images are converted (alpha dropped). The one
    reader of training, evaluation, prediction and the LiteRT runner
    (`kerasseg.litert.read_image`; `at_least` as there). Raises DataError
    naming the file.
    """
    from kerasseg.litert import read_image as read_displayed

    try:
        return read_displayed(path, at_least)
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except Exception as error:  # Pillow raises several types for bad files
        raise DataError(f"{path}: cannot decode image ({error})") from None


def _upright(image):
    """The image turned as its EXIF orientation says (masks stand like their images)."""
    from PIL import ImageOps

    return ImageOps.exif_transpose(image)


def read_mask(path):
    """Reads a mask as (H, W) uint8 values, as stored (palette indices for palette PNGs).

    1-bit masks give 0/1. RGB masks must be gray (equal channels) unless read
    with `read_color_mask`. Raises DataError naming the file.
    """
    from PIL import Image

    try:
        with Image.open(path) as mask:
            mask.load()
            mask = _upright(mask)
            if mask.mode in ("1", "L", "P"):
                return np.asarray(mask).astype(np.uint8)
            if mask.mode in ("I;16", "I"):
                values = np.asarray(mask)
                if values.max(initial=0) > 255:
                    raise DataError(f"{path}: mask values up to {values.max()} do not fit 8 bits")
                return values.astype(np.uint8)
            rgb = np.asarray(mask.convert("RGB"), np.uint8)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: mask file not found") from None
    except Exception as error:
        raise DataError(f"{path}: cannot decode mask ({error})") from None
    if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])):
        raise DataError(f"{path}: colour mask; map its colours to class ids with a palette")
    return rgb[..., 0]


def read_mat_array(path, key):
    """The array `key` of a MATLAB file (CCP's and the portraits' masks); DataError naming
    the file if it cannot be read or lacks that array."""
    from scipy.io import loadmat

    try:
        content = loadmat(path)
    except FileNotFoundError:
        raise DataError(f"{path}: mask file not found") from None
    except Exception as error:  # scipy raises several types for bad files
        raise DataError(f"{path}: cannot read MATLAB file ({error})") from None
    array = content.get(key)
    if array is None:
        raise DataError(f"{path}: no {key!r} array in this MATLAB file")
    return array


def read_color_mask(path, palette):
    """Reads an RGB mask and maps each colour to a class id.

    Args:
        path: the mask file.
        palette: {(r, g, b): class_id}.

    Returns:
        (H, W) uint8 class ids. Raises DataError naming the file and the first
        colour the palette lacks.
    """
    from PIL import Image

    try:
        with Image.open(path) as mask:
            rgb = np.asarray(_upright(mask).convert("RGB"), np.int32)
    except FileNotFoundError:
        raise DataError(f"{path}: mask file not found") from None
    except Exception as error:
        raise DataError(f"{path}: cannot decode mask ({error})") from None
    codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    out = np.zeros(codes.shape, np.uint8)
    known = np.zeros(codes.shape, bool)
    for (r, g, b), class_id in palette.items():
        hit = codes == ((r << 16) | (g << 8) | b)
        out[hit], known[hit] = class_id, True
    if not known.all():
        y, x = np.argwhere(~known)[0]
        colour = tuple(int(v) for v in rgb[y, x])
        raise DataError(f"{path}: colour {colour} at ({y}, {x}) is not in the palette")
    return out


def load_pair(record, mask_reader, image_size=None, allowed_values=None):
    """Reads, checks and resizes one record.

    Args:
        record: a `Record`.
        mask_reader: callable(record) -> (H, W) uint8 class ids.
        image_size: None to keep the size, or (height, width).
        allowed_values: if set, the mask values the dataset may hold.

    Returns:
        (image (h, w, 3) uint8, mask (h, w) uint8). Raises DataError naming the
        file on a missing or undecodable file, a mask whose size differs from
        its image, or unexpected mask values.
    """
    from PIL import Image

    image = read_image(record.image, at_least=image_size)
    mask = mask_reader(record)
    # Resized anyway, a large JPEG may have been decoded at 1/2, 1/4 or 1/8 scale (rounded up).
    if not any(image.shape[:2] == (-(-mask.shape[0] // s), -(-mask.shape[1] // s))
               for s in ((1, 2, 4, 8) if image_size is not None else (1,))):
        raise DataError(
            f"{record.mask}: mask is {mask.shape[1]}x{mask.shape[0]} but its image "
            f"{record.image} is {image.shape[1]}x{image.shape[0]}"
        )
    check_values(record, mask, allowed_values)
    if image_size is not None:
        height, width = image_size
        image = np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))
        mask = np.asarray(Image.fromarray(mask).resize((width, height), Image.NEAREST))
    return image, mask


def check_values(record, mask, allowed_values):
    """Raises DataError naming `record`'s mask file if `mask` holds a value outside
    `allowed_values` (None: anything goes)."""
    if allowed_values is None:
        return
    unexpected = sorted(set(np.unique(mask).tolist()) - set(allowed_values))
    if unexpected:
        raise DataError(f"{record.mask}: unexpected mask values {unexpected[:10]}; expected only "
                        f"{sorted(allowed_values)}")


def require_files(name, **paths):
    """Raises DataError naming the first of `paths` ({what: path}) that is not a file."""
    for what, path in paths.items():
        if not os.path.isfile(path):
            raise DataError(f"{path}: {what} of {name} not found")
