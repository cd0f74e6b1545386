"""A tiny MAEST tagger and a folder of awkward audio files for the CLI
tests."""

import os

import numpy as np
import soundfile

from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.audio_preprocessor import AudioPreprocessor
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_tagger import MAESTTagger

VOCABULARY = ["rock", "church organ", "jazz", "nylon guitar", "folk"]
# 1 + 16640 // 256 = 66 frames, maest_tiny's segment.
SEGMENT_SECONDS = 1.04


def tiny_tagger(path=None, seed=0):
    """maest_tiny (2 blocks, width 32) with a preprocessor and 5 tag names
    (two of several words); saved to `path` when given."""
    import keras

    keras.utils.set_random_seed(seed)
    tagger = MAESTTagger(
        MAESTBackbone.from_preset("maest_tiny"),
        num_tags=len(VOCABULARY),
        preprocessor=AudioPreprocessor(
            LogMelSpectrogram(sample_rate=16000),
            segment_seconds=SEGMENT_SECONDS,
        ),
        vocabulary=VOCABULARY,
        name="tiny_tagger",
    )
    if path is not None:
        tagger.save(path)
    return tagger


def audio_folder(directory, long_seconds=12.0, seed=0):
    """`long.wav` (16 kHz mono, `long_seconds`), `short.wav` (0.5 s),
    `nested/stereo_44k.flac` (44.1 kHz stereo, 3.3 s), `nested/corrupt.wav`
    (noise bytes), `notes.txt`. Returns the paths by name."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(directory, "nested"), exist_ok=True)
    paths = {
        "long": os.path.join(directory, "long.wav"),
        "short": os.path.join(directory, "short.wav"),
        "stereo": os.path.join(directory, "nested", "stereo_44k.flac"),
        "corrupt": os.path.join(directory, "nested", "corrupt.wav"),
        "text": os.path.join(directory, "notes.txt"),
    }
    t = np.arange(int(long_seconds * 16000)) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 220 * t * (1 + t / long_seconds))
    noise = 0.05 * rng.standard_normal(t.shape)
    soundfile.write(paths["long"], (tone + noise).astype("float32"), 16000)
    soundfile.write(
        paths["short"], rng.uniform(-0.5, 0.5, 8000).astype("float32"), 16000
    )
    stereo = rng.uniform(-0.5, 0.5, (int(3.3 * 44100), 2)).astype("float32")
    soundfile.write(paths["stereo"], stereo, 44100, subtype="PCM_24")
    with open(paths["corrupt"], "wb") as stream:
        stream.write(b"RIFF\x24\x00\x00\x00WAVE" + rng.bytes(300))
    with open(paths["text"], "w") as stream:
        stream.write("not audio\n")
    return paths
