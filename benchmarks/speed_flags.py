"""What `--mixed_precision` and `--jit_compile` buy each recipe, here.

    python benchmarks/speed_flags.py            # the recipes' defaults
    python benchmarks/speed_flags.py --quick    # tiny models, smoke run

For each training recipe's default model (what `python recipes/<name>.py`
trains on this machine) it times the training step (the step `fit` traces,
called directly, on one batch of the recipe's own pipeline held in
memory) three ways, interleaved in rounds in one run:

- float32, as the recipes train by default on a CPU;
- mixed precision, what `--mixed_precision` sets: `mixed_bfloat16` on a
  CPU, `mixed_float16` on a GPU (variables stay float32);
- XLA, what `--jit_compile` sets: the train step compiled with
  `jit_compile=True`, in float32;

and prints examples/s with the ratios to float32 (> 1: faster). Every
model gets the same batch, made by the float32 pipeline; a model's input
casts it to its compute dtype. Each recipe runs in its own subprocess
(the recipes define the same absl flag names), which imports the recipe
and calls its pipeline and model functions, as
`benchmarks/input_pipeline.py` does.
"""

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.input_pipeline import common_parser  # noqa: E402
from benchmarks.input_pipeline import in_memory  # noqa: E402
from benchmarks.input_pipeline import load_recipe  # noqa: E402
from benchmarks.input_pipeline import parse  # noqa: E402
from benchmarks.input_pipeline import recipe_cases  # noqa: E402
from benchmarks.input_pipeline import run_recipes  # noqa: E402
from benchmarks.timing import round_robin  # noqa: E402
from benchmarks.timing import train_steps  # noqa: E402

SETTINGS = ("float32", "mixed", "xla")


def child(args):
    import json

    import keras
    import tensorflow as tf

    recipe = load_recipe(args.child, args.recipe_flags)
    keras.utils.set_random_seed(recipe.FLAGS.seed)
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    mixed = "mixed_float16" if has_gpu else "mixed_bfloat16"
    rows = []
    for label, pipeline, model, batch_size in recipe_cases(recipe):
        batches = in_memory(pipeline())
        steps, errors = {}, {}
        for setting in SETTINGS:
            keras.mixed_precision.set_global_policy(
                mixed if setting == "mixed" else "float32"
            )
            recipe.FLAGS.jit_compile = setting == "xla"
            trainer = model()
            keras.mixed_precision.set_global_policy("float32")
            # A setting whose step does not compile or run is reported,
            # not timed (e.g. XLA on a shape that changes per step).
            try:
                steps[setting] = train_steps(trainer, batches, args.steps)
            except Exception as error:  # noqa: BLE001
                errors[setting] = str(error).strip().split("\n")[-1]
        row = {"recipe": label, "batch_size": batch_size, "policy": mixed}
        for setting, error in errors.items():
            row[setting] = None
            row[f"{setting}_error"] = error
        medians = round_robin(steps, args.repeats)
        for setting, seconds in medians.items():
            row[setting] = args.steps * batch_size / seconds
        rows.append(row)
    print("ROWS " + json.dumps(rows), flush=True)


def main(argv=None):
    parser = common_parser(__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parse(parser, argv)
    defaults = {"steps": 2, "repeats": 1} if args.quick else {}
    defaults = {"steps": 3, "repeats": 3, **defaults}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.child:
        return child(args)
    extra = [f"--steps={args.steps}", f"--repeats={args.repeats}"]
    started = time.perf_counter()
    rows = run_recipes(__file__, args, extra)
    mixed = rows[0]["policy"] if rows else "mixed"
    print(
        f"Training step, examples/s; {os.cpu_count()} CPU cores; "
        f"{'quick' if args.quick else 'default'} presets; median of "
        f"{args.repeats} round-robin rounds of {args.steps} steps after a "
        f"warm-up ({time.perf_counter() - started:.0f} s)."
    )
    header = (
        f"{'recipe (model)':<36} {'batch':>5} {'float32':>8} {'mixed':>8} "
        f"{'XLA':>8} {'mixed/f32':>9} {'XLA/f32':>8}"
    )
    print(header)
    print("-" * len(header))
    failures = []
    for row in rows:
        cells = [f"{row['recipe']:<36} {row['batch_size']:>5}"]
        for setting in SETTINGS:
            speed = row[setting]
            cells.append("fails" if speed is None else f"{speed:.1f}")
            if speed is None:
                failures.append(
                    f"{row['recipe']}, {setting}: {row[f'{setting}_error']}"
                )
        for setting in ("mixed", "xla"):
            if row[setting] is None or row["float32"] is None:
                cells.append("-")
            else:
                cells.append(f"{row[setting] / row['float32']:.2f}")
        print(
            f"{cells[0]} {cells[1]:>8} {cells[2]:>8} {cells[3]:>8} "
            f"{cells[4]:>9} {cells[5]:>8}"
        )
    print(
        f"mixed: {mixed} (--mixed_precision); XLA: jit_compile=True\n"
        "(--jit_compile), float32. Ratios > 1: faster than float32."
    )
    for failure in failures:
        print(f"fails: {failure[:300]}")
    return rows


if __name__ == "__main__":
    main()
