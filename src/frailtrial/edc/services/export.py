"""Export: the tidy trial dataset, SPSS .sav and SAS transport .xpt files, SDTM-style domains.

Tables are read with one SQL query each into pandas (the store can hold millions of
measurements). A role that may not read arms gets an export without them: no arm columns in
participants, no cells or lot in dosing (a placebo's zero cells would tell), no ARM in DM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection

from frailtrial.dataset import TrialDataset, write_dataset
from frailtrial.dataset.populations import population_flags, scheduled_doses
from frailtrial.dataset.schema import DEMOGRAPHICS
from frailtrial.edc.models import Membership, Trial
from frailtrial.edc.services import audit
from frailtrial.edc.services.anchor import write_anchor
from frailtrial.edc.services.common import protocol_of, sees_arm
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol

ANCHOR_FILE = "audit-anchor.json"  # the signed audit head, written beside each export
BLINDED_COLUMNS = {
    "participants": ("arm", "arm_received"),
    "dosing": ("cells", "cells_per_kg", "lot"),
}


def _frame(sql: str, params: list[Any], columns: list[str]) -> pd.DataFrame:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    return pd.DataFrame.from_records(rows, columns=columns)


def _lookup(mapping: pd.Series, keys: pd.Series) -> pd.Series:
    """``keys.map(mapping)`` that also works on empty columns of any type."""
    return pd.Series(mapping.reindex(keys.to_numpy()).to_numpy(), index=keys.index)


def _study_day(anchor: pd.Series, day: pd.Series) -> pd.Series:
    """Study day: day 1 is the anchor; the day before is -1 (no day 0)."""
    delta = (pd.to_datetime(day) - pd.to_datetime(anchor)).dt.days
    return delta.where(delta < 0, delta + 1).astype("Int64")


def _participants(trial: Trial) -> pd.DataFrame:
    cols = [
        "pk",
        "participant_id",
        "site",
        "randomization_number",
        "randomized_on",
        "age",
        "sex",
        "height_cm",
        "weight_kg",
        "baseline",
        "first_infusion_on",
        "withdrawn_on",
        "withdrawal_reason",
        "emergency_unblinded",
        "arm",
    ]
    return _frame(
        "SELECT p.id, p.participant_id, s.name, p.randomization_number, p.randomized_on, p.age,"
        " p.sex, p.height_cm, p.weight_kg, p.baseline, p.first_infusion_on, p.withdrawn_on,"
        " p.withdrawal_reason, p.emergency_unblinded, a.arm FROM edc_participant p"
        " JOIN edc_site s ON s.id = p.site_id JOIN edc_allocation a ON a.participant_id = p.id"
        " WHERE p.trial_id = %s ORDER BY p.id",
        [trial.pk],
        cols,
    )


def _baseline_columns(df: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    import json

    base = [b if isinstance(b, dict) else json.loads(b or "{}") for b in df["baseline"]]
    extra = (
        pd.DataFrame.from_records(base, index=df.index) if base else pd.DataFrame(index=df.index)
    )
    names = [c.name for c in protocol.baseline_characteristics if c.name not in DEMOGRAPHICS]
    names += [c for c in extra.columns if c not in names and c not in DEMOGRAPHICS]
    out = pd.DataFrame(index=df.index)
    for name in names:
        col = extra[name] if name in extra else pd.Series(np.nan, index=df.index)
        if col.map(lambda v: isinstance(v, bool)).any():
            col = col.astype(float)
        out[name] = col
    return out


def _case(column: str, names: list[str]) -> tuple[str, list[Any]]:
    """SQL mapping a text column to its position in ``names`` (-1 when absent)."""
    sql = "CASE " + column + " " + " ".join("WHEN %s THEN %s" for _ in names) + " ELSE -1 END"
    params: list[Any] = []
    for i, name in enumerate(names):
        params += [name, i]
    return sql, params


def _measurement_codes(trial: Trial, protocol: Protocol) -> pd.DataFrame:
    """Measurements as integer codes (participant pk, visit and variable positions): fast to
    read and to turn into categorical columns for a million rows."""
    visit_sql, visit_params = _case("m.visit", [v.name for v in protocol.visits])
    var_sql, var_params = _case("m.variable", [v.name for v in protocol.variables])
    return _frame(
        f"SELECT m.participant_id, {visit_sql}, {var_sql}, m.value,"
        " COALESCE(CAST(m.below_lloq AS INTEGER), -1) FROM edc_measurement m"
        " JOIN edc_participant p ON p.id = m.participant_id WHERE p.trial_id = %s",
        [*visit_params, *var_params, trial.pk],
        ["pk", "visit", "variable", "value", "below_lloq"],
    )


def _cat(codes: Any, categories: Any, ordered: bool = False) -> pd.Categorical:
    """A categorical from integer codes (pandas' fastest way to build a repeated-text column)."""
    maker: Any = pd.Categorical.from_codes
    return maker(codes, categories=list(categories), ordered=ordered)


def _measurements(
    meas: pd.DataFrame, parts: pd.DataFrame, vis: pd.DataFrame, protocol: Protocol
) -> pd.DataFrame:
    """The tidy measurements table with categorical ids, visits and variables."""
    visits = [v.name for v in protocol.visits]
    variables = [v.name for v in protocol.variables]
    ids = parts["participant_id"].astype(str).to_numpy()
    by_name = np.argsort(ids, kind="stable")
    rank = np.empty(len(ids), dtype=np.int64)
    rank[by_name] = np.arange(len(ids))
    pks = parts["pk"].to_numpy(dtype=np.int64)
    pos = np.searchsorted(pks, meas["pk"].to_numpy(dtype=np.int64))
    vcode = meas["visit"].to_numpy(dtype=np.int64)
    varcode = meas["variable"].to_numpy(dtype=np.int64)
    grid = np.full((len(ids), len(visits)), np.nan)
    if len(vis):
        vpos = np.searchsorted(pks, vis["pk"].to_numpy(dtype=np.int64))
        vv = vis["visit"].map({n: i for i, n in enumerate(visits)}).to_numpy(dtype=np.int64)
        grid[vpos, vv] = pd.to_numeric(vis["day"], errors="coerce").to_numpy(dtype=float)
    units = [v.unit or "" for v in protocol.variables]
    unit_names = sorted(set(units))
    unit_code = np.array([unit_names.index(u) for u in units], dtype=np.int64)
    m = pd.DataFrame(
        {
            "participant_id": _cat(rank[pos], ids[by_name]),
            "visit": _cat(vcode, visits, ordered=True),
            "day": pd.array(grid[pos, vcode], dtype="Float64").astype("Int64"),
            "variable": _cat(varcode, variables),
            "value": meas["value"].to_numpy(dtype=float),
            "unit": _cat(unit_code[varcode], unit_names),
        }
    )
    flags = meas["below_lloq"].to_numpy(dtype=np.int64)
    if (flags >= 0).any():
        below = pd.array(flags == 1, dtype="boolean")
        below[flags < 0] = pd.NA
        m["below_lloq"] = below
    order = np.lexsort((varcode, vcode, rank[pos]))
    return m.iloc[order].reset_index(drop=True)


@dataclass
class ExportTables:
    """The tidy dataset plus what the SDTM domains need that it does not hold."""

    dataset: TrialDataset
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)
    blinded: bool = False


def build(trial: Trial, with_arm: bool) -> ExportTables:
    """Read the store into the tidy trial dataset (arms only when ``with_arm``)."""
    protocol = protocol_of(trial)
    parts = _participants(trial)
    inf = _frame(
        "SELECT i.participant_id, i.dose_number, i.day, i.given_on, i.started_at, i.ended_at,"
        " i.volume_ml, pr.cells, pr.cells_per_kg, pr.weight_kg, pr.kit_code, l.lot_number,"
        " l.is_placebo, l.product FROM edc_infusion i"
        " JOIN edc_preparation pr ON pr.id = i.preparation_id JOIN edc_lot l ON l.id = pr.lot_id"
        " JOIN edc_participant p ON p.id = i.participant_id WHERE p.trial_id = %s",
        [trial.pk],
        [
            "pk",
            "dose_number",
            "day",
            "given_on",
            "started_at",
            "ended_at",
            "volume_ml",
            "cells",
            "cells_per_kg",
            "weight_kg",
            "kit_code",
            "lot",
            "is_placebo",
            "product",
        ],
    )
    vis = _frame(
        'SELECT v.participant_id, v.visit, v."order", v.status, v.day, v.reason, v.occurred_on,'
        " v.in_window FROM edc_visitoccurrence v JOIN edc_participant p ON p.id = v.participant_id"
        " WHERE p.trial_id = %s",
        [trial.pk],
        ["pk", "visit", "order", "status", "day", "reason", "occurred_on", "in_window"],
    )
    meas = _measurement_codes(trial, protocol)
    aes = _frame(
        "SELECT a.participant_id, a.id, a.term, a.body_system, a.onset_on, a.end_on, a.serious,"
        " a.severity, a.related, a.outcome, a.treatment_emergent, a.te_sae"
        " FROM edc_adverseevent a JOIN edc_participant p ON p.id = a.participant_id"
        " WHERE p.trial_id = %s ORDER BY a.id",
        [trial.pk],
        [
            "pk",
            "ae_id",
            "term",
            "body_system",
            "onset_on",
            "end_on",
            "serious",
            "severity",
            "related",
            "outcome",
            "treatment_emergent",
            "te_sae",
        ],
    )
    scr = _frame(
        "SELECT s.screening_id, s.screened_on, s.eligible, s.reason_not_randomized, s.closed,"
        " p.participant_id FROM edc_screening s LEFT JOIN edc_participant p"
        " ON p.screening_id = s.id WHERE s.trial_id = %s ORDER BY s.id",
        [trial.pk],
        [
            "screening_id",
            "screened_on",
            "eligible",
            "reason_not_randomized",
            "closed",
            "participant_id",
        ],
    )

    pid = parts.set_index("pk")["participant_id"]
    anchor = pd.to_datetime(parts["first_infusion_on"].fillna(parts["randomized_on"]))
    anchor.index = parts["pk"]
    last_visit = protocol.assessment_visits[-1].name
    doses = inf.groupby("pk").size()
    final = vis[(vis["visit"] == last_visit) & (vis["status"] == "attended")]
    final_ok = final.set_index("pk")["in_window"].astype(bool)

    p = pd.DataFrame(
        {
            "participant_id": parts["participant_id"],
            "site": parts["site"],
            "arm": parts["arm"],
            "randomized_on": pd.to_datetime(parts["randomized_on"]),
            "age": parts["age"].astype(float),
            "sex": parts["sex"],
            "height_cm": parts["height_cm"].astype(float),
            "weight_kg": parts["weight_kg"].astype(float),
        }
    )
    p["bmi"] = (p["weight_kg"] / (p["height_cm"] / 100) ** 2).round(2)
    n_given = _lookup(doses, parts["pk"]).fillna(0).astype(int)
    flags = population_flags(
        n_given,
        scheduled_doses(protocol, parts["arm"]),
        _lookup(final_ok, parts["pk"]).fillna(False).astype(bool),
        parts["withdrawn_on"].notna(),
    )
    for population, flag in flags.items():
        p[population] = flag
    p["withdrawn_on"] = pd.to_datetime(parts["withdrawn_on"])
    p["withdrawal_reason"] = parts["withdrawal_reason"].replace("", None)
    received = inf.groupby("pk")["is_placebo"].first()
    placebo_name = protocol.control_arm.name
    rec = _lookup(received, parts["pk"])
    got = np.where(rec.fillna(False).astype(bool).to_numpy(), placebo_name, parts["arm"])
    p["arm_received"] = pd.Series(got, dtype=object).where(rec.notna().to_numpy(), None)
    p["randomization_number"] = parts["randomization_number"]
    p["emergency_unblinded"] = parts["emergency_unblinded"].astype(bool).to_numpy()
    p = pd.concat([p, _baseline_columns(parts, protocol)], axis=1)

    m = _measurements(meas, parts, vis, protocol)

    ae = pd.DataFrame(
        {
            "participant_id": _lookup(pid, aes["pk"]),
            "term": aes["term"],
            "body_system": aes["body_system"],
            "onset_day": _study_day(_lookup(anchor, aes["pk"]), aes["onset_on"]),
            "serious": aes["serious"].astype(bool),
            "severity": aes["severity"],
            "related": aes["related"].astype(bool),
            "outcome": aes["outcome"],
            "end_day": _study_day(_lookup(anchor, aes["pk"]), aes["end_on"]),
        }
    )
    s = pd.DataFrame(
        {
            "screening_id": scr["screening_id"],
            "screened_on": pd.to_datetime(scr["screened_on"]),
            "eligible": scr["eligible"].astype(bool),
            "reason_not_randomized": scr["reason_not_randomized"].replace("", None),
            "participant_id": scr["participant_id"],
        }
    )
    open_ = ~scr["closed"].astype(bool) & scr["participant_id"].isna()
    s.loc[open_.to_numpy(), "reason_not_randomized"] = "screening still open"
    d = (
        pd.DataFrame(
            {
                "participant_id": _lookup(pid, inf["pk"]),
                "dose_number": inf["dose_number"].astype(int),
                "day": inf["day"].astype(int),
                "cells": inf["cells"].astype(float),
                "cells_per_kg": inf["cells_per_kg"].astype(float),
                "lot": inf["lot"],
                "kit_code": inf["kit_code"],
                "volume_ml": inf["volume_ml"].astype(float),
            }
        )
        .sort_values(["participant_id", "dose_number"], kind="stable")
        .reset_index(drop=True)
    )
    v = vis[vis["status"] != "scheduled"]
    v = (
        pd.DataFrame(
            {
                "participant_id": _lookup(pid, v["pk"]),
                "visit": v["visit"],
                "status": v["status"],
                "day": v["day"].astype("Int64"),
                "reason": v["reason"].replace("", None),
                "_o": v["order"],
            }
        )
        .sort_values(["participant_id", "_o"], kind="stable")
        .drop(columns="_o")
    )
    ds = TrialDataset(p, m, ae, s, d, v.reset_index(drop=True))
    extra = {
        "infusions": inf.assign(participant_id=_lookup(pid, inf["pk"])),
        "visits": vis.assign(participant_id=_lookup(pid, vis["pk"])),
        "adverse_events": aes.assign(participant_id=_lookup(pid, aes["pk"])),
        "anchor": pd.DataFrame({"participant_id": pid, "anchor": anchor.reindex(pid.index)}),
    }
    if not with_arm:
        for name, columns in BLINDED_COLUMNS.items():
            frame = ds.table(name).drop(columns=list(columns))
            setattr(ds, name, frame)
        extra["infusions"] = extra["infusions"].drop(
            columns=["cells", "cells_per_kg", "lot", "is_placebo", "product"]
        )
    return ExportTables(ds, extra, blinded=not with_arm)


def _xpt_names(columns: list[str]) -> dict[str, str]:
    """SAS V5 names: at most 8 characters, upper case, unique."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for c in columns:
        base = "".join(ch for ch in c.upper() if ch.isalnum() or ch == "_")[:8] or "VAR"
        name, i = base, 1
        while name in used:
            i += 1
            name = f"{base[: 8 - len(str(i))]}{i}"
        used.add(name)
        out[c] = name
    return out


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
        else:
            out[c] = s.astype(object).where(s.notna(), "").astype(str)
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


def write_stat_files(tables: ExportTables, out: Path, protocol: Protocol) -> list[Path]:
    """One SPSS .sav and one SAS transport (V5) .xpt file per table (measurements wide)."""
    import pyreadstat

    written = []
    for name in ("participants", "measurements", "adverse_events", "screening", "dosing", "visits"):
        table = tables.dataset.table(name)
        if name == "measurements":
            table = wide_measurements(table, protocol)
        frame = _for_stat_files(table)
        sav = out / "spss" / f"{name}.sav"
        sav.parent.mkdir(parents=True, exist_ok=True)
        pyreadstat.write_sav(frame, str(sav))
        names = _xpt_names(list(frame.columns))
        xpt = out / "sas" / f"{name[:8]}.xpt"
        xpt.parent.mkdir(parents=True, exist_ok=True)
        pyreadstat.write_xport(
            frame.rename(columns=names),
            str(xpt),
            table_name=name[:8].upper(),
            column_labels=list(frame.columns),
            file_format_version=5,
        )
        written += [sav, xpt]
    return written


def export(actor: Membership, out: str | Path) -> dict[str, Any]:
    """Write everything the actor may see under ``out``; returns a summary (counts, paths)."""
    from frailtrial.edc.services import sdtm

    trial = Trial.objects.get(pk=actor.trial_id)
    with_arm = sees_arm(actor)
    tables = build(trial, with_arm)
    directory = Path(out)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {directory}: cannot create ({exc.strerror})") from None
    protocol = protocol_of(trial)
    files = write_dataset(tables.dataset, directory)
    files += write_stat_files(tables, directory, protocol)
    files += sdtm.write_domains(protocol, tables, directory / "sdtm")
    audit_summary = {"blinded": tables.blinded, "files": len(files)}
    from django.db import transaction

    with transaction.atomic():
        audit.record(actor, "export", ("trial", str(trial.pk)), None, audit_summary)
    anchored, _ = write_anchor(directory / ANCHOR_FILE)  # the trail as it was at this export
    ds = tables.dataset
    return {
        "trial": trial.name,
        "out": str(directory),
        "blinded": tables.blinded,
        "participants": len(ds.participants),
        "measurements": len(ds.measurements),
        "adverse_events": len(ds.adverse_events),
        "screened": len(ds.screening),
        "infusions": len(ds.dosing),
        "files": [str(f) for f in files],
        "anchor": anchored.source,
    }
