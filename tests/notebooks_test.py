"""The notebooks in notebooks/ run top to bottom and are stored clean.

Each notebook is executed with nbclient in a temporary working directory,
with the repository on `PYTHONPATH` and every file the notebook writes
(corpus cache, embeddings, exports) under pytest's temporary folders. A
failing cell fails the test with the cell's traceback
(`CellExecutionError`). The notebooks check their own results where a
user relies on them (the reloaded SavedModel must tag like the Keras
model: an `assert` in the notebook); these tests also check that every
plotting cell drew a figure.
"""

import json
import os
import sys

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK_DIR = os.path.join(ROOT, "notebooks")
NOTEBOOKS = ("quickstart.ipynb", "self_supervised.ipynb")
# Seconds allowed to one cell (nbclient's timeout is per cell); a whole
# notebook takes about two minutes on two busy CPU cores.
CELL_TIMEOUT = 600


def _read(name):
    return nbformat.read(os.path.join(NOTEBOOK_DIR, name), as_version=4)


def _code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _text(cell):
    """Everything a code cell printed, as one string."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "".join(parts)


@pytest.fixture(scope="module")
def corpus_cache(tmp_path_factory):
    """One corpus cache for both notebooks: they use the same corpus, so
    the second one reads what the first one rendered."""
    return str(tmp_path_factory.mktemp("keras_music_cache"))


@pytest.fixture
def notebook_environment(tmp_path, corpus_cache, monkeypatch):
    """The kernel's environment: the repository importable, caches and
    temporary files under pytest's folders, and a `python3` kernel that
    is this interpreter (a user-level `python3` kernelspec could point
    to another Python without keras_music's dependencies)."""
    kernels = tmp_path / "jupyter" / "kernels" / "python3"
    kernels.mkdir(parents=True)
    spec = {
        "argv": [
            sys.executable,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
        ],
        "display_name": "Python 3",
        "language": "python",
    }
    (kernels / "kernel.json").write_text(json.dumps(spec))
    # JUPYTER_PATH comes before the user and environment folders.
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    python_path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv(
        "PYTHONPATH",
        ROOT if not python_path else os.pathsep.join([ROOT, python_path]),
    )
    monkeypatch.setenv("KERAS_MUSIC_CACHE", corpus_cache)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    return work_dir


def _execute(name, work_dir):
    before = sorted(os.listdir(NOTEBOOK_DIR))
    notebook = _read(name)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(work_dir)}},
    )
    # Raises CellExecutionError, with the failing cell's traceback.
    client.execute()
    # Everything the notebook writes goes to temporary folders: nothing
    # new lands next to the notebooks.
    assert sorted(os.listdir(NOTEBOOK_DIR)) == before
    return notebook


def _assert_plots_drawn(notebook):
    plotting = [c for c in _code_cells(notebook) if "plt.show()" in c.source]
    assert plotting, "The notebook has no plotting cell."
    for cell in plotting:
        kinds = [
            kind
            for output in cell.get("outputs", [])
            for kind in output.get("data", {})
        ]
        assert "image/png" in kinds, (
            f"Cell {cell.id} calls plt.show() but drew no image; outputs: "
            f"{kinds}"
        )


def test_quickstart_runs(notebook_environment):
    notebook = _execute("quickstart.ipynb", notebook_environment)
    _assert_plots_drawn(notebook)
    text = "".join(_text(cell) for cell in _code_cells(notebook))
    # The notebook asserts the match itself; this checks that the cell
    # that does so ran to its end.
    assert "The SavedModel's top 5 tags match the Keras model's." in text
    assert "test embeddings (" in text


def test_self_supervised_runs(notebook_environment):
    notebook = _execute("self_supervised.ipynb", notebook_environment)
    _assert_plots_drawn(notebook)
    text = "".join(_text(cell) for cell in _code_cells(notebook))
    for task in ("style", "instrument"):
        assert f"{task}: SimCLR - random init = " in text, text[-2000:]


def _stored_problems(notebook):
    """Why a notebook is not clean enough to commit (empty: it is)."""
    problems = []
    for cell in _code_cells(notebook):
        if cell.outputs:
            problems.append(f"cell {cell.id} is stored with outputs")
        if cell.execution_count is not None:
            problems.append(
                f"cell {cell.id} has execution_count {cell.execution_count}"
            )
        if "execution" in cell.metadata:
            problems.append(f"cell {cell.id} keeps execution timings")
    return problems


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_without_outputs(name):
    notebook = _read(name)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    assert notebook.nbformat == 4
    problems = _stored_problems(notebook)
    assert not problems, (
        f"{name}: {'; '.join(problems)}. Clear the outputs before "
        "committing (`jupyter nbconvert --clear-output --inplace`)."
    )


def test_stored_check_catches_a_run_notebook():
    """The check above fails on a notebook saved after a run."""
    notebook = _read("quickstart.ipynb")
    cell = _code_cells(notebook)[0]
    cell.outputs = [nbformat.v4.new_output("stream", text="hello\n")]
    cell.execution_count = 1
    cell.metadata["execution"] = {"iopub.status.busy": "2024-01-01"}
    assert _stored_problems(notebook) == [
        f"cell {cell.id} is stored with outputs",
        f"cell {cell.id} has execution_count 1",
        f"cell {cell.id} keeps execution timings",
    ]
