import json
import os
import subprocess
import sys

import pytest

from keras_music.utils.atomic_write import atomic_path
from keras_music.utils.atomic_write import finish_directory_swap
from keras_music.utils.atomic_write import open_atomic
from keras_music.utils.atomic_write import previous_path
from keras_music.utils.atomic_write import remove_stale_temporaries
from keras_music.utils.atomic_write import swap_directory
from keras_music.utils.atomic_write import temporary_path
from keras_music.utils.atomic_write import write_json_atomic
from keras_music.utils.atomic_write import write_text_atomic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _read(path):
    with open(path) as stream:
        return stream.read()


def test_success_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = str(tmp_path / "value.txt")
    write_text_atomic(path, "old")
    write_text_atomic(path, "new")
    assert _read(path) == "new"
    assert os.listdir(tmp_path) == ["value.txt"]


def test_exception_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = str(tmp_path / "value.txt")
    write_text_atomic(path, "old")
    with pytest.raises(RuntimeError, match="midway"):
        with open_atomic(path) as stream:
            stream.write("half of the new")
            raise RuntimeError("midway")
    assert _read(path) == "old"
    assert os.listdir(tmp_path) == ["value.txt"]
    # KeyboardInterrupt too: it is no `Exception`.
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(path) as temporary:
            with open(temporary, "w") as stream:
                stream.write("half")
            raise KeyboardInterrupt
    assert _read(path) == "old"
    assert os.listdir(tmp_path) == ["value.txt"]


def test_a_crash_midway_leaves_the_old_file_intact(tmp_path):
    path = str(tmp_path / "value.json")
    write_json_atomic(path, {"epoch": 1})
    # The process dies without unwinding, as under SIGKILL or power loss.
    script = (
        "import os\n"
        "from keras_music.utils.atomic_write import open_atomic\n"
        f"with open_atomic({path!r}) as stream:\n"
        "    stream.write('{\"epoch\": ')\n"
        "    stream.flush()\n"
        "    os._exit(3)\n"
    )
    env = {**os.environ, "PYTHONPATH": ROOT}
    result = subprocess.run([sys.executable, "-c", script], env=env)
    assert result.returncode == 3
    with open(path) as stream:
        assert json.load(stream) == {"epoch": 1}
    leftovers = [f for f in os.listdir(tmp_path) if f != "value.json"]
    assert len(leftovers) == 1 and ".incomplete-" in leftovers[0]
    # The dead writer's temporary file is recognised and removed.
    remove_stale_temporaries(str(tmp_path))
    assert os.listdir(tmp_path) == ["value.json"]


def test_stale_temporaries_of_a_running_process_are_kept(tmp_path):
    ours = temporary_path(str(tmp_path / "a.weights.h5"), ".weights.h5")
    open(ours, "w").close()
    open(tmp_path / "unrelated.incomplete-notapid", "w").close()
    remove_stale_temporaries(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == [
        os.path.basename(ours),
        "unrelated.incomplete-notapid",
    ]


def test_temporary_path_is_beside_the_target_with_the_suffix(tmp_path):
    path = str(tmp_path / "w.weights.h5")
    temporary = temporary_path(path, ".weights.h5")
    assert os.path.dirname(temporary) == str(tmp_path)
    assert temporary.endswith(".weights.h5")
    assert str(os.getpid()) in temporary
    with atomic_path(path, suffix=".npz") as written:
        assert written.endswith(".npz")
        open(written, "w").close()
    assert os.listdir(tmp_path) == ["w.weights.h5"]


def test_json_is_written_as_before(tmp_path):
    path = str(tmp_path / "manifest.json")
    value = {"b": [1, 2], "a": {"c": None}}
    write_json_atomic(path, value)
    assert _read(path) == json.dumps(value, indent=1, sort_keys=True)
    write_json_atomic(path, value, indent=None, sort_keys=False)
    assert _read(path) == json.dumps(value)


def test_folders_are_swapped_in(tmp_path):
    path = str(tmp_path / "cache")
    with atomic_path(path) as temporary:
        os.makedirs(os.path.join(temporary, "inner"))
        with open(os.path.join(temporary, "inner", "x.txt"), "w") as stream:
            stream.write("first")
    assert _read(os.path.join(path, "inner", "x.txt")) == "first"
    # An existing folder is not replaced unless asked ...
    with pytest.raises(OSError):
        with atomic_path(path) as temporary:
            os.makedirs(temporary)
            open(os.path.join(temporary, "y.txt"), "w").close()
    assert os.listdir(tmp_path) == ["cache"]
    assert _read(os.path.join(path, "inner", "x.txt")) == "first"
    # ... and then it is, with nothing left beside it.
    with atomic_path(path, replace_directory=True) as temporary:
        os.makedirs(temporary)
        with open(os.path.join(temporary, "y.txt"), "w") as stream:
            stream.write("second")
    assert os.listdir(path) == ["y.txt"]
    assert os.listdir(tmp_path) == ["cache"]


def test_a_failed_folder_write_leaves_nothing(tmp_path):
    path = str(tmp_path / "cache")
    with pytest.raises(ValueError, match="bad"):
        with atomic_path(path) as temporary:
            os.makedirs(temporary)
            open(os.path.join(temporary, "part.npy"), "w").close()
            raise ValueError("bad")
    assert os.listdir(tmp_path) == []


def _tree(folder):
    """Relative path -> text of every file under `folder`."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            found[os.path.relpath(path, folder)] = _read(path)
    return found


def _folder(path, **files):
    os.makedirs(path)
    for name, text in files.items():
        with open(os.path.join(path, name), "w") as stream:
            stream.write(text)
    return path


def test_a_failed_folder_replacement_keeps_the_old_folder(tmp_path):
    path = _folder(str(tmp_path / "export"), model="old", card="old card")
    with pytest.raises(RuntimeError, match="converter"):
        with atomic_path(path, replace_directory=True) as temporary:
            _folder(temporary, model="half")
            raise RuntimeError("converter failed")
    assert _tree(path) == {"model": "old", "card": "old card"}
    assert os.listdir(tmp_path) == ["export"]


def test_a_failed_second_rename_puts_the_old_folder_back(tmp_path, monkeypatch):
    path = _folder(str(tmp_path / "data"), a="old")
    source = _folder(str(tmp_path / "new"), a="new")
    rename = os.rename

    def rename_once(src, dst):
        if src == source:
            raise OSError("cross-device link")
        rename(src, dst)

    monkeypatch.setattr(os, "rename", rename_once)
    with pytest.raises(OSError, match="cross-device"):
        swap_directory(source, path)
    assert _tree(path) == {"a": "old"}
    assert sorted(os.listdir(tmp_path)) == ["data", "new"]


def test_a_swap_killed_between_its_renames_is_completed_or_undone(tmp_path):
    path = str(tmp_path / "data")
    # The state a kill between the two renames leaves: no `data`.
    _folder(previous_path(path), a="old")
    source = _folder(str(tmp_path / "new"), a="new")
    finish_directory_swap(path, source)
    assert _tree(path) == {"a": "new"}
    assert os.listdir(tmp_path) == ["data"]
    # An incomplete new folder (or none known): the old one comes back.
    os.rename(path, previous_path(path))
    source = _folder(str(tmp_path / "new"), a="half")
    finish_directory_swap(path, source, is_complete=lambda folder: False)
    assert _tree(path) == {"a": "new"}  # the one moved aside above
    assert sorted(os.listdir(tmp_path)) == ["data", "new"]
    # A kill after both renames leaves only the previous folder to delete.
    _folder(previous_path(path), a="older")
    finish_directory_swap(path)
    assert _tree(path) == {"a": "new"}
    assert sorted(os.listdir(tmp_path)) == ["data", "new"]


def test_atomic_path_undoes_a_killed_swap_before_writing(tmp_path):
    path = str(tmp_path / "cache")
    _folder(previous_path(path), x="old")
    # A process killed between the renames: its new folder, not known to
    # be whole, is a stale temporary; the old folder is what is there.
    with pytest.raises(ValueError, match="bad"):
        with atomic_path(path, replace_directory=True):
            assert _tree(path) == {"x": "old"}
            raise ValueError("bad")
    assert _tree(path) == {"x": "old"}
    assert os.listdir(tmp_path) == ["cache"]
