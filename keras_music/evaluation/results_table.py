"""`ResultsTable`: methods side by side, as in the papers' tables."""

import csv
import io
import math
import os

import numpy as np

from keras_music.utils.atomic_write import write_text_atomic


class ResultsTable:
    """Rows are methods, columns are `task metric` pairs, cells mean ± std.

    A method is a row label such as `"maest_tiny frozen 10%"` (encoder,
    scenario, label fraction). Each cell holds the values of the trials;
    Markdown shows them in percent with one decimal, `mean ± std` when
    there are several trials (PASE reports 10), and `-` where a metric is
    undefined or missing. CSV keeps full precision: one column per
    `task/metric` for the mean and one for the standard deviation, plus
    the number of trials.

    Example:

    >>> table = ResultsTable()
    >>> table.add("s3t frozen 100%", "genre", {"top1": [0.811]})
    >>> print(table.to_markdown())
    | method | genre top1 |
    |---|---|
    | s3t frozen 100% | 81.1 |

    Reference:
        Zhao et al., "S3T", ICASSP 2022, Tables 1 and 2 (methods by task
        metrics, label fractions as rows).
    """

    def __init__(self):
        self.rows = {}
        self.columns = []

    def add(self, method, task, values):
        """Adds results: `values` maps metric name -> value or trial list."""
        if not isinstance(method, str) or not method:
            raise ValueError(
                f"`method` must be a non-empty string. Received: "
                f"method={method!r}"
            )
        row = self.rows.setdefault(method, {})
        for metric, value in values.items():
            column = (task, metric)
            if column not in self.columns:
                self.columns.append(column)
            trials = np.atleast_1d(np.asarray(value, dtype="float64"))
            row[column] = trials

    def cell(self, method, task, metric):
        """`(mean, std, trials)` of a cell; `nan` mean when undefined."""
        trials = self.rows.get(method, {}).get((task, metric))
        if trials is None:
            return math.nan, math.nan, 0
        finite = trials[np.isfinite(trials)]
        if len(finite) == 0:
            return math.nan, math.nan, len(trials)
        return float(finite.mean()), float(finite.std()), len(trials)

    def to_markdown(self):
        header = ["method"] + [f"{t} {m}" for t, m in self.columns]
        lines = [
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        for method in self.rows:
            cells = [method]
            for task, metric in self.columns:
                mean, std, trials = self.cell(method, task, metric)
                if math.isnan(mean):
                    cells.append("-")
                elif trials > 1:
                    cells.append(f"{100 * mean:.1f} ± {100 * std:.1f}")
                else:
                    cells.append(f"{100 * mean:.1f}")
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_csv(self, path=None):
        """The table as CSV text; also written to `path` when given."""
        stream = io.StringIO()
        writer = csv.writer(stream, lineterminator="\n")
        header = ["method"]
        for task, metric in self.columns:
            header += [f"{task}/{metric}", f"{task}/{metric}/std"]
        writer.writerow(header + ["trials"])
        for method in self.rows:
            row, trials = [method], 0
            for task, metric in self.columns:
                mean, std, count = self.cell(method, task, metric)
                trials = max(trials, count)
                row += ["" if math.isnan(mean) else repr(mean)]
                row += ["" if math.isnan(std) else repr(std)]
            writer.writerow(row + [trials])
        text = stream.getvalue()
        if path is not None:
            write_text_atomic(path, text)
        return text

    def save(self, directory, name="results"):
        """Writes `<name>.md` and `<name>.csv` under `directory`."""
        os.makedirs(directory, exist_ok=True)
        markdown = os.path.join(directory, f"{name}.md")
        write_text_atomic(markdown, self.to_markdown() + "\n")
        self.to_csv(os.path.join(directory, f"{name}.csv"))
        return markdown, os.path.join(directory, f"{name}.csv")
