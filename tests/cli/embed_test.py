"""`keras-music embed`: the .npz files equal the segment encoder's output on
the same segments, and a second run skips finished files."""

import json
import os

import numpy as np

from keras_music.cli.main import main
from keras_music.evaluation.segment_encoder import maest_segment_encoder
from tests.cli.fixtures import SEGMENT_SECONDS


def reference(tagger, path, block, token):
    """The documented way: load the file, cut it, run the encoder."""
    preprocessor = tagger.preprocessor
    encoder = maest_segment_encoder(
        tagger.backbone, block, token, frontend=preprocessor
    )
    segments = preprocessor.segments(preprocessor.load_audio(path))
    return encoder.predict(segments, verbose=0), segments


def test_embed_equals_the_segment_encoder(
    tagger_file, loaded_tagger, folder, tmp_path, capsys
):
    directory, paths = folder
    output = str(tmp_path / "embeddings")
    status = main(
        [
            "embed",
            tagger_file,
            directory,
            "--output",
            output,
            "--block",
            "1",
            "--token",
            "cls",
            "--timestamps",
            "--batch_size",
            "4",
        ]
    )
    errors = capsys.readouterr().err
    # The corrupt file fails, named with its reason; the rest is written.
    assert status == 1
    assert f"failed {paths['corrupt']}: unreadable" in errors
    assert f"skipped {paths['text']}: not an audio file" in errors
    assert "Resampled" in errors and "44100 Hz" in errors
    written = sorted(
        os.path.relpath(os.path.join(root, name), output)
        for root, _, names in os.walk(output)
        for name in names
    )
    assert written == [
        "long.wav.npz",
        "nested/stereo_44k.flac.npz",
        "short.wav.npz",
    ]
    for name, tolerance in (("long", 1e-5), ("short", 1e-5), ("stereo", 1e-4)):
        expected, segments = reference(loaded_tagger, paths[name], 1, "cls")
        relative = os.path.relpath(paths[name], directory)
        with np.load(os.path.join(output, relative + ".npz")) as saved:
            # Same samples, same model: float32 rounding of a different
            # batch composition only (1e-5). The 44.1 kHz file is
            # resampled in blocks here, in one call by `load_audio`, by
            # the same resampler (float32 rounding).
            np.testing.assert_allclose(
                saved["embedding"], expected, atol=tolerance, rtol=0
            )
            assert saved["embedding"].shape == (len(segments), 32)
            assert str(saved["model"]) == "tiny_tagger"
            assert json.loads(str(saved["config"]))["block"] == 1
            starts = saved["timestamps"][:, 0]
            lengths = saved["timestamps"][:, 1] - starts
            np.testing.assert_allclose(
                lengths, segments.shape[1] / 16000, atol=1e-9
            )
    # 12 s = 192,000 samples in 16,640-sample segments: 11 full ones and
    # one ending with the file, as `AudioPreprocessor.segments` cuts it.
    with np.load(os.path.join(output, "long.wav.npz")) as saved:
        starts = saved["timestamps"][:, 0]
    size = 16640
    expected_starts = [i * size for i in range(11)] + [192000 - size]
    np.testing.assert_allclose(starts, np.array(expected_starts) / 16000)
    assert SEGMENT_SECONDS * 16000 == size


def test_second_run_skips_finished_files_and_recomputes_others(
    tagger_file, folder, tmp_path, capsys
):
    directory, _ = folder
    output = str(tmp_path / "embeddings")
    arguments = ["embed", tagger_file, directory, "--output", output]
    main(arguments)
    long_path = os.path.join(output, "long.wav.npz")
    with np.load(long_path) as saved:
        first = saved["embedding"]
        first_hash = str(saved["config_hash"])
    # A track embedding: the average over its segments, stack read-out.
    assert first.shape == (96,)
    os.remove(os.path.join(output, "short.wav.npz"))
    stamp = os.stat(long_path).st_mtime_ns
    capsys.readouterr()
    main(arguments)
    errors = capsys.readouterr().err
    assert "2 of 4 file(s) already embedded" in errors
    assert os.stat(long_path).st_mtime_ns == stamp
    assert os.path.exists(os.path.join(output, "short.wav.npz"))
    # Another read-out is another config: recomputed, not skipped.
    main([*arguments, "--block", "1"])
    with np.load(long_path) as saved:
        assert str(saved["config_hash"]) != first_hash
        assert not np.allclose(saved["embedding"], first)


def test_speed_options_equal_the_library_settings(
    tagger_file, loaded_tagger, folder, tmp_path
):
    from keras_music.models.maest.maest_embedder import maest_with_precision

    directory, paths = folder
    output = str(tmp_path / "fast")
    main(
        [
            "embed",
            tagger_file,
            directory,
            "--output",
            output,
            "--timestamps",
            "--inference_time_stride",
            "3",
            "--precision",
            "bfloat16",
        ]
    )
    fast = maest_with_precision(loaded_tagger, "bfloat16")
    fast.set_inference_patchout(3, None)
    preprocessor = loaded_tagger.preprocessor
    encoder = maest_segment_encoder(fast.backbone, frontend=preprocessor)
    segments = preprocessor.segments(preprocessor.load_audio(paths["long"]))
    expected = encoder.predict(segments, verbose=0)
    plain, _ = reference(loaded_tagger, paths["long"], None, "stack")
    with np.load(os.path.join(output, "long.wav.npz")) as saved:
        got = saved["embedding"]
        settings = json.loads(str(saved["config"]))
    assert settings["precision"] == "bfloat16"
    assert settings["inference_time_stride"] == 3
    # The same bfloat16 model; only the batch composition differs, which
    # oneDNN's bfloat16 kernels may round differently (one bfloat16 ulp
    # of the activations, 2**-8 relative: atol 0.05 on values of ~1-3).
    np.testing.assert_allclose(got, expected, atol=0.05, rtol=0)
    # ... and not the float32 model without patchout.
    assert np.max(np.abs(got - plain)) > 0.2


def test_chunked_attention_is_used_and_keeps_the_embeddings(
    tagger_file, loaded_tagger, folder, tmp_path, monkeypatch
):
    from keras_music.models.maest import maest_layers

    # The tiny tagger's score matrices are far below the size where
    # "auto" chunks: lower the thresholds so that it chunks by 8 queries.
    monkeypatch.setattr(maest_layers, "AUTO_CHUNK_ABOVE_BYTES", 0)
    monkeypatch.setattr(maest_layers, "AUTO_CHUNK_ROWS", 0)
    picked = []
    auto = maest_layers.auto_query_chunk_size

    def spy(*shape):
        picked.append((shape, auto(*shape)))
        return picked[-1][1]

    monkeypatch.setattr(maest_layers, "auto_query_chunk_size", spy)
    directory, paths = folder
    output = str(tmp_path / "chunked")
    main(
        [
            "embed",
            tagger_file,
            directory,
            "--output",
            output,
            "--timestamps",
            "--batch_size",
            "4",
        ]
    )
    # The traced batch of 4 segments: 2 heads, 2 + 9 x 6 tokens, in 7
    # chunks of 8 queries.
    assert ((4, 2, 56), 8) in picked
    expected, _ = reference(loaded_tagger, paths["long"], None, "stack")
    with np.load(os.path.join(output, "long.wav.npz")) as saved:
        # float32, the same products in other blockings: 1e-5.
        np.testing.assert_allclose(
            saved["embedding"], expected, atol=1e-5, rtol=0
        )
