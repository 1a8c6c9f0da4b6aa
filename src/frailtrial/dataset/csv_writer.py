"""CSV files of data frames, written a column at a time.

:func:`write_csv` writes byte for byte what ``frame.to_csv(path, index=False,
lineterminator="\\n")`` writes (the csv module's minimal quoting, missing values empty), but
formats each column once with numpy's string functions (a categorical's categories once, not
per row) and joins the rows in C. pandas formats and writes row by row, which made most of
an export's time for a million measurements.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TEXT = np.dtypes.StringDType()
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


def _numbers(values: np.ndarray, missing: np.ndarray | None) -> np.ndarray:
    """Numbers as numpy and pandas print them (shortest round-trip text), missing empty."""
    out = values.astype(TEXT)
    if missing is not None and missing.any():
        out[missing] = ""
    return out


def cells(column: pd.Series) -> np.ndarray:
    """The column's cells as CSV text (a numpy string array)."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        labels = cells(pd.Series(column.cat.categories))
        codes = column.cat.codes.to_numpy()
        return np.append(labels, np.array([""], dtype=TEXT))[codes]  # code -1 (missing): ""
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
        return np.array(text.split("\n")[:-1], dtype=TEXT)  # pandas' own date formats
    values = column.to_numpy(dtype=object)
    missing = _missing(values)
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        codes, uniques = pd.factorize(values)  # text only: format each distinct value once
        labels = np.array([_field(v) for v in uniques] + [""], dtype=TEXT)
        return labels[codes]
    return np.array(
        ["" if gone else _field(v) for v, gone in zip(values, missing, strict=True)], dtype=TEXT
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
            lines = columns[0]
            for col in columns[1:]:
                lines = np.strings.add(np.strings.add(lines, ","), col)
            fh.write("\n".join(lines.tolist()))
            fh.write("\n")
