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
    folder is swapped out by `swap_directory` (for a moment between its
    two renames `path` does not exist; a process killed then is undone
    by the next `atomic_path(path, replace_directory=True)`).

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
    if replace_directory:
        # The folder of a swap killed midway is back; its new one, of a
        # process gone, is not known to be whole.
        finish_directory_swap(path)
    try:
        yield temporary
        _fsync_tree(temporary)
        if replace_directory and os.path.isdir(path):
            swap_directory(temporary, path)
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


def previous_path(target):
    """Where `swap_directory` keeps the folder it replaces: a fixed name
    `<target>.previous` (not a temporary one: a process killed midway
    leaves it for `finish_directory_swap`, not for
    `remove_stale_temporaries`)."""
    return os.path.normpath(os.fspath(target)) + ".previous"


def swap_directory(source, target):
    """Replaces the folder `target` by the complete folder `source`.

    `target` is renamed to `previous_path(target)`, `source` to `target`,
    then the previous folder is deleted: readers see the old folder or
    the new one, never a mix. If the second rename fails the old folder
    is put back. A process killed between the renames leaves no
    `target`; `finish_directory_swap` completes or undoes the swap.
    Callers that may swap the same target concurrently hold a lock.

    Args:
        source: str. The new folder, on the file system of `target`.
        target: str. The folder replaced.

    Example:

    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> for name in ("data", "new"):
    ...     os.makedirs(os.path.join(root, name, name))
    >>> swap_directory(os.path.join(root, "new"), os.path.join(root, "data"))
    >>> sorted(os.listdir(root)), os.listdir(os.path.join(root, "data"))
    (['data'], ['new'])
    """
    previous = previous_path(target)
    _remove(previous)
    os.rename(target, previous)
    try:
        os.rename(source, target)
    except BaseException:
        os.rename(previous, target)
        raise
    _remove(previous)


def finish_directory_swap(target, source=None, is_complete=os.path.isdir):
    """Completes a `swap_directory` that a killed process left half-done.

    With no `target` but its previous folder there, `target` becomes
    `source` when `is_complete(source)` (the swap is completed), else
    the previous folder (the swap is undone). A leftover previous folder
    beside a `target` is deleted. Nothing to finish, nothing done.

    Args:
        target: str. The folder swapped.
        source: optional str. The new folder of the swap, when it has a
            known name. Defaults to `None`: the swap is undone.
        is_complete: callable. Whether `source` was whole. Defaults to
            `os.path.isdir`.

    Example:

    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> # Killed after moving `data` aside, before moving `new` in.
    >>> os.makedirs(os.path.join(root, "data.previous", "old"))
    >>> os.makedirs(os.path.join(root, "new", "new"))
    >>> data = os.path.join(root, "data")
    >>> finish_directory_swap(data, os.path.join(root, "new"))
    >>> sorted(os.listdir(root)), os.listdir(data)
    (['data'], ['new'])
    """
    previous = previous_path(target)
    if not os.path.isdir(previous):
        return
    if not os.path.isdir(target):
        finished = source is not None and is_complete(source)
        os.rename(source if finished else previous, target)
    _remove(previous)


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
