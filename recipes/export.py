"""Export a trained tagger (TF Serving SavedModel and TFLite) or audio
encoder (SavedModel) for serving.

    python recipes/export.py --model runs/maest_30s/model.keras \\
        --name maest_30s_tagger --format saved_model,tflite

reads the tag names, sample rate, segment length and frontend from the
model (a tagger saved with its `preprocessor` and `vocabulary` carries
them in the `.keras` file; `--labels FILE`, `--sample_rate`, `--segment`
override them) and writes, each model with its model card (Essentia's
schema: sample rate, classes, the model's dataset and metrics)

    saved_models/maest_30s_tagger/1/          TF Serving version folder,
                                              with model_card.json
    saved_models/maest_30s_tagger.tflite      one segment, float32
    saved_models/maest_30s_tagger.json        its model card
    saved_models/maest_30s_tagger.labels.txt  tag names of the TFLite model

printing, for a `maest_30s` tagger with 50 tags:

    runs/maest_30s/model.keras: 85,446,962 parameters, 50 tags, 16000 Hz,
    30 s segments
    saved_model: saved_models/maest_30s_tagger/1 (344.4 MB)
    tflite: saved_models/maest_30s_tagger.tflite (341.6 MB)
    tflite_labels: saved_models/maest_30s_tagger.labels.txt (0.0 MB)
    exported in 267.9 s

(sizes and times measured by `benchmarks/export.py` on a 2-core CPU
shared with other jobs: 103 s for the SavedModel, 165 s for the TFLite
conversion, which peaked at 3.7 GB of memory; `--quantization float16`
adds a 170.9 MB file in another 85 s).

`--block N [--token stack]` exports a tagger's embeddings instead (the
tokens of block N, `export_embedder`), as does a model saved as an
`AudioEmbedder`. A model saved before models carried their metadata is
read with the `results.json` of its run folder (deprecated; a warning
says so): an encoder, such as the `encoder.keras` of `recipes/s3t.py`, is
recognised by that `results.json` naming it under `encoder` with no
`vocabulary`:

    python recipes/export.py --model runs/s3t_time_folding/encoder.keras \\
        --name s3t_encoder

writes `saved_models/s3t_encoder/1/` only, whose signatures return the
track's `embedding` (the average over half-overlapped segments).

The SavedModel takes raw mono audio of any length and does the
segmenting and averaging itself; serve it with
`tensorflow/serving --model_base_path=.../saved_models/maest_30s_tagger`
(see `saved_models/README.md`). A new export of the same name becomes the
next version, which TF Serving picks up while running.
"""

# Only absl at the top: `--help` answers before TensorFlow is imported
# (`parse_flags`); keras_music, which imports TensorFlow quietly
# (KERAS_MUSIC_VERBOSE=1 shows its logging), comes with the flag checks.
import os
import time
import warnings

from absl import app
from absl import flags
from absl import logging

# `keras_music.export.tagger.FORMATS`, named here so that the help does
# not import TensorFlow (tests/recipes/export_test.py checks they agree).
FORMATS = ("saved_model", "tflite")
QUANTIZATIONS = ("float32", "float16", "dynamic_range")

flags.DEFINE_string("model", None, "A trained tagger or encoder, `.keras`.")
flags.DEFINE_string("name", None, "Model name under --output_dir.")
flags.DEFINE_list("format", list(FORMATS), "saved_model, tflite or both.")
flags.DEFINE_string("output_dir", "saved_models", "Model base folder.")
flags.DEFINE_string("labels", None, "Tag names, one per line.")
flags.DEFINE_integer("sample_rate", None, "Audio rate in Hz.")
flags.DEFINE_float("segment", None, "Segment length in seconds.")
flags.DEFINE_integer("version", None, "SavedModel version (default: next).")
flags.DEFINE_list(
    "quantization",
    ["float32"],
    "TFLite variants: float32, float16, dynamic_range.",
)
flags.DEFINE_integer(
    "time_stride", None, "Inference patchout: keep 1 of k time columns."
)
flags.DEFINE_list(
    "freq_drop", None, "Inference patchout: frequency rows to drop."
)
flags.DEFINE_enum(
    "precision",
    "float32",
    ["float32", "bfloat16"],
    "SavedModel compute dtype of a MAEST tagger (bfloat16: faster on "
    "CPUs with AVX512_BF16; benchmarks/README.md).",
)
flags.DEFINE_bool(
    "overwrite", False, "Replace existing TFLite files of --name."
)
flags.DEFINE_integer(
    "block", None, "Export the embeddings of this MAEST block (1-based)."
)
flags.DEFINE_enum(
    "token",
    None,
    ["stack", "cls", "dist", "avg", "cls_dist"],
    "MAEST token of --block. Default: stack.",
)
flags.mark_flags_as_required(["model", "name"])
FLAGS = flags.FLAGS


def add_flag_checks():
    """The checks of the flags, run when they are parsed, before the model
    is loaded; `flag_checks` imports keras_music, and so TensorFlow."""
    import flag_checks

    flag_checks.keras_file("model")
    flag_checks.positive("sample_rate", "segment", "version", "time_stride")
    flags.register_validator(
        "format",
        lambda formats: bool(formats) and set(formats) <= set(FORMATS),
        message=f"--format must list one or more of {', '.join(FORMATS)}.",
    )
    flags.register_validator(
        "quantization",
        lambda variants: bool(variants) and set(variants) <= set(QUANTIZATIONS),
        message=f"--quantization must list one or more of "
        f"{', '.join(QUANTIZATIONS)}.",
    )


def parse_flags(argv):
    """absl's parsing, with `--help` answered before keras_music and
    TensorFlow are imported; then every check."""
    try:
        FLAGS(argv)  # `--help` prints the flags and exits here
    except flags.Error:
        pass  # reported by the parse below, with the checks
    add_flag_checks()
    return app.parse_flags_with_usage(argv)


def embedder_export(model, sample_rate=None, segment_seconds=None):
    """Embeddings (an `AudioEmbedder`, a tagger's `--block`, or an encoder
    with its rate): a SavedModel only."""
    from keras_music.export.embedder import export_embedder

    if "tflite" in FLAGS.format:
        if FLAGS["format"].present:
            raise app.UsageError(
                "--format=tflite is for taggers; an encoder exports as "
                "saved_model only (pass --format=saved_model)."
            )
        print("An encoder: exporting the SavedModel only (no TFLite).")
    path = export_embedder(
        model,
        os.path.join(FLAGS.output_dir, FLAGS.name),
        block=FLAGS.block,
        token=FLAGS.token,
        version=FLAGS.version,
        sample_rate=sample_rate,
        segment_seconds=segment_seconds,
    )
    rate = sample_rate or model.preprocessor.sample_rate
    print(
        f"{FLAGS.model}: {model.count_params():,} parameters, encoder of "
        f"{model.output_shape[-1]}-d embeddings, {rate} Hz, "
        f"{model.input_shape[-1] / rate:g} s segments"
    )
    return {"saved_model": path}


def tagger_export(model, overrides):
    """A tagger: SavedModel and TFLite, from what the model carries."""
    from keras_music.export.tagger import export_tagger
    from keras_music.export.tagger import tagger_metadata
    from keras_music.export.tagger import tflite_path
    from keras_music.export.tflite import check_free

    metadata = tagger_metadata(model, **overrides)
    quantizations = [None if q == "float32" else q for q in FLAGS.quantization]
    base = os.path.join(FLAGS.output_dir, FLAGS.name)
    if "tflite" in FLAGS.format:
        for quantization in quantizations:
            check_free(tflite_path(base, quantization), FLAGS.overwrite)
    print(
        f"{FLAGS.model}: {model.count_params():,} parameters, "
        f"{len(metadata['vocabulary'])} tags, {metadata['sample_rate']} Hz, "
        f"{metadata['segment_seconds']} s segments"
    )
    freq_drop = None
    if FLAGS.freq_drop is not None:
        freq_drop = [int(row) for row in FLAGS.freq_drop]
    return export_tagger(
        model,
        base,
        formats=FLAGS.format,
        quantizations=quantizations,
        version=FLAGS.version,
        inference_time_stride=FLAGS.time_stride,
        inference_freq_drop=freq_drop,
        precision=FLAGS.precision,
        overwrite=FLAGS.overwrite,
        **overrides,
    )


def legacy_overrides():
    """For a model saved before models carried their metadata: what the
    `results.json` of its run gives (deprecated), or `None` when that
    names an encoder."""
    from keras_music.export.serving_export import embedder_metadata
    from keras_music.export.serving_export import serving_metadata

    encoder = None
    if FLAGS.labels is None:
        encoder = embedder_metadata(
            FLAGS.model,
            sample_rate=FLAGS.sample_rate,
            segment_seconds=FLAGS.segment,
        )
    if encoder is not None:
        return None, encoder
    metadata = serving_metadata(
        FLAGS.model,
        labels=FLAGS.labels,
        sample_rate=FLAGS.sample_rate,
        segment_seconds=FLAGS.segment,
    )
    metadata.pop("sample_rate")
    return metadata, None


def main(_):
    import keras

    from keras_music.export.serving_export import export_size
    from keras_music.models.embedder import AudioEmbedder
    from keras_music.models.tagger import Tagger

    # === The model and what it carries ===
    with warnings.catch_warnings():
        # Serving does not need the optimizer's state; Keras warns that
        # it skips it.
        warnings.filterwarnings("ignore", "Skipping variable loading")
        model = keras.saving.load_model(FLAGS.model, compile=False)
    labels = FLAGS.labels
    if labels is not None:
        with open(labels) as stream:
            labels = [line.strip() for line in stream if line.strip()]
    overrides = {
        "vocabulary": labels,
        "sample_rate": FLAGS.sample_rate,
        "segment_seconds": FLAGS.segment,
    }
    started = time.time()
    try:
        if isinstance(model, AudioEmbedder) or FLAGS.block is not None:
            paths = embedder_export(model)
        elif isinstance(model, Tagger) and model.preprocessor is not None:
            paths = tagger_export(model, overrides)
        else:
            legacy, encoder = legacy_overrides()
            if encoder is not None:
                paths = embedder_export(model, **encoder)
            else:
                paths = tagger_export(model, legacy)
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    seconds = time.time() - started
    for kind, path in paths.items():
        print(f"{kind}: {path} ({export_size(path) / 1e6:.1f} MB)")
    print(f"exported in {seconds:.1f} s")


if __name__ == "__main__":
    logging.set_verbosity(logging.WARNING)
    app.run(main, flags_parser=parse_flags)
else:
    # Imported (tests parse FLAGS themselves, then call `main`).
    add_flag_checks()
