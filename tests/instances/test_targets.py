"""kerasseg.instances targets and decoding: made from instance ids, decoded back to them.

Real Penn-Fudan masks at a training size, turned into targets and decoded as if a model
had predicted them exactly, must give back the people one by one, those who touch
included (which connected components cannot).
"""

import numpy as np
import pytest
from PIL import Image

from kerasseg import instances


def test_targets_by_hand():
    ids = np.zeros((10, 20), np.uint8)
    ids[2:5, 2:5] = 1          # centre (3, 3)
    ids[4:8, 10:16] = 7        # centre of mass (5.5, 12.5): on the grid, (6, 12)
    t = instances.targets(ids)
    assert t.shape == (10, 20, 4) and t.dtype == np.float32
    np.testing.assert_array_equal(t[..., 0], ids > 0)
    assert t[3, 3, 1] == 1.0 and t[0, 19, 1] < 1e-3      # the peak, and far from both
    assert t[2, 2, 2] == pytest.approx(1 / 10) and t[2, 2, 3] == pytest.approx(1 / 20)
    assert t[7, 15, 2] == pytest.approx(-1 / 10) and t[7, 15, 3] == pytest.approx(-3 / 20)
    assert t[6, 12, 1] == 1.0 and (t[..., 1] == 1.0).sum() == 2     # one peak each
    assert not t[0, 0, 2:].any()                          # no offset off the people
    assert not instances.targets(np.zeros((4, 4), np.uint8)).any()


def test_decode_by_hand_and_its_errors():
    ids = np.zeros((10, 20), np.uint8)
    ids[2:5, 2:5] = 1
    ids[4:8, 10:16] = 7
    found, items = instances.decode(instances.targets(ids))
    assert len(items) == 2 and {i["area"] for i in items} == {9, 24}
    big = next(i for i in items if i["area"] == 24)
    assert big["box"] == [10, 4, 16, 8]                   # x0, y0, x1, y1 (exclusive)
    np.testing.assert_array_equal(found == big["id"], ids == 7)
    # At twice the size, every pixel still joins its own person.
    found, items = instances.decode(instances.targets(ids), size=(20, 40))
    upsampled = np.asarray(Image.fromarray(ids).resize((40, 20), Image.NEAREST))
    assert len(items) == 2 and (found > 0).sum() == pytest.approx((upsampled > 0).sum(), rel=0.1)
    # A person but no peak above the threshold (a heatmap spread thin): the strongest point
    # on the foreground is the one centre, and all the foreground its instance.
    faint = instances.targets(ids)
    faint[..., 1] *= 0.05
    faint[0, 0, 1] = 0.08                                 # stronger, but off the people
    found, items = instances.decode(faint)
    assert len(items) == 1 and items[0]["area"] == 9 + 24 and (found > 0).sum() == (ids > 0).sum()
    # The score is the mean foreground probability, whatever the centre's peak.
    dim = instances.targets(ids)
    dim[2:5, 2:5, 0] = 0.6
    dim[..., 1] *= np.where(ids == 1, 0.5, 1.0)
    scores = {i["area"]: i["score"] for i in instances.decode(dim)[1]}
    assert scores == {24: pytest.approx(1.0), 9: pytest.approx(0.6)}
    # Centres split components, they do not join them: pixels whose offsets point at the
    # other person's centre stay with their own, and a region no centre is in is left out.
    astray = instances.targets(ids)
    y, x = np.mgrid[4:8, 10:12]
    astray[4:8, 10:12, 2], astray[4:8, 10:12, 3] = (3 - y) / 10, (3 - x) / 20   # at (3, 3)
    found, items = instances.decode(astray)
    big = next(i["id"] for i in items if i["area"] == 24)
    np.testing.assert_array_equal(found == big, ids == 7)
    unseen = instances.targets(ids)
    unseen[..., 1] *= (ids != 1)                           # the small one's peak is gone
    found, items = instances.decode(unseen)
    assert [i["area"] for i in items] == [24] and not found[ids == 1].any()
    # A foreground given instead of the thresholded probability is what gets grouped: the
    # people's true masks, with a pixel the probability had left out.
    wider = ids.copy()
    wider[8, 10] = 7
    thin = instances.targets(ids)
    found, items = instances.decode(thin, foreground=wider > 0)
    np.testing.assert_array_equal(found > 0, wider > 0)
    assert sorted(i["area"] for i in items) == [9, 25]
    with pytest.raises(ValueError, match=r"foreground has shape \(10, 10\)"):
        instances.decode(thin, foreground=np.ones((10, 10), bool))
    # Nothing to find; a small instance dropped; a wrong output named.
    assert instances.decode(np.zeros((8, 8, 4), np.float32))[1] == []
    assert len(instances.decode(instances.targets(ids), min_size=10)[1]) == 1
    with pytest.raises(ValueError, match="4 channels"):
        instances.decode(np.zeros((8, 8, 2), np.float32))


def test_connected_components_are_scipys_without_scipy(data_root):
    from scipy import ndimage

    from kerasseg.litert import connected_components

    rng = np.random.default_rng(0)
    masks = [rng.random(rng.integers(1, 40, 2)) < rng.random() for _ in range(200)]
    masks += [ids > 0 for ids in _pennfudan(data_root, 10)] + [np.zeros((3, 3), bool)]
    for mask in masks:
        expected, _ = ndimage.label(mask, structure=np.ones((3, 3)))
        np.testing.assert_array_equal(connected_components(mask), expected)


def _pennfudan(data_root, count):
    from kerasseg.data import pennfudan

    reader = pennfudan.mask_reader("instances")
    return [reader(r) for r in pennfudan.records(data_root)[:count]]


def test_targets_decode_back_to_real_people_those_who_touch_included(data_root):
    exact, components = instances.InstanceScores(), instances.InstanceScores()
    merged = 0
    for ids in _pennfudan(data_root, 60):
        small = np.asarray(Image.fromarray(ids.astype(np.uint8)).resize((224, 224), Image.NEAREST))
        # A 7-pixel window: the default (15% of the side, for a model's blurrier heatmap)
        # would merge the closest centres of a crowd.
        found, items = instances.decode(instances.targets(small), size=ids.shape, nms_size=7)
        exact.update(ids, found, {i["id"]: i["score"] for i in items})
        joined = instances.from_semantic(ids > 0)
        merged += joined.max() < ids.max()
        components.update(ids, joined, {int(i): 1.0 for i in np.unique(joined) if i})
    exact, components = exact.result(), components.result()
    assert merged >= 3, "these images hold people who touch"
    # The round trip loses only the 224-pixel resize; components merge who touch.
    assert exact["ap50"] == 1.0 and exact["ap"] >= 0.97 and exact["pq"] >= 0.95, exact
    assert components["pq"] < exact["pq"] - 0.02, (components, exact)
