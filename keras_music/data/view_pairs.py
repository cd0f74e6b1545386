"""Batches of two augmented views of each clip, the input of `SimCLR`,
and the augmentation chains that make the views: CLMR's (`clmr_views`)
and the multi-format paper's for waveforms and spectrograms."""

import tensorflow as tf

from keras_music.data.data_service import through_data_service
from keras_music.data.tfrecord_dataset import tfrecord_dataset
from keras_music.layers.clmr_augment import CLMRAugment
from keras_music.layers.frequency_masking import FrequencyMasking
from keras_music.layers.gaussian_noise import GaussianNoise
from keras_music.layers.random_crop import RandomCrop
from keras_music.layers.time_masking import TimeMasking


def view_pairs(
    directory,
    span_seconds,
    batch_size,
    make_views,
    seed,
    data_service_address=None,
):
    """Batches `(view_1, view_2)` for `SimCLR.fit`, repeated forever.

    Each track of `directory` gives a random window of `span_seconds`;
    `make_views` maps a batch of those windows to the two views (for
    CLMR, `clmr_views`: two random crops through its augmentation
    chain). The augmentation runs in the `tf.data` pipeline, so the model
    only sees finished views.

    Args:
        directory: str. A TFRecord folder (`tfrecord_dataset`).
        span_seconds: float. Seconds of each track the views come from.
        batch_size: int. The global batch; the last partial batch is
            dropped so that replicas split every batch evenly.
        make_views: callable. `(batch, samples)` audio -> a pair of views.
        seed: int. Seed of the window positions and the shuffle.
        data_service_address: str or None. A tf.data service dispatcher
            (`"grpc://HOST:PORT"`) to run the pipeline on; None runs it
            here. Defaults to None.

    Returns:
        A prefetched `tf.data.Dataset` of `(view_1, view_2)` batches.

    Example:

    >>> views = clmr_views(22050, crop_length=59049, seed=0)
    >>> pairs = view_pairs("data/train", 30.0, 48, views, seed=0)
    """
    if not callable(make_views):
        raise ValueError(
            "`make_views` must be a callable mapping audio to two views. "
            f"Received: make_views={make_views!r}"
        )
    dataset = tfrecord_dataset(
        directory,
        segment_seconds=span_seconds,
        mode="random",
        batch_size=batch_size,
        seed=seed,
        drop_remainder=True,
        repeat=True,
    )
    dataset = dataset.map(make_views, num_parallel_calls=tf.data.AUTOTUNE)
    if data_service_address is not None:
        dataset = through_data_service(dataset, data_service_address)
    return dataset.prefetch(tf.data.AUTOTUNE)


# CLMRAugment's stage probabilities; `crop_only` sets them all to 0.
CLMR_STAGES = (
    "polarity_p",
    "noise_p",
    "gain_p",
    "filter_p",
    "delay_p",
    "pitch_p",
    "reverb_p",
)


def clmr_views(sample_rate, crop_length, seed, crop_only=False):
    """CLMR's two views of a clip (Spijkervet & Burgoyne, 2021, Sec. 3.1).

    Two random crops of `crop_length` samples, each through CLMR's chain
    (`CLMRAugment` at its defaults: polarity inversion, white noise,
    gain, high/low-pass filter, delay, pitch shift, reverb); `crop_only`
    turns every stage but the crop off (the multi-format paper's Table 1
    ablation).

    Returns:
        A callable `(batch, samples)` audio -> `(view_1, view_2)`, for
        `view_pairs`' `make_views`.
    """
    off = dict.fromkeys(CLMR_STAGES, 0.0) if crop_only else {}
    augment = CLMRAugment(
        sample_rate=sample_rate, crop_length=crop_length, seed=seed, **off
    )
    return lambda audio: augment(audio, training=True)


def multiformat_waveform_views(sample_rate, crop_length, seed, crop_only=False):
    """The waveform views of multi-format contrastive learning
    (papers/multiformat-contrastive.txt, Sec. 3.1): random crops with
    white noise, gain in [-6, 0] dB, a high/low-pass filter and a pitch
    shift within +-5 semitones, at CLMR's probabilities (the paper gives
    none); `crop_only` keeps the crops alone.

    Returns:
        A callable audio -> `(view_1, view_2)`.
    """
    stages = {"polarity_p": 0.0, "delay_p": 0.0, "reverb_p": 0.0}
    if crop_only:
        stages = dict.fromkeys(CLMR_STAGES, 0.0)
    augment = CLMRAugment(
        sample_rate=sample_rate,
        crop_length=crop_length,
        gain_range=(-6.0, 0.0),
        semitone_range=(-5.0, 5.0),
        seed=seed,
        **stages,
    )
    return lambda audio: augment(audio, training=True)


def multiformat_spectrogram_views(frontend, crop_length, seed, crop_only=False):
    """The spectrogram views of multi-format contrastive learning
    (papers/multiformat-contrastive.txt, Sec. 3.2).

    Random crops mixed with white noise (probability 0.5, SNR 10-30 dB:
    the paper gives no level), the `frontend` (a log-mel spectrogram
    layer with an `n_mels` attribute), then frequency and time masking
    (probability 0.8, one or two masks of 5-10% of the bands or frames);
    `crop_only` keeps crop and frontend alone. The layers take seeds
    `seed` to `seed + 3`.

    Returns:
        A callable audio -> `(view_1, view_2)`, each `(batch, n_mels,
        frames)`.
    """
    n_mels = frontend.n_mels
    crop = RandomCrop(crop_length, seed=seed)
    noise = GaussianNoise(snr_range=(10.0, 30.0), p=0.5, seed=seed + 1)
    bands = (max(1, n_mels // 20), max(1, n_mels // 10))
    masks = [
        FrequencyMasking(0.8, (1, 2), bands, seed=seed + 2),
        TimeMasking(0.8, (1, 2), (0.05, 0.1), 0.2, seed=seed + 3),
    ]

    def view(audio):
        x = crop(audio, training=True)
        if crop_only:
            return frontend(x)
        x = frontend(noise(x, training=True))
        for mask in masks:
            x = mask(x, training=True)
        return x

    return lambda audio: (view(audio), view(audio))
