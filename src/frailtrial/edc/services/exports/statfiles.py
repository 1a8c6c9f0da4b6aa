"""What the SPSS and SAS writers share: the six tables in the types those files take."""

from __future__ import annotations

import pandas as pd

from frailtrial.edc.services.exports.tidy import ExportTables
from frailtrial.protocol import Protocol

TABLES = ("participants", "measurements", "adverse_events", "screening", "dosing", "visits")


def _for_stat_files(frame: pd.DataFrame) -> pd.DataFrame:
    """Types SPSS and SAS files take: numbers, text, dates (booleans as 0/1)."""
    out = pd.DataFrame(index=frame.index)
    for c in frame.columns:
        s = frame[c]
        if s.dtype == bool or str(s.dtype) == "boolean" or str(s.dtype) == "Int64":
            out[c] = s.astype("Float64").astype(float)
        elif pd.api.types.is_datetime64_any_dtype(s):
            out[c] = s.astype("datetime64[ns]")
        elif pd.api.types.is_numeric_dtype(s):
            out[c] = s.astype(float)
        else:  # plain Python text (object dtype): the writers read it cell by cell, which on
            # pandas' string dtype goes through a Python-level __getitem__ per cell
            out[c] = s.astype(object).where(s.notna(), "").astype(str).astype(object)
    return out


def wide_measurements(m: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """One row per participant and visit, one column per variable (how SPSS and SAS users
    read repeated measures; also 20x fewer rows for the row-by-row file writers)."""
    keys = ["participant_id", "visit"]
    wide = m.pivot_table(
        index=keys, columns="variable", values="value", aggfunc="first", observed=True
    )
    wide.columns = [str(c) for c in wide.columns]
    day = m.groupby(keys, observed=True, sort=False)["day"].first()
    wide.insert(0, "day", day.reindex(wide.index).astype("Float64").astype(float))
    names = [v.name for v in protocol.variables if v.name in wide.columns]
    return wide[["day", *names]].reset_index()


def stat_frames(tables: ExportTables, protocol: Protocol) -> list[tuple[str, pd.DataFrame]]:
    """Each table by name, ready for a statistics file (measurements wide); built once per
    export when both SPSS and SAS files are written."""
    if "stat_frames" not in tables.derived:
        frames = []
        for name in TABLES:
            table = tables.dataset.table(name)
            if name == "measurements":
                table = wide_measurements(table, protocol)
            frames.append((name, _for_stat_files(table)))
        tables.derived["stat_frames"] = frames
    frames_: list[tuple[str, pd.DataFrame]] = tables.derived["stat_frames"]
    return frames_
