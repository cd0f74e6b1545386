import types

import numpy as np
import pytest

from keras_music.models.resnet import resnet_presets
from keras_music.models.resnet.resnet_backbone import ResNetBackbone
from keras_music.models.sample_cnn import sample_cnn_presets
from keras_music.models.sample_cnn.sample_cnn_backbone import SampleCNNBackbone
from keras_music.pretraining.simclr import SimCLR
from keras_music.pretraining.simclr_setup import resnet
from keras_music.pretraining.simclr_setup import sample_cnn
from keras_music.pretraining.simclr_setup import simclr_model


def _narrow(filters, divisor):
    return max(4, filters // divisor)


@pytest.mark.parametrize(
    "name",
    ["sample_cnn_clmr", "sample_cnn_multiformat", "sample_cnn_test_tiny"],
)
def test_sample_cnn_demo_widths(name):
    full = sample_cnn_presets.backbone_presets[name]
    overrides = sample_cnn_presets.cpu_demo_overrides(name)
    assert overrides == {
        "stem_filters": _narrow(full["stem_filters"], 8),
        "block_filters": tuple(_narrow(f, 8) for f in full["block_filters"]),
        "output_filters": _narrow(full["output_filters"], 8),
    }
    if f"{name}_demo" in sample_cnn_presets.backbone_presets:
        # The demo preset is the full one at those widths, nothing else.
        demo = sample_cnn_presets.backbone_presets[f"{name}_demo"]
        assert demo == {**full, **overrides}


def test_resnet_demo_widths():
    full = resnet_presets.backbone_presets["resnet18"]
    demo = resnet_presets.backbone_presets["resnet18_demo"]
    assert demo == {
        **full,
        "stem_filters": 16,
        "stage_filters": tuple(_narrow(f, 4) for f in full["stage_filters"]),
    }
    assert {**full, **resnet_presets.cpu_demo_overrides("resnet18")} == demo


def test_demo_overrides_name_the_unknown_preset():
    with pytest.raises(ValueError, match="`name` must be one of .*huge"):
        sample_cnn_presets.cpu_demo_overrides("huge")
    with pytest.raises(ValueError, match="`name` must be one of .*huge"):
        resnet_presets.cpu_demo_overrides("huge")


def test_sample_cnn_builds_the_preset_or_its_demo():
    demo = sample_cnn("sample_cnn_clmr", 59049, demo=True)
    expected = SampleCNNBackbone.from_preset("sample_cnn_clmr_demo")
    assert demo.get_config() == expected.get_config() | {"name": demo.name}
    assert demo.count_params() == expected.count_params()
    assert demo.output_dim == 64
    full = sample_cnn("sample_cnn_test_tiny", 729, demo=False)
    assert full.input_length == 729
    assert full.block_filters == (8, 8, 16, 16)


def test_resnet_builds_the_preset_or_its_demo():
    demo = resnet("resnet18", 32, demo=True)
    expected = ResNetBackbone.from_preset(
        "resnet18_demo", input_size=(32, None)
    )
    assert demo.get_config() == expected.get_config() | {"name": demo.name}
    assert demo.output_dim == 128
    full = resnet("resnet_test_tiny", 16, demo=False)
    assert full.input_size == (16, None)
    assert full.stage_filters == (8, 16)


def test_simclr_model_uses_the_settings():
    backbone = SampleCNNBackbone.from_preset("sample_cnn_test_tiny")
    settings = types.SimpleNamespace(
        projection_dim=12, temperature=0.3, learning_rate=1e-3, weight_decay=0.0
    )
    simclr = simclr_model(backbone, settings)
    assert isinstance(simclr, SimCLR)
    assert simclr.temperature == pytest.approx(0.3)
    assert float(simclr.optimizer.learning_rate) == pytest.approx(1e-3)
    # No `jit_compile` among the settings: Keras decides.
    assert simclr.jit_compile in (True, False)
    audio = np.random.default_rng(0).normal(size=(4, 243)).astype("float32")
    logs = simclr.train_on_batch(audio, audio, return_dict=True)
    assert np.isfinite(logs["loss"])
    settings.jit_compile = False
    assert simclr_model(backbone, settings).jit_compile is False
