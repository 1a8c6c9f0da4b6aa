"""Problems found in a trial dataset, collected to be reported at once, one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from frailtrial.errors import InputError


class DatasetError(InputError):
    """A dataset with problems: ``problems`` holds the lines to print (a few per kind, then
    one line counting the rest of that kind); ``total`` counts every problem found."""

    def __init__(self, problems: list[str], total: int) -> None:
        self.problems = problems
        self.total = total
        super().__init__("\n".join(problems))


SHOWN_PER_KIND = 5
"""At most this many lines for one kind of problem (one column's bad cells, one check)."""


def cell(filename: str, line: object, column: str, line_word: str = "line") -> str:
    """Where a problem is, as every dataset message names it: "<file> line 12, column x"
    (``line_word`` "row" for in-memory tables, whose row labels are not file lines)."""
    return f"{filename} {line_word} {line}, column {column}"


class Problems:
    """Collects every problem of a dataset, one line each, to raise them at once."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.total = 0

    def add(self, message: str) -> None:
        self.lines.append(message)
        self.total += 1

    def add_rows(self, messages: list[str], count: int, more: str) -> None:
        """The first ``messages`` of ``count`` problems of one kind; the rest counted in one
        line ``"<more>: N more"``."""
        shown = messages[:SHOWN_PER_KIND]
        self.lines += shown
        if count > len(shown):
            self.lines.append(f"{more}: {count - len(shown)} more")
        self.total += count

    def raise_if_any(self) -> None:
        if self.total:
            raise DatasetError(self.lines, self.total)


def report_rows(
    problems: Problems,
    bad: pd.Series | np.ndarray,
    index: pd.Index,
    message: Callable[[Any], str],
    more: str,
) -> None:
    """Report the rows where ``bad`` holds: ``message(label)`` for the first few row labels
    of ``index``, and how many more there are (only those few messages are formatted)."""
    flags = np.asarray(bad, dtype=bool)
    count = int(flags.sum())
    if count:
        first = index[np.flatnonzero(flags)[:SHOWN_PER_KIND]]
        problems.add_rows([message(label) for label in first], count, more)
