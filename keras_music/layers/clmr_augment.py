import keras
import tensorflow as tf

from keras_music.layers.delay import Delay
from keras_music.layers.gaussian_noise import GaussianNoise
from keras_music.layers.pitch_shift import PitchShift
from keras_music.layers.polarity_inversion import PolarityInversion
from keras_music.layers.random_augmentation import check_seed
from keras_music.layers.random_crop import RandomCrop
from keras_music.layers.random_filter import RandomFilter
from keras_music.layers.random_gain import RandomGain
from keras_music.layers.reverb import Reverb
from keras_music.layers.validation import check_positive
from keras_music.layers.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_music")
class CLMRAugment(keras.layers.Layer):
    """CLMR's chain of waveform augmentations, giving two views per example.

    Makes the positive pairs of contrastive pre-training (SimCLR / CLMR):
    the chain runs twice on the same batch, each time with fresh random
    draws, and the two results are the two views. The chain, in CLMR's
    order, with CLMR's probabilities as defaults: `RandomCrop` (always),
    `PolarityInversion` (0.8), `GaussianNoise` (0.01), `RandomGain`
    (0.3, -20 to -1 dB), `RandomFilter` (0.8), `Delay` (0.3),
    `PitchShift` (0.6, +-7 semitones), `Reverb` (0.6). Every stage
    draws per example, and transforms only the examples whose coin
    fires (the whole batch under XLA). A probability of 0 leaves a
    stage out; the multi-format paper's chain (crop, noise, gain in
    [-6, 0] dB, filter, pitch shift within +-5 semitones) is
    `CLMRAugment(polarity_p=0, delay_p=0, reverb_p=0,
    gain_range=(-6, 0), semitone_range=(-5, 5))`.

    At inference (`training` not set) both views are the same centre crop
    with no other change. The stages compute in float32 whatever the
    layer's dtype policy; the views are cast to the compute dtype at the
    end.

    Args:
        sample_rate: int. Sample rate of the audio in Hz. Defaults to
            22050.
        crop_length: int. Samples per view. Defaults to 59049 (2.7 s).
        polarity_p: float. Probability of polarity inversion. Defaults to
            0.8.
        noise_p: float. Probability of white noise. Defaults to 0.01.
        gain_p: float. Probability of a gain change. Defaults to 0.3.
        filter_p: float. Probability of a high- or low-pass filter.
            Defaults to 0.8.
        delay_p: float. Probability of an echo. Defaults to 0.3.
        pitch_p: float. Probability of a pitch shift. Defaults to 0.6.
        reverb_p: float. Probability of reverberation. Defaults to 0.6.
        gain_range: pair of floats. Gain range in dB. Defaults to
            `(-20.0, -1.0)`.
        semitone_range: pair of floats. Pitch shift range in semitones.
            Defaults to `(-7.0, 7.0)`.
        seed: int or None. Seed of the stages' random generators (stage
            `i` uses `seed + i`). Defaults to None.
        **kwargs: Base layer arguments (`name`, `dtype`).

    Example:

    >>> augment = CLMRAugment(sample_rate=8000, crop_length=2000, seed=0)
    >>> audio = keras.random.normal((4, 4000), seed=1)
    >>> view_1, view_2 = augment(audio, training=True)
    >>> view_1.shape, view_2.shape
    (TensorShape([4, 2000]), TensorShape([4, 2000]))

    Input shape:
        `(batch, samples)` or `(samples,)` float waveforms.

    Output shape:
        A tuple of two tensors `(batch, crop_length)` (or
        `(crop_length,)`).

    Reference:
        Spijkervet & Burgoyne, "Contrastive Learning of Musical
        Representations" (CLMR), ISMIR 2021, Sec. 3.1; multi-format
        contrastive learning (papers/multiformat-contrastive.txt), Sec. 3.
    """

    def __init__(
        self,
        sample_rate=22050,
        crop_length=59049,
        polarity_p=0.8,
        noise_p=0.01,
        gain_p=0.3,
        filter_p=0.8,
        delay_p=0.3,
        pitch_p=0.6,
        reverb_p=0.6,
        gain_range=(-20.0, -1.0),
        semitone_range=(-7.0, 7.0),
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.crop_length = check_positive_int("crop_length", crop_length)
        self.seed = check_seed(seed)

        def stage_seed(i):
            return None if seed is None else seed + i

        # The stages check their own arguments (`p`, ranges) and keep
        # float32 so that mixed precision does not round between stages.
        self.crop = RandomCrop(crop_length, seed=stage_seed(0), dtype="float32")
        # CLMR's order; stage `i` is seeded with `seed + i`.
        rate = {"sample_rate": sample_rate}
        semitones = {"semitone_range": semitone_range}
        chain = (
            ("polarity_p", PolarityInversion, polarity_p, {}),
            ("noise_p", GaussianNoise, noise_p, {}),
            ("gain_p", RandomGain, gain_p, {"gain_range": gain_range}),
            ("filter_p", RandomFilter, filter_p, rate),
            ("delay_p", Delay, delay_p, rate),
            ("pitch_p", PitchShift, pitch_p, semitones),
            ("reverb_p", Reverb, reverb_p, rate),
        )
        self.stages = [
            stage_class(p=p, seed=stage_seed(i), dtype="float32", **options)
            for i, (_, stage_class, p, options) in enumerate(chain, 1)
        ]
        # The checked probabilities, under the arguments' names.
        for (p_name, *_), stage in zip(chain, self.stages):
            setattr(self, p_name, stage.p)
        self.gain_range = self.stages[2].gain_range
        self.semitone_range = self.stages[5].semitone_range

    def build(self, input_shape):
        self.crop.build(input_shape)
        view_shape = self.crop.compute_output_shape(input_shape)
        for stage in self.stages:
            stage.build(view_shape)
        self.built = True

    def _view(self, audio, training):
        view = self.crop(audio, training=training)
        if training:
            for stage in self.stages:
                if stage.p > 0.0:
                    view = stage(view, training=True)
        return tf.cast(view, self.compute_dtype)

    def call(self, inputs, training=None):
        return self._view(inputs, training), self._view(inputs, training)

    def compute_output_shape(self, input_shape):
        shape = self.crop.compute_output_shape(input_shape)
        return shape, shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sample_rate": self.sample_rate,
                "crop_length": self.crop_length,
                "polarity_p": self.polarity_p,
                "noise_p": self.noise_p,
                "gain_p": self.gain_p,
                "filter_p": self.filter_p,
                "delay_p": self.delay_p,
                "pitch_p": self.pitch_p,
                "reverb_p": self.reverb_p,
                "gain_range": self.gain_range,
                "semitone_range": self.semitone_range,
                "seed": self.seed,
            }
        )
        return config
