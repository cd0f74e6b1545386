"""`keras-music tag MODEL AUDIO...|DIR`: the top-k tags of each file."""

import csv
import io
import json
import os
import sys
import warnings

import keras
import numpy as np
import soundfile
import tensorflow as tf

from keras_music.cli import models
from keras_music.cli.arguments import FORMATS  # noqa: F401
from keras_music.cli.arguments import add_speed_arguments  # noqa: F401
from keras_music.cli.arguments import add_tag_arguments
from keras_music.cli.audio_files import CommandError
from keras_music.cli.audio_files import find_audio_files
from keras_music.cli.audio_files import read_mono
from keras_music.cli.segment_runner import Progress
from keras_music.cli.segment_runner import SegmentRunner
from keras_music.cli.segment_runner import compiled
from keras_music.data.errors import AudioDecodeError
from keras_music.models.maest.maest_backbone import MAESTBackbone

# The arguments, defined where `--help` reads them without TensorFlow.
add_arguments = add_tag_arguments


def check_speed_arguments(args):
    if (
        args.inference_time_stride is not None
        and args.inference_time_stride < 1
    ):
        raise CommandError(
            "--inference_time_stride must be a positive integer. Received: "
            f"{args.inference_time_stride}"
        )


def top_tags(scores, vocabulary, k):
    order = np.argsort(-scores, kind="stable")[:k]
    return [(vocabulary[i], float(scores[i])) for i in order]


def tag_keras(model, files, args):
    """Tags with a `.keras` tagger: segments of the model's length every
    half segment, a file shorter than one zero-padded to one (as the
    evaluation and the exports cut a track, so that the scores are
    theirs), batched across files, probabilities averaged per file."""
    preprocessor = model.preprocessor
    size = preprocessor.segment_samples
    inputs = keras.Input((None,), name="audio")
    segment_model = keras.Model(inputs, model(preprocessor(inputs)))
    runner = SegmentRunner(
        compiled(segment_model),
        preprocessor.sample_rate,
        size,
        max(1, size // 2),
        args.batch_size,
        pad_short=True,
    )
    rows = {}

    def on_done(index, outputs, starts):
        rows[index] = outputs.mean(axis=0)

    progress = Progress(files)
    try:
        failed = runner.run(files, on_done, progress)
    finally:
        progress.close()
    return rows, model.vocabulary, failed


def tag_saved_model(loaded, files):
    """Tags with an export's `tag_wav` signature (it segments, resamples
    and averages in the graph); files are sent as 16-bit WAV bytes."""
    if "tag_wav" not in loaded.signatures:
        raise CommandError(
            "MODEL: the SavedModel has no `tag_wav` signature; expected a "
            "tagger exported by recipes/export.py. Its signatures: "
            f"{', '.join(sorted(loaded.signatures))}"
        )
    labels = loaded.labels_file.asset_path.numpy().decode()
    with open(labels, encoding="utf-8") as stream:
        vocabulary = stream.read().splitlines()
    tag_wav = loaded.signatures["tag_wav"]
    model_rate = None
    if "metadata" in loaded.signatures:
        model_rate = int(loaded.signatures["metadata"]()["sample_rate"])
    rows, failed = {}, []
    for index, path in enumerate(files):
        try:
            info = soundfile.info(path)
            rate = info.samplerate
            audio = np.concatenate(list(read_mono(path, rate)))
            if model_rate is not None and rate != model_rate:
                # `tag_wav` resamples in the graph; say so, as for a
                # `.keras` tagger.
                warnings.warn(
                    f"Resampled {path} from {rate} Hz ({info.channels} "
                    f"channel(s)) to {model_rate} Hz mono, the model's "
                    "rate (in the export's tag_wav).",
                    stacklevel=2,
                )
        except AudioDecodeError as error:
            failed.append((path, error.reason))
            continue
        except (soundfile.LibsndfileError, RuntimeError) as error:
            failed.append((path, f"unreadable ({error})"))
            continue
        wav = io.BytesIO()
        soundfile.write(wav, audio, rate, format="WAV", subtype="PCM_16")
        outputs = tag_wav(wav=tf.constant([wav.getvalue()]))
        rows[index] = outputs["probabilities"].numpy()[0]
    return rows, vocabulary, failed


def write_results(rows, vocabulary, names, k, output_format, stream):
    results = [
        {"file": names[index], "tags": top_tags(scores, vocabulary, k)}
        for index, scores in sorted(rows.items())
    ]
    if output_format == "json":
        json.dump(
            [
                {
                    "file": r["file"],
                    "tags": [{"tag": t, "score": s} for t, s in r["tags"]],
                }
                for r in results
            ],
            stream,
            indent=1,
        )
        stream.write("\n")
    elif output_format == "csv":
        writer = csv.writer(stream)
        writer.writerow(["file", "rank", "tag", "score"])
        for r in results:
            for rank, (tag, score) in enumerate(r["tags"], 1):
                writer.writerow([r["file"], rank, tag, f"{score:.6f}"])
    else:
        width = max([len(r["file"]) for r in results] + [4])
        for r in results:
            tags = "  ".join(f"{t} {s:.3f}" for t, s in r["tags"])
            stream.write(f"{r['file']:<{width}}  {tags}\n")


def run(args):
    if args.top_k < 1:
        raise CommandError(f"--top_k must be positive. Received: {args.top_k}")
    if args.batch_size < 1:
        raise CommandError(
            f"--batch_size must be positive. Received: {args.batch_size}"
        )
    check_speed_arguments(args)
    if args.labels is not None and args.weights is None:
        raise CommandError(
            "--labels goes with --weights (a preset's tag names); a `.keras` "
            "tagger or an export carries its own."
        )
    entries, skipped = find_audio_files(args.audio)
    if args.weights is not None:
        model = models.preset_tagger(args.model, args.weights, args.labels)
    elif args.model in MAESTBackbone.presets and not os.path.exists(args.model):
        raise CommandError(
            f"MODEL {args.model!r}: a preset name tags with trained weights "
            f"only: pass --weights FILE ({models.WEIGHTS_KINDS}) and "
            "--labels FILE."
        )
    else:
        model = models.load_model(args.model)
    files = [path for path, _ in entries]
    if isinstance(model, keras.Model):
        model = models.check_tagger(model, args.model)
        model = models.speed_settings(
            model,
            args.precision,
            args.inference_time_stride,
            args.inference_freq_drop,
        )
        rows, vocabulary, failed = tag_keras(model, files, args)
    else:
        if (
            args.precision != "float32"
            or args.inference_time_stride is not None
            or args.inference_freq_drop is not None
        ):
            raise CommandError(
                "--precision and inference patchout are fixed in an export; "
                "pass them to `keras-music export` (recipes/export.py)."
            )
        rows, vocabulary, failed = tag_saved_model(model, files)
    k = min(args.top_k, len(vocabulary))
    if args.output:
        directory = os.path.dirname(os.path.abspath(args.output))
        os.makedirs(directory, exist_ok=True)
        with open(args.output, "w", newline="", encoding="utf-8") as stream:
            write_results(rows, vocabulary, files, k, args.format, stream)
        print(f"Wrote the tags of {len(rows)} file(s) to {args.output}")
    else:
        write_results(rows, vocabulary, files, k, args.format, sys.stdout)
    return report_problems(skipped, failed)


def report_problems(skipped, failed):
    """Prints the files left out, one line each, and returns the exit
    status: 1 when a file could not be read, else 0."""
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    for path, reason in failed:
        print(f"failed {path}: {reason}", file=sys.stderr)
    if failed:
        print(
            f"{len(failed)} file(s) could not be read (listed above); the "
            "others were processed.",
            file=sys.stderr,
        )
        return 1
    return 0
