"""End-to-end smoke test of recipes/evaluate.py on the tiny corpus."""

import csv
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def test_recipe_prints_and_saves_the_table(tiny_corpus, tmp_path):
    data = os.path.dirname(tiny_corpus["train"])
    command = [
        sys.executable,
        os.path.join(ROOT, "recipes", "evaluate.py"),
        "--encoder=maest_tiny",
        f"--data={data}",
        "--protocol=s3t",
        "--fractions=0.5,1.0",
        "--scenario=frozen",
        "--epochs=2",
        "--block=1",
        "--tasks=style,instrument",
        f"--output={tmp_path}",
    ]
    env = dict(os.environ, PYTHONPATH=ROOT)
    run = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| maest_tiny frozen 50% |" in run.stdout
    assert "| maest_tiny frozen 100% |" in run.stdout
    with open(tmp_path / "results.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [r["method"] for r in rows] == [
        "maest_tiny frozen 50%",
        "maest_tiny frozen 100%",
    ]
    assert {"style/top1", "style/f1", "instrument/roc_auc"} <= set(rows[0])
    assert "dance/top1" not in rows[0]
    assert (tmp_path / "results.md").read_text().startswith("| method |")
