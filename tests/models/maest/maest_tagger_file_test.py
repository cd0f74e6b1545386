"""A tagger saved as `.keras` tags a file in a fresh process (issue 21)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import soundfile

from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.audio_preprocessor import AudioPreprocessor
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_tagger import MAESTTagger
from tests.test_case import TestCase

# Only the `.keras` file and the WAV: rate, frontend, segment and tag
# names all come from the model.
SCRIPT = textwrap.dedent(
    """
    import sys
    import keras
    import keras_music  # registers the serialisable classes

    model = keras.saving.load_model(sys.argv[1], compile=False)
    preprocessor = model.preprocessor
    audio = preprocessor.load_audio(sys.argv[2])
    segments = preprocessor.segments(audio)
    probabilities = model.predict(preprocessor(segments), verbose=0)
    scores = probabilities.mean(axis=0)
    top = sorted(zip(scores, model.vocabulary), reverse=True)
    print("rate", preprocessor.sample_rate, "segments", len(segments))
    print("tags", ",".join(tag for _, tag in top))
    """
)


class MAESTTaggerFileTest(TestCase):
    def test_reloaded_tagger_tags_a_wav_at_another_rate(self):
        # 1 + 16640 // 256 = 66 frames, maest_tiny's segment.
        preprocessor = AudioPreprocessor(
            LogMelSpectrogram(sample_rate=16000), segment_seconds=1.04
        )
        tagger = MAESTTagger(
            MAESTBackbone.from_preset("maest_tiny"),
            num_tags=3,
            preprocessor=preprocessor,
            vocabulary=["rock", "jazz", "folk"],
        )
        directory = self.get_temp_dir()
        model_path = os.path.join(directory, "tagger.keras")
        tagger.save(model_path)
        wav_path = os.path.join(directory, "clip.wav")
        rng = np.random.default_rng(0)
        stereo = rng.uniform(-0.5, 0.5, (int(2.5 * 22050), 2))
        soundfile.write(wav_path, stereo.astype("float32"), 22050)
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT, model_path, wav_path],
            capture_output=True,
            text=True,
            cwd=directory,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            timeout=300,
        )
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        # 2.5 s at 16 kHz = 40,000 samples: three segments of 16,640.
        self.assertIn("rate 16000 segments 3", result.stdout)
        tags = result.stdout.split("tags ")[1].split()[0].split(",")
        self.assertEqual(sorted(tags), ["folk", "jazz", "rock"])
        self.assertRegex(result.stderr, r"Resampled .*22050 Hz .*16000 Hz")
