"""The README's commands are the ones CI and users run."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def _section(readme, title):
    match = re.search(
        rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", readme, re.M | re.S
    )
    assert match, f"README has no section '## {title}'."
    return match.group(1)


def _commands(section):
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [ln.strip() for b in blocks for ln in b.splitlines() if ln.strip()]


def test_quick_start_has_exactly_two_commands():
    commands = _commands(_section(_read("README.md"), "Quick start"))
    assert len(commands) == 2, commands
    assert "pip install" in commands[0] and "python recipes/" in commands[0]
    assert "pip install" in commands[1] and "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    commands = _commands(_section(_read("README.md"), "Quick start"))
    ci = _read(".ci/run")
    match = re.search(r"^TEST_COMMAND='(.*)'$", ci, re.M)
    assert match, ".ci/run does not define TEST_COMMAND."
    assert match.group(1) == commands[1]


def test_quick_start_recipe_answers_help():
    commands = _commands(_section(_read("README.md"), "Quick start"))
    recipe = re.search(r"python (recipes/\S+\.py)", commands[0]).group(1)
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, recipe), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    # absl prints the usage and exits with status 1 after --help.
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    # Every flag the quick start passes is one the recipe defines.
    for flag in re.findall(r"(--\w+)", commands[0].split(recipe)[1]):
        assert flag in proc.stdout, (flag, proc.stdout[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
