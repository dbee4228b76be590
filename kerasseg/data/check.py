"""`kerasseg data check`: read every pair of a dataset and report what is there and what is wrong."""

import collections
import sys
import warnings

import numpy as np

from kerasseg.data.records import DataError, load_pair


def _dataset_parts(dataset, root, masks_dir=None, mask_suffix=""):
    """(records, mask_reader, allowed_values, foreground, problems) for a registered dataset name.

    `foreground`: callable(mask) -> bool array of the object's pixels.
    """
    from kerasseg.data.sources import DATASETS, NAMES, dataset_root

    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(NAMES)}")
    entry = DATASETS[dataset]
    mode = entry.mode(entry.check_mode)
    options = {"on_error": "skip"} if dataset in ("ph2", "folder") else {}
    if dataset == "folder":
        options.update(masks_dir=masks_dir or root, mask_suffix=mask_suffix)
    else:
        root = dataset_root(dataset, root)
    problems = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = entry.records(root, "all", **options)
    problems.extend(str(w.message) for w in caught)
    return records, mode.mask_reader(), mode.allowed_values, mode.foreground, problems


def report_reason(path):
    """None if `path` is a data check report that kerasseg wrote, else why not (what --force asks)."""
    from kerasseg import outputs

    # Reports written before they carried a format key are recognised by their keys.
    return outputs.json_reason("data-check", ("dataset", "pairs", "problems"))(path)


def check(dataset, root, masks_dir=None, mask_suffix="", progress=True):
    """Reads every image/mask pair of a dataset at full size and reports on them.

    Args:
        dataset: a name of `kerasseg.data.sources.NAMES` (e.g. "ph2", "ccp").
        root: the dataset's folder (for "folder", the images folder).
        masks_dir: for "folder", the masks folder (default: `root`).
        mask_suffix: for "folder", what mask names add to image names.
        progress: show a progress line on stderr, if it is a terminal.

    Returns:
        A dict: pairs, readable, image_sizes (size -> count), mask_values,
        coverage (mean, min, max share of non-zero mask pixels), no_foreground
        (masks without a single object pixel) and problems (one line per bad
        pair, naming the file; masks without foreground are among them).
    """
    records, reader, allowed, foreground, problems = _dataset_parts(dataset, root, masks_dir,
                                                                    mask_suffix)
    progress = progress and sys.stderr.isatty()
    sizes, values, coverage, empty = collections.Counter(), set(), [], []
    for index, record in enumerate(records):
        try:
            image, mask = load_pair(record, reader, None, allowed)
        except DataError as error:
            problems.append(str(error))
        else:
            sizes[f"{image.shape[1]}x{image.shape[0]}"] += 1
            values |= set(np.unique(mask).tolist())
            coverage.append(float(np.mean(mask > 0)))
            if not foreground(mask).any():
                # Training learns "nothing here" from it and scores count it as
                # perfect when nothing is predicted: right only if it is meant.
                empty.append(record.mask)
                problems.append(f"{record.mask}: no foreground (every pixel is background); "
                                "keep it only if its image truly shows nothing to segment")
        if progress:
            print(f"\rchecking {dataset}: {index + 1}/{len(records)}", end="", file=sys.stderr)
    if progress:
        print(file=sys.stderr)
    return {
        "dataset": dataset,
        "root": root,
        "pairs": len(records),
        "readable": len(coverage),
        "image_sizes": dict(sizes.most_common()),
        "mask_values": sorted(values),
        "coverage": {"mean": float(np.mean(coverage)) if coverage else None,
                     "min": min(coverage, default=None), "max": max(coverage, default=None)},
        "no_foreground": empty,
        "problems": problems,
    }


def format_report(report):
    """The report as text a person reads."""
    sizes = ", ".join(f"{size} ({count})" for size, count in list(report["image_sizes"].items())[:5])
    more = len(report["image_sizes"]) - 5
    lines = [
        f"dataset      {report['dataset']} at {report['root']}",
        f"pairs        {report['pairs']} found, {report['readable']} readable",
        f"image sizes  {sizes}{f' and {more} more' if more > 0 else ''}",
        f"mask values  {report['mask_values']}",
    ]
    cover = report["coverage"]
    if cover["mean"] is not None:
        lines.append(f"coverage     mean {cover['mean']:.3f}, min {cover['min']:.3f}, "
                     f"max {cover['max']:.3f} (share of non-zero mask pixels)")
    lines.append(f"problems     {len(report['problems']) or 'none'}")
    lines += [f"  - {problem}" for problem in report["problems"]]
    return "\n".join(lines)
