"""`keras-music embed` beyond MAEST taggers: an `S3TBackbone` (raw audio
in, its CQT frontend inside) and `AudioEmbedder`s embed a folder too, each
`.npz` equal to the model's own output on the same segments."""

import os

import keras
import numpy as np
import pytest
import soundfile

from keras_music.cli.main import main
from keras_music.models.audio_preprocessor import AudioPreprocessor
from keras_music.models.embedder import AudioEmbedder
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.s3t.s3t_backbone import S3TBackbone
from keras_music.models.sample_cnn.sample_cnn_backbone import SampleCNNBackbone
from tests.cli.fixtures import SEGMENT_SECONDS


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory):
    """Two files: 3.1 s at 22.05 kHz (S3T's rate) and 2 s stereo at
    16 kHz (resampled for S3T)."""
    directory = tmp_path_factory.mktemp("small")
    rng = np.random.default_rng(1)
    soundfile.write(
        directory / "a.wav",
        rng.uniform(-0.5, 0.5, 68355).astype("float32"),
        22050,
        subtype="FLOAT",
    )
    soundfile.write(
        directory / "b.wav",
        rng.uniform(-0.5, 0.5, (32000, 2)).astype("float32"),
        16000,
        subtype="FLOAT",
    )
    return str(directory)


def saved(model, folder, name):
    path = os.path.join(folder, f"{name}.keras")
    model.save(path)
    return path


def expected(model, preprocessor, path, size):
    """The documented way: load at the model's rate, cut into segments of
    `size` samples, run the model."""
    audio = preprocessor.load_audio(path)
    starts = list(range(0, len(audio) - size + 1, size))
    if starts[-1] + size < len(audio):
        starts.append(len(audio) - size)  # the last ends with the file
    segments = np.stack([audio[s : s + size] for s in starts])
    return model.predict(segments, verbose=0)


def embed(model_path, directory, output, *extra):
    return main(
        [
            "embed",
            model_path,
            directory,
            "--output",
            output,
            "--timestamps",
            "--no_progress",
            *extra,
        ]
    )


def check_npz(output, name, want, atol):
    with np.load(os.path.join(output, name + ".npz")) as npz:
        np.testing.assert_allclose(npz["embedding"], want, atol=atol, rtol=0)
        return npz["timestamps"]


def test_s3t_backbone(small_folder, tmp_path, capsys):
    keras.utils.set_random_seed(0)
    model = S3TBackbone.from_preset("s3t_test_tiny")
    path = saved(model, str(tmp_path), "s3t")
    output = str(tmp_path / "out")
    assert embed(path, small_folder, output) == 0
    errors = capsys.readouterr().err
    assert "Resampled" in errors and "22050 Hz" in errors
    size = model.clip_samples
    stamps = {}
    for name in ("a.wav", "b.wav"):
        want = expected(
            model, model.preprocessor, os.path.join(small_folder, name), size
        )
        # Same samples and weights; only the batch composition differs
        # (float32 rounding, 1e-5). b.wav is resampled in blocks here and
        # in one call by `load_audio`, by the same resampler (float32
        # rounding), through the CQT and a per-clip standardisation:
        # 1e-4.
        atol = 1e-5 if name == "a.wav" else 1e-4
        stamps[name] = check_npz(output, name, want, atol)
        assert want.shape[1] == model.output_dim
        np.testing.assert_allclose(
            stamps[name][:, 1] - stamps[name][:, 0], size / 22050
        )
    # 68,355 samples in 32,256-sample clips: 2 full ones and one ending
    # with the file.
    np.testing.assert_allclose(
        stamps["a.wav"][:, 0], np.array([0, size, 68355 - size]) / 22050
    )


def test_maest_audio_embedder_reads_its_own_block(
    small_folder, tmp_path, capsys
):
    keras.utils.set_random_seed(0)
    preprocessor = AudioPreprocessor(
        keras_music_log_mel(), segment_seconds=SEGMENT_SECONDS
    )
    embedder = AudioEmbedder(
        MAESTBackbone.from_preset("maest_tiny"),
        preprocessor,
        block=1,
        token="cls",
        name="tiny_embedder",
    )
    path = saved(embedder, str(tmp_path), "embedder")
    output = str(tmp_path / "out")
    assert embed(path, small_folder, output) == 0
    size = preprocessor.segment_samples
    want = expected(
        embedder, preprocessor, os.path.join(small_folder, "a.wav"), size
    )
    assert want.shape[1] == 32  # block 1's cls token, width 32
    check_npz(output, "a.wav", want, 1e-5)
    # --block overrides the embedder's: another read-out.
    other = str(tmp_path / "other")
    assert embed(path, small_folder, other, "--block", "2") == 0
    with np.load(os.path.join(other, "a.wav.npz")) as npz:
        assert npz["embedding"].shape == want.shape
        assert not np.allclose(npz["embedding"], want, atol=1e-3)


def keras_music_log_mel():
    from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram

    return LogMelSpectrogram(sample_rate=16000, hop_length=256, normalize=True)


def test_raw_waveform_audio_embedder(small_folder, tmp_path, capsys):
    keras.utils.set_random_seed(0)
    backbone = SampleCNNBackbone.from_preset("sample_cnn_test_tiny")
    preprocessor = AudioPreprocessor(
        sample_rate=16000, segment_seconds=243 / 16000
    )
    embedder = AudioEmbedder(backbone, preprocessor, name="cnn_embedder")
    path = saved(embedder, str(tmp_path), "cnn")
    output = str(tmp_path / "out")
    assert embed(path, small_folder, output, "--batch_size", "64") == 0
    want = expected(
        embedder, preprocessor, os.path.join(small_folder, "b.wav"), 243
    )
    # b.wav is at the model's rate: the same samples (stereo averaged).
    check_npz(output, "b.wav", want, 1e-5)


def test_non_maest_models_refuse_block_and_speed_options(
    small_folder, tmp_path, capsys
):
    model = S3TBackbone.from_preset("s3t_test_tiny")
    path = saved(model, str(tmp_path), "s3t")
    plain = keras.Sequential([keras.Input((100,)), keras.layers.Dense(3)])
    plain_path = saved(plain, str(tmp_path), "plain")
    output = str(tmp_path / "out")
    cases = [
        (
            [path, "--block", "1"],
            f"--block and --token read a MAEST block; MODEL {path!r} is a "
            "S3TBackbone",
        ),
        ([path, "--token", "cls"], "--block and --token read a MAEST"),
        (
            [path, "--precision", "bfloat16"],
            "apply to MAEST models. Received: a S3TBackbone",
        ),
        (
            [plain_path],
            f"MODEL {plain_path!r}: a Sequential that does not carry its "
            "preprocessor",
        ),
        (
            [path, "--weights", path],
            f"MODEL {path!r}: --weights needs a MAEST preset name",
        ),
    ]
    for arguments, message in cases:
        model_path, *rest = arguments
        command = ["embed", model_path, small_folder, "--output", output]
        assert main([*command, *rest]) == 2, arguments
        errors = capsys.readouterr().err.strip().splitlines()
        assert len(errors) == 1, errors
        assert errors[0].startswith("keras-music embed: error: "), errors
        assert message in errors[0], (errors, message)
    assert not os.path.exists(output)
