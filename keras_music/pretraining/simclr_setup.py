"""The encoders and the SimCLR model of CLMR (`recipes/clmr.py`) and of
multi-format contrastive learning (`recipes/multiformat.py`), at the
paper's size or their CPU demo's (the `*_demo` presets' widths)."""

import keras

from keras_music.models.resnet import resnet_presets
from keras_music.models.resnet.resnet_backbone import ResNetBackbone
from keras_music.models.sample_cnn import sample_cnn_presets
from keras_music.models.sample_cnn.sample_cnn_backbone import SampleCNNBackbone
from keras_music.pretraining.simclr import SimCLR


def sample_cnn(preset, input_length, demo):
    """`SampleCNNBackbone.from_preset(preset)` on `input_length` samples;
    with `demo`, at an eighth of the width (`cpu_demo_overrides`: the
    `sample_cnn_clmr_demo` size for `sample_cnn_clmr`)."""
    overrides = {"input_length": input_length}
    if demo:
        overrides |= sample_cnn_presets.cpu_demo_overrides(preset)
    return SampleCNNBackbone.from_preset(preset, **overrides)


def resnet(preset, n_mels, demo):
    """`ResNetBackbone.from_preset(preset)` on `n_mels` bands of any
    number of frames; with `demo`, at a quarter of the width (the
    `resnet18_demo` size for `resnet18`)."""
    overrides = {"input_size": (n_mels, None)}
    if demo:
        overrides |= resnet_presets.cpu_demo_overrides(preset)
    return ResNetBackbone.from_preset(preset, **overrides)


def simclr_model(backbone, settings):
    """SimCLR on `backbone`, compiled as both recipes train it.

    AdamW with `settings.learning_rate` and `settings.weight_decay`, the
    projector width `settings.projection_dim` and NT-Xent's
    `settings.temperature`; `settings.jit_compile` (if it has one and it
    is not None) goes to `compile`, else `"auto"`. Build it in the
    distribution strategy's scope.

    Args:
        backbone: `keras.Model`. The encoder, audio -> embedding.
        settings: any object with those attributes (a recipe's `Config`,
            its absl `FLAGS`, a `types.SimpleNamespace`).
    """
    simclr = SimCLR(
        backbone,
        projection_dim=settings.projection_dim,
        temperature=settings.temperature,
    )
    jit_compile = getattr(settings, "jit_compile", None)
    simclr.compile(
        optimizer=keras.optimizers.AdamW(
            settings.learning_rate, weight_decay=settings.weight_decay
        ),
        jit_compile="auto" if jit_compile is None else jit_compile,
    )
    return simclr
