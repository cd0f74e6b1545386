"""Checks of the recipes' flags, run when the command line is parsed.

A recipe defines its flags, then registers what each must hold:

    flag_checks.positive("epochs", "steps_per_epoch", "batch_size")
    flag_checks.fraction_list("fractions")

and a bad value stops the recipe before anything runs, with a message
naming the flag, what it takes and what it got:

    flag --batch_size=0: --batch_size must be a positive integer;
    received 0

A flag left unset (`None`) always passes: the recipe then takes its
default, so `--epochs 0` is refused rather than read as "not given".
"""

import os
import zipfile

from absl import flags

from keras_music.layers import validation


def _kind(flag):
    return "integer" if flag.flag_type() == "int" else "number"


def _check(flag_values, name, test):
    """Registers `test(value)` (a message, or `None` when the value is
    good) as the validator of `--name`; unset flags pass."""
    flag = flag_values[name]

    def checker(value):
        message = None if value is None else test(value, flag)
        if message:
            raise flags.ValidationError(
                f"--{name} must be {message}; received {value!r}"
            )
        return True

    flags.register_validator(name, checker, flag_values=flag_values)


def positive(*names, flag_values=flags.FLAGS):
    """Each flag of `names`, an integer or float flag, is above 0."""

    def test(value, flag):
        try:
            if flag.flag_type() == "int":
                validation.check_positive_int(flag.name, value)
            else:
                validation.check_positive(flag.name, value)
        except ValueError:
            return f"a positive {_kind(flag)}"
        return None

    for name in names:
        _check(flag_values, name, test)


def non_negative(*names, flag_values=flags.FLAGS):
    """Each flag of `names` is 0 or more (and finite)."""

    def test(value, flag):
        try:
            validation.check_finite_array(flag.name, value)
        except ValueError:
            return f"a finite {_kind(flag)} >= 0"
        return None if value >= 0 else f"a finite {_kind(flag)} >= 0"

    for name in names:
        _check(flag_values, name, test)


def below_one(*names, flag_values=flags.FLAGS):
    """Each flag of `names` is in [0, 1) (a momentum, a dropout rate)."""

    def test(value, flag):
        try:
            validation.check_probability(flag.name, value)
        except ValueError:
            return "a number in [0, 1)"
        return None if value < 1 else "a number in [0, 1)"

    for name in names:
        _check(flag_values, name, test)


def choices(name, allowed, flag_values=flags.FLAGS):
    """`--name` is one of `allowed` (for integer flags; string flags use
    `flags.DEFINE_enum`)."""

    def test(value, flag):
        if value in allowed:
            return None
        return f"one of {', '.join(str(a) for a in allowed)}"

    _check(flag_values, name, test)


def fraction_list(name, flag_values=flags.FLAGS):
    """`--name`, a list flag, holds one or more numbers in (0, 1]."""

    def test(values, flag):
        expected = "a comma-separated list of fractions in (0, 1]"
        if not values:
            return expected
        for item in values:
            try:
                fraction = float(item)
            except ValueError:
                return f"{expected}; {item!r} is not a number"
            if not 0 < fraction <= 1:
                return f"{expected}; {item!r} is not"
        return None

    _check(flag_values, name, test)


def only_with(name, other, values, flag_values=flags.FLAGS):
    """`--name` may be given only when `--other` is one of `values`: with
    any other setting the recipe would silently ignore it."""

    def checker(settings):
        if settings[name] is None or settings[other] in values:
            return True
        raise flags.ValidationError(
            f"--{name} takes effect only with --{other} "
            f"{' or '.join(values)}; received --{name}={settings[name]!r} "
            f"with --{other}={settings[other]}, which would ignore it"
        )

    flags.register_multi_flags_validator(
        [name, other], checker, flag_values=flag_values
    )


def keras_file(name, allowed=(), flag_values=flags.FLAGS):
    """`--name` is a saved Keras model (`.keras`: a zip archive holding
    `config.json`), or one of the names `allowed` (e.g. presets)."""

    def test(path, flag):
        if path in allowed:
            return None
        expected = "a saved Keras model (.keras)"
        if allowed:
            expected = f"one of {', '.join(sorted(allowed))} or {expected}"
        if not os.path.exists(path):
            return f"{expected}; {path} does not exist"
        if os.path.isdir(path):
            return f"{expected}; {path} is a folder"
        if not zipfile.is_zipfile(path):
            return f"{expected}; {path} is not a .keras (zip) archive"
        with zipfile.ZipFile(path) as archive:
            if "config.json" not in archive.namelist():
                return f"{expected}; {path} holds no config.json"
        return None

    _check(flag_values, name, test)
