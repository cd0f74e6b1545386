"""The PASE+ encoder: PASE with a QRNN and dense skip connections."""

import keras

from keras_music.layers.qrnn import QRNN
from keras_music.layers.validation import check_positive_int
from keras_music.models.pase import pase_layers
from keras_music.models.pase.pase_backbone import PASEBackbone
from keras_music.models.pase.pase_presets import pase_plus_presets


@keras.saving.register_keras_serializable(package="keras_music")
class PASEPlusBackbone(PASEBackbone):
    """PASE+: PASE with a QRNN and dense skip connections.

    Raw audio goes through the PASE convolutional stack (a `SincConv1D`
    block and seven `Conv1D` blocks of total stride 160, each followed by
    BatchNorm, eps 1e-5, and a per-channel PReLU initialised at 0), then a
    `QRNN` (fo-pooling, window 2, causal) and a 1×1 convolution to
    `emb_dim`. Dense skips add the outputs of blocks 1-7, each average-
    pooled in time down to the output rate (non-overlapping windows of
    160, 16, 8, 8, 4, 4 and 2 frames) and mapped to `emb_dim` by a 1×1
    convolution without bias; the sum goes through a BatchNorm without
    scale and offset. Pooling before the 1×1 convolution gives the same
    result as after it (both are linear and the convolution has no bias)
    and avoids a 512-wide tensor at the sample rate. It is the encoder
    that `MultiTaskPretrainer`'s workers pre-train. A subclass of
    `PASEBackbone` (same stack, checks and frames) with its own presets.

    Frames and input length are `PASEBackbone`'s: `samples // 160`
    frames, from at least `min_samples` samples.

    With `emb_dim=512` and `qrnn_units=512` (preset `pase_plus`) the model
    has 8,329,536 parameters, 8,324,672 trainable: PASE's plus the QRNN
    (2 × 512 × 1536 + 1536 = 1,574,400) and the skips (512 × 1408 =
    720,896); the paper's "~8 M" (REFERENCE.md §3: ≈8.3 M).

    Args:
        sinc_filters, sinc_kernel_size, conv_filters, emb_dim,
            sample_rate: as in `PASEBackbone`, with the same defaults.
        qrnn_units: int. Width of the QRNN. Defaults to 512.
        official_padding: bool. Pad as santi-pdp/pase does (see
            `PASEBackbone`); set by
            `keras_music.convert.load_pase_plus_weights`. The official
            dense skips then average windows of `skip_frames // frames`
            frames, which are ours (160, 16, …) only when `samples` is a
            multiple of 160, so other lengths of known size raise.
            Defaults to `False`.
        dtype: str or `keras.DTypePolicy`. Dtype policy of the layers.
            Defaults to `None` (the global policy).

    Example:

    >>> backbone = PASEPlusBackbone.from_preset("pase_plus_tiny")
    >>> backbone(np.zeros((2, 16000), "float32")).shape
    TensorShape([2, 100, 16])

    Input shape:
        `(batch, samples)` float audio, `samples >= min_samples`.

    Output shape:
        `(batch, samples // 160, emb_dim)`.

    Reference:
        - [Pascual et al., Learning Problem-agnostic Speech
          Representations from Multiple Self-supervised Tasks,
          Interspeech 2019](https://arxiv.org/abs/1904.03416), section 2.1;
          [Ravanelli et al., Multi-task self-supervised learning for
          Robust Speech Recognition, ICASSP 2020](
          https://arxiv.org/abs/2001.09239), section 2.1;
          [Wu et al., Multi-task Self-supervised Pre-training for Music
          Classification, ICASSP 2021](https://arxiv.org/abs/2102.03229),
          section 3.1.
    """

    preset_configs = pase_plus_presets

    def __init__(
        self,
        sinc_filters=64,
        sinc_kernel_size=251,
        conv_filters=(64, 128, 128, 256, 256, 512, 512),
        emb_dim=512,
        qrnn_units=512,
        sample_rate=16000,
        official_padding=False,
        dtype=None,
        **kwargs,
    ):
        # Read by `_embedding`, which `PASEBackbone.__init__` calls.
        self.qrnn_units = check_positive_int("qrnn_units", qrnn_units)
        super().__init__(
            sinc_filters=sinc_filters,
            sinc_kernel_size=sinc_kernel_size,
            conv_filters=conv_filters,
            emb_dim=emb_dim,
            sample_rate=sample_rate,
            official_padding=official_padding,
            dtype=dtype,
            **kwargs,
        )

    def call(self, inputs, training=None, mask=None):
        length = inputs.shape[-1]
        if (
            self.official_padding
            and length is not None
            and length % pase_layers.TOTAL_STRIDE
        ):
            raise ValueError(
                f"{type(self).__name__} input with `official_padding` must "
                f"be a multiple of {pase_layers.TOTAL_STRIDE} samples long "
                "(the official dense skips pool other lengths unevenly); "
                f"trim or pad it. Received: shape={tuple(inputs.shape)}"
            )
        return super().call(inputs, training=training, mask=mask)

    def _head(self, block_outputs, emb_dim, dtype):
        # === Layers ===
        qrnn = QRNN(self.qrnn_units, window_size=2, dtype=dtype, name="qrnn")
        # Blocks 1-7, at 1, 10, 20, 20, 40, 40 and 80 samples per frame.
        strides = [1] + list(pase_layers.CONV_STRIDES)
        rates = [1]
        for stride in strides[1:7]:
            rates.append(rates[-1] * stride)
        skip_pools = [
            keras.layers.AveragePooling1D(
                pase_layers.TOTAL_STRIDE // rate,
                dtype=dtype,
                name=f"skip_{n}_pool",
            )
            for n, rate in enumerate(rates, start=1)
        ]
        skip_projections = [
            keras.layers.Conv1D(
                emb_dim,
                1,
                use_bias=False,
                dtype=dtype,
                name=f"skip_{n}_projection",
            )
            for n in range(1, 8)
        ]
        skip_sum = keras.layers.Add(dtype=dtype, name="skip_sum")
        projection = keras.layers.Conv1D(
            emb_dim, 1, dtype=dtype, name="projection"
        )

        # === Functional model ===
        skips = [
            project(pool(x))
            for pool, project, x in zip(
                skip_pools, skip_projections, block_outputs[:7]
            )
        ]
        x = projection(qrnn(block_outputs[-1]))
        return skip_sum([x, *skips])

    def get_config(self):
        return {**super().get_config(), "qrnn_units": self.qrnn_units}
