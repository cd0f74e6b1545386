"""`BalancedSampler`: per-epoch track samples by inverse label frequency."""

import numpy as np
import tensorflow as tf

from keras_music.utils.validation import check_positive_int


class BalancedSampler:
    """Draws each epoch's tracks with weights from inverse label frequency.

    MAEST (after PaSST) trains on a fresh "balanced" sample of tracks every
    epoch, so that rare labels are seen about as often as common ones. A
    track's weight is the sum over its labels `l` of
    `1000 / (n_l + 100)`, where `n_l` is the number of tracks with label
    `l`; the 100 keeps very rare labels from dominating. Tracks without
    labels have weight 0 and are never drawn.

    Without replacement the draw is successive sampling proportional to
    weight (as `torch.multinomial(..., replacement=False)`), computed in
    one step with the Gumbel top-k trick; with replacement it is
    `num_samples` independent categorical draws. Both run as TensorFlow
    ops, so `tfrecord_dataset(balanced=True)` redraws inside `tf.data`.

    Args:
        label_indices: list with, for each track, the list of its label
            indices (ints in `[0, num_labels)`).
        num_samples: int. Tracks drawn per epoch.
        replacement: bool. Whether a track may be drawn more than once per
            epoch. Defaults to `False`.

    Example:

    >>> sampler = BalancedSampler([[0], [0], [1], [0, 1]], num_samples=2)
    >>> np.round(sampler.weights, 2)  # 1000/103, ..., 1000/103 + 1000/102
    array([ 9.71,  9.71,  9.8 , 19.51])
    >>> sampler.sample(seed=(0, 1)).shape
    TensorShape([2])

    Reference:
        Alonso-Jiménez et al., "Efficient supervised training of audio
        transformers for music representation learning", ISMIR 2023, §3.3
        (sampling of Koutini et al., PaSST, 2022).
    """

    def __init__(self, label_indices, num_samples, replacement=False):
        self.label_indices = [
            [int(label) for label in labels] for labels in label_indices
        ]
        self.num_samples = check_positive_int("num_samples", num_samples)
        if not isinstance(replacement, bool):
            raise ValueError(
                "`replacement` must be a bool. "
                f"Received: replacement={replacement!r}"
            )
        self.replacement = replacement
        if any(label < 0 for labels in self.label_indices for label in labels):
            raise ValueError(
                "`label_indices` must hold non-negative label indices. "
                f"Received: label_indices={label_indices!r}"
            )
        self.weights = self._weights()
        drawable = int(np.count_nonzero(self.weights))
        if drawable == 0:
            raise ValueError(
                "`label_indices` has no labelled track to draw from. "
                f"Received: label_indices={label_indices!r}"
            )
        if not replacement and num_samples > drawable:
            raise ValueError(
                "`num_samples` cannot exceed the number of labelled tracks "
                f"({drawable}) without replacement. "
                f"Received: num_samples={num_samples}"
            )

    def _weights(self):
        num_labels = 1 + max(
            (max(labels) for labels in self.label_indices if labels),
            default=-1,
        )
        counts = np.zeros(num_labels, dtype=np.float64)
        for labels in self.label_indices:
            counts[sorted(set(labels))] += 1
        label_weight = 1000.0 / (counts + 100.0)
        return np.array(
            [label_weight[sorted(set(ls))].sum() for ls in self.label_indices],
            dtype=np.float64,
        )

    @property
    def probabilities(self):
        """Each track's probability on one draw: weight / total weight."""
        return self.weights / self.weights.sum()

    def sample(self, seed):
        """Track indices for one epoch, as an int32 tensor.

        Args:
            seed: a shape-`(2,)` integer seed (tuple or tensor) for
                TensorFlow's stateless random ops; the same seed gives the
                same sample.
        """
        log_weights = tf.math.log(tf.constant(self.weights, tf.float32))
        if self.replacement:
            draws = tf.random.stateless_categorical(
                log_weights[None, :], self.num_samples, seed=seed
            )
            return tf.cast(draws[0], tf.int32)
        # Gumbel top-k: the k largest of log(w) + Gumbel noise are
        # distributed as k successive draws without replacement.
        uniform = tf.random.stateless_uniform(
            tf.shape(log_weights), seed=seed, minval=1e-12, maxval=1.0
        )
        keys = log_weights - tf.math.log(-tf.math.log(uniform))
        return tf.math.top_k(keys, k=self.num_samples).indices

    def sample_counts(self, seed):
        """How many times each track is drawn this epoch, int32 `(tracks,)`."""
        return tf.math.bincount(
            self.sample(seed),
            minlength=len(self.weights),
            maxlength=len(self.weights),
        )
