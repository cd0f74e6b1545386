"""Full-size parity with the official code: MAEST-30s and Swin-T.

Builds the official MAEST-30s (palonso/MAEST `get_maest`) and Swin-T
(microsoft/Swin-Transformer, 256 x 256, window 8, one input channel)
with seeded random weights in a PyTorch process, runs them on fixed
inputs (MAEST from 30 s of raw audio through its own frontend) and times
the official MAEST forward at batch 1 and 2 with 2 threads; then, in a
TensorFlow process, converts the same state dicts into ours
(`load_maest_weights`, `maest_frontend("maest_30s")`,
`load_swin_state_dict`), compares the outputs and times ours the same
way (the official batched raw-audio path, ours with the official
one-clip framing: 1875 frames against 1876, a 0.5 % difference in
work). The two frameworks never share a process (they crash side by side
on some machines). Prints the max abs differences and seconds per clip.

    python benchmarks/parity_full.py --maest REFS/MAEST \\
        --swin REFS/Swin-Transformer --torch_python VENV/bin/python
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCHES = (1, 2)
THREADS = 2
REPEATS = 3


def _audio(batch):
    rng = np.random.default_rng(batch)
    return rng.uniform(-0.5, 0.5, size=(batch, 480000)).astype("float32")


def torch_side(args):
    """Official models: weights, outputs and timings into `args.out`."""
    sys.path.insert(0, ROOT)
    import torch
    from safetensors.torch import save_file

    from benchmarks.timing import round_robin
    from tests.golden import make_fixtures as fx

    torch.set_num_threads(THREADS)
    fx._prepare_imports()
    maest = fx._import_from(
        "maest_ref", os.path.join(args.maest, "models"), "maest"
    )
    torch.manual_seed(0)
    model = maest.get_maest("discogs-maest-30s-pw-129e", pretrained=False)
    model = model.eval()
    with torch.no_grad():
        for name, value in model.named_parameters():
            if name.endswith("bias") or name.startswith("head"):
                value.normal_(0.0, 0.2)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        os.path.join(args.out, "maest.safetensors"),
    )
    results, cases = {}, {}
    with torch.no_grad():
        for batch in BATCHES:
            audio = torch.from_numpy(_audio(batch))
            # The batched raw-audio path keeps all 1 + n // 256 = 1876
            # frames; the one-clip path cuts them to img_size[1] = 1875,
            # the framing `maest_frontend` reproduces.
            logits, _ = model(audio)
            results[f"maest_batched_{batch}"] = logits.numpy()
            results[f"maest_clip_{batch}"] = torch.cat(
                [model(clip)[0] for clip in audio]
            ).numpy()
            cases[batch] = lambda a=audio: model(a)
        seconds = round_robin(cases, REPEATS)
    swin = fx._import_from(
        "swin_ref", os.path.join(args.swin, "models"), "swin_transformer"
    )
    torch.manual_seed(0)
    official = swin.SwinTransformer(
        img_size=256,
        in_chans=1,
        num_classes=0,
        window_size=8,
        drop_path_rate=0.0,
    ).eval()
    save_file(
        {k: v.contiguous() for k, v in official.state_dict().items()},
        os.path.join(args.out, "swin.safetensors"),
    )
    image = np.random.default_rng(0).normal(size=(2, 256, 256))
    with torch.no_grad():
        pooled = official(torch.from_numpy(image.astype("float32"))[:, None])
    results["swin_pooled"] = pooled.numpy()
    np.savez(os.path.join(args.out, "torch.npz"), **results)
    with open(os.path.join(args.out, "torch_seconds.json"), "w") as f:
        json.dump({str(b): s / b for b, s in seconds.items()}, f)


def keras_side(out):
    """Ours on the same weights and inputs; returns the report lines."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(THREADS)
    from benchmarks.timing import round_robin
    from keras_music.convert.maest import load_maest_weights
    from keras_music.convert.maest import maest_frontend
    from keras_music.convert.state_dict import load_state_dict
    from keras_music.convert.swin import load_swin_state_dict
    from keras_music.models.maest.maest_backbone import MAESTBackbone
    from keras_music.models.maest.maest_tagger import MAESTTagger
    from keras_music.models.swin.swin_backbone import SwinBackbone

    official = np.load(os.path.join(out, "torch.npz"))
    with open(os.path.join(out, "torch_seconds.json")) as f:
        torch_seconds = json.load(f)
    tagger = MAESTTagger(
        MAESTBackbone.from_preset("maest_30s"), 400, activation=None
    )
    load_maest_weights(tagger, os.path.join(out, "maest.safetensors"))
    frontend = maest_frontend("maest_30s")
    all_frames = maest_frontend("maest_30s", max_frames=None)
    forward = tf.function(lambda audio: tagger(frontend(audio)))
    lines, cases = [], {}
    for batch in BATCHES:
        audio = tf.constant(_audio(batch))
        checks = (
            ("one-clip path, 1875 frames", forward, "clip"),
            (
                "batched path, 1876 frames",
                lambda a: tagger(all_frames(a)),
                "batched",
            ),
        )
        for what, run, key in checks:
            reference = official[f"maest_{key}_{batch}"]
            error = np.abs(np.asarray(run(audio)) - reference).max()
            lines.append(
                f"MAEST-30s raw audio, batch {batch}, official {what}: max "
                f"|logits diff| {error:.2e} (max |logit| "
                f"{np.abs(reference).max():.2f})"
            )
        cases[batch] = lambda a=audio: forward(a).numpy()
    seconds = round_robin(cases, REPEATS)
    for batch in BATCHES:
        ours = seconds[batch] / batch
        theirs = torch_seconds[str(batch)]
        lines.append(
            f"MAEST-30s batch {batch}, {THREADS} threads: official "
            f"{theirs:.3f} s/clip, ours {ours:.3f} s/clip, ratio "
            f"{theirs / ours:.2f}x"
        )
    backbone = SwinBackbone.from_preset("swin_tiny", drop_path_rate=0.0)
    load_swin_state_dict(
        backbone, load_state_dict(os.path.join(out, "swin.safetensors"))
    )
    image = np.random.default_rng(0).normal(size=(2, 256, 256))
    pooled = backbone(image.astype("float32")).numpy()
    error = np.abs(pooled - official["swin_pooled"]).max()
    lines.append(f"Swin-T 256x256: max |pooled diff| {error:.2e}")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maest", required=True, help="palonso/MAEST checkout")
    parser.add_argument(
        "--swin", required=True, help="Swin-Transformer checkout"
    )
    parser.add_argument("--torch_python", help="a Python with torch")
    parser.add_argument(
        "--torch_side", action="store_true", help=argparse.SUPPRESS
    )
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.torch_side:
        torch_side(args)
        return
    if not args.torch_python:
        parser.error("--torch_python is required")
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [
                args.torch_python,
                os.path.abspath(__file__),
                "--torch_side",
                "--maest",
                args.maest,
                "--swin",
                args.swin,
                "--out",
                out,
            ],
            check=True,
        )
        for line in keras_side(out):
            print(line)


if __name__ == "__main__":
    main()
