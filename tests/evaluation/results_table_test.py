import csv
import io
import os

import numpy as np
import pytest

from keras_music.evaluation.results_table import ResultsTable


def _table():
    table = ResultsTable()
    table.add("s3t frozen 1%", "mtat", {"pr_auc": [0.272], "roc_auc": 0.774})
    table.add("s3t frozen 100%", "mtat", {"pr_auc": 0.409, "roc_auc": 0.899})
    table.add("s3t frozen 100%", "gtzan", {"top1": [0.8, 0.82]})
    table.add("pase frozen 100%", "gtzan", {"top1": [float("nan")]})
    return table


def test_markdown_puts_methods_side_by_side():
    expected = "\n".join(
        [
            "| method | mtat pr_auc | mtat roc_auc | gtzan top1 |",
            "|---|---|---|---|",
            "| s3t frozen 1% | 27.2 | 77.4 | - |",
            "| s3t frozen 100% | 40.9 | 89.9 | 81.0 ± 1.0 |",
            "| pase frozen 100% | - | - | - |",
        ]
    )
    assert _table().to_markdown() == expected


def test_csv_keeps_full_precision(tmp_path):
    path = tmp_path / "results.csv"
    text = _table().to_csv(str(path))
    assert path.read_text() == text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["method"] for r in rows] == [
        "s3t frozen 1%",
        "s3t frozen 100%",
        "pase frozen 100%",
    ]
    assert float(rows[0]["mtat/pr_auc"]) == 0.272
    assert float(rows[1]["gtzan/top1"]) == pytest.approx(0.81)
    assert float(rows[1]["gtzan/top1/std"]) == pytest.approx(
        np.std([0.8, 0.82])
    )
    assert rows[1]["trials"] == "2"
    assert rows[2]["gtzan/top1"] == ""


def test_save_writes_both(tmp_path):
    markdown, table_csv = _table().save(str(tmp_path / "out"))
    assert os.path.basename(markdown) == "results.md"
    assert open(markdown).read().startswith("| method |")
    assert open(table_csv).read().startswith("method,")


def test_errors():
    with pytest.raises(ValueError, match="`method` must be a non-empty"):
        ResultsTable().add("", "task", {"top1": 0.5})
