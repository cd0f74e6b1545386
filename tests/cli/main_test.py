"""`keras-music` as a user runs it: quiet `--help`, the recipes behind
`evaluate`/`export`, and an interrupted `embed` that resumes."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile

from tests.cli.fixtures import tiny_tagger

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
# As a new user's shell: TensorFlow's logging level not set.
ENV = {
    k: v
    for k, v in dict(os.environ, PYTHONPATH=ROOT).items()
    if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_MUSIC_VERBOSE")
}
COMMAND = [sys.executable, "-m", "keras_music.cli.main"]


def run(*arguments, **kwargs):
    return subprocess.run(
        [*COMMAND, *arguments],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
        **kwargs,
    )


@pytest.mark.parametrize(
    "arguments,expected",
    [
        ((), "COMMAND"),
        (("embed",), "--inference_time_stride"),
        (("export",), "--model"),
        (("evaluate",), "--protocol"),
    ],
)
def test_help_prints_no_tensorflow_logging(arguments, expected):
    result = run(*arguments, "--help")
    # 0, though absl's `--help` (the recipe behind `export`) exits with 1.
    assert result.returncode == 0
    assert expected in result.stdout
    # Not a line of TensorFlow's C++ or absl logging.
    assert result.stderr == "", result.stderr


def imported_modules(command, *arguments):
    """The modules `python -X importtime COMMAND ARGUMENTS` imports (from
    the import-time log on stderr), and the completed process."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *command, *arguments],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    modules = {
        line.split("|")[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    return modules, result


CONSOLE_SCRIPT = """import sys
from keras_music.cli.main import main
sys.exit(main())
"""


@pytest.mark.parametrize(
    "arguments,status,expected",
    [
        (("--help",), 0, "COMMAND"),
        (("embed", "--help"), 0, "--inference_time_stride"),
        (("tag", "--help"), 0, "--top_k"),
        # The recipe behind `export` answers it too.
        (("export", "--help"), 0, "--model"),
        # An argument error: argparse's usage line, status 2.
        (("embed", "model.keras"), 2, "--output"),
        (("tag", "--format", "xml", "m.keras", "a.wav"), 2, "invalid"),
    ],
)
def test_help_and_argument_errors_import_no_tensorflow(
    arguments, status, expected, tmp_path
):
    # As `pip install` writes the console script (named `keras-music`),
    # and as `python -m`.
    script = tmp_path / "keras-music"
    script.write_text(CONSOLE_SCRIPT)
    for command in ([str(script)], ["-m", "keras_music.cli.main"]):
        modules, result = imported_modules(command, *arguments)
        assert result.returncode == status, result.stderr[-2000:]
        assert expected in result.stdout + result.stderr
        # The log is read: it lists the parser's module.
        assert "keras_music.cli.arguments" in modules, sorted(modules)[:20]
        heavy = {
            name
            for name in modules
            if name.split(".")[0] in ("tensorflow", "keras", "soundfile")
        }
        assert not heavy, sorted(heavy)[:10]


def test_the_command_imports_keras_music_after_parsing(tmp_path):
    # Past the arguments, the command has every Keras object registered,
    # as `import keras_music` gives them (an unknown model file fails
    # with the command's own error, not argparse's).
    modules, result = imported_modules(
        ["-m", "keras_music.cli.main"],
        "embed",
        str(tmp_path / "missing.keras"),
        str(tmp_path),
        "--output",
        str(tmp_path / "out"),
    )
    assert result.returncode == 2
    assert "keras-music embed: error: DIR" in result.stderr
    # (TensorFlow's own import is not in the log: stderr is held on
    # /dev/null while it is imported, to hide its C++ logging.)
    assert {"keras_music.layers", "keras_music.models"} <= modules


def test_the_help_names_the_maest_presets_of_the_library():
    from keras_music.cli.arguments import MAEST_PRESETS
    from keras_music.models.maest.maest_backbone import MAESTBackbone

    assert MAEST_PRESETS == tuple(sorted(MAESTBackbone.presets))


def test_tag_help_states_the_measured_trade_off():
    result = run("tag", "--help")
    text = " ".join(result.stdout.split())
    assert "2.22x the Essentia-style EfficientNet-B0" in text
    assert "0.7665 vs 0.7731" in text and "bfloat16 gives 1.08x" in text


def test_verbose_shows_tensorflow_logging():
    result = run("--verbose", "--help")
    assert result.returncode == 0
    assert "oneDNN" in result.stderr or "cuda" in result.stderr.lower()


def embed_run(model, directory, output):
    return [
        *COMMAND,
        "embed",
        model,
        directory,
        "--output",
        output,
        "--batch_size",
        "2",
        "--timestamps",
    ]


def npz_files(output):
    return sorted(
        os.path.relpath(os.path.join(root, name), output)
        for root, _, names in os.walk(output)
        for name in names
    )


@pytest.mark.large
def test_sigkill_half_way_then_resume_equals_an_uninterrupted_run(
    tmp_path,
):
    # 30 files of 20 s (20 segments each, ~1 s of compute per file on a
    # 2-core CPU): long enough to kill the run between files.
    model = str(tmp_path / "tagger.keras")
    tiny_tagger(model)
    directory = tmp_path / "audio"
    rng = np.random.default_rng(0)
    for i in range(30):
        folder = directory / f"part_{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        audio = rng.uniform(-0.5, 0.5, 20 * 16000).astype("float32")
        soundfile.write(str(folder / f"clip_{i:02d}.wav"), audio, 16000)
    whole, resumed = str(tmp_path / "whole"), str(tmp_path / "resumed")
    result = subprocess.run(
        embed_run(model, str(directory), whole),
        capture_output=True,
        env=ENV,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-2000:]

    process = subprocess.Popen(
        embed_run(model, str(directory), resumed),
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 600
    while time.time() < deadline and len(npz_files(resumed)) < 10:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    written = npz_files(resumed)
    finished = [name for name in written if name.endswith(".npz")]
    assert 10 <= len(finished) < 30, written
    # Nothing half-written under an .npz name: every one loads.
    for name in finished:
        with np.load(os.path.join(resumed, name)) as saved:
            assert saved["embedding"].shape == (20, 96)

    result = subprocess.run(
        embed_run(model, str(directory), resumed),
        capture_output=True,
        text=True,
        env=ENV,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{len(finished)} of 30 file(s) already embedded" in result.stderr
    assert npz_files(resumed) == npz_files(whole)
    assert len(npz_files(whole)) == 30
    for name in npz_files(whole):
        with (
            np.load(os.path.join(whole, name)) as a,
            np.load(os.path.join(resumed, name)) as b,
        ):
            assert sorted(a.files) == sorted(b.files)
            # Same segments, same model; the batch a segment lands in
            # differs between the runs: float32 rounding (1e-5).
            np.testing.assert_allclose(
                a["embedding"], b["embedding"], atol=1e-5, rtol=0
            )
            np.testing.assert_array_equal(a["timestamps"], b["timestamps"])
            assert str(a["config_hash"]) == str(b["config_hash"])
