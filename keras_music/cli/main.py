"""`keras-music`: tag and embed folders of audio, evaluate and export
models, without writing Python.

    keras-music tag runs/maest_small/model.keras clips/
    keras-music embed runs/maest_small/model.keras clips/ --output emb/
    keras-music evaluate --encoder maest_tiny --protocol s3t
    keras-music export --model runs/maest_small/model.keras \\
        --name maest_small_tagger

`evaluate` and `export` are `recipes/evaluate.py` and `recipes/export.py`:
their flags, run in this process. The recipes are scripts of the source
tree (they import their sibling modules, e.g. `flag_checks`), not modules
of the installed package, so these two commands need the checkout that
`pip install -e .` installs from; `tag` and `embed` need only the package.

`--help` and argument errors are answered before TensorFlow is imported
(`keras_music/__init__.py` leaves it to the command, which imports it
after parsing): in a fraction of a second rather than the seconds
TensorFlow takes. `--verbose` imports it first, to show its logging.
"""

import argparse
import importlib
import os
import runpy
import sys
import warnings

from keras_music.cli.arguments import add_embed_arguments
from keras_music.cli.arguments import add_tag_arguments
from keras_music.quiet import VERBOSE_VARIABLE
from keras_music.quiet import is_verbose

COMMANDS = {
    # name: (module that runs it, its arguments, summary)
    "tag": (
        "keras_music.cli.tag",
        add_tag_arguments,
        "Top-k tags of each audio file, as a table, CSV or JSON.",
    ),
    "embed": (
        "keras_music.cli.embed",
        add_embed_arguments,
        "One .npz of embeddings per audio file of a folder (batched "
        "across files, resumable).",
    ),
}

RECIPES = {
    "evaluate": "Evaluate an encoder on downstream tasks (recipes/evaluate.py;"
    " its flags: `keras-music evaluate --help`).",
    "export": "Export a tagger or encoder as SavedModel/TFLite "
    "(recipes/export.py; its flags: `keras-music export --help`).",
}


# absl's help flags, and the recipes that answer them before importing
# TensorFlow (`parse_flags` of recipes/export.py); the others import it
# at the top, so the command quiets it first.
HELP_FLAGS = frozenset(("-h", "--help", "--helpshort", "--helpfull"))
QUICK_HELP_RECIPES = ("export",)


def recipes_folder():
    """`recipes/` of the source tree keras_music is imported from."""
    import keras_music

    root = os.path.dirname(
        os.path.dirname(os.path.abspath(keras_music.__file__))
    )
    return os.path.join(root, "recipes")


def run_recipe(name, argv):
    """Runs `recipes/<name>.py` with `argv` as its command line, as
    `python recipes/<name>.py ...` would."""
    script = os.path.join(recipes_folder(), f"{name}.py")
    if not os.path.isfile(script):
        print(
            f"keras-music {name}: recipes/{name}.py is not next to the "
            "installed keras_music package; run it from a source checkout "
            "(`pip install -e .` in the repository).",
            file=sys.stderr,
        )
        return 2
    sys.argv = [script, *argv]
    sys.path.insert(0, os.path.dirname(script))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def parser():
    """The `keras-music` argument parser (imports no TensorFlow)."""
    main_parser = argparse.ArgumentParser(
        prog="keras-music",
        description="Tag and embed audio with keras_music models; evaluate "
        "and export them. Quiet by default: --verbose shows TensorFlow's "
        "logging.",
    )
    main_parser.add_argument(
        "--verbose",
        action="store_true",
        help="Show TensorFlow's C++ and absl logging.",
    )
    commands = main_parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for name, (module, add_arguments, summary) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        add_arguments(sub)
        sub.add_argument(
            "--verbose",
            action="store_true",
            help="Show TensorFlow's C++ and absl logging.",
        )
        sub.set_defaults(module=module)
    for name, summary in RECIPES.items():
        commands.add_parser(name, help=summary, add_help=False)
    return main_parser


def import_keras_music():
    """TensorFlow (quietly) and every Keras object of keras_music, as
    `import keras_music` gives them outside the command line."""
    import keras_music

    keras_music.import_all()


def _notice(message, category, filename, lineno, file=None, line=None):
    print(f"notice: {message}", file=sys.stderr)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--verbose" in argv and not is_verbose():
        os.environ[VERBOSE_VARIABLE] = "1"
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        if "tensorflow" in sys.modules:
            # Imported quietly already: start again with its logging on.
            os.execv(
                sys.executable,
                [sys.executable, "-m", "keras_music.cli.main", *argv],
            )
    if is_verbose():
        # What --verbose is for: TensorFlow's start-up logging, even
        # before a `--help`.
        import_keras_music()
    command = next((word for word in argv if not word.startswith("-")), None)
    if command in RECIPES:
        rest = [w for w in argv[argv.index(command) + 1 :] if w != "--verbose"]
        help_asked = not HELP_FLAGS.isdisjoint(rest)
        if not (help_asked and command in QUICK_HELP_RECIPES):
            import_keras_music()
        status = run_recipe(command, rest)
        # absl exits with 1 after printing the help; the command, like
        # argparse, with 0.
        return 0 if help_asked and status == 1 else status
    args = parser().parse_args(argv)
    import_keras_music()
    from keras_music.cli.audio_files import CommandError

    run = importlib.import_module(args.module).run
    try:
        with warnings.catch_warnings():
            # Resampling notices, one line each, as they happen.
            warnings.simplefilter("default")
            warnings.showwarning = _notice
            return run(args)
    except CommandError as error:
        print(f"keras-music {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
