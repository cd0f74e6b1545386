"""Checks of `benchmarks/augmentation.py`: a tiny run times every stage
at CLMR's probability and at p=1, and the whole chain."""

from benchmarks.augmentation import STAGES
from benchmarks.augmentation import main


def test_prints_a_time_for_every_stage_and_the_chain(capsys):
    main(
        [
            "--batch_size=2",
            "--clip_samples=4096",
            "--span_seconds=0.5",
            "--repeats=1",
        ]
    )
    lines = capsys.readouterr().out.splitlines()
    rows = {}
    for line in lines[2:]:
        label, value = line.rsplit(maxsplit=1)
        rows[label.strip()] = float(value)
    expected = [f"{name} p={p}" for name, _, p in STAGES]
    expected += [f"{name} p=1" for name, _, _ in STAGES]
    expected += ["CLMRAugment (2 views)"]
    assert sorted(rows) == sorted(expected)
    assert all(ms > 0.0 for ms in rows.values())
