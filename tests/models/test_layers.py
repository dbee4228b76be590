import keras
import numpy as np
import pytest

from kerasseg.models.layers import BackbonePreprocessing, MaxUnpooling2D, ResizeLike


def _reference_unpool(decoder, encoder):
    """SegNet's unpooling with explicit argmax indices, in numpy."""
    batch, height, width, channels = encoder.shape
    out = np.zeros_like(encoder)
    for b in range(batch):
        for i in range(height // 2):
            for j in range(width // 2):
                for c in range(channels):
                    window = encoder[b, 2 * i:2 * i + 2, 2 * j:2 * j + 2, c]
                    di, dj = np.unravel_index(np.argmax(window), (2, 2))
                    out[b, 2 * i + di, 2 * j + dj, c] = decoder[b, i, j, c]
    return out


def test_unpooling_matches_index_based_unpooling():
    rng = np.random.default_rng(0)
    encoder = rng.normal(size=(2, 8, 6, 3)).astype(np.float32)
    decoder = rng.normal(size=(2, 4, 3, 3)).astype(np.float32)
    out = MaxUnpooling2D()([decoder, encoder])
    np.testing.assert_array_equal(np.asarray(out), _reference_unpool(decoder, encoder))


def test_unpooling_runs_under_xla():
    encoder = keras.Input((8, 8, 2))
    decoder = keras.Input((4, 4, 2))
    model = keras.Model([decoder, encoder], MaxUnpooling2D()([decoder, encoder]))
    model.compile(jit_compile=True)
    rng = np.random.default_rng(1)
    e, d = rng.normal(size=(1, 8, 8, 2)), rng.normal(size=(1, 4, 4, 2))
    np.testing.assert_allclose(model.predict([d, e], verbose=0), _reference_unpool(d, e), atol=1e-6)


def test_resize_like_takes_the_reference_size():
    x = np.ones((1, 1, 1, 4), np.float32) * 3.0
    out = ResizeLike()([x, np.zeros((1, 5, 7, 2), np.float32)])
    assert out.shape == (1, 5, 7, 4)
    np.testing.assert_allclose(np.asarray(out), 3.0)


def test_backbone_preprocessing_modes():
    white = np.ones((1, 2, 2, 3), np.float32)
    np.testing.assert_allclose(np.asarray(BackbonePreprocessing("tf")(white)), 1.0)
    caffe = np.asarray(BackbonePreprocessing("caffe")(white))[0, 0, 0]
    np.testing.assert_allclose(caffe, [255 - 103.939, 255 - 116.779, 255 - 123.68], rtol=1e-6)
    with pytest.raises(ValueError, match="mode"):
        BackbonePreprocessing("torch")


def test_a_fresh_process_loads_a_saved_model_after_importing_kerasseg_models(tmp_path):
    import subprocess
    import sys

    from kerasseg import losses, segnet

    model = segnet(input_shape=(16, 16, 3), filters=(4,), convs_per_level=1)
    model.compile(loss=losses.get("bce+dice"))
    path = str(tmp_path / "m.keras")
    model.save(path)
    code = ("import kerasseg.models, keras\n"
            f"m = keras.saving.load_model({path!r})\n"
            "print(type(m.loss).__name__, m.get_layer('segnet_dec0_unpool').__class__.__name__)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["CombinedLoss", "MaxUnpooling2D"]
