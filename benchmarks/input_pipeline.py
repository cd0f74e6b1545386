"""Does the input pipeline keep up with training? Per recipe, on this CPU.

    python benchmarks/input_pipeline.py            # the recipes' defaults
    python benchmarks/input_pipeline.py --quick    # tiny models, smoke run

For each training recipe's default model (what `python recipes/<name>.py`
trains on this machine: the CPU demo presets without a GPU) it measures,
side by side in one run:

- pipeline ex/s: the recipe's own training pipeline (TFRecords -> random
  segments -> frontend and augmentation -> batches), iterated without the
  model, locally and through a tf.data service (a dispatcher and two
  workers in the same process, `--data_service_address`);
- step ex/s: the recipe's model and objective (the training step `fit`
  traces, called directly) on one batch of that pipeline held in memory,
  so no input work is timed;

and prints their ratios: pipeline / step > 1 means the pipeline keeps up
(the pipeline and the step share the CPU in a real run, so a ratio near 1
is not enough). Each recipe runs in its own subprocess, because the
recipes define the same absl flag names; the subprocess imports the
recipe and calls its pipeline and model functions with the recipe's
flags. Data: the built-in tune corpus at the recipes' size (600 clips),
rendered once into `--cache_dir`; flags after `--` go to every recipe
(`-- --data=DIR --task=genre`).
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = ("maest", "s3t", "pase", "clmr", "multiformat")
# The flags of tests/recipes/<name>_test.py: tiny models and clips.
QUICK_FLAGS = {
    "maest": [
        "--segment=5",
        "--preset=maest_tiny",
        "--patchout_time=10",
        "--batch_size=4",
        "--corpus_seconds=5",
    ],
    "s3t": [
        "--preset=swin_mini",
        "--task=instrument",
        "--clip_seconds=4",
        "--time_compression=1",
        "--batch_size=4",
        "--queue_size=16",
        "--corpus_seconds=5",
    ],
    "pase": [
        "--encoder=pase",
        "--preset=pase_tiny",
        "--task=style",
        "--batch_size=4",
        "--corpus_seconds=4",
    ],
    "clmr": [
        "--preset=sample_cnn_test_tiny",
        "--crop_samples=8748",
        "--span_seconds=2",
        "--batch_size=4",
        "--corpus_seconds=4",
    ],
    "multiformat": [
        "--waveform_preset=sample_cnn_test_tiny",
        "--spectrogram_preset=resnet_test_tiny",
        "--clip_samples=8748",
        "--n_mels=32",
        "--span_seconds=2",
        "--task=style",
        "--batch_size=4",
        "--corpus_seconds=4",
    ],
}


# === In the recipe's subprocess ===


def load_recipe(name, flags):
    """Imports `recipes/<name>.py` and parses `flags` into its FLAGS."""
    sys.path.insert(0, os.path.join(ROOT, "recipes"))
    module = __import__(name)
    module.FLAGS([name, *flags])
    return module


def recipe_cases(recipe):
    """The recipe's training setups: a list of `(label, pipeline, model,
    batch_size)`.

    `pipeline()` builds the recipe's training dataset (through the data
    service when `FLAGS.data_service_address` is set, as the recipe
    does); `model()` builds and compiles the recipe's model under the
    current precision policy, with the recipe's own model function and a
    constant learning rate. The presets, tasks and batch sizes are
    resolved as the recipe's `main` resolves them.
    """
    import tensorflow as tf

    from keras_music.data.tfrecord_format import read_manifest
    from keras_music.training.recipe_support import resolve_splits
    from keras_music.training.recipe_support import resolve_task

    FLAGS = recipe.FLAGS
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    name = recipe.__name__

    def splits(seconds=None):
        return resolve_splits(
            FLAGS.data,
            sample_rate=recipe.SAMPLE_RATE,
            corpus_clips=FLAGS.corpus_clips or 600,
            corpus_seconds=seconds or FLAGS.corpus_seconds or 30.0,
            seed=FLAGS.seed,
            cache_dir=FLAGS.cache_dir,
        )[0]

    if name == "maest":
        cfg = recipe.config(FLAGS.data is None and not has_gpu)
        train = splits()["train"]
        manifest = read_manifest(train)
        task = resolve_task(
            manifest,
            train,
            FLAGS.task,
            default="instrument" if FLAGS.data is None else None,
            multi=True,
        )
        preprocessor = recipe.audio_preprocessor(cfg)
        vocabulary = manifest["tasks"][task]["vocabulary"]
        return [
            (
                f"maest ({cfg.preset})",
                lambda: recipe.input_pipeline(
                    cfg, preprocessor.frontend, train, task, True
                ),
                lambda: recipe.tagger_model(
                    cfg, preprocessor, vocabulary, 1e-4
                ),
                FLAGS.batch_size,
            )
        ]
    if name == "s3t":
        setup = recipe.resolve_setup(has_gpu)
        batch_size = FLAGS.batch_size or (
            recipe.CPU_DEMO["batch_size"]
            if setup.demo
            else recipe.PAPER["batch_per_replica"]
        )
        seconds = FLAGS.corpus_seconds or max(
            30.0, math.ceil(setup.clip_seconds)
        )
        train = splits(seconds)["train"]
        return [
            (
                f"s3t ({setup.preset}, MoCo)",
                lambda: recipe.pretraining_views(train, setup, batch_size),
                lambda: recipe.moco_model(setup, FLAGS.learning_rate),
                batch_size,
            )
        ]
    if name == "pase":
        from keras_music.pretraining.multi_task_pretrainer import (
            MultiTaskPretrainer,
        )

        cfg = recipe.config(FLAGS.data is None and not has_gpu)
        names = [n for n in cfg.workers if n != "waveform"]
        train = recipe.pretraining_splits(splits(), names)["train"]

        def pipeline():
            return recipe.chunks(cfg, train, names, True, 1)

        def model():
            dims = MultiTaskPretrainer.target_dims_from(pipeline().element_spec)
            return recipe.pretrainer_model(cfg, dims)

        return [(f"pase ({cfg.preset})", pipeline, model, cfg.batch_size)]
    if name == "clmr":
        from keras_music.pretraining.simclr_setup import sample_cnn
        from keras_music.pretraining.simclr_setup import simclr_model

        cfg = recipe.config(FLAGS.data is None and not has_gpu)
        train = splits()["train"]
        return [
            (
                f"clmr ({cfg.preset}, SimCLR)",
                lambda: recipe.training_pairs(cfg, train),
                lambda: simclr_model(
                    sample_cnn(cfg.preset, cfg.crop_samples, cfg.demo), cfg
                ),
                cfg.batch_size,
            )
        ]
    if name == "multiformat":
        from keras_music.data.view_pairs import view_pairs
        from keras_music.pretraining.simclr_setup import resnet
        from keras_music.pretraining.simclr_setup import sample_cnn
        from keras_music.pretraining.simclr_setup import simclr_model

        cfg = recipe.config(FLAGS.data is None and not has_gpu)
        clip = cfg.clip_samples
        train = splits()["train"]
        backbones = {
            "waveform": lambda: sample_cnn(cfg.waveform_preset, clip, cfg.demo),
            "spectrogram": lambda: resnet(
                cfg.spectrogram_preset, cfg.n_mels, cfg.demo
            ),
        }
        cases = []
        for branch, backbone in backbones.items():
            cases.append(
                (
                    f"multiformat {branch} (SimCLR)",
                    lambda branch=branch: view_pairs(
                        train,
                        cfg.span_seconds,
                        cfg.batch_size,
                        recipe.views(cfg, branch),
                        FLAGS.seed,
                        FLAGS.data_service_address,
                    ),
                    lambda backbone=backbone: simclr_model(backbone(), cfg),
                    cfg.batch_size,
                )
            )
        return cases
    raise ValueError(f"`recipe` must be one of {RECIPES}. Received: {name}")


def pipeline_speed(dataset, batch_size, warmup, batches):
    """Examples/s of iterating `dataset`, after `warmup` batches."""
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def in_memory(dataset):
    """One batch of `dataset`, repeated from memory."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensors(next(iter(dataset))).repeat()


def step_speed(model, batches, batch_size, steps, repeats):
    """Median examples/s of `steps` training steps on in-memory batches
    (after a warm-up that builds and traces the step)."""
    from benchmarks.timing import round_robin
    from benchmarks.timing import train_steps

    run = train_steps(model, batches, steps)
    return steps * batch_size / round_robin({"step": run}, repeats)["step"]


def child(args):
    import keras

    from keras_music.data.data_service import start_dispatcher
    from keras_music.data.data_service import start_worker

    recipe = load_recipe(args.child, args.recipe_flags)
    keras.utils.set_random_seed(recipe.FLAGS.seed)
    dispatcher = start_dispatcher(port=0)
    workers = [start_worker(dispatcher.target) for _ in range(2)]
    rows = []
    for label, pipeline, model, batch_size in recipe_cases(recipe):
        recipe.FLAGS.data_service_address = None
        local = pipeline()
        row = {"recipe": label, "batch_size": batch_size}
        row["local"] = pipeline_speed(
            local, batch_size, args.warmup, args.batches
        )
        recipe.FLAGS.data_service_address = dispatcher.target
        row["service"] = pipeline_speed(
            pipeline(), batch_size, args.warmup, args.batches
        )
        recipe.FLAGS.data_service_address = None
        row["step"] = step_speed(
            model(), in_memory(local), batch_size, args.steps, args.repeats
        )
        rows.append(row)
    for worker in workers:
        worker.stop()
    dispatcher.stop()
    print("ROWS " + json.dumps(rows), flush=True)


# === The parent: one subprocess per recipe, one table ===


def run_child(script, recipe, flags, extra, timeout):
    """Runs `script --child recipe` and returns its rows."""
    command = [
        sys.executable,
        script,
        "--child",
        recipe,
        *extra,
        "--",
        *flags,
    ]
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("ROWS "):
            return json.loads(line[5:])
    raise RuntimeError(
        f"{recipe} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    )


def recipe_flags(recipe, args):
    flags = [f"--cache_dir={args.cache_dir}"]
    if args.corpus_clips is not None:
        flags.append(f"--corpus_clips={args.corpus_clips}")
    if args.quick:
        flags += QUICK_FLAGS[recipe]
    # Flags after `--` go to every recipe (e.g. `-- --data=DIR --task=X`).
    return flags + args.recipe_flags


def run_recipes(script, args, extra):
    """The rows of every recipe of `args.recipes`, each measured in a
    subprocess running `script`'s child with the flags `extra`."""
    rows = []
    for recipe in args.recipes:
        rows += run_child(
            os.path.abspath(script),
            recipe,
            recipe_flags(recipe, args),
            extra,
            args.timeout,
        )
    return rows


def common_parser(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="Smoke run.")
    parser.add_argument(
        "--recipes",
        default=",".join(RECIPES),
        help="Comma-separated recipes to measure.",
    )
    parser.add_argument(
        "--cache_dir",
        default=os.path.join(tempfile.gettempdir(), "keras_music_bench"),
        help="Where the built-in corpus is rendered (once).",
    )
    parser.add_argument(
        "--corpus_clips",
        type=int,
        default=None,
        help="Clips of the built-in corpus (default: the recipes' 600; "
        "16 with --quick). A corpus whose training split makes one or two "
        "batches restarts the pipeline every batch and understates it.",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=int, default=3600)
    parser.add_argument("recipe_flags", nargs="*", help=argparse.SUPPRESS)
    return parser


def parse(parser, argv):
    args = parser.parse_args(argv)
    recipes = args.recipes.split(",")
    unknown = [r for r in recipes if r not in RECIPES]
    if unknown or not recipes:
        parser.error(f"--recipes takes names from {', '.join(RECIPES)}")
    args.recipes = recipes
    if args.corpus_clips is None and args.quick:
        args.corpus_clips = 16
    return args


def main(argv=None):
    parser = common_parser(__doc__.split("\n")[0])
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--batches", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parse(parser, argv)
    quick = {"warmup": 2, "batches": 4, "steps": 2, "repeats": 1}
    full = {"warmup": 5, "batches": 20, "steps": 5, "repeats": 3}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.child:
        return child(args)
    extra = [
        f"--{key}={getattr(args, key)}"
        for key in ("warmup", "batches", "steps", "repeats")
    ]
    started = time.perf_counter()
    rows = run_recipes(__file__, args, extra)
    print(
        f"Input pipeline against training step, examples/s; {os.cpu_count()} "
        f"CPU cores; {'quick' if args.quick else 'default'} presets; "
        f"pipeline: {args.batches} batches after {args.warmup}; step: "
        f"median of {args.repeats} x {args.steps} steps "
        f"({time.perf_counter() - started:.0f} s)."
    )
    header = (
        f"{'recipe (model)':<36} {'batch':>5} {'local':>8} {'service':>8} "
        f"{'step':>8} {'local/step':>10} {'service/step':>12}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['recipe']:<36} {row['batch_size']:>5} "
            f"{row['local']:>8.1f} {row['service']:>8.1f} "
            f"{row['step']:>8.1f} {row['local'] / row['step']:>10.2f} "
            f"{row['service'] / row['step']:>12.2f}"
        )
    print(
        "local, service: pipeline ex/s in this process, and through a\n"
        "tf.data service with two in-process workers; step: training ex/s\n"
        "on a batch in memory. Ratio > 1: the pipeline keeps up with training."
    )
    return rows


if __name__ == "__main__":
    main()
