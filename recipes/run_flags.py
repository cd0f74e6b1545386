"""The flags every training recipe shares: where and how it runs, and the
data it reads.

Importing this module defines them (and checks them when the command
line is parsed); `start_run()` acts on them and `recipe_data()` finds the
splits and the task. A recipe then makes its
`--output` the folder of this run with `prepare_output()` (resumed with
the same flags, refused with others, cleared with `--overwrite`), builds
its model under the strategy it returns, compiles with
`compile_options()`, passes its training `tf.data` pipeline through
`training_input()` and trains with `keras_music.distribute.fit`.
"""

import collections

import flag_checks
import keras
import tensorflow as tf
from absl import flags

from keras_music.data.data_service import through_data_service
from keras_music.data.tfrecord_format import read_manifest
from keras_music.distribute import STRATEGIES
from keras_music.distribute import is_chief
from keras_music.training.recipe_support import configure_run
from keras_music.training.recipe_support import prepare_run_folder
from keras_music.training.recipe_support import resolve_splits
from keras_music.training.recipe_support import resolve_task

flags.DEFINE_enum(
    "strategy",
    "default",
    list(STRATEGIES),
    "tf.distribute strategy: one device, all local GPUs (mirrored), "
    "several machines from TF_CONFIG (multi_worker), or a TPU.",
)
flags.DEFINE_integer(
    "cpu_replicas",
    None,
    "Split the CPU into this many logical devices (to try --strategy "
    "mirrored without GPUs).",
)
flags.DEFINE_bool(
    "mixed_precision",
    False,
    "Compute in mixed_float16 on GPU, mixed_bfloat16 on CPU and TPU.",
)
flags.DEFINE_bool(
    "jit_compile",
    None,
    "Compile the train step with XLA (--nojit_compile: never). Unset: "
    "Keras' default, XLA on GPU and not on CPU.",
)
flags.DEFINE_integer("seed", 0, "Seed of initialisation and sampling.")
flags.DEFINE_bool(
    "deterministic",
    False,
    "Deterministic TensorFlow ops: two runs with the same --seed give "
    "identical losses (slower on GPU).",
)
flags.DEFINE_string(
    "data_service_address",
    None,
    "grpc://HOST:PORT of a tf.data service dispatcher: decoding, cropping "
    "and augmentation run on its workers (recipes/data_service.py).",
)
flags.DEFINE_integer("verbose", 2, "Keras fit verbosity.")
flags.DEFINE_bool(
    "overwrite",
    False,
    "Clear --output and start afresh. Without it, a run folder is resumed "
    "when the flags are the run's, and refused when they are not or the "
    "run has finished.",
)
flags.DEFINE_string(
    "data",
    None,
    "Folder with train/, valid/ and test/ TFRecord folders "
    "(tfrecords/make_tfrecords.py) at the recipe's sample rate. Default: "
    "the built-in tune corpus.",
)
flags.DEFINE_string(
    "task", None, "Label task of the data. Default: the recipe's (--help)."
)
flags.DEFINE_integer(
    "corpus_clips",
    None,
    "Clips of the built-in corpus (with no --data). Default: the recipe's.",
)
flags.DEFINE_float(
    "corpus_seconds",
    None,
    "Clip length of the built-in corpus. Default: the recipe's.",
)
flags.DEFINE_string("cache_dir", None, "Cache root of the built-in corpus.")
flag_checks.positive("cpu_replicas", "corpus_clips", "corpus_seconds")
# The other strategies take the devices they find (or TF_CONFIG's).
flag_checks.only_with("cpu_replicas", "strategy", ["mirrored"])
flag_checks.choices("verbose", (0, 1, 2))
FLAGS = flags.FLAGS
# Flags that choose where files go or how progress shows, not the run: a
# run resumed with other values of these is the same run.
NOT_THE_RUN = {
    "output",
    "overwrite",
    "verbose",
    "export",
    "export_dir",
    "cache_dir",
    "embedding_cache",
    "data_service_address",
}


def start_run():
    """Seeds, precision and devices from the flags; returns the strategy."""
    strategy = configure_run(
        FLAGS.strategy,
        cpu_replicas=FLAGS.cpu_replicas,
        mixed_precision=FLAGS.mixed_precision,
        seed=FLAGS.seed,
        deterministic=FLAGS.deterministic,
    )
    xla = {None: "Keras' default", True: "on", False: "off"}[FLAGS.jit_compile]
    print(
        f"Precision {keras.mixed_precision.global_policy().name}, XLA "
        f"{xla}, seed {FLAGS.seed}"
        f"{' with deterministic ops' if FLAGS.deterministic else ''}"
    )
    return strategy


def cpu_demo():
    """Whether the run is the recipe's CPU demo: no `--data` and no GPU."""
    return FLAGS.data is None and not tf.config.list_physical_devices("GPU")


def flags_or_defaults(defaults, names=None):
    """The flags of `names` (every key of `defaults` when `None`) by name,
    each unset one (`None`) as its value in `defaults`: a recipe's paper or
    CPU demo settings with the flags given over them."""
    names = defaults if names is None else names
    return {
        name: defaults[name] if getattr(FLAGS, name) is None else value
        for name in names
        for value in (getattr(FLAGS, name),)
    }


def run_settings(ignore=()):
    """The recipe's flags that define its run, by name, less `ignore`."""
    return {
        flag.name: flag.value
        for module, module_flags in FLAGS.flags_by_module_dict().items()
        if not module.startswith(("absl.", "tensorflow."))
        for flag in module_flags
        if flag.name not in NOT_THE_RUN and flag.name not in ignore
    }


def prepare_output(output, strategy, finished="results.json", ignore=()):
    """Makes `output` this run's folder (`prepare_run_folder`): new,
    cleared with `--overwrite`, or the same run resumed (the flags but
    those of `ignore` must be the run's). Returns whether it resumes."""
    resumes = prepare_run_folder(
        output,
        run_settings(ignore),
        overwrite=FLAGS.overwrite,
        finished=finished,
        chief=is_chief(strategy),
    )
    if resumes:
        print(f"Resuming the run in {output} (same flags as its run.json)")
    return resumes


def compile_options():
    """`model.compile` arguments set by the flags."""
    jit = FLAGS.jit_compile
    return {"jit_compile": "auto" if jit is None else jit}


def training_input(dataset):
    """The training pipeline, on the tf.data service when one is given."""
    if FLAGS.data_service_address is None:
        return dataset
    return through_data_service(dataset, FLAGS.data_service_address)


RecipeData = collections.namedtuple(
    "RecipeData", ["splits", "source", "manifest", "task"]
)
RecipeData.__doc__ = """What `recipe_data` found: the split folders by name,
where they come from (for the log), the training split's manifest and the
label task."""


def recipe_data(
    sample_rate,
    corpus_clips=600,
    corpus_seconds=30.0,
    corpus_task=None,
    multi=None,
):
    """The data of the run: `--data`'s splits, or the built-in corpus.

    Args:
        sample_rate: int. Rate the recipe's model takes (the corpus is
            rendered at it; `--data` must hold it).
        corpus_clips: int. The recipe's `--corpus_clips` default.
        corpus_seconds: float. The recipe's `--corpus_seconds` default.
        corpus_task: str or `None`. The task without `--task` on the
            built-in corpus (e.g. `"dance"`).
        multi: bool or `None`. Without `--task` on other data, take its
            only multi-label (`True`) or single-label (`False`) task.

    Returns:
        A `RecipeData`.
    """
    splits, source = resolve_splits(
        FLAGS.data,
        sample_rate=sample_rate,
        corpus_clips=FLAGS.corpus_clips or corpus_clips,
        corpus_seconds=FLAGS.corpus_seconds or corpus_seconds,
        seed=FLAGS.seed,
        cache_dir=FLAGS.cache_dir,
    )
    manifest = read_manifest(splits["train"])
    task = resolve_task(
        manifest,
        splits["train"],
        FLAGS.task,
        default=corpus_task if FLAGS.data is None else None,
        multi=multi,
    )
    return RecipeData(splits, source, manifest, task)
