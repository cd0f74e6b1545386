"""`keras-music tag`: the tags equal the tagger's own averaged output, as a
table, CSV or JSON."""

import csv
import json

import numpy as np

from keras_music.cli.main import main


def expected_scores(tagger, path):
    preprocessor = tagger.preprocessor
    # As `tag` cuts a file: every half segment, a short file zero-padded.
    segments = preprocessor.segments(
        preprocessor.load_audio(path),
        hop=preprocessor.segment_samples // 2,
        pad=True,
    )
    return tagger.predict(preprocessor(segments), verbose=0).mean(axis=0)


def test_csv_and_json_give_the_taggers_top_tags(
    tagger_file, loaded_tagger, folder, tmp_path, capsys
):
    directory, paths = folder
    csv_path, json_path = str(tmp_path / "t.csv"), str(tmp_path / "t.json")
    base = ["tag", tagger_file, directory, "--top_k", "3"]
    assert main([*base, "--format", "csv", "--output", csv_path]) == 1
    assert main([*base, "--format", "json", "--output", json_path]) == 1
    errors = capsys.readouterr().err
    assert f"failed {paths['corrupt']}" in errors
    with open(csv_path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    with open(json_path) as stream:
        results = {item["file"]: item["tags"] for item in json.load(stream)}
    assert sorted(results) == sorted(
        paths[name] for name in ("long", "short", "stereo")
    )
    for name in ("long", "short", "stereo"):
        scores = expected_scores(loaded_tagger, paths[name])
        order = np.argsort(-scores)[:3]
        names = [loaded_tagger.vocabulary[i] for i in order]
        # Same samples and model; the stereo file is resampled in blocks
        # here and in one call by `load_audio` (1e-4, see embed_test).
        tags = results[paths[name]]
        assert [t["tag"] for t in tags] == names
        np.testing.assert_allclose(
            [t["score"] for t in tags], scores[order], atol=1e-4
        )
        from_csv = [r for r in rows if r["file"] == paths[name]]
        assert [r["tag"] for r in from_csv] == names
        assert [int(r["rank"]) for r in from_csv] == [1, 2, 3]
        np.testing.assert_allclose(
            [float(r["score"]) for r in from_csv], scores[order], atol=1e-4
        )


def test_table_names_multi_word_tags_whole(tagger_file, folder, capsys):
    _, paths = folder
    assert main(["tag", tagger_file, paths["short"], "--top_k", "5"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(paths["short"])
    # All five names, the two-word ones unsplit, each with a score.
    for name in ("church organ", "nylon guitar", "rock", "jazz", "folk"):
        assert f"{name} 0." in line


def test_saved_model_export_tags_through_tag_wav(
    tagger_file, loaded_tagger, folder, tmp_path, capsys
):
    import tensorflow as tf

    from keras_music.data.audio import load_audio
    from keras_music.export.saved_model import export_saved_model

    directory, paths = folder
    export = str(tmp_path / "saved_models" / "tiny_tagger")
    version = export_saved_model(
        loaded_tagger,
        export,
        vocabulary=loaded_tagger.vocabulary,
        frontend=loaded_tagger.preprocessor.frontend,
        segment_seconds=1.04,
    )
    json_path = str(tmp_path / "tags.json")
    status = main(
        ["tag", export, directory, "--format", "json", "--output", json_path]
    )
    assert status == 1  # the corrupt file
    assert f"failed {paths['corrupt']}" in capsys.readouterr().err
    with open(json_path) as stream:
        results = {item["file"]: item["tags"] for item in json.load(stream)}
    serving = tf.saved_model.load(version).signatures["serving_default"]
    audio = load_audio(paths["long"], 16000)
    scores = serving(
        audio=tf.constant(audio[None]), lengths=tf.constant([len(audio)])
    )["probabilities"].numpy()[0]
    order = np.argsort(-scores)[:5]
    tags = results[paths["long"]]
    # Tag names in the export's label order, multi-word names whole.
    assert [t["tag"] for t in tags] == [
        loaded_tagger.vocabulary[i] for i in order
    ]
    # long.wav is 16-bit at 16 kHz: the WAV bytes sent hold the same
    # samples; float32 rounding of the graph only.
    np.testing.assert_allclose(
        [t["score"] for t in tags], scores[order], atol=1e-5
    )
    assert sorted(results) == sorted(
        paths[name] for name in ("long", "short", "stereo")
    )
    # The `.keras` model tags a file as its export does: the same
    # segments (every half segment, a short file zero-padded), the same
    # average (float32 rounding: 1e-5). The 44.1 kHz stereo file too: the
    # export resamples it in its graph, the command block by block, with
    # the same resampler (`keras_music.layers.resample`); what is left is
    # the 16-bit WAV the command sends the export and float32 rounding.
    keras_json = str(tmp_path / "keras_tags.json")
    base = ["tag", tagger_file, directory, "--top_k", "5", "--format", "json"]
    assert main([*base, "--output", keras_json]) == 1
    with open(keras_json) as stream:
        from_keras = {i["file"]: i["tags"] for i in json.load(stream)}
    for name in ("long", "short", "stereo"):
        exported = {t["tag"]: t["score"] for t in results[paths[name]]}
        kept = {t["tag"]: t["score"] for t in from_keras[paths[name]]}
        assert sorted(kept) == sorted(exported), name
        for tag, score in kept.items():
            np.testing.assert_allclose(score, exported[tag], atol=1e-5)
