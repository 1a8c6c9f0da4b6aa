"""Read, validate and write the tidy trial dataset (a folder of CSV files).

Reading checks every cell's type and allowed values and every key that joins, and stops at
the first problem with a message naming file, line and column (and how many more there
are): a bad file is never silently dropped or coerced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from frailtrial.dataset.schema import FILES, Column, FileSchema
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol

_TRUE = {"1", "true", "yes", "TRUE", "True", "Yes"}
_FALSE = {"0", "false", "no", "FALSE", "False", "No"}


@dataclass
class TrialDataset:
    """The six tables of a trial, typed; ``visits`` may be empty when not recorded."""

    participants: pd.DataFrame
    measurements: pd.DataFrame
    adverse_events: pd.DataFrame
    screening: pd.DataFrame
    dosing: pd.DataFrame
    visits: pd.DataFrame = field(default_factory=pd.DataFrame)

    def table(self, name: str) -> pd.DataFrame:
        frame: pd.DataFrame = getattr(self, name)
        return frame


def _choices(schema: FileSchema, col: Column, protocol: Protocol) -> tuple[str, ...]:
    if col.choices:
        return col.choices
    if col.name in ("arm", "arm_received"):
        return tuple(protocol.arm_names)
    if col.name == "visit":
        return tuple(v.name for v in protocol.visits)
    if col.name == "variable":
        return tuple(v.name for v in protocol.variables)
    raise AssertionError(f"no choices for {schema.name}.{col.name}")


class _Problems:
    """Collects the first problem and a count, to report one line."""

    def __init__(self) -> None:
        self.first: str | None = None
        self.count = 0

    def add(self, message: str, n: int = 1) -> None:
        if self.first is None:
            self.first = message
        self.count += n

    def raise_if_any(self) -> None:
        if self.first is not None:
            more = f" (and {self.count - 1} more problem(s))" if self.count > 1 else ""
            raise InputError(self.first + more)


def _where(schema: FileSchema, line: object, column: str) -> str:
    return f"{schema.filename} line {line}, column {column}"


def _parse_column(
    schema: FileSchema, col: Column, raw: pd.Series, protocol: Protocol, problems: _Problems
) -> pd.Series:
    """Turn a column of strings into its type, reporting the first bad cell."""
    text = raw.astype(str).str.strip()

    def report(bad: pd.Series, why: str) -> None:
        """The first cell where ``bad`` holds (its line and value) and how many there are."""
        if bad.any():
            line = text.index[bad.to_numpy()][0]
            problems.add(f"{_where(schema, line, col.name)}: {text[line]!r} {why}", int(bad.sum()))

    empty = text.eq("")
    if not col.nullable and empty.any():
        line = text.index[empty.to_numpy()][0]
        problems.add(
            f"{_where(schema, line, col.name)}: empty, a value is required", int(empty.sum())
        )
    bad: pd.Series
    if col.type == "str":
        return text.where(~empty, None)
    if col.type in ("int", "float"):
        num = pd.to_numeric(text.where(~empty, None), errors="coerce")
        bad = num.isna() & ~empty
        if col.type == "int":
            bad |= num.notna() & (num != np.round(num))
        bad |= num.notna() & ~np.isfinite(num.astype(float))
        if col.minimum is not None:
            bad |= num.notna() & (num < col.minimum)
        allowed = "an integer" if col.type == "int" else "a number"
        if col.minimum is not None:
            allowed += f" >= {col.minimum:g}"
        report(bad, f"is not {allowed}")
        if col.type == "int":
            return num.where(~bad, None).round().astype("Int64")
        return num.astype(float)
    if col.type == "bool":
        bad = ~(text.isin(_TRUE) | text.isin(_FALSE) | empty)
        report(bad, "is not true/false (allowed: true, false, 1, 0, yes, no)")
        out = pd.Series(pd.NA, index=text.index, dtype="boolean")
        out[text.isin(_TRUE)] = True
        out[text.isin(_FALSE)] = False
        return out if col.nullable else out.fillna(False).astype(bool)
    if col.type == "date":
        dates = pd.to_datetime(text.where(~empty, None), format="%Y-%m-%d", errors="coerce")
        bad = dates.isna() & ~empty
        report(bad, "is not a date YYYY-MM-DD")
        return dates
    options = _choices(schema, col, protocol)
    bad = ~text.isin(options) & ~empty
    what = {
        "arm": "an arm",
        "arm_received": "an arm",
        "visit": "a visit",
        "variable": "a variable",
    }.get(col.name, "allowed")
    report(bad, f"is not {what} of {protocol.name} (allowed: {', '.join(options)})")
    return text.where(~empty, None)


def _read_file(directory: Path, schema: FileSchema, protocol: Protocol) -> pd.DataFrame:
    path = directory / schema.filename
    if not path.is_file():
        if schema.optional:
            return pd.DataFrame({c.name: pd.Series(dtype=object) for c in schema.columns})
        raise InputError(
            f"{path}: missing; a trial dataset needs "
            + ", ".join(f.filename for f in FILES if not f.optional)
        )
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: not a readable CSV file ({exc.__class__.__name__})") from None
    known = {c.name for c in schema.columns}
    missing = [c.name for c in schema.columns if c.required and c.name not in raw.columns]
    if missing:
        raise InputError(
            f"{schema.filename}: missing column(s) {', '.join(missing)}; "
            f"required: {', '.join(c.name for c in schema.columns if c.required)}"
        )
    raw.index = pd.RangeIndex(2, len(raw) + 2)  # file line numbers (line 1 is the header)
    problems = _Problems()
    out = pd.DataFrame(index=raw.index)
    for col in schema.columns:
        if col.name in raw.columns:
            out[col.name] = _parse_column(schema, col, raw[col.name], protocol, problems)
    extra = [str(c) for c in raw.columns if c not in known]
    for name in extra:  # extra columns (e.g. baseline covariates) are kept as numbers or text
        values = raw[name].str.strip()
        num = pd.to_numeric(values.where(values != "", None), errors="coerce")
        numeric = bool((num.notna() | values.eq("")).all())
        out[name] = num if numeric else values.where(values != "", None)
    problems.raise_if_any()
    return out


def _check_keys(ds: TrialDataset, protocol: Protocol, line_word: str) -> None:
    """Unique keys, references between files, and baseline covariates the protocol names."""
    problems = _Problems()
    tables = {f.name: ds.table(f.name) for f in FILES}
    for schema in FILES:
        frame = tables[schema.name]
        if schema.key and len(frame):
            dup = frame.duplicated(list(schema.key), keep="first")
            if dup.any():
                line = frame.index[dup.to_numpy()][0]
                key = ", ".join(f"{k}={frame.at[line, k]!s}" for k in schema.key)
                problems.add(
                    f"{schema.filename} {line_word} {line}, column {schema.key[-1]}: "
                    f"duplicate {schema.row} ({key})",
                    int(dup.sum()),
                )
    ids = set(tables["participants"]["participant_id"])
    for schema in FILES:
        if schema.name == "participants":
            continue
        frame = tables[schema.name]
        if "participant_id" not in frame or not len(frame):
            continue
        pid = frame["participant_id"]
        unknown = pid.notna() & ~pid.isin(ids)
        if unknown.any():
            line = frame.index[unknown.to_numpy()][0]
            problems.add(
                f"{schema.filename} {line_word} {line}, column participant_id: "
                f"{pid[line]!r} is not in participants.csv",
                int(unknown.sum()),
            )
    parts = tables["participants"]
    for char in protocol.baseline_characteristics:
        if char.name not in parts.columns:
            problems.add(
                f"participants.csv: missing column {char.name} "
                f"(a baseline characteristic of {protocol.name})"
            )
    problems.raise_if_any()


def read_dataset(directory: str | Path, protocol: Protocol) -> TrialDataset:
    """Read and validate a tidy trial dataset folder against a protocol."""
    d = Path(directory)
    if not d.is_dir():
        raise InputError(f"--data {d}: not a folder holding a trial dataset")
    frames = {f.name: _read_file(d, f, protocol) for f in FILES}
    ds = TrialDataset(**frames)
    _check_keys(ds, protocol, "line")
    return ds


def validate_dataset(ds: TrialDataset, protocol: Protocol) -> None:
    """Check an in-memory dataset (e.g. a simulator's) by the same key and reference rules."""
    _check_keys(ds, protocol, "row")


def _format(frame: pd.DataFrame, schema: FileSchema) -> pd.DataFrame:
    out = frame.copy()
    for col in schema.columns:
        if col.name not in out:
            continue
        s = out[col.name]
        if col.type == "bool":
            out[col.name] = s.map(lambda v: "" if v is None or v is pd.NA else str(int(bool(v))))
        elif col.type == "date":
            out[col.name] = pd.to_datetime(s).dt.strftime("%Y-%m-%d").fillna("")
        elif col.type == "int":
            out[col.name] = s.astype("Int64")
    return out


def write_dataset(ds: TrialDataset, directory: str | Path) -> list[Path]:
    """Write the dataset as CSV files (deterministic bytes for the same content)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    written = []
    for schema in FILES:
        frame = ds.table(schema.name)
        if schema.optional and frame.empty:
            continue
        path = d / schema.filename
        _format(frame, schema).to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    return written
