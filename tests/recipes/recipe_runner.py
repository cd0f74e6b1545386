"""Running recipes as subprocesses in tests (absl flags and logical CPU
devices are process-wide, so every run gets its own interpreter)."""

import os
import signal
import subprocess
import sys
import time

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


def kill_after_first_backup(command, backup, timeout=900):
    """Starts `command` and SIGKILLs it once `BackupAndRestore` under
    `backup` has saved a finished epoch."""
    first = subprocess.Popen(
        command,
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + timeout
    while time.time() < deadline and first.poll() is None:
        if os.path.exists(os.path.join(backup, "training_metadata.json")):
            break
        time.sleep(0.2)
    assert first.poll() is None, "the first run ended before being killed"
    first.send_signal(signal.SIGKILL)
    first.wait()
