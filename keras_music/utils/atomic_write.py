"""Writing files and folders so that readers see the old or the new one.

Everything is written under a temporary name beside its target (same
folder, so same file system), flushed to disk, then renamed onto the
target with `os.replace`, which is atomic on POSIX and Windows. A writer
killed midway leaves the previous file intact and, at worst, its
temporary file, which `remove_stale_temporaries` deletes later.

Temporary names are `<target>.incomplete-<pid><suffix>`: per process,
because the workers of one multi-worker run may write the same target at
the same time, and recognisable, so that the leftovers of a killed
process can be told from those of a running one.
"""

import contextlib
import json
import os
import shutil

_MARK = ".incomplete-"


def temporary_path(path, suffix=""):
    """The temporary name beside `path` that this process writes to.

    Args:
        path: str. The target.
        suffix: str. Appended after the process id, for writers that
            require an extension (`model.save_weights` wants
            `.weights.h5`, `np.savez` adds `.npz`). Defaults to "".

    Returns:
        str, `<path>.incomplete-<pid><suffix>`.

    Example:

    >>> import os
    >>> name = temporary_path("/data/model.weights.h5", ".weights.h5")
    >>> name == f"/data/model.weights.h5.incomplete-{os.getpid()}.weights.h5"
    True
    """
    return f"{os.fspath(path)}{_MARK}{os.getpid()}{suffix}"


@contextlib.contextmanager
def atomic_path(path, suffix="", replace_directory=False):
    """Yields a temporary path that is renamed onto `path` on success.

    The block writes a file or a folder at the yielded path. When it ends
    normally, what was written is flushed to disk and renamed onto `path`;
    when it raises, the temporary file or folder is removed and `path` is
    left as it was.

    A folder can replace a file or nothing in one atomic rename; an
    existing non-empty folder at `path` makes the rename fail
    (`OSError`) unless `replace_directory` is set, in which case the old
    folder is moved aside, the new one renamed in and the old one deleted
    (for a moment between the two renames `path` does not exist).

    Args:
        path: str. The target.
        suffix: str. See `temporary_path`. Defaults to "".
        replace_directory: bool. Whether an existing folder at `path` is
            swapped out. Defaults to False.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "numbers.txt")
    >>> with atomic_path(path) as temporary:
    ...     with open(temporary, "w") as stream:
    ...         _ = stream.write("1 2 3")
    >>> open(path).read()
    '1 2 3'
    """
    temporary = temporary_path(path, suffix)
    _remove(temporary)
    try:
        yield temporary
        _fsync_tree(temporary)
        if replace_directory and os.path.isdir(path):
            _swap_directory(temporary, path)
        else:
            os.replace(temporary, path)
    except BaseException:
        _remove(temporary)
        raise
    _fsync_directory(os.path.dirname(os.path.abspath(path)))


@contextlib.contextmanager
def open_atomic(path, mode="w", **kwargs):
    """`open(path, mode)` that replaces `path` only when the block ends.

    Args:
        path: str. The target.
        mode: str. A writing mode of `open` ("w", "wb"). Defaults to "w".
        **kwargs: forwarded to `open` (`encoding`, `newline`).

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "note.txt")
    >>> with open_atomic(path, encoding="utf-8") as stream:
    ...     _ = stream.write("written whole or not at all")
    >>> open(path).read()
    'written whole or not at all'
    """
    with atomic_path(path) as temporary:
        with open(temporary, mode, **kwargs) as stream:
            yield stream


def write_text_atomic(path, text, encoding="utf-8"):
    """Writes the string `text` to `path` atomically.

    Args:
        path: str. The target.
        text: str. The new content.
        encoding: str. Defaults to "utf-8".

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "results.md")
    >>> write_text_atomic(path, "| task | score |")
    >>> open(path).read()
    '| task | score |'
    """
    with open_atomic(path, "w", encoding=encoding) as stream:
        stream.write(text)


def write_json_atomic(path, value, indent=1, sort_keys=True):
    """Writes `value` as JSON to `path` atomically.

    Args:
        path: str. The target.
        value: a JSON-serialisable value.
        indent: int or None. As in `json.dump`. Defaults to 1.
        sort_keys: bool. As in `json.dump`. Defaults to True.

    Example:

    >>> import json, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "state.json")
    >>> write_json_atomic(path, {"epoch": 3})
    >>> json.load(open(path))
    {'epoch': 3}
    """
    with open_atomic(path, "w") as stream:
        json.dump(value, stream, indent=indent, sort_keys=sort_keys)


def remove_stale_temporaries(directory):
    """Deletes the temporary files of processes that are gone.

    A writer killed mid-file leaves its temporary file behind; one that
    is still running (another worker writing the same data) keeps it.

    Args:
        directory: str. The folder to clean.

    Example:

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> # What a writer with process id 999999999 (long gone) left behind.
    >>> open(os.path.join(folder, "a.json.incomplete-999999999"), "w").close()
    >>> remove_stale_temporaries(folder)
    >>> os.listdir(folder)
    []
    """
    for name in os.listdir(directory):
        stem, _, rest = name.rpartition(_MARK)
        pid = rest.split(".", 1)[0]
        if not stem or not pid.isdigit() or _is_running(int(pid)):
            continue
        _remove(os.path.join(directory, name))


def _is_running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _remove(path):
    """Deletes a file or folder, if there (another writer may race us)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def _swap_directory(source, target):
    aside = temporary_path(target, ".previous")
    _remove(aside)
    os.replace(target, aside)
    os.replace(source, target)
    _remove(aside)


def _fsync_tree(path):
    """Flushes a written file, or every file of a written folder."""
    if os.path.isdir(path):
        for folder, _, files in os.walk(path):
            for name in files:
                _fsync_file(os.path.join(folder, name))
            _fsync_directory(folder)
    elif os.path.exists(path):
        _fsync_file(path)


def _fsync_file(path):
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_directory(path):
    # The rename itself is durable only once its folder is flushed; some
    # platforms (Windows) cannot open a folder, and then we skip it.
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
