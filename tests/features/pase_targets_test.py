import librosa
import numpy as np
import pytest

from keras_music.features import pase_targets as pt
from keras_music.pretraining.pase_workers import WORKER_CODES
from tests.test_case import TestCase

SR = 16000
# Reference frames start where librosa's window (centred on 160 t + 80
# in the original audio, i.e. on 160 t of `audio[80:]`) no longer reaches
# the first 80 samples, which librosa replaces by its zero padding:
# 160 t - 1024 >= 0 for t >= 7.
FIRST_EXACT = 7


def music_like(seconds=5.0, seed=0):
    """Harmonic notes changing every 0.5 s, clicks on the beat, noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    notes = 220.0 * 2.0 ** (rng.integers(0, 12, int(seconds * 2) + 1) / 12)
    f0 = notes[(t * 2).astype(int)]
    phase = 2 * np.pi * np.cumsum(f0) / SR
    audio = sum(0.3 / k * np.sin(k * phase) for k in (1, 2, 3))
    clicks = np.zeros_like(t)
    clicks[:: SR // 2] = 0.9
    audio = audio + np.convolve(clicks, np.hanning(64), "same")
    audio = audio + 0.01 * rng.standard_normal(t.shape)
    return audio.astype(np.float32)


class PASETargetsTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.audio = music_like()
        cls.targets = pt.pase_targets(cls.audio)
        cls.frames = len(cls.audio) // 160
        # The independent references: librosa's own calls on audio[80:],
        # whose centred frame t is centred on sample 160 t + 80.
        cls.shifted = cls.audio[80:]

    def test_shapes_and_constants(self):
        # Every worker but the waveform's has a stored target.
        self.assertEqual(
            set(WORKER_CODES.values()) - {"waveform"}, set(pt.TARGET_NAMES)
        )
        self.assertEqual(pt.FRAME_RATE, 100.0)
        for name in pt.TARGET_NAMES:
            self.assertEqual(
                self.targets[name].shape, (self.frames, pt.TARGET_DIMS[name])
            )
            self.assertEqual(self.targets[name].dtype, np.float32)
        subset = pt.pase_targets(self.audio[:1600], names=("chroma", "lps"))
        self.assertEqual(list(subset), ["chroma", "lps"])

    def test_frames_are_samples_floor_160(self):
        for length in (160, 161, 319, 320, 2047, 4000 + 159):
            audio = np.random.default_rng(length).uniform(-0.5, 0.5, length)
            targets = pt.pase_targets(audio, names=("lps", "prosody"))
            self.assertEqual(targets["lps"].shape[0], length // 160)
            self.assertEqual(targets["prosody"].shape[0], length // 160)
            self.assertEqual(pt.target_frames(length), length // 160)

    def test_lps_against_librosa(self):
        power = (
            np.abs(librosa.stft(self.shifted, n_fft=2048, hop_length=160)) ** 2
        )
        expected = librosa.power_to_db(
            power, ref=1.0, amin=1e-10, top_db=None
        ).T
        # Same float32 frames and FFT: only summation-order rounding of the
        # float32 STFT is left, 1e-3 dB on values down to -100 dB.
        self.assertAllClose(
            self.targets["lps"][FIRST_EXACT:],
            expected[FIRST_EXACT : self.frames],
            atol=1e-3,
            rtol=0,
        )

    def test_mfcc_against_librosa(self):
        expected = librosa.feature.mfcc(
            y=self.shifted, sr=SR, n_fft=2048, hop_length=160
        ).T
        self.assertEqual(expected.shape[1], 20)
        # float32 mel + DCT of identical frames; top_db=80 is relative to
        # the loudest mel bin, which lies inside both: 1e-3 on values of
        # order 100.
        self.assertAllClose(
            self.targets["mfcc"][FIRST_EXACT:],
            expected[FIRST_EXACT : self.frames],
            atol=1e-3,
            rtol=0,
        )

    def test_chroma_against_librosa(self):
        expected = librosa.feature.chroma_stft(
            y=self.shifted, sr=SR, n_fft=2048, hop_length=160
        ).T
        # Tuning is estimated over the whole track, whose first 7 frames
        # differ slightly: 1e-3 on values in [0, 1].
        self.assertAllClose(
            self.targets["chroma"][FIRST_EXACT:],
            expected[FIRST_EXACT : self.frames],
            atol=1e-3,
            rtol=0,
        )

    def test_tempogram_against_librosa(self):
        expected = librosa.feature.tempogram(
            y=self.shifted, sr=SR, hop_length=160
        ).T
        self.assertEqual(expected.shape[1], 384)
        # librosa's onset envelope (shifted by 1 + 6 frames) differs from
        # ours in its first 7 + 7 frames only, and each tempogram frame t
        # sees envelope frames t - 192 .. t + 191.
        first = 2 * FIRST_EXACT + 192
        self.assertAllClose(
            self.targets["tempogram"][first:],
            expected[first : self.frames],
            atol=1e-4,
            rtol=0,
        )

    def test_prosody_against_librosa(self):
        f0, voiced, probability = librosa.pyin(
            self.shifted,
            fmin=librosa.note_to_hz("C2"),
            fmax=librosa.note_to_hz("C7"),
            sr=SR,
            frame_length=2048,
            hop_length=160,
            resolution=1.0,
        )
        rms = librosa.feature.rms(
            y=self.shifted, frame_length=2048, hop_length=160
        )[0]
        zcr = librosa.feature.zero_crossing_rate(
            self.shifted, frame_length=2048, hop_length=160
        )[0]
        window = slice(FIRST_EXACT, self.frames)
        prosody = self.targets["prosody"][FIRST_EXACT:]
        # Voiced probability is computed frame by frame: float32 rounding.
        self.assertAllClose(prosody[:, 1], probability[window], atol=1e-5)
        # F0 comes from a Viterbi path over the whole track, whose first
        # frames differ; on the voiced frames it is the same pitch bin.
        voiced = voiced[window]
        self.assertGreater(voiced.mean(), 0.8)
        self.assertAllClose(
            prosody[voiced, 0], np.log(f0[window][voiced]), atol=1e-5
        )
        energy = 20 * np.log10(np.maximum(rms[window], 1e-5))
        # float32 RMS of identical frames: 1e-3 dB.
        self.assertAllClose(prosody[:, 2], energy, atol=1e-3)
        self.assertAllClose(prosody[:, 3], zcr[window], atol=1e-6)

    def test_alignment_with_encoder_frames(self):
        # A 1 kHz tone starting at 8080, the centre of encoder frame 50
        # (samples [8000, 8160)): target frame 50 must see half of it.
        onset = 160 * 50 + 80
        audio = np.zeros(16000, np.float32)
        time = np.arange(16000 - onset) / SR
        audio[onset:] = 0.5 * np.sin(2 * np.pi * 1000 * time)
        targets = pt.pase_targets(audio, names=("lps", "prosody"))
        power = librosa.db_to_power(targets["lps"]).sum(axis=1)
        fraction = power / power[80]
        # Hann window: the half after its centre holds half of the window's
        # energy (up to the tone's ripple, < 1%); one frame (160 samples)
        # either side moves the fraction by about 0.2.
        self.assertAllClose(fraction[50], 0.5, atol=0.02)
        self.assertLess(fraction[49], 0.35)
        self.assertGreater(fraction[51], 0.65)
        self.assertLess(fraction[43], 1e-6)
        # Energy: a rectangular window of 2048 samples, half of them tone:
        # mean square halves, -3.01 dB from the steady value.
        energy = targets["prosody"][:, 2]
        self.assertAllClose(energy[50] - energy[80], -3.0103, atol=0.05)
        self.assertLess(energy[49] - energy[80], -3.5)
        self.assertGreater(energy[51] - energy[80], -2.6)

    def test_log_f0_interpolated_through_unvoiced_frames(self):
        time = np.arange(SR) / SR
        audio = np.concatenate(
            [
                0.5 * np.sin(2 * np.pi * 220 * time),
                np.zeros(SR // 2),
                0.5 * np.sin(2 * np.pi * 440 * time),
            ]
        ).astype(np.float32)
        prosody = pt.pase_targets(audio, names=("prosody",))["prosody"]
        log_f0, voicing = prosody[:, 0], prosody[:, 1]
        # 220 and 440 Hz lie on the semitone grid from C2: exact bins.
        self.assertAllClose(log_f0[20:80], np.log(220.0), atol=1e-5)
        self.assertAllClose(log_f0[-80:-20], np.log(440.0), atol=1e-5)
        gap = slice(120, 130)  # Windows wholly inside the silence.
        self.assertAllClose(voicing[gap], 0.0, atol=1e-6)
        self.assertTrue(np.all(np.diff(log_f0[90:170]) >= 0))
        self.assertTrue(np.all(log_f0[gap] > np.log(220.0) + 0.05))
        self.assertTrue(np.all(log_f0[gap] < np.log(440.0) - 0.05))
        # Linear in the gap: constant steps.
        steps = np.diff(log_f0[gap])
        self.assertAllClose(steps, np.full_like(steps, steps[0]), atol=1e-5)

    def test_silent_and_short_audio_are_finite(self):
        silent = pt.pase_targets(np.zeros(SR, np.float32))
        for name, value in silent.items():
            self.assertTrue(np.all(np.isfinite(value)), name)
        self.assertAllClose(silent["lps"], np.full((100, 1025), -100.0))
        self.assertAllClose(silent["chroma"], np.zeros((100, 12)))
        self.assertAllClose(silent["tempogram"], np.zeros((100, 384)))
        expected = [np.log(pt.F0_RANGE[0]), 0.0, -100.0, 0.0]
        self.assertAllClose(silent["prosody"], np.tile(expected, (100, 1)))
        # Shorter than one FFT (2048): zero-padded windows, finite values.
        for length in (160, 500, 2047):
            audio = np.random.default_rng(0).uniform(-0.5, 0.5, length)
            for name, value in pt.pase_targets(audio).items():
                self.assertEqual(value.shape[0], length // 160)
                self.assertTrue(np.all(np.isfinite(value)), name)

    def test_errors(self):
        audio = np.zeros(1600, np.float32)
        with pytest.raises(ValueError, match="`waveform` is the input"):
            pt.pase_targets(audio, names=("waveform", "lps"))
        with pytest.raises(ValueError, match=r"names=\('lps', 'lps'\)"):
            pt.pase_targets(audio, names=("lps", "lps"))
        with pytest.raises(ValueError, match="names='lps'"):
            pt.pase_targets(audio, names="lps")
        with pytest.raises(ValueError, match=r"names=\(\)"):
            pt.pase_targets(audio, names=())
        with pytest.raises(ValueError, match=r"audio.shape=\(159,\)"):
            pt.pase_targets(np.zeros(159), names=("lps",))
        with pytest.raises(ValueError, match=r"audio.shape=\(2, 800\)"):
            pt.pase_targets(np.zeros((2, 800)), names=("lps",))
        with pytest.raises(ValueError, match="NaN or infinite"):
            pt.pase_targets(np.full(1600, np.nan), names=("lps",))
