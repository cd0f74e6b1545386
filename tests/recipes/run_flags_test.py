"""`recipes/run_flags.py`'s helpers, in a subprocess (importing it defines
absl flags, which are process-wide)."""

import json
import subprocess
import sys

from tests.recipes.recipe_runner import ENV
from tests.recipes.recipe_runner import ROOT

SCRIPT = """
import json
import os
import sys

sys.path.insert(0, os.path.join(sys.argv[1], "recipes"))
import run_flags

run_flags.FLAGS(["run_flags", "--seed=3", "--corpus_clips=7", "--data=d"])
defaults = {"seed": 0, "corpus_clips": 600, "task": "dance", "x": 1}
print(json.dumps({
    "all": run_flags.flags_or_defaults({"seed": 0, "task": "dance"}),
    "some": run_flags.flags_or_defaults(defaults, ("corpus_clips", "task")),
    "demo": run_flags.cpu_demo(),
}))
"""


def test_flags_over_defaults_and_the_demo_test():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, ROOT],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # A flag given wins; an unset one (`--task`: None) takes the default;
    # only the names asked for (not `x`).
    assert result["all"] == {"seed": 3, "task": "dance"}
    assert result["some"] == {"corpus_clips": 7, "task": "dance"}
    # With --data the run is never the CPU demo.
    assert result["demo"] is False
