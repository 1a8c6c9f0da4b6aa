"""analysis.records: the rows pandas' to_dict(orient="records") gives, with the same Python
values and types, for every kind of column the analysis frames hold."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from frailtrial.analysis.records import records


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "f": [1.5, np.nan, -0.0],
            "i": np.array([1, 2, 3], dtype=np.int64),
            "b": [True, False, True],
            "o": ["a", None, "c"],
            "s": pd.array(["x", None, "z"], dtype="string"),
            "I": pd.array([1, None, 3], dtype="Int64"),
            "B": pd.array([True, None, False], dtype="boolean"),
            "c": pd.Categorical(["lo", "hi", None], categories=["lo", "hi"]),
            "t": pd.to_datetime(["2024-01-02", None, "2024-03-04"]),
            7: [0.25, 0.5, 0.75],  # a column named by a number: its key is a string
        }
    )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and (a is b or a == b)


def test_records_equal_to_dict_value_for_value_and_type() -> None:
    frame = _frame()
    expected = [{str(k): v for k, v in r.items()} for r in frame.to_dict(orient="records")]
    got = records(frame)
    assert [list(r) for r in got] == [list(r) for r in expected]
    for g, e in zip(got, expected, strict=True):
        for key in e:
            assert _same(g[key], e[key]), (key, g[key], e[key])


def test_missing_values_as_none_like_the_json_rows() -> None:
    frame = _frame()
    clean = frame.astype(object).where(frame.notna(), None)
    expected = [{str(k): v for k, v in r.items()} for r in clean.to_dict(orient="records")]
    got = records(frame, missing_as_none=True)
    for g, e in zip(got, expected, strict=True):
        for key in e:
            assert _same(g[key], e[key]) or (g[key] == e[key]), (key, g[key], e[key])
        assert [k for k, v in g.items() if v is None] == [k for k, v in e.items() if v is None]


@pytest.mark.parametrize("n", [0, 1])
def test_empty_and_single_row_frames(n: int) -> None:
    frame = _frame().head(n)
    assert records(frame) == [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]
