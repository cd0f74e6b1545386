"""`keras-music embed` against a one-file-at-a-time loop: throughput and
peak memory.

    python benchmarks/embed.py [--files 200] [--seconds 30]
        [--hidden_dim 32] [--batch_size 16] [--rounds 2]

Builds a MAEST tagger at `maest_tiny` size (2 blocks, `--hidden_dim`
wide) with 30 s segments (1876 frames, MAEST-30s' input length) and
random weights, synthesises `--files` WAV files of `--seconds` (16 kHz
mono: tones and noise) and, side by side in one process:

- the loop a Python user writes: for each file,
  `preprocessor.load_audio`, `preprocessor.segments`, then
  `encoder.predict(segments)` with the same `maest_segment_encoder`
  (stack read-out of the last block) that `embed` uses;
- `keras-music embed` on the folder (segments batched across files,
  `--batch_size` per call, one `.npz` per file), its wall time including
  the model load and the `.npz` writes;

alternated for `--rounds` rounds (loop, embed, loop, embed, ...) so that
load from other jobs hits both alike, and prints audio seconds per second
of each (over all rounds), their ratio and the largest difference between
their embeddings. Then, each in a fresh process, the
peak resident memory of `embed` on one 2-minute and one 20-minute file
(44.1 kHz stereo, 16-bit: 21 MB and 212 MB on disk) and of the
whole-file loop on the 20-minute file. Only ratios measured side by side
mean anything; absolute rates depend on the machine and its load.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEGMENT_SECONDS = 30.0

# A fresh process that embeds one folder (or loops over one file) and
# prints its own peak RSS.
PEAK_SCRIPT = """
import sys
import keras_music
mode, model, folder, output = sys.argv[1:5]
if mode == "embed":
    from keras_music.cli.main import main
    main(["embed", model, folder, "--output", output, "--no_progress"])
else:
    import os
    import keras
    from keras_music.evaluation.segment_encoder import maest_segment_encoder
    tagger = keras.saving.load_model(model, compile=False)
    pre = tagger.preprocessor
    encoder = maest_segment_encoder(tagger.backbone, frontend=pre)
    for name in sorted(os.listdir(folder)):
        audio = pre.load_audio(os.path.join(folder, name))
        encoder.predict(pre.segments(audio), verbose=0, batch_size=16)
# VmHWM, this process's own peak (ru_maxrss of an exec'd child starts
# from its parent's).
with open("/proc/self/status") as stream:
    peak = [l for l in stream if l.startswith("VmHWM")][0].split()[1]
print("peak_rss_mb", int(peak) / 1024)
"""


def build_tagger(path, hidden_dim):
    from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
    from keras_music.models.audio_preprocessor import AudioPreprocessor
    from keras_music.models.maest.maest_backbone import MAESTBackbone
    from keras_music.models.maest.maest_tagger import MAESTTagger

    frames = 1 + int(SEGMENT_SECONDS * 16000) // 256
    backbone = MAESTBackbone.from_preset(
        "maest_tiny",
        num_frames=frames,
        hidden_dim=hidden_dim,
        intermediate_dim=4 * hidden_dim,
    )
    tagger = MAESTTagger(
        backbone,
        num_tags=10,
        preprocessor=AudioPreprocessor(
            LogMelSpectrogram(sample_rate=16000),
            segment_seconds=SEGMENT_SECONDS,
        ),
        vocabulary=[f"tag_{i}" for i in range(10)],
        name="benchmark_tagger",
    )
    tagger.save(path)
    return tagger


def write_files(folder, count, seconds, rng):
    os.makedirs(folder, exist_ok=True)
    t = np.arange(int(seconds * 16000)) / 16000
    for i in range(count):
        audio = 0.2 * np.sin(2 * np.pi * (110 + 5 * i) * t)
        audio += 0.05 * rng.standard_normal(t.shape)
        soundfile.write(
            os.path.join(folder, f"track_{i:03d}.wav"),
            audio.astype("float32"),
            16000,
            subtype="PCM_16",
        )


def write_long(folder, minutes, rng):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"long_{minutes}min.wav")
    rate, block = 44100, 44100 * 60
    with soundfile.SoundFile(
        path, "w", rate, channels=2, subtype="PCM_16"
    ) as stream:
        for _ in range(minutes):
            stream.write(rng.uniform(-0.3, 0.3, (block, 2)).astype("float32"))
    return path


def peak_rss(mode, model, folder, output):
    result = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, mode, model, folder, output],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=ROOT),
        check=True,
    )
    line = [x for x in result.stdout.splitlines() if "peak_rss_mb" in x][-1]
    return float(line.split()[1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--hidden_dim", type=int, default=32)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="Loop and embed runs, alternated (load hits both alike).",
    )
    parser.add_argument(
        "--long_minutes",
        type=int,
        nargs=2,
        default=(2, 20),
        help="Lengths of the two files of the memory check.",
    )
    args = parser.parse_args(argv)

    import keras_music  # noqa: F401  (first: TensorFlow imported quietly)

    # isort: split
    import keras

    from keras_music.cli.main import main as cli
    from keras_music.evaluation.segment_encoder import maest_segment_encoder

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    work = tempfile.mkdtemp(prefix="embed_benchmark_")
    try:
        model = os.path.join(work, "tagger.keras")
        tagger = build_tagger(model, args.hidden_dim)
        folder = os.path.join(work, "audio")
        write_files(folder, args.files, args.seconds, rng)
        names = sorted(os.listdir(folder))
        total = args.files * args.seconds
        print(
            f"{args.files} files x {args.seconds:g} s ({total / 3600:.2f} h)"
            f", MAEST maest_tiny size: 2 blocks, hidden_dim "
            f"{args.hidden_dim}, {tagger.count_params():,} parameters, "
            f"{SEGMENT_SECONDS:g} s segments; {os.cpu_count()} CPU cores."
        )

        # === One file at a time, and keras-music embed, alternately ===
        preprocessor = tagger.preprocessor
        encoder = maest_segment_encoder(tagger.backbone, frontend=preprocessor)
        encoder.predict(
            preprocessor.segments(
                preprocessor.load_audio(os.path.join(folder, names[0]))
            ),
            verbose=0,
        )  # warm-up: tracing is not throughput
        loop_times, cli_times = [], []
        for round_ in range(args.rounds):
            started = time.perf_counter()
            loop = {}
            for name in names:
                audio = preprocessor.load_audio(os.path.join(folder, name))
                segments = preprocessor.segments(audio)
                loop[name] = encoder.predict(segments, verbose=0).mean(axis=0)
            loop_times.append(time.perf_counter() - started)

            output = os.path.join(work, f"embeddings_{round_}")
            started = time.perf_counter()
            status = cli(
                [
                    "embed",
                    model,
                    folder,
                    "--output",
                    output,
                    "--batch_size",
                    str(args.batch_size),
                    "--no_progress",
                ]
            )
            cli_times.append(time.perf_counter() - started)
            if status != 0:
                raise RuntimeError(f"keras-music embed exited with {status}")
        loop_seconds, cli_seconds = sum(loop_times), sum(cli_times)
        difference = max(
            float(
                np.max(
                    np.abs(
                        np.load(os.path.join(output, name + ".npz"))[
                            "embedding"
                        ]
                        - loop[name]
                    )
                )
            )
            for name in names
        )
        loop_rate = args.rounds * total / loop_seconds
        cli_rate = args.rounds * total / cli_seconds
        print(f"{'method':<40} {'audio s/s':>10} {'wall s':>8}")
        print(
            f"{'Python loop, encoder.predict per file':<40} "
            f"{loop_rate:>10.1f} {loop_seconds:>8.1f}"
        )
        print(
            f"{'keras-music embed (cross-file batches)':<40} "
            f"{cli_rate:>10.1f} {cli_seconds:>8.1f}"
        )
        print(
            "rounds (loop, embed) in s: "
            + ", ".join(
                f"({a:.1f}, {b:.1f})" for a, b in zip(loop_times, cli_times)
            )
        )
        print(
            f"ratio embed / loop: {cli_rate / loop_rate:.2f}x; largest "
            f"embedding difference {difference:.1e} (the CLI's wall time "
            "includes the model load and writing the .npz files)"
        )

        # === Peak memory, fresh processes ===
        peaks = {}
        for minutes in args.long_minutes:
            long_folder = os.path.join(work, f"long_{minutes}")
            write_long(long_folder, minutes, rng)
            peaks[minutes] = peak_rss(
                "embed",
                model,
                long_folder,
                os.path.join(work, f"out_{minutes}"),
            )
        longest = max(args.long_minutes)
        whole = peak_rss(
            "loop", model, os.path.join(work, f"long_{longest}"), work
        )
        for minutes in args.long_minutes:
            print(
                f"peak RSS, embed on one {minutes}-minute 44.1 kHz stereo "
                f"file: {peaks[minutes]:.0f} MB"
            )
        print(
            f"peak RSS, whole-file loop on the {longest}-minute file: "
            f"{whole:.0f} MB"
        )
        return {
            "loop_rate": loop_rate,
            "cli_rate": cli_rate,
            "difference": difference,
            "peaks": peaks,
            "whole_file_peak": whole,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
