import math

import keras
import numpy as np
from keras import ops

from keras_music.layers.validation import check_positive_int

# Codes of the `--workers W,L,P,M,C,T` flag, in the paper's order.
WORKER_CODES = {
    "W": "waveform",
    "L": "lps",
    "P": "prosody",
    "M": "mfcc",
    "C": "chroma",
    "T": "tempogram",
}
WORKER_NAMES = tuple(WORKER_CODES.values())

# The waveform is reconstructed sample by sample with L1 (MAE); every
# frame-level target is regressed with MSE (paper, Section 3.2).
WORKER_LOSSES = {
    name: "mae" if name == "waveform" else "mse" for name in WORKER_NAMES
}


def worker_name(key):
    """The worker name that a code or name stands for, in any case
    (`"L"`, `"lps"`, `"LPS"` -> `"lps"`); anything else comes back as it
    is, for the caller to refuse with its own message."""
    if isinstance(key, str):
        return WORKER_CODES.get(key.upper(), key.lower())
    return key


def parse_workers(workers):
    """Worker names from codes or names: `"W,L"`, `("waveform", "L")`.

    Returns a tuple of names in the given order. Raises `ValueError` naming
    the unknown or repeated worker.

    Args:
        workers: str of comma-separated codes or names, or a sequence of
            codes or names.

    Example:

    >>> parse_workers("W,L")
    ('waveform', 'lps')
    """
    if isinstance(workers, str):
        workers = [w.strip() for w in workers.split(",") if w.strip()]
    try:
        workers = list(workers)
    except TypeError:
        raise ValueError(
            "`workers` must be a comma-separated string or a sequence of "
            f"worker names or codes. Received: workers={workers!r}"
        ) from None
    if not workers:
        raise ValueError(
            "`workers` must name at least one worker. "
            f"Received: workers={workers!r}"
        )
    names = []
    for worker in workers:
        name = worker_name(worker.strip() if isinstance(worker, str) else None)
        if name not in WORKER_NAMES:
            raise ValueError(
                f"Unknown worker {worker!r}: `workers` takes the names "
                f"{', '.join(WORKER_NAMES)} or the codes "
                f"{','.join(WORKER_CODES)}. Received: workers={workers!r}"
            )
        if name in names:
            raise ValueError(
                f"Worker {name!r} is given twice. Received: workers={workers!r}"
            )
        names.append(name)
    return tuple(names)


@keras.saving.register_keras_serializable(package="keras_music")
class PASEWorkers(keras.layers.Layer):
    """The worker heads of multi-task self-supervised (PASE) pre-training.

    Each worker predicts one hand-crafted target from the encoder's frame
    embeddings `(batch, frames, emb_dim)`:

    - `lps`, `mfcc`, `chroma`, `tempogram`, `prosody`: a small MLP applied
      to every frame, i.e. 1x1 convolutions `emb_dim -> hidden_dim ->
      PReLU -> target_dim`, giving `(batch, frames, target_dim)`.
    - `waveform`: a decoder of transposed convolutions that upsamples the
      frames back to audio samples, giving `(batch, frames * hop)` with
      `hop = prod(decoder_strides)`. The default strides `(2, 2, 2, 2, 10)`
      are the encoder's non-unit strides `10, 2, 2, 2, 2` in reverse order
      (the paper decodes with "encoder layers applied in reverse order"),
      so the product is the encoder's hop of 160 samples at 16 kHz. Each
      transposed convolution has kernel `2 * stride` with "same" padding:
      its output is exactly `stride` times longer and every output sample
      sees two input frames, which avoids the gaps of `kernel == stride`.
      Each is followed by a per-channel PReLU; a final linear 1x1
      convolution gives one channel.

    The heads have no BatchNormalization, so a worker's output does not
    depend on how a batch is split across replicas. The layer returns a
    dict `{worker name: prediction}`; `MultiTaskPretrainer` pairs each
    prediction with its target and loss (`WORKER_LOSSES`).

    Args:
        workers: str or sequence of str. Worker names (`waveform`, `lps`,
            `prosody`, `mfcc`, `chroma`, `tempogram`) or codes (`W`, `L`,
            `P`, `M`, `C`, `T`), e.g. `"W,L,P"`. Stored as names.
        target_dims: dict. Output width of every frame-level worker,
            `{"lps": 1025, "mfcc": 20, ...}` (the feature sizes depend on
            how the targets were computed, so they are not assumed). Not
            needed for `waveform`; entries for workers not selected are
            ignored but kept.
        hidden_dim: int. Hidden width of the frame-level MLPs. Defaults to
            256.
        decoder_filters: sequence of int. Channels of each transposed
            convolution of the waveform decoder. Defaults to
            `(256, 256, 128, 128, 64)`.
        decoder_strides: sequence of int, as long as `decoder_filters`.
            Upsampling factor of each transposed convolution; their product
            is the number of samples per frame. Defaults to
            `(2, 2, 2, 2, 10)` (160 = 10 ms at 16 kHz).

    Example:

    >>> heads = PASEWorkers("W,M", target_dims={"mfcc": 20})
    >>> frames = np.random.rand(2, 10, 512).astype("float32")
    >>> outputs = heads(frames)
    >>> tuple(outputs["waveform"].shape), tuple(outputs["mfcc"].shape)
    ((2, 1600), (2, 10, 20))

    Input shape:
        `(batch, frames, emb_dim)`.

    Output shape:
        A dict: `(batch, frames, target_dims[name])` for frame-level
        workers, `(batch, frames * prod(decoder_strides))` for `waveform`.

    Reference:
        Wu et al., "Multi-Task Self-Supervised Pre-Training for Music
        Classification", ICASSP 2021, Sections 3.2 (workers) and 2.1;
        Pascual et al., "Learning Problem-agnostic Speech Representations
        from Multiple Self-supervised Tasks" (PASE), Interspeech 2019.
    """

    def __init__(
        self,
        workers,
        target_dims=None,
        hidden_dim=256,
        decoder_filters=(256, 256, 128, 128, 64),
        decoder_strides=(2, 2, 2, 2, 10),
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.workers = list(parse_workers(workers))
        self.target_dims = _check_target_dims(self.workers, target_dims)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.decoder_filters = _check_int_list(
            "decoder_filters", decoder_filters
        )
        self.decoder_strides = _check_int_list(
            "decoder_strides", decoder_strides
        )
        if len(self.decoder_filters) != len(self.decoder_strides):
            raise ValueError(
                "`decoder_filters` and `decoder_strides` must have the same "
                f"length. Received: decoder_filters={decoder_filters!r}, "
                f"decoder_strides={decoder_strides!r}"
            )
        self.hop_length = math.prod(self.decoder_strides)

        self.heads = {}
        for name in self.workers:
            if name == "waveform":
                self.heads[name] = self._waveform_decoder()
            else:
                self.heads[name] = self._frame_mlp(name)

    def _frame_mlp(self, name):
        dtype = self.dtype_policy
        return keras.Sequential(
            [
                keras.layers.Conv1D(self.hidden_dim, 1, dtype=dtype),
                keras.layers.PReLU(shared_axes=[1], dtype=dtype),
                keras.layers.Conv1D(self.target_dims[name], 1, dtype=dtype),
            ],
            name=f"{name}_worker",
        )

    def _waveform_decoder(self):
        dtype = self.dtype_policy
        layers = []
        for filters, stride in zip(self.decoder_filters, self.decoder_strides):
            layers += [
                keras.layers.Conv1DTranspose(
                    filters,
                    2 * stride,
                    strides=stride,
                    padding="same",
                    dtype=dtype,
                ),
                keras.layers.PReLU(shared_axes=[1], dtype=dtype),
            ]
        layers.append(keras.layers.Conv1D(1, 1, dtype=dtype))
        return keras.Sequential(layers, name="waveform_worker")

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                "PASEWorkers expects frame embeddings `(batch, frames, "
                f"emb_dim)` with a known emb_dim. Received: shape="
                f"{tuple(input_shape)}"
            )
        for head in self.heads.values():
            head.build(tuple(input_shape))
        self.built = True

    def call(self, inputs):
        outputs = {}
        for name, head in self.heads.items():
            prediction = head(inputs)
            if name == "waveform":
                prediction = ops.squeeze(prediction, axis=-1)
            outputs[name] = prediction
        return outputs

    def compute_output_spec(self, inputs):
        batch, frames = inputs.shape[0], inputs.shape[1]
        outputs = {}
        for name in self.workers:
            if name == "waveform":
                samples = None if frames is None else frames * self.hop_length
                shape = (batch, samples)
            else:
                shape = (batch, frames, self.target_dims[name])
            outputs[name] = keras.KerasTensor(shape, dtype=self.compute_dtype)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "workers": list(self.workers),
                "target_dims": dict(self.target_dims),
                "hidden_dim": self.hidden_dim,
                "decoder_filters": list(self.decoder_filters),
                "decoder_strides": list(self.decoder_strides),
            }
        )
        return config


def _check_int_list(name, values):
    try:
        values = list(values)
    except TypeError:
        raise ValueError(
            f"`{name}` must be a non-empty sequence of positive integers. "
            f"Received: {name}={values!r}"
        ) from None
    if not values:
        raise ValueError(
            f"`{name}` must be a non-empty sequence of positive integers. "
            f"Received: {name}={values!r}"
        )
    for value in values:
        try:
            check_positive_int(name, value)
        except ValueError:
            raise ValueError(
                f"`{name}` must be a non-empty sequence of positive "
                f"integers. Received: {name}={values!r}"
            ) from None
    return [int(v) for v in values]


def _check_target_dims(workers, target_dims):
    if target_dims is None:
        target_dims = {}
    if not isinstance(target_dims, dict):
        raise ValueError(
            "`target_dims` must be a dict {worker name: feature size}. "
            f"Received: target_dims={target_dims!r}"
        )
    dims = {}
    for key, value in target_dims.items():
        name = worker_name(key)
        if name not in WORKER_NAMES:
            raise ValueError(
                f"`target_dims` has an unknown worker {key!r}; workers are "
                f"{', '.join(WORKER_NAMES)}. Received: target_dims="
                f"{target_dims!r}"
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, np.integer))
            or value < 1
        ):
            raise ValueError(
                f"`target_dims` of worker {name!r} must be a positive "
                f"integer. Received: target_dims={target_dims!r}"
            )
        dims[name] = int(value)
    for name in workers:
        if name != "waveform" and name not in dims:
            raise ValueError(
                f"Worker {name!r} needs its feature size in `target_dims` "
                f"(e.g. target_dims={{{name!r}: ...}}). "
                f"Received: target_dims={target_dims!r}"
            )
    dims.pop("waveform", None)
    return dims
