"""Order of factor levels (visits, arms): declared, or natural.

R fits factor levels in the order they are declared and takes the first as the reference;
order-dependent covariance structures (ar1, toep, adh, ...) depend on the visit order too.
A pandas Categorical's category order is the declared order; otherwise levels are put in
natural order, numbers inside labels compared as numbers (``week2 < week4 < week12``,
``VIS2 < VIS10``, ``"Week 2" < "Week 12"``), labels that are all numbers numerically.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from frailtrial.errors import InputError

_DIGITS = re.compile(r"(\d+)")


def natural_key(value: Any) -> tuple[Any, ...]:
    """Sort key comparing the digit runs of ``str(value)`` as integers; ties (``VIS01`` and
    ``VIS1``) are broken by the text itself."""
    text = str(value)
    parts = _DIGITS.split(text)  # text, digits, text, digits, ..., text
    return (*(int(p) if i % 2 else p for i, p in enumerate(parts)), text)


def _as_number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def natural_order(values: Iterable[Any]) -> list[Any]:
    """Distinct values in natural order: numerically if all are numbers (or number
    strings), else by :func:`natural_key`."""
    uniq = list(dict.fromkeys(values))
    numbers = [_as_number(v) for v in uniq]
    if uniq and not any(isinstance(v, bool) for v in uniq):
        known = [n for n in numbers if n is not None]
        if len(known) == len(uniq):
            return [v for _, v in sorted(zip(known, uniq, strict=True), key=lambda p: p[0])]
    return sorted(uniq, key=natural_key)


def is_factor(values: pd.Series) -> bool:
    """A column the model treats as a factor: categorical, text or boolean."""
    dtype = values.dtype
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
        or not pd.api.types.is_numeric_dtype(dtype)
    )


def level_order(values: pd.Series) -> list[Any]:
    """Levels of a column as the model uses them: a Categorical's categories in their
    declared order (those present), else the present values in natural order."""
    present = values.dropna()
    if isinstance(values.dtype, pd.CategoricalDtype):
        seen = set(present.unique())
        return [c for c in values.cat.categories if c in seen]
    return natural_order(present.unique().tolist())


def ordered_factor(values: pd.Series) -> pd.Series:
    """``values`` as a Categorical of the levels present, in :func:`level_order`."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.remove_unused_categories()
    return pd.Series(
        pd.Categorical(values, categories=level_order(values)), index=values.index, name=values.name
    )


def parse_levels(items: Iterable[str], option: str = "--levels") -> dict[str, list[str]]:
    """``COLUMN=L1,L2,...`` strings (one per column) -> {column: [levels]}."""
    out: dict[str, list[str]] = {}
    for item in items:
        column, sep, rest = item.partition("=")
        column = column.strip()
        levels = [lv.strip() for lv in rest.split(",")]
        if not sep or not column or not rest.strip():
            raise InputError(f"{option} {item!r}: expected COLUMN=LEVEL1,LEVEL2,...")
        if any(not lv for lv in levels):
            raise InputError(f"{option} {item!r}: empty level name; levels are comma-separated")
        dupes = sorted({lv for lv in levels if levels.count(lv) > 1})
        if dupes:
            raise InputError(f"{option} {item!r}: level(s) {', '.join(dupes)} given twice")
        if column in out:
            raise InputError(f"{option}: column {column} given twice; list its levels once")
        out[column] = levels
    return out


def declare_levels(
    data: pd.DataFrame, declared: dict[str, list[str]], option: str = "--levels"
) -> pd.DataFrame:
    """A copy of ``data`` whose declared columns are Categoricals in the declared order.
    Every declared level must occur in the column and every value of the column must be
    declared (compared as text); anything else is an InputError."""
    out = data.copy()
    for column, levels in declared.items():
        if column not in out.columns:
            raise InputError(
                f"{option} {column}=...: no column {column}; "
                f"columns are: {', '.join(map(str, out.columns))}"
            )
        text = out[column].map(lambda v: v if pd.isna(v) else str(v))
        present = set(text.dropna().unique())
        absent = [lv for lv in levels if lv not in present]
        if absent:
            raise InputError(
                f"{option} {column}=...: level(s) {', '.join(absent)} do not occur in column "
                f"{column} (values: {_listed(natural_order(present))})"
            )
        undeclared = natural_order(present - set(levels))
        if undeclared:
            row = int(np.flatnonzero(text.isin(undeclared[:1]).to_numpy())[0]) + 1
            raise InputError(
                f"{option} {column}=...: column {column} has value(s) "
                f"{_listed(undeclared)} not in the list (first at data row {row}); "
                + (  # the option to give, ready to copy, when it is short enough
                    f"give every level, e.g. {option} "
                    + shlex.quote(f"{column}={','.join([*levels, *undeclared])}")
                    if len(undeclared) <= 12
                    else f"give every level of column {column}"
                )
            )
        out[column] = pd.Categorical(text, categories=levels)
    return out


def _listed(values: list[Any], most: int = 12) -> str:
    shown = ", ".join(map(str, values[:most]))
    return shown if len(values) <= most else f"{shown}, ... ({len(values)} in all)"
