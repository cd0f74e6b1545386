"""The arguments of `keras-music tag` and `embed`, without TensorFlow.

`keras-music --help`, `keras-music embed --help` and argument errors are
answered from this module alone: it imports neither TensorFlow nor the
modules of `keras_music` that do (the commands import them after their
arguments are parsed), so they answer in a fraction of a second instead
of the seconds TensorFlow takes to import.
"""

# `MAESTBackbone.presets`, named here so that the help does not import
# the model (tests/cli/main_test.py checks that the two agree).
MAEST_PRESETS = (
    "maest_10s",
    "maest_20s",
    "maest_30s",
    "maest_5s",
    "maest_small",
    "maest_tiny",
)
MODEL_KINDS = (
    "a `.keras` tagger (e.g. runs/maest_small/model.keras), an exported "
    "SavedModel folder (saved_models/NAME or saved_models/NAME/VERSION) "
    f"or a MAEST preset name ({', '.join(MAEST_PRESETS)}) with --weights FILE"
)
# Reference checkpoints (palonso/MAEST, PaSST, DeiT: read without torch)
# and Keras weights files (`model.save_weights`).
REFERENCE_CHECKPOINTS = (".safetensors", ".npz", ".pt", ".pth", ".ckpt")
KERAS_WEIGHTS = ".weights.h5"
WEIGHTS_KINDS = (
    f"a MAEST checkpoint ({', '.join(REFERENCE_CHECKPOINTS)}: the released "
    f"MAEST weights, read without PyTorch) or a Keras `{KERAS_WEIGHTS}` "
    "file (`tagger.save_weights`)"
)
# Measured in benchmarks/README.md (maest_30s on the built-in test split,
# 2-core CPU): the speed/quality trade-off of issue 22's options.
TRADE_OFF = (
    "Measured trade-off (benchmarks/README.md, maest_30s, CPU): "
    "--inference_time_stride 10 as int8 TFLite runs 2.22x the "
    "Essentia-style EfficientNet-B0 at ROC-AUC 0.7665 vs 0.7731 without "
    "patchout; --precision bfloat16 gives 1.08x on this CPU."
)
TOKENS = ("cls", "dist", "avg", "stack")
FORMATS = ("table", "csv", "json")


def add_tag_arguments(parser):
    """The arguments of `keras-music tag` on `parser` (argparse)."""
    parser.add_argument("model", metavar="MODEL", help=MODEL_KINDS)
    parser.add_argument(
        "audio",
        metavar="AUDIO",
        nargs="+",
        help="Audio files or folders (walked recursively): WAV, FLAC, Ogg, "
        "MP3, AU; any length, rate and channel count (resampled to the "
        "model's rate and downmixed, with a notice).",
    )
    parser.add_argument(
        "--weights",
        metavar="FILE",
        help=f"With a preset name as MODEL: its weights, {WEIGHTS_KINDS}.",
    )
    parser.add_argument(
        "--labels",
        metavar="FILE",
        help="With --weights: the tag names, one per line in output order "
        "(weights carry no names).",
    )
    parser.add_argument(
        "--top_k", type=int, default=5, help="Tags per file. Default: 5."
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="Output format. Default: table.",
    )
    parser.add_argument(
        "--output", help="Write to this file instead of stdout."
    )
    parser.add_argument(
        "--batch_size",
        type=int,
        default=8,
        help="Segments per batch, across files. Default: 8.",
    )
    add_speed_arguments(parser)


def add_embed_arguments(parser):
    """The arguments of `keras-music embed` on `parser` (argparse)."""
    parser.add_argument("model", metavar="MODEL", help=MODEL_KINDS)
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
        help="Read-out of a MAEST block: cls, dist, avg or the stack of "
        "the three (3x wide). Default: the embedder's own, else stack.",
    )
    parser.add_argument(
        "--weights",
        metavar="FILE",
        help="With a MAEST preset name as MODEL: the backbone's weights, "
        f"{WEIGHTS_KINDS}; a tagging head is skipped.",
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


def add_speed_arguments(parser):
    """Issue 22's speed options, shared by `tag` and `embed`."""
    parser.add_argument(
        "--precision",
        choices=("float32", "bfloat16"),
        default="float32",
        help="Compute dtype of the MAEST transformer (bfloat16: faster on "
        "CPUs with AVX512_BF16 or AMX). Default: float32. " + TRADE_OFF,
    )
    parser.add_argument(
        "--inference_time_stride",
        type=int,
        help="Inference patchout: keep 1 of every N time columns of "
        "patches (MAEST; the paper's T=N). Default: the model's own.",
    )
    parser.add_argument(
        "--inference_freq_drop",
        type=lambda text: [int(row) for row in text.split(",") if row],
        help="Inference patchout: comma-separated frequency rows of "
        "patches to drop, 0 = lowest (MAEST; e.g. 0,7,8). Default: the "
        "model's own.",
    )
