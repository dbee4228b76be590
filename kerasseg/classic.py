"""The classical methods segmentation courses teach, as baselines measured like the networks.

Every method takes an RGB image ((H, W, 3), uint8 or float in [0, 1]) and
returns an (H, W) uint8 mask of 0/1; every method can keep only the largest
connected region and fill its holes. `kerasseg evaluate --model classic:otsu`
(also `classic:threshold`, `classic:multiotsu`, `classic:kmeans`,
`classic:edges`) scores them in the same tables as the networks.

The defaults suit objects darker than their background (skin lesions); pass
`dark_foreground=False` for bright objects.

>>> import numpy as np
>>> from kerasseg import classic
>>> image = np.full((64, 64, 3), 200, np.uint8); image[16:48, 16:48] = 40
>>> int(classic.otsu(image, smooth=0).sum())
1024
"""

import numpy as np
from scipy import ndimage

METHODS = ("threshold", "otsu", "multiotsu", "kmeans", "edges")


def gray(image):
    """Luma (ITU-R BT.601) of an RGB image, float64 in [0, 1]."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an RGB image of shape (H, W, 3), got shape {image.shape}")
    image = image.astype(np.float64)
    if image.max() > 1.0:
        image = image / 255.0
    return image @ np.array([0.299, 0.587, 0.114])


def otsu_threshold(values, bins=256):
    """The threshold that maximises the between-class variance of `values` (Otsu, 1979)."""
    return multi_otsu_thresholds(values, classes=2, bins=bins)[0]


def multi_otsu_thresholds(values, classes=3, bins=128):
    """The `classes - 1` thresholds maximising between-class variance (exhaustive, small `classes`).

    Args:
        values: any array of numbers.
        classes: number of classes, 2 to 4.
        bins: histogram bins.

    Returns:
        A sorted list of `classes - 1` thresholds.
    """
    if not 2 <= classes <= 4:
        raise ValueError(f"classes must be 2, 3 or 4, got {classes}")
    values = np.asarray(values, np.float64).ravel()
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return [low] * (classes - 1)
    histogram, edges = np.histogram(values, bins=bins, range=(low, high))
    centers = (edges[:-1] + edges[1:]) / 2
    weight = np.concatenate([[0.0], np.cumsum(histogram)])
    moment = np.concatenate([[0.0], np.cumsum(histogram * centers)])

    def score(cuts):
        bounds = [0, *cuts, bins]
        total = 0.0
        for start, stop in zip(bounds[:-1], bounds[1:]):
            w = weight[stop] - weight[start]
            if w <= 0:
                return -1.0
            total += (moment[stop] - moment[start]) ** 2 / w
        return total

    import itertools

    best = max(itertools.combinations(range(1, bins), classes - 1), key=score)
    return [float(edges[cut]) for cut in best]


def postprocess(mask, largest_component=True, fill_holes=True):
    """Keeps the largest connected region and/or fills its holes.

    Args:
        mask: (H, W) booleans or 0/1.
        largest_component: keep only the biggest 8-connected region.
        fill_holes: fill background enclosed by the foreground.

    Returns:
        (H, W) uint8 of 0/1.
    """
    mask = np.asarray(mask).astype(bool)
    if largest_component and mask.any():
        labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
        if count > 1:
            sizes = np.bincount(labels.ravel())
            sizes[0] = 0
            mask = labels == sizes.argmax()
    if fill_holes:
        mask = ndimage.binary_fill_holes(mask)
    return mask.astype(np.uint8)


def threshold(image, level=0.5, dark_foreground=True, largest_component=True, fill_holes=True):
    """A fixed global threshold on the gray level.

    Args:
        image: RGB image.
        level: threshold in [0, 1].
        dark_foreground: foreground is below the threshold (else above).
        largest_component, fill_holes: see `postprocess`.

    Returns:
        (H, W) uint8 mask.
    """
    values = gray(image)
    mask = values < level if dark_foreground else values > level
    return postprocess(mask, largest_component, fill_holes)


def otsu(image, dark_foreground=True, smooth=2.0, largest_component=True, fill_holes=True):
    """Otsu's threshold on the (Gaussian-smoothed) gray level.

    Args:
        image: RGB image.
        dark_foreground: foreground is the darker class.
        smooth: Gaussian sigma in pixels before thresholding (0: none).
        largest_component, fill_holes: see `postprocess`.

    Returns:
        (H, W) uint8 mask.
    """
    values = _smoothed_gray(image, smooth)
    level = otsu_threshold(values)
    mask = values <= level if dark_foreground else values > level
    return postprocess(mask, largest_component, fill_holes)


def multiotsu(image, classes=3, dark_foreground=True, smooth=2.0, largest_component=True,
              fill_holes=True):
    """Multi-level Otsu: the darkest (or brightest) of `classes` gray-level classes.

    Args:
        image: RGB image.
        classes: number of gray-level classes (2 to 4).
        dark_foreground: foreground is the darkest class (else the brightest).
        smooth: Gaussian sigma in pixels before thresholding.
        largest_component, fill_holes: see `postprocess`.

    Returns:
        (H, W) uint8 mask.
    """
    values = _smoothed_gray(image, smooth)
    levels = multi_otsu_thresholds(values, classes)
    mask = values <= levels[0] if dark_foreground else values > levels[-1]
    return postprocess(mask, largest_component, fill_holes)


def kmeans(image, k=2, dark_foreground=True, seed=0, iterations=20, samples=20000,
           largest_component=True, fill_holes=True):
    """k-means clustering of the pixel colours; the darkest (or brightest) cluster is foreground.

    Args:
        image: RGB image.
        k: number of colour clusters.
        dark_foreground: foreground is the darkest cluster (else the brightest).
        seed: seed of the k-means++ start and the pixel sample.
        iterations: Lloyd iterations.
        samples: pixels sampled to fit the centres (all pixels are assigned).
        largest_component, fill_holes: see `postprocess`.

    Returns:
        (H, W) uint8 mask.
    """
    if k < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    pixels = np.asarray(image, np.float64).reshape(-1, 3)
    if pixels.max() > 1.0:
        pixels = pixels / 255.0
    rng = np.random.default_rng(seed)
    sample = pixels[rng.choice(len(pixels), min(samples, len(pixels)), replace=False)]
    centres = _kmeans_plus_plus(sample, k, rng)
    for _ in range(iterations):
        assignment = _nearest(sample, centres)
        updated = np.array([sample[assignment == c].mean(axis=0) if np.any(assignment == c)
                            else centres[c] for c in range(k)])
        if np.allclose(updated, centres):
            break
        centres = updated
    brightness = centres @ np.array([0.299, 0.587, 0.114])
    chosen = brightness.argmin() if dark_foreground else brightness.argmax()
    mask = (_nearest(pixels, centres) == chosen).reshape(np.shape(image)[:2])
    return postprocess(mask, largest_component, fill_holes)


def edges(image, operator="sobel", smooth=2.0, closing=5, largest_component=True,
          fill_holes=True):
    """Edge-based regions: Sobel or Laplacian edges, Otsu-thresholded, closed and filled.

    Args:
        image: RGB image.
        operator: "sobel" (gradient magnitude) or "laplace" (absolute
            Laplacian of the smoothed image).
        smooth: Gaussian sigma in pixels before differentiating.
        closing: size of the square closing that joins broken edges (0: none).
        largest_component, fill_holes: see `postprocess`; filling is what
            turns closed edges into regions.

    Returns:
        (H, W) uint8 mask.
    """
    values = _smoothed_gray(image, smooth)
    if operator == "sobel":
        strength = np.hypot(ndimage.sobel(values, axis=0), ndimage.sobel(values, axis=1))
    elif operator == "laplace":
        strength = np.abs(ndimage.laplace(values))
    else:
        raise ValueError(f"operator must be 'sobel' or 'laplace', got {operator!r}")
    mask = strength > otsu_threshold(strength)
    if closing:
        mask = ndimage.binary_closing(mask, structure=np.ones((closing, closing)))
    # Fill before choosing the component: a closed outline becomes a region.
    if fill_holes:
        mask = ndimage.binary_fill_holes(mask)
    return postprocess(mask, largest_component, fill_holes)


def segment(method, image, **options):
    """Runs a method by name ("otsu", "kmeans", ...) with its options."""
    if method not in METHODS:
        raise ValueError(f"unknown classical method {method!r}; choose one of {', '.join(METHODS)}")
    return globals()[method](image, **options)


def _smoothed_gray(image, smooth):
    values = gray(image)
    return ndimage.gaussian_filter(values, smooth) if smooth else values


def _nearest(points, centres):
    distances = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=-1)
    return distances.argmin(axis=1)


def _kmeans_plus_plus(points, k, rng):
    centres = [points[rng.integers(len(points))]]
    for _ in range(1, k):
        distances = ((points[:, None, :] - np.array(centres)[None]) ** 2).sum(-1).min(axis=1)
        total = distances.sum()
        index = rng.choice(len(points), p=distances / total) if total > 0 else rng.integers(len(points))
        centres.append(points[index])
    return np.array(centres)
