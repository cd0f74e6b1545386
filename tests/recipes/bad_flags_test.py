"""Bad recipe flags: each is refused when the command line is parsed, with
a message naming the flag, what it takes and what it got.

The checks of `recipes/flag_checks.py` run in this process on flags of
their own; a few real recipe command lines then prove that every recipe
registers them (one interpreter per recipe, no training)."""

import os
import re
import sys
import zipfile

import pytest
from absl import flags

from tests.recipes.recipe_runner import ROOT
from tests.recipes.recipe_runner import flag_errors

# The recipes import their siblings by name.
sys.path.insert(0, os.path.join(ROOT, "recipes"))

import flag_checks  # noqa: E402


def _flag_values():
    """Flags of every kind the recipes use, with their checks."""
    values = flags.FlagValues()
    flags.DEFINE_integer("epochs", None, "", flag_values=values)
    flags.DEFINE_integer("batch_size", 12, "", flag_values=values)
    flags.DEFINE_float("learning_rate", None, "", flag_values=values)
    flags.DEFINE_float("weight_decay", 1e-4, "", flag_values=values)
    flags.DEFINE_integer("patchout_time", None, "", flag_values=values)
    flags.DEFINE_float("momentum", None, "", flag_values=values)
    flags.DEFINE_integer("verbose", 2, "", flag_values=values)
    flags.DEFINE_list("fractions", ["0.1", "1.0"], "", flag_values=values)
    flags.DEFINE_enum(
        "strategy", "default", ["default", "mirrored"], "", flag_values=values
    )
    flags.DEFINE_integer("cpu_replicas", None, "", flag_values=values)
    flags.DEFINE_string("model", None, "", flag_values=values)
    flags.DEFINE_string("encoder", "maest_tiny", "", flag_values=values)
    flag_checks.positive(
        "epochs", "batch_size", "learning_rate", "cpu_replicas",
        flag_values=values,
    )  # fmt: skip
    flag_checks.non_negative(
        "weight_decay", "patchout_time", flag_values=values
    )
    flag_checks.below_one("momentum", flag_values=values)
    flag_checks.choices("verbose", (0, 1, 2), flag_values=values)
    flag_checks.fraction_list("fractions", flag_values=values)
    flag_checks.only_with(
        "cpu_replicas", "strategy", ["mirrored"], flag_values=values
    )
    flag_checks.keras_file("model", flag_values=values)
    flag_checks.keras_file(
        "encoder", allowed=("maest_tiny", "maest_small"), flag_values=values
    )
    return values


def _parse(*argv):
    values = _flag_values()
    values(["recipe", *argv])
    return values


def _files(tmp_path):
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a zip archive at all")
    no_config = tmp_path / "no_config.keras"
    with zipfile.ZipFile(no_config, "w") as archive:
        archive.writestr("model.weights.h5", b"")
    (tmp_path / "folder.keras").mkdir()
    return {
        "garbage": str(garbage),
        "no_config": str(no_config),
        "folder": str(tmp_path / "folder.keras"),
        "missing": str(tmp_path / "missing.keras"),
    }


BAD_VALUES = [
    # (argv, pattern): the flag, what it takes, what it got.
    (["--epochs=0"], r"--epochs must be a positive integer; received 0"),
    (["--epochs=-3"], r"--epochs must be a positive integer; received -3"),
    (["--batch_size=0"], r"--batch_size must be a positive integer; rec.* 0"),
    (["--batch_size=-1"], r"--batch_size must be a positive integer"),
    (["--cpu_replicas=0", "--strategy=mirrored"], r"--cpu_replicas must be"),
    (["--learning_rate=0"], r"--learning_rate must be a positive number"),
    (["--learning_rate=-1e-3"], r"--learning_rate must be a positive number"),
    (["--learning_rate=nan"], r"--learning_rate must be a positive number"),
    (["--learning_rate=inf"], r"--learning_rate must be a positive number"),
    (["--weight_decay=-1e-4"], r"--weight_decay must be a finite number >= 0"),
    (["--weight_decay=nan"], r"--weight_decay must be a finite number >= 0"),
    (["--patchout_time=-1"], r"--patchout_time must be a finite integer >= 0"),
    (["--momentum=1"], r"--momentum must be a number in \[0, 1\); rec.* 1.0"),
    (["--momentum=-0.5"], r"--momentum must be a number in \[0, 1\)"),
    (["--verbose=3"], r"--verbose must be one of 0, 1, 2; received 3"),
    (["--fractions=abc"], r"--fractions must be .*in \(0, 1\].*'abc'"),
    (["--fractions=0.1,abc"], r"--fractions must .*'abc' is not a number"),
    (["--fractions=0"], r"--fractions must be .*\(0, 1\]; '0' is not"),
    (["--fractions=1.5"], r"--fractions must be .*\(0, 1\]; '1.5' is not"),
    (["--fractions=-0.1"], r"--fractions must be .*\(0, 1\]; '-0.1' is not"),
    (["--fractions=nan"], r"--fractions must be .*'nan' is not"),
    (["--fractions="], r"--fractions must be a comma-separated list"),
    (
        ["--cpu_replicas=2"],
        r"--cpu_replicas takes effect only with --strategy mirrored; .*"
        r"--strategy=default, which would ignore it",
    ),
]


@pytest.mark.parametrize("argv, pattern", BAD_VALUES)
def test_bad_value_names_the_flag(argv, pattern):
    with pytest.raises(flags.IllegalFlagValueError, match=pattern):
        _parse(*argv)


@pytest.mark.parametrize(
    "flag, kind, pattern",
    [
        ("model", "garbage", r"is not a \.keras \(zip\) archive"),
        ("model", "no_config", r"holds no config\.json"),
        ("model", "folder", r"is a folder"),
        ("model", "missing", r"does not exist"),
        ("encoder", "missing", r"one of maest_small, maest_tiny or a saved"),
        ("encoder", "garbage", r"is not a \.keras \(zip\) archive"),
    ],
)
def test_bad_keras_file_names_the_flag_and_path(tmp_path, flag, kind, pattern):
    path = _files(tmp_path)[kind]
    with pytest.raises(flags.IllegalFlagValueError) as error:
        _parse(f"--{flag}={path}")
    message = str(error.value)
    assert f"--{flag} must be" in message and path in message, message
    assert re.search(pattern, message), message


def test_good_values_pass_and_unset_flags_keep_their_default(tmp_path):
    model = tmp_path / "model.keras"
    with zipfile.ZipFile(model, "w") as archive:
        archive.writestr("config.json", "{}")
    values = _parse(
        "--batch_size=1",
        "--learning_rate=1e-4",
        "--weight_decay=0",
        "--patchout_time=0",
        "--momentum=0.999",
        "--verbose=0",
        "--fractions=0.01,1",
        "--strategy=mirrored",
        "--cpu_replicas=2",
        f"--model={model}",
        "--encoder=maest_small",
    )
    assert values.epochs is None  # "not given": the recipe's default
    assert values.batch_size == 1 and values.cpu_replicas == 2
    assert values.fractions == ["0.01", "1"]


def test_a_value_set_after_parsing_is_checked_too():
    values = _parse()
    with pytest.raises(flags.IllegalFlagValueError, match="--epochs must be"):
        values.epochs = 0


# Real command lines: each recipe refuses them before any training.


def _other_run_folders(tmp_path):
    """A folder of something else, and one of a run with another seed."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("not a run")
    seeded = tmp_path / "seeded"
    seeded.mkdir()
    (seeded / "run.json").write_text('{"settings": {"seed": 5}}')
    (seeded / "initial.weights.h5").write_bytes(b"")
    return [
        (
            [f"--output={other}"],
            rf"`--output` {other} is not empty and holds no run.json",
        ),
        (
            [f"--output={seeded}", "--epochs=2"],
            rf"`--output` {seeded} holds a run with other flags .*"
            r"--seed=5 then, 0 now.*--overwrite",
        ),
    ]


def test_maest_refuses_bad_flags_and_another_runs_output(tmp_path):
    output = f"--output={tmp_path / 'run'}"
    flag_errors(
        "maest",
        _other_run_folders(tmp_path)
        + [
            (["--epochs=0", output], r"--epochs must be a positive integer"),
            (["--steps_per_epoch=0", output], r"--steps_per_epoch must be"),
            (["--batch_size=0", output], r"--batch_size must be a positive"),
            (["--samples_per_epoch=-5", output], r"--samples_per_epoch must"),
            (["--mixup_alpha=-0.3", output], r"--mixup_alpha must be"),
            (
                ["--cpu_replicas=2", output],
                r"--cpu_replicas takes effect only with --strategy mirrored",
            ),
            (["--verbose=7", output], r"--verbose must be one of 0, 1, 2"),
        ],
        timeout=120,
    )


def test_s3t_refuses_time_folding_flags_with_frequency_tiling(tmp_path):
    flag_errors(
        "s3t",
        _other_run_folders(tmp_path)
        + [
            (
                ["--preprocessor=frequency_tiling", "--fold=3"],
                r"--fold takes effect only with --preprocessor time_folding",
            ),
            (["--epochs=0"], r"--epochs must be a positive integer"),
            (["--momentum=1.5"], r"--momentum must be a number in \[0, 1\)"),
        ],
        timeout=120,
    )


def test_evaluate_refuses_bad_fractions_and_epochs(tmp_path):
    flag_errors(
        "evaluate",
        [
            (["--fractions=abc"], r"--fractions must be .*'abc' is not"),
            (["--fractions=0.5,2"], r"--fractions must be .*'2' is not"),
            (["--epochs=0"], r"--epochs must be a positive integer"),
            (
                [f"--encoder={tmp_path / 'nothing.keras'}"],
                r"--encoder must be one of .* does not exist",
            ),
        ],
        timeout=120,
    )


def test_export_refuses_a_garbage_or_missing_model(tmp_path):
    files = _files(tmp_path)
    flag_errors(
        "export",
        [
            (
                [f"--model={files['garbage']}", "--name=x"],
                rf"--model must be a saved Keras model .*{files['garbage']} "
                r"is not a \.keras \(zip\) archive",
            ),
            (
                [f"--model={files['missing']}", "--name=x"],
                rf"--model must be .*{files['missing']} does not exist",
            ),
        ],
        timeout=120,
    )
