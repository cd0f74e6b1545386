"""`keras-music embed MODEL DIR --output OUT`: one `.npz` of embeddings per
audio file, resumable."""

import hashlib
import json
import os
import sys
import time

import numpy as np

from keras_music.cli import models
from keras_music.cli.audio_files import CommandError
from keras_music.cli.audio_files import find_audio_files
from keras_music.cli.segment_runner import Progress
from keras_music.cli.segment_runner import SegmentRunner
from keras_music.cli.segment_runner import compiled
from keras_music.cli.tag import add_speed_arguments
from keras_music.cli.tag import check_speed_arguments
from keras_music.cli.tag import report_problems
from keras_music.data.tfrecord_format import remove_stale_temporaries
from keras_music.evaluation.embedding_cache import encoder_fingerprint
from keras_music.evaluation.segment_encoder import maest_preset_encoder
from keras_music.evaluation.segment_encoder import maest_segment_encoder
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_tagger import MAESTTagger

TOKENS = ("cls", "dist", "avg", "stack")


def add_arguments(parser):
    parser.add_argument("model", metavar="MODEL", help=models.MODEL_KINDS)
    parser.add_argument(
        "directory",
        metavar="DIR",
        help="Folder of audio files, walked recursively.",
    )
    parser.add_argument(
        "--output",
        required=True,
        help="Folder of the .npz files (the layout of DIR, `.npz` "
        "appended to each file name).",
    )
    parser.add_argument(
        "--block",
        type=int,
        help="Block whose tokens are read, 1-based (0: the patch "
        "embeddings). Default: the last block; the MAEST paper's best "
        "is the middle one (7 of 12).",
    )
    parser.add_argument(
        "--token",
        choices=TOKENS,
        default="stack",
        help="Read-out: cls, dist, avg or the stack of the three "
        "(3x wide). Default: stack.",
    )
    parser.add_argument(
        "--hop",
        type=float,
        help="Seconds between segment starts. Default: the segment length "
        "(no overlap; the last segment ends with the file).",
    )
    parser.add_argument(
        "--timestamps",
        action="store_true",
        help="Keep one embedding per segment, `(segments, dim)`, instead "
        "of their average `(dim,)`.",
    )
    parser.add_argument(
        "--batch_size",
        type=int,
        default=16,
        help="Segments per batch, across files. Default: 16.",
    )
    parser.add_argument(
        "--no_progress",
        action="store_true",
        help="No progress bar (it is shown only on a terminal anyway).",
    )
    add_speed_arguments(parser)


def segment_encoder(model, args):
    """The encoder `(batch, samples) -> (batch, dim)` for MODEL, its
    sample rate and segment length in samples, and the model's name."""
    if isinstance(model, MAESTBackbone):
        # A preset name: randomly initialised, its own frontend.
        print(
            f"MODEL {args.model!r}: a preset at random initialisation "
            "(for trying the command; pass a trained `.keras` tagger for "
            "real embeddings).",
            file=sys.stderr,
        )
        check_block(model, args.block)
        encoder, seconds = maest_preset_encoder(
            args.model, block=args.block, token=args.token
        )
        return encoder, 16000, int(round(seconds * 16000)), args.model
    if not isinstance(model, MAESTTagger):
        raise CommandError(
            f"MODEL {args.model!r}: a {type(model).__name__}; `embed` reads "
            f"MAEST taggers and presets ({models.MODEL_KINDS})."
        )
    models.check_tagger(model, args.model)
    check_block(model.backbone, args.block)
    model = models.speed_settings(
        model,
        args.precision,
        args.inference_time_stride,
        args.inference_freq_drop,
    )
    preprocessor = model.preprocessor
    encoder = maest_segment_encoder(
        model.backbone, args.block, args.token, frontend=preprocessor
    )
    return (
        encoder,
        preprocessor.sample_rate,
        preprocessor.segment_samples,
        model.name,
    )


def check_block(backbone, block):
    if block is not None and not 0 <= block <= backbone.num_layers:
        raise CommandError(
            f"--block must be in [0, {backbone.num_layers}] for this model "
            f"({backbone.num_layers} blocks; 1-based, 0 = the patch "
            f"embeddings). Received: --block {block}"
        )


def config_hash(encoder, settings):
    """A short hash of the encoder (config and weights) and the options
    that change the output: an `.npz` with another hash is recomputed."""
    digest = hashlib.sha1(encoder_fingerprint(encoder).encode())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def output_path(output, relative):
    return os.path.join(output, relative + ".npz")


def is_done(path, digest):
    """Whether `path` is a finished `.npz` of this configuration."""
    try:
        with np.load(path) as saved:
            return str(saved["config_hash"]) == digest
    except (OSError, ValueError, KeyError, EOFError):
        return False


def write_npz_atomic(path, **arrays):
    """Writes an `.npz` under a temporary name, then renames it: a killed
    run leaves no partial `.npz` (the `.incomplete-<pid>` temporaries of
    dead processes are removed by the next run)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.incomplete-{os.getpid()}"
    with open(temporary, "wb") as stream:
        np.savez(stream, **arrays)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def run(args):
    if args.batch_size < 1:
        raise CommandError(
            f"--batch_size must be positive. Received: {args.batch_size}"
        )
    if args.hop is not None and args.hop <= 0:
        raise CommandError(f"--hop must be positive. Received: {args.hop}")
    check_speed_arguments(args)
    if not os.path.isdir(args.directory):
        raise CommandError(
            f"DIR {args.directory!r}: no such folder (expected a folder of "
            "audio files)."
        )
    entries, skipped = find_audio_files([args.directory], argument="DIR")
    model = models.load_model(args.model)
    if not hasattr(model, "get_config"):
        raise CommandError(
            f"MODEL {args.model!r}: a SavedModel export; `embed` reads a "
            "`.keras` MAEST tagger or a preset (an export's `embed` "
            "signature serves embeddings itself)."
        )
    encoder, sample_rate, size, name = segment_encoder(model, args)
    hop = size if args.hop is None else max(1, round(args.hop * sample_rate))
    settings = {
        "model": name,
        "block": args.block,
        "token": args.token,
        "hop_samples": hop,
        "segment_samples": size,
        "timestamps": args.timestamps,
        "precision": args.precision,
        "inference_time_stride": args.inference_time_stride,
        "inference_freq_drop": args.inference_freq_drop,
    }
    digest = config_hash(encoder, settings)

    todo = []
    for path, relative in entries:
        target = output_path(args.output, relative)
        if os.path.isdir(os.path.dirname(target)):
            remove_stale_temporaries(os.path.dirname(target))
        if not is_done(target, digest):
            todo.append((path, target))
    done_before = len(entries) - len(todo)
    if done_before:
        print(
            f"{done_before} of {len(entries)} file(s) already embedded "
            f"in {args.output} (same config {digest}): skipped.",
            file=sys.stderr,
        )

    def on_done(index, outputs, spans):
        # (start, end) of each segment in seconds.
        seconds = np.stack(
            [spans[:, 0], spans[:, 0] + spans[:, 1]], axis=1
        ) / float(sample_rate)
        embedding = outputs if args.timestamps else outputs.mean(axis=0)
        write_npz_atomic(
            todo[index][1],
            embedding=embedding.astype("float32"),
            timestamps=seconds,
            model=np.array(name),
            config_hash=np.array(digest),
            config=np.array(json.dumps(settings, sort_keys=True)),
        )

    runner = SegmentRunner(
        compiled(encoder), sample_rate, size, hop, args.batch_size
    )
    started = time.time()
    progress = Progress(
        [path for path, _ in todo], enabled=not args.no_progress
    )
    try:
        failed = runner.run([path for path, _ in todo], on_done, progress)
    finally:
        progress.close()
    elapsed = time.time() - started
    print(
        f"Embedded {len(todo) - len(failed)} file(s) into {args.output} in "
        f"{elapsed:.1f} s (config {digest}).",
        file=sys.stderr,
    )
    return report_problems(skipped, failed)
