"""The flags and settings the SimCLR recipes share (`recipes/clmr.py`,
`recipes/multiformat.py`): augmentation, pre-training, NT-Xent and the
linear probe.

A recipe calls `define_flags()` with its own defaults next to its own
flags, then builds its `Config` (a subclass of `Settings`) from
`settings()` and its own fields.
"""

import dataclasses

import flag_checks
import run_flags
from absl import flags

FLAGS = flags.FLAGS
# The shared fields of `Settings` read from the flag of the same name.
_FLAG_FIELDS = (
    "augment",
    "span_seconds",
    "steps_per_epoch",
    "learning_rate",
    "weight_decay",
    "temperature",
    "jit_compile",
    "projection_dim",
    "probe_epochs",
    "probe_trials",
)


def define_flags(projection_dim, augment_help, output_help):
    """Defines the shared flags and their checks; `--help` lists them
    with `recipes/run_flags.py`'s."""
    flags.DEFINE_enum("augment", "all", ["all", "crop_only"], augment_help)
    flags.DEFINE_float(
        "span_seconds", 30.0, "Window of each track the two crops come from."
    )
    flags.DEFINE_integer("epochs", None, "Pre-training epochs (200).")
    flags.DEFINE_integer(
        "steps_per_epoch", None, "Batches per epoch. Default: one pass."
    )
    flags.DEFINE_integer("batch_size", None, "Global batch (48).")
    flags.DEFINE_float("learning_rate", 3e-4, "Adam learning rate.")
    flags.DEFINE_float("weight_decay", 1e-6, "Adam(W) weight decay.")
    flags.DEFINE_float("temperature", 0.5, "NT-Xent temperature.")
    flags.DEFINE_integer(
        "projection_dim", projection_dim, "Projector output width."
    )
    flags.DEFINE_integer("probe_epochs", None, "Linear probe epoch cap (200).")
    flags.DEFINE_integer("probe_trials", 3, "Linear probe seeds (mean).")
    flags.DEFINE_string("output", None, output_help)
    flag_checks.positive(
        "span_seconds",
        "epochs",
        "steps_per_epoch",
        "batch_size",
        "learning_rate",
        "temperature",
        "projection_dim",
        "probe_epochs",
        "probe_trials",
    )
    flag_checks.non_negative("weight_decay")
    flags.adopt_module_key_flags(run_flags)


@dataclasses.dataclass(frozen=True)
class Settings:
    """The fields every SimCLR recipe's `Config` has."""

    demo: bool  # the CPU demo: the encoders at their demo widths
    augment: str
    span_seconds: float
    epochs: int
    steps_per_epoch: int | None
    batch_size: int
    learning_rate: float
    weight_decay: float
    temperature: float
    projection_dim: int
    jit_compile: bool | None
    probe_epochs: int | None
    probe_trials: int


def settings(demo, paper, cpu_demo):
    """The shared fields of the run's `Config` from the flags, and those
    of `cpu_demo` (with `demo`) or `paper` (e.g. `epochs`, `batch_size`)
    where their flag is unset."""
    value = run_flags.flags_or_defaults(cpu_demo if demo else paper)
    return {"demo": demo, **value} | {
        name: getattr(FLAGS, name) for name in _FLAG_FIELDS
    }


def check_span(crop_samples, sample_rate):
    """Refuses a `--span_seconds` too short for one crop."""
    if round(FLAGS.span_seconds * sample_rate) < crop_samples:
        raise ValueError(
            f"`--span_seconds` must hold a crop of {crop_samples} samples "
            f"({crop_samples / sample_rate:.2f} s). "
            f"Received: --span_seconds={FLAGS.span_seconds}"
        )
