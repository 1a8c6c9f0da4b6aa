"""CSV files of data frames, written a column at a time.

:func:`write_csv` writes byte for byte what ``frame.to_csv(path, index=False,
lineterminator="\\n")`` writes (the csv module's minimal quoting, missing values empty), but
formats each distinct value of a column once (a categorical's categories, not its rows),
joins neighbouring columns that have few distinct pairs once per pair, and joins the rows in
C. pandas formats and writes row by row, which made most of
an export's time for a million measurements.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CHUNK_ROWS = 200_000  # rows formatted and written at a time (bounds the memory used)


_QUOTED = re.compile(r'[,"\r\n]')  # a field holding none of these is written as it is


def _field(value: Any) -> str:
    """One non-missing cell as the csv module writes it inside a row (minimal quoting)."""
    text = value if isinstance(value, str) else str(value)
    if not _QUOTED.search(text):
        return text
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([text])
    return out.getvalue()[:-1]


def _missing(values: Any) -> np.ndarray:
    return np.asarray(pd.isna(values), dtype=bool)


Coded = tuple[np.ndarray, list[str]]  # a column as codes into its distinct cells' text


def _codes(codes: np.ndarray, labels: list[str]) -> Coded:
    """Codes with -1 (missing) pointing at an empty cell appended to the labels."""
    return np.where(codes < 0, len(labels), codes), [*labels, ""]


def _numbers(values: np.ndarray, missing: np.ndarray | None) -> Coded:
    """Numbers as numpy and pandas print them (shortest round-trip text), missing empty; each
    distinct value is formatted once (measurements repeat their values a lot)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    labels = [*np.asarray(uniques).astype(str).tolist(), "", "-0.0"]
    if values.dtype.kind == "f":  # factorize holds -0.0 and 0.0 as one value
        codes[(values == 0) & np.signbit(values)] = len(labels) - 1
    if missing is not None and missing.any():
        codes[missing] = len(labels) - 2
    return codes, labels


def coded(column: pd.Series) -> Coded:
    """The column's cells as CSV text: codes (one per row) into the distinct texts."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes, labels = coded(pd.Series(column.cat.categories))
        return _codes(column.cat.codes.to_numpy(), [labels[c] for c in codes])
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        values = column.to_numpy()
        return _numbers(values, _missing(values) if dtype.kind == "f" else None)
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "biuf":
        missing = _missing(column.to_numpy())
        kind = {"b": bool, "f": float}.get(dtype.kind, np.int64)
        fill = {"b": False, "f": 0.0}.get(dtype.kind, 0)
        return _numbers(column.to_numpy(dtype=kind, na_value=fill), missing)
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        text = column.to_frame().to_csv(index=False, header=False, lineterminator="\n")
        codes, uniques = pd.factorize(np.array(text.split("\n")[:-1], dtype=object))
        return codes, list(uniques)  # pandas' own date formats
    values = column.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        codes, uniques = pd.factorize(values)  # text only: format each distinct value once
        return _codes(codes, [_field(v) for v in uniques])
    missing = _missing(values)
    cells = ["" if gone else _field(v) for v, gone in zip(values, missing, strict=True)]
    return np.arange(len(cells)), cells


def _joined(left: Coded, right: Coded, most: int) -> Coded | None:
    """Two neighbouring columns as one (their texts joined by a comma), when their distinct
    pairs number at most ``most``: rows are then joined from fewer, longer pieces."""
    width = len(right[1])
    codes, pairs = pd.factorize(left[0].astype(np.int64) * width + right[0])
    if len(pairs) > most:
        return None
    firsts, seconds = np.divmod(np.asarray(pairs), width)
    labels = [left[1][a] + "," + right[1][b] for a, b in zip(firsts, seconds, strict=True)]
    return codes, labels


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write ``frame`` (its columns, not its index) as CSV at ``path``."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerow([str(c) for c in frame.columns])
        n_cols = len(frame.columns)
        for start in range(0, len(frame), CHUNK_ROWS):
            part = frame.iloc[start : start + CHUNK_ROWS]
            pieces: list[Coded] = []
            for i in range(n_cols):
                column = coded(part.iloc[:, i])
                both = _joined(pieces[-1], column, len(part) // 4) if pieces else None
                if both is None:
                    pieces.append(column)
                else:
                    pieces[-1] = both
            if n_cols == 1:  # the csv module quotes a row's only field when it is empty
                pieces[0] = pieces[0][0], [t or '""' for t in pieces[0][1]]
            columns = [np.array(labels, dtype=object)[codes] for codes, labels in pieces]
            fh.write("\n".join(map(",".join, zip(*columns, strict=True))))
            fh.write("\n")
