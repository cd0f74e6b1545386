"""The README's commands are the ones CI and users run.

Every command in the README's ```bash blocks and in its recipes table is
checked here, so the docs cannot drift from the code: each `python
<script>.py` is run with `--help` and must list every flag the README
passes to it (and accept the value of an enum flag); `pip install`,
`python -m pytest`, `export TF_CONFIG=...`, `tensorboard`,
`saved_model_cli`, `docker run` and `curl` are checked against
`setup.cfg`, `tests/conftest.py`, the recipes' outputs and each other.

The quick start's training command runs for real in two places:
`tests/recipes/maest_test.py` runs `recipes/maest.py` end to end in a tiny
configuration (`--segment=5 --preset=maest_tiny`, a few steps), and
`test_quick_start_trains_for_real` below runs the exact quick-start
command (`--segment 30`, six to seven minutes) under `--run_large`.
"""

import configparser
import importlib.metadata
import json
import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The scripts import keras_music from the checkout, as after `pip install
# -e .`; PYTHONPATH makes that true in any environment the tests run in.
ENV = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
SCRIPT_FOLDERS = ("recipes", "benchmarks", "tfrecords")

# Commands that are not run or checked against the code, with the reason.
ALLOWED = {
    # Not in setup.cfg on purpose: its optional pyaudio dependency does
    # not build without PortAudio headers (the README says so).
    "pip install --no-deps tinysoundfont": "installed without its deps",
}


def _read(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


README = _read("README.md")


def _section(readme, title):
    match = re.search(
        rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", readme, re.M | re.S
    )
    assert match, f"README has no section '## {title}'."
    return match.group(1)


def _commands(section):
    """Every command line of the section's bash blocks (continuation
    lines joined, comments left out)."""
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    lines = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = " ".join(line.split())
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def _table_commands(section):
    """The `command` column of the section's Markdown table."""
    return re.findall(r"^\| `(python [^`]+)` \|", section, re.M)


def _simple_commands():
    """Every README command, split at `&&` into simple commands."""
    lines = _commands(README) + _table_commands(_section(README, "Recipes"))
    simple = []
    for line in lines:
        simple.extend(part.strip() for part in line.split(" && "))
    return simple


COMMANDS = _simple_commands()


def _script(command):
    """`recipes/x.py` for `python recipes/x.py ...`, else `None`."""
    words = shlex.split(command)
    if len(words) > 1 and words[0] == "python" and words[1].endswith(".py"):
        return words[1]
    return None


def _as_recipe(command):
    """`keras-music evaluate|export ARGS` as the recipe it runs,
    `python recipes/<name>.py ARGS`; other commands unchanged."""
    words = shlex.split(command)
    if words[:1] == ["keras-music"] and words[1:2] in (
        ["evaluate"],
        ["export"],
    ):
        return shlex.join(["python", f"recipes/{words[1]}.py", *words[2:]])
    return command


SCRIPT_COMMANDS = [c for c in map(_as_recipe, COMMANDS) if _script(c)]
# `keras-music tag|embed`: parsed by the command's own argument parser.
CLI_COMMANDS = [
    c
    for c in COMMANDS
    if shlex.split(c)[:2] in (["keras-music", "tag"], ["keras-music", "embed"])
]
SCRIPTS = sorted({_script(c) for c in SCRIPT_COMMANDS})


def _setup_cfg():
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    return config


def _words_of(program):
    return [shlex.split(c) for c in COMMANDS if shlex.split(c)[0] == program]


def _flag_value(words, flag):
    """The value given to `flag` in a command's words, or `None`."""
    for i, word in enumerate(words):
        if word == flag and i + 1 < len(words):
            return words[i + 1]
        if word.startswith(flag + "="):
            return word[len(flag) + 1 :]
    return None


def _export_names():
    """Model names the README's export commands write, including the
    quick start's `<preset>_tagger`."""
    names = set()
    for command in SCRIPT_COMMANDS:
        if _script(command) == "recipes/export.py":
            names.add(_flag_value(shlex.split(command), "--name"))
    names.update(re.findall(r"saved_models/(\w+_tagger)/1", README))
    return names


# === The quick start and CI ===


def test_quick_start_has_exactly_two_commands():
    commands = _commands(_section(README, "Quick start"))
    assert len(commands) == 2, commands
    assert "pip install" in commands[0] and "python recipes/" in commands[0]
    assert "pip install" in commands[1] and "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    commands = _commands(_section(README, "Quick start"))
    ci = _read(".ci/run")
    match = re.search(r"^TEST_COMMAND='(.*)'$", ci, re.M)
    assert match, ".ci/run does not define TEST_COMMAND."
    assert match.group(1) == commands[1]


def test_sections_come_in_the_order_a_new_user_reads_them():
    titles = re.findall(r"^## (.+)$", README, re.M)
    # Issue 11's order; other sections may sit between these.
    expected = [
        "Quick start",
        "Recipes",
        "Preparing your own data",
        "Evaluation",
        "Export and serving",
        "Scaling out",
        "Dependencies",
    ]
    positions = [titles.index(t) for t in expected if t in titles]
    assert len(positions) == len(expected), (expected, titles)
    assert positions == sorted(positions), titles
    assert "Notebooks" in titles, titles


def test_every_runnable_recipe_is_in_the_readme():
    shown = {_script(c) for c in SCRIPT_COMMANDS}
    for name in sorted(os.listdir(os.path.join(ROOT, "recipes"))):
        path = f"recipes/{name}"
        if name.endswith(".py") and "app.run(" in _read(path):
            assert path in shown, f"{path} has no command in the README."


def test_recipes_table_gives_no_invented_gpu_figure():
    table = _section(README, "Recipes")
    header = re.search(r"^\| command \|.*$", table, re.M).group(0)
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns == [
        "command",
        "paper",
        "what it prints at the end",
        "CPU time (2 cores)",
        "GPU, per epoch",
    ], columns
    rows = _table_commands(table)
    assert len(rows) >= 8, rows
    for row in re.findall(r"^\| `python .*$", table, re.M):
        gpu = row.strip().strip("|").split("|")[-1].strip()
        # No GPU run has been timed: the column says so or is not
        # applicable ("–", for the non-training scripts).
        assert gpu in ("not measured", "–"), row


# === Every `python <script>.py` answers --help and knows its flags ===


# Runs `SCRIPT --help` for every script given, each in a child forked
# from one interpreter that has imported TensorFlow and keras_music once:
# a fresh interpreter per script spends ~6 CPU-seconds importing them, a
# fork ~0.1 s, and CI has two cores for the whole suite. The child runs
# the script as `__main__` with the argv and sys.path of
# `python SCRIPT --help`, so it prints what a user sees.
_HELP_RUNNER = """
import os, runpy, sys, traceback
import tensorflow
import keras_music
out_dir = sys.argv[1]
for i, script in enumerate(sys.argv[2:]):
    pid = os.fork()
    if pid == 0:
        for fd, name in ((1, "out"), (2, "err")):
            path = os.path.join(out_dir, f"{i}.{name}")
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT), fd)
        sys.argv = [script, "--help"]
        sys.path[0] = os.path.dirname(script)
        code = 0
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
            code = 0 if stop.code is None else code
        except BaseException:
            traceback.print_exc()
            code = 2
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    with open(os.path.join(out_dir, f"{i}.rc"), "w") as f:
        f.write(str(os.waitstatus_to_exitcode(status)))
"""


@pytest.fixture(scope="module")
def help_outputs(tmp_path_factory):
    """`{script: (returncode, stdout, stderr)}` of `--help`."""
    out = tmp_path_factory.mktemp("help")
    paths = [os.path.join(ROOT, script) for script in SCRIPTS]
    proc = subprocess.run(
        [sys.executable, "-c", _HELP_RUNNER, str(out), *paths],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=ENV,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs = {}
    for i, script in enumerate(SCRIPTS):
        texts = [(out / f"{i}.{n}").read_text() for n in ("rc", "out", "err")]
        outputs[script] = (int(texts[0]), texts[1], texts[2])
    return outputs


def _listed(help_text, name):
    """Whether `--name` heads an entry of the help: absl lists
    `  --name: ...` or `  --[no]name: ...`, argparse `  --name NAME`."""
    pattern = rf"^  --(\[no\])?{re.escape(name)}(:| |,|$)"
    return re.search(pattern, help_text, re.M) is not None


def _is_boolean(help_text, name):
    return f"--[no]{name}:" in help_text


def _enum_values(help_text, name):
    """An absl enum flag's values (`--name: <a|b|c>: ...`), or `None`."""
    match = re.search(
        rf"^  --{re.escape(name)}:\s*<([^>]*)>", help_text, re.M | re.S
    )
    return None if match is None else match.group(1).split("|")


def _flags(words, help_text):
    """`(name, value)` for every flag in a command's words; `value` is
    `None` for booleans."""
    flags = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not word.startswith("--"):
            continue
        name, has_value, value = word[2:].partition("=")
        if not has_value:
            value = None
            plain = name[2:] if name.startswith("no") else name
            boolean = _is_boolean(help_text, name) or (
                name.startswith("no") and _is_boolean(help_text, plain)
            )
            if not boolean and i < len(words):
                value = words[i]
                i += 1
        flags.append((name, value))
    return flags


def test_scripts_exist():
    assert SCRIPTS, "The README shows no python script."
    for script in SCRIPTS:
        assert script.split("/")[0] in SCRIPT_FOLDERS, script
        assert os.path.isfile(os.path.join(ROOT, script)), script


@pytest.mark.parametrize("command", SCRIPT_COMMANDS, ids=SCRIPT_COMMANDS)
def test_script_lists_the_flags_the_readme_passes(command, help_outputs):
    words = shlex.split(command)
    returncode, text, stderr = help_outputs[words[1]]
    assert "Traceback" not in stderr, stderr[-3000:]
    # absl prints the usage and exits with status 1 after --help,
    # argparse with 0.
    assert returncode in (0, 1), stderr[-3000:]
    assert "--" in text, f"{words[1]} --help printed no flags: {text!r}"
    for name, value in _flags(words[2:], text):
        plain = name[2:] if name.startswith("no") else name
        assert _listed(text, name) or (
            name.startswith("no") and _is_boolean(text, plain)
        ), (
            f"`{words[1]} --help` does not list --{name} (a flag defined "
            "in another module is listed only if the script adopts it as "
            "a key flag: flags.adopt_module_key_flags)."
        )
        choices = _enum_values(text, name)
        if choices is not None:
            assert value in choices, (name, value, choices)


# === The other commands ===


def test_pip_installs_name_extras_that_exist():
    extras = set(_setup_cfg()["options.extras_require"])
    installs = [c for c in COMMANDS if c.startswith("pip install")]
    assert installs
    for command in installs:
        if command in ALLOWED:
            continue
        words = shlex.split(command)
        target = words[-1]
        # Only the checkout itself, editable, with extras of setup.cfg.
        assert words[:3] == ["pip", "install", "-e"], command
        match = re.fullmatch(r"\.(\[([\w,]+)\])?", target)
        assert match, command
        for extra in (match.group(2) or "").split(","):
            assert not extra or extra in extras, (extra, sorted(extras))


def test_dependency_text_names_every_extra():
    text = _section(README, "Dependencies")
    config = _setup_cfg()
    for extra, requirements in config["options.extras_require"].items():
        assert f"`{extra}`" in text, extra
        for line in requirements.split():
            package = re.match(r"[A-Za-z0-9_.-]+", line).group(0)
            package = package.split("[")[0]
            # "gpu" is tensorflow[and-cuda]: TensorFlow with CUDA.
            name = "TensorFlow" if package == "tensorflow" else package
            assert name.lower() in text.lower(), (extra, package)


def test_pytest_commands_name_existing_options_and_paths():
    conftest = _read("tests/conftest.py")
    options = set(re.findall(r'addoption\(\s*"(--\w+)"', conftest))
    commands = [c for c in COMMANDS if c.startswith("python -m pytest")]
    assert commands
    # pytest-xdist's options (a `test` extra) and the values they take.
    xdist = {"-n": {"2", "auto"}, "--dist": {"load", "loadfile"}}
    for command in commands:
        words = iter(shlex.split(command)[3:])
        for word in words:
            if word in xdist:
                assert next(words) in xdist[word], command
            elif word.startswith("-"):
                assert word in options, (word, options)
            else:
                assert os.path.exists(os.path.join(ROOT, word)), word


def _recipe_rate(script):
    """The `SAMPLE_RATE` a recipe trains at, or `None` if it has none."""
    source = _read(script)
    module = re.search(r"^from (\w+) import SAMPLE_RATE$", source, re.M)
    if module:
        source = _read(f"recipes/{module.group(1)}.py")
    rate = re.search(r"^SAMPLE_RATE = (\d+)$", source, re.M)
    return None if rate is None else int(rate.group(1))


def test_data_folders_are_written_at_the_recipes_rate():
    # What the README's make_tfrecords commands write, at which rate.
    written = {}
    for command in SCRIPT_COMMANDS:
        words = shlex.split(command)
        if words[1] == "tfrecords/make_tfrecords.py":
            rate = _flag_value(words, "--sample_rate") or "16000"
            written[_flag_value(words, "--output")] = int(rate)
    assert written
    # A recipe shown reading a relative tfrecords/ folder reads one the
    # README wrote, at the recipe's rate (else it stops: "--data must
    # hold ... Hz audio"). /shared/... paths are the cluster's.
    for command in SCRIPT_COMMANDS:
        words = shlex.split(command)
        data = _flag_value(words, "--data")
        rate = _recipe_rate(words[1])
        if data and data.startswith("tfrecords/") and rate:
            assert data in written, (command, sorted(written))
            assert written[data] == rate, (command, rate, written[data])


def test_tf_config_examples_describe_one_cluster():
    configs = []
    for words in _words_of("export"):
        name, _, value = words[1].partition("=")
        assert name == "TF_CONFIG", words
        configs.append(json.loads(value))
    assert configs, "The README shows no TF_CONFIG."
    workers = configs[0]["cluster"]["worker"]
    assert len(workers) >= 2, workers
    for config in configs:
        # Same cluster on every machine; only the task index differs.
        assert config["cluster"] == {"worker": workers}, config
        assert config["task"]["type"] == "worker", config
    indices = sorted(c["task"]["index"] for c in configs)
    assert indices == list(range(len(workers))), indices
    # Each machine runs the same command with --strategy multi_worker.
    multi = [c for c in SCRIPT_COMMANDS if "--strategy multi_worker" in c]
    assert len(set(multi)) == 1 and len(multi) == len(configs), multi


def _console_scripts():
    return {
        e.name
        for e in importlib.metadata.entry_points().select(
            group="console_scripts"
        )
    }


def _recipe_writes(path):
    """Whether `runs/<run>/<name>` is a folder or file a recipe writes:
    `<run>` fits a recipe's default `--output` and `<name>` is written by
    that recipe or by the callbacks all recipes share."""
    match = re.fullmatch(r"runs/(\w+)/([\w.]+)", path)
    assert match, path
    run, name = match.groups()
    shared = _read("keras_music/training/recipe_support.py")
    for script in os.listdir(os.path.join(ROOT, "recipes")):
        if not script.endswith(".py"):
            continue
        source = _read(f"recipes/{script}")
        default = re.search(r"Default: runs/([\w<>]+)", source)
        if default is None:
            continue
        pattern = re.sub(r"<\w+>", r"\\w+", default.group(1))
        written = f'"{name}"' in source or f'"{name}"' in shared
        if re.fullmatch(pattern, run) and written:
            return True
    return False


def test_paths_the_commands_read_are_ones_a_recipe_writes():
    paths = [w[2] for w in _words_of("tensorboard")]
    for command in SCRIPT_COMMANDS:
        words = shlex.split(command)
        for flag in ("--model", "--encoder"):
            value = _flag_value(words, flag)
            if value and value.startswith("runs/"):
                paths.append(value)
    assert paths
    for path in paths:
        assert _recipe_writes(path), path


def test_serving_commands_agree_with_the_exports():
    names = _export_names()
    scripts = _console_scripts()
    # Both come with the pinned tensorflow / tensorboard packages.
    for words in _words_of("saved_model_cli") + _words_of("tensorboard"):
        assert words[0] in scripts, words[0]
    for words in _words_of("saved_model_cli"):
        match = re.fullmatch(r"saved_models/(\w+)/\d+", words[3])
        assert match and match.group(1) in names, (words, names)
    # Docker and the tensorflow/serving image are the user's (not run
    # here): the mount must be an export's base path, served under its
    # name.
    docker = _words_of("docker")
    assert docker
    for words in docker:
        assert words[-1] == "tensorflow/serving", words
        mount = _flag_value(words, "--mount")
        source = re.search(r"source=\$PWD/saved_models/(\w+)", mount)
        target = re.search(r"target=/models/(\w+)", mount)
        model = _flag_value(words, "-e").split("=")[1]
        assert source.group(1) in names, (mount, names)
        assert source.group(1) == target.group(1) == model, words
        port = _flag_value(words, "-p").split(":")[0]
    # curl needs the server above; its URL names that model and port.
    # request.json is the user's request: saved_models/README.md shows
    # its format.
    for words in _words_of("curl"):
        url = next(w for w in words if w.startswith("http"))
        match = re.match(rf"http://localhost:{port}/v1/models/(\w+)", url)
        assert match and match.group(1) == model, url
        if "-d" in words:
            assert _flag_value(words, "-d") == "@request.json", words
            assert '"instances"' in _read("saved_models/README.md")


def test_every_command_is_checked():
    checked = ("pip", "export", "tensorboard", "saved_model_cli", "docker")
    for command in COMMANDS:
        words = shlex.split(command)
        known = (
            command in ALLOWED
            or _script(command)
            or words[:3] == ["python", "-m", "pytest"]
            or words[0] in checked
            or words[0] == "curl"
            or command in CLI_COMMANDS
            or _script(_as_recipe(command))
        )
        assert known, f"No check in this file covers `{command}`."


def test_keras_music_is_the_console_script_of_setup_cfg():
    scripts = _setup_cfg()["options.entry_points"]["console_scripts"]
    assert "keras-music = keras_music.cli.main:main" in scripts.splitlines()
    assert CLI_COMMANDS and len(CLI_COMMANDS) + 2 <= len(
        _words_of("keras-music")
    )


@pytest.mark.parametrize("command", CLI_COMMANDS, ids=CLI_COMMANDS)
def test_keras_music_commands_parse_and_read_real_models(command):
    from keras_music.cli.main import parser
    from keras_music.models.maest.maest_backbone import MAESTBackbone

    # argparse exits (status 2) on an unknown flag or a bad choice.
    args = parser().parse_args(shlex.split(command)[1:])
    if args.model.startswith("saved_models/"):
        name = re.fullmatch(r"saved_models/(\w+)/\d+", args.model).group(1)
        assert name in _export_names(), (args.model, _export_names())
    elif args.model.startswith("runs/"):
        assert _recipe_writes(args.model), args.model
    else:
        assert args.model in MAESTBackbone.presets, args.model


# === The quick start, for real ===


@pytest.mark.large
def test_quick_start_trains_for_real(tmp_path):
    command = _commands(_section(README, "Quick start"))[0]
    train = command.split(" && ")[-1]
    words = shlex.split(train)
    assert words[:2] == ["python", "recipes/maest.py"], words
    # The exact command, from an empty folder, so that runs/ and
    # saved_models/ land there, not in the checkout. No GPU: the README's
    # figures are those of the CPU path (maest_small).
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, words[1]), *words[2:]],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=tmp_path,
        env=dict(ENV, CUDA_VISIBLE_DEVICES=""),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Exported saved_model: saved_models/maest_small_tagger/1" in (
        proc.stdout
    ), proc.stdout[-3000:]
    # Named after the model it holds: the CPU path's maest_small.
    run = tmp_path / "runs" / "maest_small"
    # backup/ is gone: it is removed once training has finished.
    for name in ("model.keras", "best.keras", "results.json", "logs"):
        assert (run / name).exists(), name
    assert not (run / "backup").exists()
    assert (tmp_path / "saved_models" / "maest_small_tagger" / "1").is_dir()
    with open(run / "results.json", encoding="utf-8") as f:
        results = json.load(f)
    assert results["preset"] == "maest_small", results["preset"]
    assert results["test"]["tracks"] == 62, results["test"]
    # The README reports ROC-AUC 0.78-0.80 against 0.458 untrained;
    # threads make runs differ by a few hundredths, so 0.70 leaves room
    # for that and still fails a run that did not learn.
    assert results["test"]["roc_auc"] >= 0.70, results["test"]
    assert results["test"]["roc_auc"] > results["test_untrained"]["roc_auc"], (
        results
    )
    # The model card of the export states the data and the test scores.
    card_path = tmp_path / "saved_models" / "maest_small_tagger" / "1"
    with open(card_path / "model_card.json", encoding="utf-8") as f:
        card = json.load(f)
    assert card["dataset"]["name"] == "keras_music built-in tune corpus"
    assert card["dataset"]["size"] == "478 train / 60 valid / 62 test tracks"
    assert card["dataset"]["metrics"]["roc_auc"] == results["test"]["roc_auc"]


# === The command line, for real ===

CLI_SECTION = _commands(_section(README, "Command line"))


@pytest.fixture(scope="module")
def command_line_folder(tmp_path_factory):
    """The folder the README's `keras-music` commands run in: the quick
    start's `runs/maest_small/model.keras` (a `maest_tiny` tagger with
    its preprocessor and tag names stands in, to keep the test short),
    its export `saved_models/maest_small_tagger/1`, and `clips/`."""
    import numpy as np
    import soundfile

    from keras_music.data.tune_corpus import render_tune_clip
    from keras_music.data.tune_corpus import tune_corpus_items
    from keras_music.export.tagger import export_tagger
    from tests.cli.fixtures import tiny_tagger

    root = tmp_path_factory.mktemp("command_line")
    os.makedirs(root / "runs" / "maest_small")
    tagger = tiny_tagger(str(root / "runs" / "maest_small" / "model.keras"))
    export_tagger(
        tagger,
        str(root / "saved_models" / "maest_small_tagger"),
        formats=("saved_model",),
    )
    clips = root / "clips"
    os.makedirs(clips / "corpus")
    rng = np.random.default_rng(0)
    # Two clips of the built-in corpus, as a user's files.
    items = tune_corpus_items(num_clips=8)["train"][:2]
    for number, item in enumerate(items, 1):
        track = render_tune_clip(item, clip_seconds=3.0)
        path = clips / "corpus" / f"tune_{number}.wav"
        soundfile.write(path, track.audio, 16000)
    # Five minutes at 16 kHz: a tone with noise.
    t = np.arange(300 * 16000) / 16000
    long = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(
        t.shape
    )
    soundfile.write(clips / "long.wav", long.astype("float32"), 16000)
    short = rng.uniform(-0.5, 0.5, 8000).astype("float32")
    soundfile.write(clips / "short.wav", short, 16000)  # 0.5 s
    # Exactly one segment (1.04 s): the SavedModel and the .keras tagger
    # then tag the same samples.
    one = rng.uniform(-0.5, 0.5, 16640).astype("float32")
    soundfile.write(clips / "one_segment.wav", one, 16000, subtype="FLOAT")
    stereo = rng.uniform(-0.5, 0.5, (3 * 44100, 2)).astype("float32")
    soundfile.write(clips / "stereo_44k.flac", stereo, 44100, subtype="PCM_24")
    with open(clips / "corrupt.wav", "wb") as stream:
        stream.write(b"RIFF\x24\x00\x00\x00WAVE" + rng.bytes(300))
    with open(clips / "notes.txt", "w") as stream:
        stream.write("not audio\n")
    return root, tagger


def _cli_command(start):
    matches = [c for c in CLI_SECTION if c.startswith(start)]
    assert len(matches) == 1, (start, CLI_SECTION)
    return shlex.split(matches[0])


def _run_cli(words, capsys):
    from keras_music.cli.main import main

    assert words[0] == "keras-music", words
    status = main(words[1:])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


AUDIO = [
    "clips/corpus/{}",
    "clips/long.wav",
    "clips/one_segment.wav",
    "clips/short.wav",
    "clips/stereo_44k.flac",
]


def _audio_files(root):
    corpus = sorted(os.listdir(root / "clips" / "corpus"))
    files = [f"clips/corpus/{name}" for name in corpus]
    return files + [name for name in AUDIO[1:]]


def _expected_scores(tagger, path):
    """The documented way: load at the model's rate, cut into segments
    every half segment (a short file zero-padded to one), tag, average."""
    preprocessor = tagger.preprocessor
    segments = preprocessor.segments(
        preprocessor.load_audio(path),
        hop=preprocessor.segment_samples // 2,
        pad=True,
    )
    return tagger.predict(preprocessor(segments), verbose=0).mean(axis=0)


def _check_problems(errors):
    lines = errors.strip().splitlines()
    assert any(
        line.startswith(
            "notice: Resampled clips/stereo_44k.flac from 44100 "
            "Hz (2 channel(s)) to 16000 Hz mono"
        )
        for line in lines
    ), errors
    # The files left out, at the end, each with its reason.
    assert lines[-3].startswith(
        "skipped clips/notes.txt: not an audio file (extension '.txt'"
    ), lines[-3:]
    assert lines[-2].startswith("failed clips/corrupt.wav: unreadable"), lines
    assert lines[-1] == (
        "1 file(s) could not be read (listed above); the others were processed."
    )


def test_command_line_tags_a_folder_as_table_json_and_csv(
    command_line_folder, monkeypatch, capsys
):
    import csv

    import numpy as np

    root, tagger = command_line_folder
    monkeypatch.chdir(root)
    files = _audio_files(root)

    words = _cli_command(
        "keras-music tag runs/maest_small/model.keras clips/ --top_k"
    )
    status, out, errors = _run_cli(words, capsys)
    assert status == 1, errors
    _check_problems(errors)
    k = int(_flag_value(words, "--top_k"))
    table = {}
    for line in out.strip().splitlines():
        name, rest = line.split("  ", 1)
        table[name] = rest
    assert sorted(table) == files, out
    for name in files:
        scores = _expected_scores(tagger, name)
        order = np.argsort(-scores)[:k]
        # Tag names (with their spaces) and probabilities to 3 decimals.
        expected = "  ".join(
            f"{tagger.vocabulary[i]} {scores[i]:.3f}" for i in order
        )
        printed = [float(w) for w in table[name].split() if w[0].isdigit()]
        np.testing.assert_allclose(printed, scores[order], atol=1.5e-3)
        assert [w for w in table[name].split() if not w[0].isdigit()] == [
            w for w in expected.split() if not w[0].isdigit()
        ], (name, table[name], expected)

    words = _cli_command(
        "keras-music tag runs/maest_small/model.keras clips/ --format json"
    )
    status, out, errors = _run_cli(words, capsys)
    assert status == 1
    _check_problems(errors)
    assert out.strip() == f"Wrote the tags of {len(files)} file(s) to tags.json"
    with open(root / _flag_value(words, "--output")) as stream:
        rows = {row["file"]: row["tags"] for row in json.load(stream)}
    assert sorted(rows) == files
    for name in files:
        scores = _expected_scores(tagger, name)
        order = np.argsort(-scores)[:5]
        tags = rows[name]
        assert [t["tag"] for t in tags] == [tagger.vocabulary[i] for i in order]
        # Same model and samples; the stereo file is resampled in blocks
        # here and in one call by `load_audio` (1e-4, tests/cli).
        np.testing.assert_allclose(
            [t["score"] for t in tags], scores[order], atol=1e-4
        )

    words = _cli_command("keras-music tag saved_models/maest_small_tagger/1")
    status, out, errors = _run_cli(words, capsys)
    assert status == 1
    _check_problems(errors)
    with open(root / _flag_value(words, "--output"), newline="") as stream:
        served = list(csv.DictReader(stream))
    assert {r["file"] for r in served} == set(files)
    assert all(set(r) == {"file", "rank", "tag", "score"} for r in served)
    assert all(r["tag"] in tagger.vocabulary for r in served)
    assert all(0.0 <= float(r["score"]) <= 1.0 for r in served)
    # A file of exactly one segment is one segment for both (longer ones
    # are cut with half overlap by the export, without by the command):
    # the same probabilities (float32 WAV, float32 model; 1e-5).
    exact = "clips/one_segment.wav"
    one = {r["tag"]: float(r["score"]) for r in served if r["file"] == exact}
    assert len(one) == 5, served
    scores = _expected_scores(tagger, exact)
    for tag, score in one.items():
        assert abs(score - scores[tagger.vocabulary.index(tag)]) < 1e-5, tag


def test_command_line_embeds_a_folder(command_line_folder, monkeypatch, capsys):
    import numpy as np

    root, tagger = command_line_folder
    monkeypatch.chdir(root)
    words = _cli_command("keras-music embed")
    status, out, errors = _run_cli(words, capsys)
    assert status == 1, errors
    lines = errors.strip().splitlines()
    # The summary, then the files left out.
    assert lines[-4].startswith("Embedded 6 file(s) into embeddings/ in "), (
        lines
    )
    _check_problems(errors.replace(lines[-4] + "\n", ""))
    output = root / _flag_value(words, "--output")
    written = sorted(
        os.path.relpath(os.path.join(folder, name), output)
        for folder, _, names in os.walk(output)
        for name in names
    )
    assert written == sorted(
        f[len("clips/") :] + ".npz" for f in _audio_files(root)
    )
    block = int(_flag_value(words, "--block"))
    size = tagger.preprocessor.segment_samples
    with np.load(output / "long.wav.npz") as saved:
        # --timestamps: one row per segment, the block's cls token (32).
        # 300 s = 4,800,000 samples in 16,640-sample segments: 288 full
        # ones and one ending with the file.
        assert saved["embedding"].shape == (289, 32)
        starts = [i * size for i in range(288)] + [4_800_000 - size]
        np.testing.assert_allclose(
            saved["timestamps"],
            np.stack([starts, np.add(starts, size)], axis=1) / 16000,
        )
        assert json.loads(str(saved["config"]))["block"] == block
    with np.load(output / "short.wav.npz") as saved:
        # Shorter than a segment: one shorter segment.
        assert saved["embedding"].shape == (1, 32)
        np.testing.assert_allclose(saved["timestamps"], [[0.0, 0.5]])


def test_command_line_exports_tflite_beside_the_saved_model(
    command_line_folder, monkeypatch
):
    root, tagger = command_line_folder
    words = _cli_command("keras-music export")
    # As the user runs it: the console script's module, from the folder.
    proc = subprocess.run(
        [sys.executable, "-m", "keras_music.cli.main", *words[1:]],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=root,
        env=ENV,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    name = _flag_value(words, "--name")
    base = root / "saved_models" / name
    for suffix in (".tflite", ".json", ".labels.txt"):
        assert (root / "saved_models" / f"{name}{suffix}").is_file(), suffix
    assert f"tflite: saved_models/{name}.tflite" in proc.stdout, proc.stdout
    with open(root / "saved_models" / f"{name}.labels.txt") as stream:
        assert stream.read().splitlines() == tagger.vocabulary
    with open(root / "saved_models" / f"{name}.json") as stream:
        card = json.load(stream)
    assert card["classes"] == tagger.vocabulary
    assert card["inference"]["sample_rate"] == 16000
    # Beside the SavedModel of the same name, not a second model name.
    assert sorted(os.listdir(base)) == ["1"]


# The smallest data `recipes/evaluate.py` accepts, and a short probe: 20
# clips of 5 s of the built-in corpus (16/2/2 train/valid/test), 2 epochs,
# one trial. The README's own flags are kept as written.
EVALUATE_DATA = [
    "--num_clips=20",
    "--clip_seconds=5",
    "--epochs=2",
    "--trials=1",
]


# About 8 minutes on a loaded 2-core CPU (rendering the corpus, importing
# TensorFlow in the subprocess, three probes): `large`.
@pytest.mark.large
def test_command_line_evaluates_the_tagger(command_line_folder):
    import csv

    root, tagger = command_line_folder
    words = _cli_command("keras-music evaluate")
    # As the user runs it: the console script's module, from the folder.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_music.cli.main",
            *words[1:],
            *EVALUATE_DATA,
            f"--corpus_cache_dir={root / 'corpus_cache'}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=root,
        env=ENV,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    name = os.path.basename(_flag_value(words, "--encoder"))
    fractions = _flag_value(words, "--fractions").split(",")
    seconds = (tagger.backbone.num_frames - 1) * 256 / 16000
    assert (
        f"Encoder {name}: " in proc.stdout
        and f"{seconds:.2f} s segments; protocol "
        f"{_flag_value(words, '--protocol')}"
        in proc.stdout
    ), proc.stdout
    # One embedding per clip of each split: the stack read-out (cls, dist
    # and the average token) of the tagger's last block, 3 x 32 wide.
    width = 3 * tagger.backbone.hidden_dim
    for split, clips in (("train", 16), ("valid", 2), ("test", 2)):
        assert f"{split}: ({clips}, {width}) embeddings (extracted)" in (
            proc.stdout
        ), proc.stdout
    methods = [f"{name} frozen {float(f):.0%}" for f in fractions]
    for method in methods:
        assert f"| {method} |" in proc.stdout, proc.stdout
    # The table, written where the recipe says (its default --output).
    with open(root / "evaluation" / "results.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["method"] for row in rows] == methods
    # Every task of the built-in corpus, as percentages.
    scores = {k: float(v) for k, v in rows[0].items() if k != "method"}
    assert {"dance/top1", "instrument/roc_auc", "style/top1"} <= set(scores)
    assert all(0.0 <= v <= 100.0 for v in scores.values()), scores
