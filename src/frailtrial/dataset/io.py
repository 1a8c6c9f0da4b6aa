"""Read, validate and write the tidy trial dataset (a folder of CSV files).

Reading checks every cell's type and allowed values, every key that joins, and the contents
the analysis relies on (:mod:`frailtrial.dataset.checks`), and reports every problem at once,
one line each naming file, line and column (a few per kind, then how many more): a bad file
is never silently dropped or coerced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from frailtrial.dataset.checks import check_contents, check_primary_endpoint
from frailtrial.dataset.csv_writer import write_csv
from frailtrial.dataset.problems import Problems, cell, report_rows
from frailtrial.dataset.schema import FILES, Column, FileSchema
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol

_TRUE = {"1", "true", "yes", "TRUE", "True", "Yes"}
_FALSE = {"0", "false", "no", "FALSE", "False", "No"}


@dataclass
class TrialDataset:
    """The tables of a trial, typed; ``visits`` and ``intercurrent_events`` may be empty
    when not recorded."""

    participants: pd.DataFrame
    measurements: pd.DataFrame
    adverse_events: pd.DataFrame
    screening: pd.DataFrame
    dosing: pd.DataFrame
    visits: pd.DataFrame = field(default_factory=pd.DataFrame)
    intercurrent_events: pd.DataFrame = field(default_factory=pd.DataFrame)

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


def _parse_column(
    schema: FileSchema, col: Column, raw: pd.Series, protocol: Protocol, problems: Problems
) -> pd.Series:
    """Turn a column of strings into its type, reporting its bad cells."""
    text = raw.astype(str).str.strip()
    more = f"{schema.filename}, column {col.name}"

    def report(bad: pd.Series, why: str) -> None:
        """Each cell where ``bad`` holds: its line, value and what is allowed."""
        report_rows(
            problems,
            bad,
            text.index,
            lambda line: f"{cell(schema.filename, line, col.name)}: {text[line]!r} {why}",
            more,
        )

    empty = text.eq("")
    if not col.nullable:
        report_rows(
            problems,
            empty,
            text.index,
            lambda line: f"{cell(schema.filename, line, col.name)}: empty, a value is required",
            more,
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
        return num.where(~bad).astype(float)
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
    }.get(col.name)
    noun = col.name.replace("_", " ")
    article = "an" if noun[0] in "aeiou" else "a"
    of = f"{what} of {protocol.name}" if what else f"{article} {noun} value"
    report(bad, f"is not {of} (allowed: {', '.join(options)})")
    return text.where(~empty, None)


def _read_file(
    directory: Path, schema: FileSchema, protocol: Protocol, problems: Problems
) -> pd.DataFrame | None:
    """The typed table of one file; None (with the problem recorded) when the file is absent,
    unreadable or lacks a required column."""
    path = directory / schema.filename
    needs = ", ".join(c.name for c in schema.columns if c.required)
    if not path.is_file():
        if schema.optional:
            return pd.DataFrame({c.name: pd.Series(dtype=object) for c in schema.columns})
        problems.add(
            f"{path}: missing; a trial dataset needs "
            + ", ".join(f.filename for f in FILES if not f.optional)
        )
        return None
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError:
        problems.add(f"{path}: empty file, not even a header line; required columns: {needs}")
        return None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        problems.add(f"{path}: not a readable CSV file ({exc.__class__.__name__})")
        return None
    known = {c.name for c in schema.columns}
    missing = [c.name for c in schema.columns if c.required and c.name not in raw.columns]
    if missing:
        problems.add(
            f"{schema.filename}: missing column(s) {', '.join(missing)}; required: {needs}"
        )
        return None
    raw.index = pd.RangeIndex(2, len(raw) + 2)  # file line numbers (line 1 is the header)
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
    return out


def _check_keys(ds: TrialDataset, protocol: Protocol, line_word: str, problems: Problems) -> None:
    """Unique keys, references between files, and baseline covariates the protocol names."""
    tables = {f.name: ds.table(f.name) for f in FILES}
    for schema in FILES:
        frame = tables[schema.name]
        if schema.key and len(frame):
            dup = frame.duplicated(list(schema.key), keep="first")

            def duplicate(
                line: Any, schema: FileSchema = schema, frame: pd.DataFrame = frame
            ) -> str:
                key = ", ".join(f"{k}={frame.at[line, k]!s}" for k in schema.key)
                return (
                    f"{cell(schema.filename, line, schema.key[-1], line_word)}: "
                    f"duplicate {schema.row} ({key})"
                )

            report_rows(problems, dup, frame.index, duplicate, f"{schema.filename}, duplicates")
    ids = tables["participants"]["participant_id"]
    for schema in FILES:
        if schema.name == "participants":
            continue
        frame = tables[schema.name]
        if "participant_id" not in frame or not len(frame):
            continue
        pid = frame["participant_id"]
        unknown = pid.notna() & ~pid.isin(ids)

        def stranger(line: Any, schema: FileSchema = schema, pid: pd.Series = pid) -> str:
            return (
                f"{cell(schema.filename, line, 'participant_id', line_word)}: "
                f"{pid[line]!r} is not in participants.csv"
            )

        report_rows(
            problems, unknown, frame.index, stranger, f"{schema.filename}, unknown participants"
        )
    parts = tables["participants"]
    for char in protocol.baseline_characteristics:
        if char.name not in parts.columns:
            problems.add(
                f"participants.csv: missing column {char.name} "
                f"(a baseline characteristic of {protocol.name})"
            )


def read_dataset(
    directory: str | Path, protocol: Protocol, *, for_analysis: bool = False
) -> TrialDataset:
    """Read and validate a tidy trial dataset folder against a protocol; every problem is
    raised at once as a :class:`DatasetError`. ``for_analysis`` also requires data for the
    primary endpoint in every arm (``frailtrial analyze``)."""
    d = Path(directory)
    if not d.is_dir():
        raise InputError(f"--data {d}: not a folder holding a trial dataset")
    problems = Problems()
    frames = {f.name: _read_file(d, f, protocol, problems) for f in FILES}
    present = {k: v for k, v in frames.items() if v is not None}
    if len(present) < len(frames):  # a file missing or unusable: the rest cannot be joined
        problems.raise_if_any()
    ds = TrialDataset(**present)
    _check_keys(ds, protocol, "line", problems)
    check_contents(ds, protocol, "line", problems)
    if for_analysis:
        check_primary_endpoint(ds, protocol, problems)
    problems.raise_if_any()
    return ds


def validate_dataset(ds: TrialDataset, protocol: Protocol) -> None:
    """Check an in-memory dataset (e.g. a simulator's) by the same key, reference and
    content rules as :func:`read_dataset`."""
    problems = Problems()
    _check_keys(ds, protocol, "row", problems)
    check_contents(ds, protocol, "row", problems)
    problems.raise_if_any()


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
        write_csv(_format(frame, schema), path)
        written.append(path)
    return written
