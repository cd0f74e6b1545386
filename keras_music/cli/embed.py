"""`keras-music embed MODEL DIR --output OUT`: one `.npz` of embeddings per
audio file, resumable."""

import concurrent.futures
import hashlib
import json
import os
import sys
import time

import numpy as np

from keras_music.cli import models
from keras_music.cli.arguments import TOKENS  # noqa: F401
from keras_music.cli.arguments import add_embed_arguments
from keras_music.cli.audio_files import CommandError
from keras_music.cli.audio_files import find_audio_files
from keras_music.cli.segment_runner import Progress
from keras_music.cli.segment_runner import SegmentRunner
from keras_music.cli.segment_runner import compiled
from keras_music.cli.tag import check_speed_arguments
from keras_music.cli.tag import report_problems
from keras_music.data.tfrecord_format import remove_stale_temporaries
from keras_music.evaluation.embedding_cache import encoder_fingerprint
from keras_music.evaluation.segment_encoder import maest_segment_encoder
from keras_music.models.audio_preprocessor import AudioPreprocessor
from keras_music.models.embedder import AudioEmbedder
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_layers import set_query_chunk_size
from keras_music.models.maest.maest_tagger import MAESTTagger

# The arguments, defined where `--help` reads them without TensorFlow.
add_arguments = add_embed_arguments


def segment_encoder(model, args):
    """The encoder `(batch, samples) -> (batch, dim)` for MODEL, its
    sample rate and segment length in samples, and the model's name.

    MAEST models (a preset, a tagger, an `AudioEmbedder` on a MAEST
    backbone) are read at `--block` / `--token`; other models that take
    raw audio and carry their preprocessor (an `S3TBackbone`, an
    `AudioEmbedder` on another backbone) at their output."""
    if isinstance(model, MAESTBackbone):
        if args.weights is None:
            print(
                f"MODEL {args.model!r}: a preset at random initialisation "
                "(for trying the command; pass --weights FILE, or a "
                "trained `.keras` tagger, for real embeddings).",
                file=sys.stderr,
            )
            preprocessor = models.preset_preprocessor(args.model, False)
        else:
            model, preprocessor = models.preset_backbone(
                args.model, args.weights
            )
        return maest_encoder(model, preprocessor, None, None, args.model, args)
    if isinstance(model, MAESTTagger):
        models.check_tagger(model, args.model)
        return maest_encoder(
            model.backbone, model.preprocessor, None, None, model.name, args
        )
    preprocessor = getattr(model, "preprocessor", None)
    if isinstance(model, AudioEmbedder) and preprocessor is None:
        raise CommandError(
            f"MODEL {args.model!r}: an AudioEmbedder without a preprocessor "
            "takes its backbone's input, not audio; save it with "
            "`preprocessor=AudioPreprocessor(...)`."
        )
    if isinstance(model, AudioEmbedder) and isinstance(
        model.backbone, MAESTBackbone
    ):
        return maest_encoder(
            model.backbone,
            preprocessor,
            model.block,
            model.token,
            model.name,
            args,
        )
    if not isinstance(preprocessor, AudioPreprocessor) or (
        len(model.input_shape) != 2 or len(model.output_shape) != 2
    ):
        raise CommandError(
            f"MODEL {args.model!r}: a {type(model).__name__} that does not "
            "carry its preprocessor (sample rate, segment) or does not map "
            "audio (batch, samples) to (batch, dim); `embed` reads MAEST "
            "taggers and presets, AudioEmbedders and raw-audio encoders "
            "such as the S3TBackbone of recipes/s3t.py."
        )
    if args.block is not None or args.token is not None:
        raise CommandError(
            "--block and --token read a MAEST block; MODEL "
            f"{args.model!r} is a {type(model).__name__}, embedded at its "
            f"output. Received: --block {args.block}, --token {args.token}"
        )
    models.speed_settings(
        model,
        args.precision,
        args.inference_time_stride,
        args.inference_freq_drop,
    )
    size = model.input_shape[1] or preprocessor.segment_samples
    if size is None:
        raise CommandError(
            f"MODEL {args.model!r}: neither its input nor its preprocessor "
            "gives a segment length; save it with `segment_seconds=`."
        )
    return model, preprocessor.sample_rate, size, model.name


def maest_encoder(backbone, preprocessor, block, token, name, args):
    """A MAEST backbone on raw audio through `preprocessor`, read at
    `--block` / `--token` (else `block` / `token`, else the last block's
    stack), with the speed options applied."""
    check_block(backbone, args.block)
    block = args.block if args.block is not None else block
    token = args.token or token or "stack"
    backbone = models.speed_settings(
        backbone,
        args.precision,
        args.inference_time_stride,
        args.inference_freq_drop,
    )
    encoder = maest_segment_encoder(
        backbone, block, token, frontend=preprocessor
    )
    return (
        encoder,
        preprocessor.sample_rate,
        preprocessor.segment_samples,
        name,
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
    _check_arguments(args)
    entries, skipped = find_audio_files([args.directory], argument="DIR")
    model = _checked_model(args)
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
    # After the hash: chunked attention gives the same embeddings, faster
    # at embed's fixed batch shape (MAESTAttention; no-op for others).
    set_query_chunk_size(encoder, "auto")
    todo = _files_to_embed(entries, args.output, digest)
    writer = _NpzWriter(
        [target for _, target in todo],
        sample_rate,
        args.timestamps,
        model=np.array(name),
        config_hash=np.array(digest),
        config=np.array(json.dumps(settings, sort_keys=True)),
    )
    runner = SegmentRunner(
        compiled(encoder, (args.batch_size, size)),
        sample_rate,
        size,
        hop,
        args.batch_size,
    )
    started = time.time()
    progress = Progress(
        [path for path, _ in todo], enabled=not args.no_progress
    )
    try:
        failed = runner.run([path for path, _ in todo], writer, progress)
        writer.finish()
    finally:
        writer.close()
        progress.close()
    elapsed = time.time() - started
    print(
        f"Embedded {len(todo) - len(failed)} file(s) into {args.output} in "
        f"{elapsed:.1f} s (config {digest}).",
        file=sys.stderr,
    )
    return report_problems(skipped, failed)


def _check_arguments(args):
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


def _checked_model(args):
    """The model `MODEL` names, refused when `embed` cannot read it."""
    if args.weights is not None and (
        args.model not in MAESTBackbone.presets or os.path.exists(args.model)
    ):
        raise CommandError(
            f"MODEL {args.model!r}: --weights needs a MAEST preset name "
            f"({', '.join(sorted(MAESTBackbone.presets))}); a `.keras` "
            "file carries its own weights."
        )
    model = models.load_model(args.model)
    if not hasattr(model, "get_config"):
        raise CommandError(
            f"MODEL {args.model!r}: a SavedModel export; `embed` reads a "
            "`.keras` MAEST tagger or a preset (an export's `embed` "
            "signature serves embeddings itself)."
        )
    return model


def _files_to_embed(entries, output, digest):
    """`(path, target)` of the files not embedded with this config yet
    (a run's leftover temporaries removed); says how many were."""
    todo = []
    for path, relative in entries:
        target = output_path(output, relative)
        if os.path.isdir(os.path.dirname(target)):
            remove_stale_temporaries(os.path.dirname(target))
        if not is_done(target, digest):
            todo.append((path, target))
    done_before = len(entries) - len(todo)
    if done_before:
        print(
            f"{done_before} of {len(entries)} file(s) already embedded "
            f"in {output} (same config {digest}): skipped.",
            file=sys.stderr,
        )
    return todo


class _NpzWriter:
    """`SegmentRunner`'s `on_done`: writes file `index`'s `.npz` to
    `targets[index]` in a thread beside the model, one at a time, so that
    files land in the order they finish; a failed write stops the run at
    the next file, not at the end."""

    def __init__(self, targets, sample_rate, timestamps, **fields):
        self.targets = targets
        self.sample_rate = sample_rate
        self.timestamps = timestamps
        self.fields = fields
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="npz-writer"
        )
        self.writes = []

    def __call__(self, index, outputs, spans):
        # (start, end) of each segment in seconds.
        seconds = np.stack(
            [spans[:, 0], spans[:, 0] + spans[:, 1]], axis=1
        ) / float(self.sample_rate)
        embedding = outputs if self.timestamps else outputs.mean(axis=0)
        self.writes.append(
            self.executor.submit(
                write_npz_atomic,
                self.targets[index],
                embedding=embedding.astype("float32"),
                timestamps=seconds,
                **self.fields,
            )
        )
        while self.writes and self.writes[0].done():
            self.writes.pop(0).result()

    def finish(self):
        """Waits for every write; raises the first failure."""
        for write in self.writes:
            write.result()

    def close(self):
        self.executor.shutdown(wait=True)
