"""CSV files of data frames, written a column at a time.

:func:`write_csv` writes byte for byte what ``frame.to_csv(path, index=False,
lineterminator="\\n")`` writes (the csv module's minimal quoting, missing values empty), but
formats each column at once, each distinct value once (a categorical's categories, not its
rows), and joins the rows in C. pandas formats and writes row by row, which made most of
an export's time for a million measurements.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CHUNK_ROWS = 200_000  # rows formatted and written at a time (bounds the memory used)


def _field(value: Any) -> str:
    """One non-missing cell as the csv module writes it inside a row (minimal quoting)."""
    text = value if isinstance(value, str) else str(value)
    if text == "":
        return ""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([text])
    return out.getvalue()[:-1]


def _missing(values: Any) -> np.ndarray:
    return np.asarray(pd.isna(values), dtype=bool)


def _take(labels: list[str], codes: np.ndarray) -> np.ndarray:
    """``labels[code]`` per row (code -1: an empty cell), as an array of the same str objects."""
    return np.array([*labels, ""], dtype=object)[codes]


def _numbers(values: np.ndarray, missing: np.ndarray | None) -> np.ndarray:
    """Numbers as numpy and pandas print them (shortest round-trip text), missing empty; each
    distinct value is formatted once (measurements repeat their values a lot)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    out = _take(np.asarray(uniques).astype(str).tolist(), codes)
    if values.dtype.kind == "f":  # factorize holds -0.0 and 0.0 as one value
        out[(values == 0) & np.signbit(values)] = "-0.0"
    if missing is not None and missing.any():
        out[missing] = ""
    return out


def cells(column: pd.Series) -> np.ndarray:
    """The column's cells as CSV text (an array of str)."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        labels = cells(pd.Series(column.cat.categories)).tolist()
        return _take(labels, column.cat.codes.to_numpy())
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        values = column.to_numpy()
        return _numbers(values, _missing(values) if dtype.kind == "f" else None)
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "biuf":
        missing = _missing(column.to_numpy())
        kind = {"b": bool, "f": float}.get(dtype.kind, np.int64)
        fill = {"b": False, "f": 0.0}.get(dtype.kind, 0)
        values = column.to_numpy(dtype=kind, na_value=fill)
        return _numbers(values, missing)
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        text = column.to_frame().to_csv(index=False, header=False, lineterminator="\n")
        return np.array(text.split("\n")[:-1], dtype=object)  # pandas' own date formats
    values = column.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        codes, uniques = pd.factorize(values)  # text only: format each distinct value once
        return _take([_field(v) for v in uniques], codes)
    missing = _missing(values)
    return np.array(
        ["" if gone else _field(v) for v, gone in zip(values, missing, strict=True)], dtype=object
    )


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write ``frame`` (its columns, not its index) as CSV at ``path``."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerow([str(c) for c in frame.columns])
        n_cols = len(frame.columns)
        for start in range(0, len(frame), CHUNK_ROWS):
            part = frame.iloc[start : start + CHUNK_ROWS]
            columns = [cells(part.iloc[:, i]) for i in range(n_cols)]
            if n_cols == 1:  # the csv module quotes a row's only field when it is empty
                columns[0][columns[0] == ""] = '""'
            fh.write("\n".join(map(",".join, zip(*columns, strict=True))))
            fh.write("\n")
