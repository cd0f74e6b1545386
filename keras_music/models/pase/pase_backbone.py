"""The PASE encoder: SincConv and seven convolutional blocks."""

import keras

from keras_music.layers.validation import check_audio
from keras_music.layers.validation import check_positive
from keras_music.layers.validation import check_positive_int
from keras_music.models.backbone import Backbone
from keras_music.models.pase import pase_layers
from keras_music.models.pase.pase_presets import pase_presets


@keras.saving.register_keras_serializable(package="keras_music")
class PASEBackbone(Backbone):
    """PASE: a raw-waveform encoder with a 10 ms output rate.

    Raw audio goes through a `SincConv1D` block (learned band-pass
    filters) and seven `Conv1D` blocks of total stride 160, each block
    followed by BatchNorm (eps 1e-5) and a per-channel PReLU initialised
    at 0, then a 1×1 convolution to `emb_dim` and a BatchNorm without
    scale and offset. It is the encoder that `MultiTaskPretrainer`'s
    workers pre-train.

    Frames: every convolution reflect-pads its input (see
    `pase_layers.block_padding`) so that a block of stride `s` gives
    `floor(length / s)` frames. Nothing is cropped or zero-padded: an input
    of `samples` gives exactly `samples // 160` frames (100 per second at
    16 kHz), frame `t` centred near sample `160 t + 80`; the last
    `samples % 160` samples only reach the frames through the filters'
    context. Inputs need at least `min_samples` samples (480 with the
    paper's kernels), so that each reflection is shorter than what it
    mirrors.

    With `emb_dim=512` (preset `pase`) the model has 6,034,240 parameters,
    6,029,376 trainable (the BatchNorm statistics are the other 4,864):
    the paper's "~6 M" (REFERENCE.md §3: ≈6.0 M).

    Args:
        sinc_filters: int. Band-pass filters of the first block.
            Defaults to 64.
        sinc_kernel_size: int. Odd length of the sinc filters. Defaults
            to 251.
        conv_filters: list of 7 ints. Widths of blocks 2-8 (kernels 20,
            11, 11, 11, 11, 11, 11; strides 10, 2, 1, 2, 1, 2, 2). Defaults
            to `[64, 128, 128, 256, 256, 512, 512]`.
        emb_dim: int. Size of the output embedding. Defaults to 512.
        sample_rate: int. Sample rate of the input in Hz (sets the sinc
            filters' frequencies; the frame hop stays 160 samples).
            Defaults to 16000.
        official_padding: bool. Pad the kernel-20 stride-10 block
            `(9, 10)` as santi-pdp/pase does instead of `(5, 5)`
            (`pase_layers.block_padding`): `ceil(samples / 10)` frames
            there, so `ceil(samples / 10) // 16` at the output, not
            `samples // 160` (the same at multiples of 10). Checkpoints
            converted by `keras_music.convert.load_pase_weights` use it
            (the converter sets it) and then give the official outputs.
            Defaults to `False`.
        dtype: str or `keras.DTypePolicy`. Dtype policy of the layers.
            Defaults to `None` (the global policy).

    Example:

    >>> backbone = PASEBackbone.from_preset("pase_tiny")
    >>> backbone(np.zeros((2, 16000), "float32")).shape
    TensorShape([2, 100, 16])

    Input shape:
        `(batch, samples)` float audio, `samples >= min_samples`.

    Output shape:
        `(batch, samples // 160, emb_dim)`; with `official_padding`,
        `(batch, ceil(samples / 10) // 16, emb_dim)`.

    Reference:
        - [Pascual et al., Learning Problem-agnostic Speech
          Representations from Multiple Self-supervised Tasks,
          Interspeech 2019](https://arxiv.org/abs/1904.03416), section 2.1;
          [Wu et al., Multi-task Self-supervised Pre-training for Music
          Classification, ICASSP 2021](https://arxiv.org/abs/2102.03229),
          section 3.1.
    """

    preset_configs = pase_presets

    def __init__(
        self,
        sinc_filters=64,
        sinc_kernel_size=251,
        conv_filters=(64, 128, 128, 256, 256, 512, 512),
        emb_dim=512,
        sample_rate=16000,
        official_padding=False,
        dtype=None,
        **kwargs,
    ):
        check_positive_int("sinc_filters", sinc_filters)
        check_positive_int("sinc_kernel_size", sinc_kernel_size)
        conv_filters = pase_layers.check_conv_filters(conv_filters)
        check_positive_int("emb_dim", emb_dim)
        check_positive("sample_rate", sample_rate)
        if not isinstance(official_padding, bool):
            raise ValueError(
                "`official_padding` must be True or False. "
                f"Received: official_padding={official_padding!r}"
            )

        # === Layers ===
        blocks = pase_layers.conv_stack_layers(
            sinc_filters,
            sinc_kernel_size,
            conv_filters,
            sample_rate,
            dtype,
            official_padding,
        )
        output_norm = keras.layers.BatchNormalization(
            epsilon=1e-5,
            momentum=0.9,
            center=False,
            scale=False,
            dtype=dtype,
            name="output_norm",
        )

        # === Functional model ===
        inputs = keras.Input(shape=(None,), name="waveform")
        outputs = output_norm(self._embedding(inputs, blocks, emb_dim, dtype))
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.sinc_filters = sinc_filters
        self.sinc_kernel_size = sinc_kernel_size
        self.conv_filters = conv_filters
        self.emb_dim = emb_dim
        self.sample_rate = sample_rate
        self.official_padding = official_padding
        self.min_samples = pase_layers.min_samples(
            sinc_kernel_size, official_padding
        )

    def call(self, inputs, training=None, mask=None):
        # A clear error for audio too short to reflect-pad, where the
        # length is known; otherwise TensorFlow's MirrorPad raises.
        check_audio(
            inputs,
            f"{type(self).__name__} input",
            min_length=self.min_samples,
            check_values=False,
        )
        return super().call(inputs, training=training, mask=mask)

    def _embedding(self, waveform, blocks, emb_dim, dtype):
        """The embedding before the output BatchNorm: the convolutional
        stack `blocks` applied to `waveform`, then `_head` on the blocks'
        outputs. Called once, symbolically, by the constructor."""
        x = waveform
        block_outputs = []
        for block in blocks:
            x = pase_layers.apply_block(block, x)
            block_outputs.append(x)
        return self._head(block_outputs, emb_dim, dtype)

    def _head(self, block_outputs, emb_dim, dtype):
        """From the outputs of the eight blocks to the embedding: here a
        1×1 convolution of the last to `emb_dim`. `PASEPlusBackbone`
        overrides it; each creates the layers it needs."""
        projection = keras.layers.Conv1D(
            emb_dim, 1, dtype=dtype, name="projection"
        )
        return projection(block_outputs[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "sinc_filters": self.sinc_filters,
            "sinc_kernel_size": self.sinc_kernel_size,
            "conv_filters": list(self.conv_filters),
            "emb_dim": self.emb_dim,
            "sample_rate": self.sample_rate,
            "official_padding": self.official_padding,
        }
