"""Rows of a data frame as dictionaries, a column at a time.

``DataFrame.to_dict(orient="records")`` boxes every value through pandas one by one; on
the wide frames of Tables 1-3 and the models that took ~0.1 s of each ``analyze``.
:func:`records` gives the same Python values (numbers as ``float``/``int``/``bool``, the
rest as pandas boxes them) from each column's list.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.core.dtypes.cast import maybe_box_native


def _column(s: pd.Series, missing_as_none: bool) -> list[Any]:
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "biuf":
        array = s.to_numpy()
        values = array.tolist()  # numpy numbers: Python numbers, as to_dict gives them
        na = np.isnan(array) if missing_as_none and array.dtype.kind == "f" else None
    else:
        array = s.to_numpy(dtype=object)
        values = [maybe_box_native(v) for v in array]
        na = pd.isna(array) if missing_as_none else None
    if na is not None and na.any():
        values = [None if gone else v for v, gone in zip(values, na, strict=True)]
    return values


def records(frame: pd.DataFrame, missing_as_none: bool = False) -> list[dict[str, Any]]:
    """``frame.to_dict(orient="records")`` with ``str`` keys; with ``missing_as_none``, each
    missing value (NaN, NA, NaT, None) is None (the JSON documents' rows). The columns are
    read through ``items()`` and their missing values found on the arrays: indexing a
    column and ``Series.isna`` cost pandas ~0.1 ms each."""
    keys = [str(k) for k in frame.columns]
    columns = [_column(s, missing_as_none) for _, s in frame.items()]
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]
