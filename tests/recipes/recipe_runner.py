"""Running recipes as subprocesses in tests (absl flags and logical CPU
devices are process-wide, so every run gets its own interpreter)."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings

import h5py

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")


def recipe_command(name, *flags):
    """`python recipes/<name>.py FLAGS...` as an argument list."""
    return [sys.executable, os.path.join(ROOT, "recipes", f"{name}.py"), *flags]


def run_recipe(command, timeout=900):
    """Runs `command` from the repository root; asserts that it succeeds.

    Timeouts are generous: the 2-core CI machine runs the whole suite.
    """
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=ENV,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


# One interpreter parses each command line and runs the recipe's `main`
# (bad flags fail before any training), to pay TensorFlow's import once.
_FLAG_ERRORS_SCRIPT = """
import importlib.util
import json
import os
import re
import sys

from absl import flags

# The recipe imports its siblings (`run_flags`, `contrastive_common`).
sys.path.insert(0, os.path.dirname(sys.argv[1]))
spec = importlib.util.spec_from_file_location("recipe", sys.argv[1])
recipe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(recipe)
errors = []
for argv in json.loads(sys.argv[2]):
    recipe.FLAGS.unparse_flags()
    try:
        recipe.FLAGS([os.path.basename(sys.argv[1]), *argv])
        recipe.main(None)
        errors.append(None)
    except (ValueError, flags.Error) as error:
        errors.append(str(error))
print(json.dumps(errors))
"""


def flag_errors(name, cases, timeout=900):
    """Runs `recipes/<name>.py` on each command line of `cases` (pairs
    `(argv, pattern)`) in one interpreter and asserts that each fails with
    a `ValueError` or flag error whose message matches `pattern`."""
    proc = run_recipe(
        [
            sys.executable,
            "-c",
            _FLAG_ERRORS_SCRIPT,
            os.path.join(ROOT, "recipes", f"{name}.py"),
            json.dumps([argv for argv, _ in cases]),
        ],
        timeout=timeout,
    )
    errors = json.loads(proc.stdout.strip().splitlines()[-1])
    for (argv, pattern), error in zip(cases, errors, strict=True):
        assert error is not None, f"{argv} ran without an error"
        assert re.search(pattern, error), (argv, error)


def kill_after_first_backup(command, backup, timeout=900):
    """Starts `command` and SIGKILLs it once `AtomicBackupAndRestore`
    under `backup` has committed a finished epoch."""
    first = subprocess.Popen(
        command,
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + timeout
    while time.time() < deadline and first.poll() is None:
        if os.path.exists(os.path.join(backup, "checkpoint.json")):
            break
        time.sleep(0.2)
    assert first.poll() is None, "the first run ended before being killed"
    first.send_signal(signal.SIGKILL)
    first.wait()


def free_ports(count):
    """`count` TCP ports free on 127.0.0.1 right now."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def start_workers(command, num_workers=2, env=None):
    """Starts `command` once per worker of a local multi-worker cluster.

    Each process gets the `TF_CONFIG` of its task (workers on free ports
    of 127.0.0.1; worker 0 is the chief). Returns the `Popen`s; their
    stdout and stderr go to files (a full pipe would stall one worker,
    and with it the others), read back by `finish_workers`.
    """
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(num_workers)]}
    processes = []
    for index in range(num_workers):
        task = {"type": "worker", "index": index}
        config = json.dumps({"cluster": cluster, "task": task})
        logs = (tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+"))
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=dict(env or ENV, TF_CONFIG=config),
            stdout=logs[0],
            stderr=logs[1],
        )
        process.logs = logs
        processes.append(process)
    return processes


def finish_workers(processes, timeout=900, check=True):
    """Waits for every worker (all are killed past `timeout` seconds) and
    returns their `(stdout, stderr)`; with `check`, asserts that each
    succeeded."""
    deadline = time.time() + timeout
    try:
        for process in processes:
            try:
                process.wait(timeout=max(1.0, deadline - time.time()))
            except subprocess.TimeoutExpired:
                break
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    outputs = []
    for process in processes:
        streams = []
        for stream in process.logs:
            stream.seek(0)
            streams.append(stream.read())
            stream.close()
        outputs.append(tuple(streams))
    if check:
        check_workers(processes, outputs)
    return outputs


def check_workers(processes, outputs):
    """Asserts that every worker succeeded, showing every failed worker's
    log: the first to fail says why, the others only that a peer stopped
    answering."""
    failed = [
        f"worker {index} (exit {process.returncode}):\n{stderr[-3000:]}"
        for index, (process, (_, stderr)) in enumerate(zip(processes, outputs))
        if process.returncode != 0
    ]
    assert not failed, "\n\n".join(failed)


LOST_PEER = "stopped sending heartbeats"


def run_workers(command, num_workers=2, timeout=900, attempts=2):
    """Runs `command` on a local cluster (`start_workers`) and returns the
    workers' `(stdout, stderr)`, asserting that each succeeded.

    The cluster is started again (at most `attempts` times) when a worker
    reports that a peer stopped sending heartbeats: on the 2-core CI
    machine, running the rest of the suite beside it, a starved worker can
    miss the coordination service's heartbeat. The retry is announced with
    every worker's log; a failure that happens again fails the test with
    all the logs, and any other failure fails at once.
    """
    for attempt in range(1, attempts + 1):
        processes = start_workers(command, num_workers)
        outputs = finish_workers(processes, timeout=timeout, check=False)
        lost_peer = any(
            process.returncode != 0 and LOST_PEER in stderr
            for process, (_, stderr) in zip(processes, outputs)
        )
        if not lost_peer or attempt == attempts:
            break
        warnings.warn(
            f"Attempt {attempt} of a {num_workers}-worker run lost a peer; "
            "starting it again. Worker logs:\n"
            + "\n---\n".join(stderr[-1500:] for _, stderr in outputs),
            stacklevel=2,
        )
    check_workers(processes, outputs)
    return outputs


def h5_arrays(path):
    """Every array of a `.weights.h5` file, by its path in the file."""
    arrays = {}
    with h5py.File(path, "r") as stream:
        stream.visititems(
            lambda name, item: (
                arrays.__setitem__(name, item[()])
                if isinstance(item, h5py.Dataset)
                else None
            )
        )
    return arrays
