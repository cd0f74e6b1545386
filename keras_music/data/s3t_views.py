"""S3T's pre-training input: two augmented, square views of each clip.

S3T (Zhao et al., ICASSP 2022, Section 2.3) pre-trains on pairs of views
of one clip: its CQT augmented twice (`S3TAugment`: random crops
stretched to the view, time warping, pitch and time shifts, frequency
and time masks), each view then made a square image (Time Folding or
Frequency Tiling). `s3t_augmentation` gives the paper's chain or the
crop-only variants the study compares; `s3t_view_pairs` is the
`tf.data` pipeline that reads clips and maps them to the pairs, so the
frontend and the augmentation run on the input pipeline's CPU threads
(or a tf.data service), not in the training step.
"""

import tensorflow as tf

from keras_music.data.tfrecord_dataset import tfrecord_dataset
from keras_music.layers.s3t_augment import S3TAugment

AUGMENTATIONS = ("paper", "crop_only", "crop_only_pad")


def s3t_augmentation(view_frames, augmentation="paper", seed=None):
    """The augmentation of S3T's pre-training views, as an `S3TAugment`.

    Args:
        view_frames: int. Frames of each view (what the square layer
            folds or tiles).
        augmentation: str. `"paper"` (S3TAugment's chain: crops of
            10-90% of the clip stretched to the view, time warping,
            shifts, masks), `"crop_only"` (two crops of 50-90% of the
            clip each, stretched to the view as the paper's crops are,
            nothing else) or `"crop_only_pad"` (the same crops padded
            with zeros, not stretched, as the encoder pads a whole clip
            at inference). Defaults to `"paper"`.
        seed: optional int. Seeds the augmentation. Defaults to `None`.

    Returns:
        `S3TAugment`, mapping a batch of spectrograms `(batch, bins,
        frames)` to two views `(batch, bins, view_frames)` when called
        with `training=True`.

    Example:

    >>> augment = s3t_augmentation(64, "crop_only_pad", seed=0)
    >>> view_1, view_2 = augment(np.ones((2, 16, 40), "float32"), training=True)
    >>> tuple(view_1.shape)
    (2, 16, 64)
    """
    if augmentation == "paper":
        return S3TAugment(output_length=view_frames, seed=seed)
    if augmentation in ("crop_only", "crop_only_pad"):
        return S3TAugment(
            output_length=view_frames,
            crop_ratio_range=(0.5, 0.9),
            crop_mode="pad" if augmentation == "crop_only_pad" else "resize",
            time_warp_p=0.0,
            shift_p=0.0,
            freq_mask_p=0.0,
            time_mask_p=0.0,
            seed=seed,
        )
    raise ValueError(
        "`augmentation` must be 'paper', 'crop_only' or 'crop_only_pad'. "
        f"Received: augmentation={augmentation!r}"
    )


def s3t_view_pairs(
    directory, augment, frontend, square, clip_seconds, batch_size, seed=None
):
    """Batches of two augmented, square views of random clips.

    Reads random clips of `clip_seconds` from the TFRecord folder, in
    whole batches (MoCo's queue takes whole global batches) and endlessly
    (the training loop counts the steps), and maps each batch to
    `(square(view_1), square(view_2))` with `(view_1, view_2) =
    augment(frontend(audio), training=True)`.

    Args:
        directory: str. A TFRecord folder (`write_tfrecords`).
        augment: layer. Spectrograms -> two views (`s3t_augmentation`).
        frontend: layer. Audio `(batch, samples)` -> spectrograms
            `(batch, bins, frames)` (`s3t_frontend`).
        square: layer. A view -> the encoder's square image
            (`s3t_square_layer`).
        clip_seconds: float. Clip length.
        batch_size: int. Clips per batch.
        seed: optional int. Seeds the choice and order of the clips.
            Defaults to `None`.

    Returns:
        An endless `tf.data.Dataset` of `(view_1, view_2)` pairs.
    """

    def views(audio):
        view_1, view_2 = augment(frontend(audio), training=True)
        return square(view_1), square(view_2)

    dataset = tfrecord_dataset(
        directory,
        segment_seconds=clip_seconds,
        mode="random",
        batch_size=batch_size,
        seed=seed,
        drop_remainder=True,
        repeat=True,
    )
    return dataset.map(views, num_parallel_calls=tf.data.AUTOTUNE)
