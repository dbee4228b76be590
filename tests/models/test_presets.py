import pytest

from kerasseg.models import PRESETS, build_preset


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_parameter_count_within_two_percent_of_published(preset):
    model = build_preset(preset)
    published = PRESETS[preset]["published_params"]
    assert abs(model.count_params() - published) / published < 0.02, model.count_params()
    assert model.name == preset


def test_overrides_and_unknown_preset():
    model = build_preset("unet_lite", input_shape=(64, 64, 3), num_classes=3)
    assert model.output_shape == (None, 64, 64, 3)
    with pytest.raises(ValueError, match="unknown preset"):
        build_preset("unet_huge")
