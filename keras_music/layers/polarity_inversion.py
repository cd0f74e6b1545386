import keras

from keras_music.layers.waveform_ops import WaveformAugmentation


@keras.saving.register_keras_serializable(package="keras_music")
class PolarityInversion(WaveformAugmentation):
    """Randomly flips the sign of waveforms.

    Polarity is inaudible on its own, so an encoder trained with this
    augmentation learns not to depend on the sign of the waveform. Each
    example of a batch is inverted with probability `p` during training;
    at inference the layer is the identity.

    Args:
        p: float. Probability that an example is inverted. Defaults to 0.8
            (CLMR).
        seed: int or None. Seed of the layer's random generator. Defaults
            to None.
        **kwargs: Base layer arguments (`name`, `dtype`).

    Example:

    >>> layer = PolarityInversion(p=1.0, seed=0)
    >>> audio = keras.ops.ones((2, 4))
    >>> keras.ops.convert_to_numpy(layer(audio, training=True))[0, 0]
    np.float32(-1.0)

    Input shape:
        `(batch, samples)` or `(samples,)` float waveforms.

    Output shape:
        Same as the input.

    Reference:
        Spijkervet & Burgoyne, "Contrastive Learning of Musical
        Representations" (CLMR), ISMIR 2021, Sec. 3.1.
    """

    def __init__(self, p=0.8, seed=None, **kwargs):
        super().__init__(p=p, seed=seed, **kwargs)

    def augment(self, audio):
        return -audio
