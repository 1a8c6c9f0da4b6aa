"""The export tables read from the store, and the tidy trial dataset (csv) written from them.

Tables are read with one SQL query each into pandas (the store can hold millions of
measurements). A role that may not read arms gets an export without them: no arm columns in
participants, no cells or lot in dosing (a placebo's zero cells would tell), no ARM in DM.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection

from frailtrial.dataset import TrialDataset, write_dataset
from frailtrial.dataset.csv_writer import write_csv
from frailtrial.dataset.intercurrent import discontinuations, withdrawals
from frailtrial.dataset.populations import population_flags, scheduled_doses
from frailtrial.dataset.schema import DEMOGRAPHICS
from frailtrial.edc import collection
from frailtrial.edc.models import Trial
from frailtrial.edc.services.common import protocol_of
from frailtrial.protocol import Protocol

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


def _json(value: Any) -> dict[str, Any]:
    """A JSON column as read by a raw cursor: text on some backends, a dict on others."""
    import json

    out = value if isinstance(value, dict) else json.loads(value or "{}")
    return out if isinstance(out, dict) else {}


def _form_rows(trial: Trial, names: list[str]) -> pd.DataFrame:
    """The saved CRFs of the named forms: participant pk, visit, form and answers."""
    cols = ["pk", "visit", "form", "answers"]
    if not names:
        return pd.DataFrame(columns=cols)
    marks = ", ".join("%s" for _ in names)
    return _frame(
        "SELECT c.participant_id, c.visit, c.instrument, c.answers FROM edc_crf c"
        " JOIN edc_participant p ON p.id = c.participant_id"
        f" WHERE p.trial_id = %s AND c.instrument IN ({marks}) ORDER BY c.id",
        [trial.pk, *names],
        cols,
    )


def _with_baseline_forms(trial: Trial, protocol: Protocol, parts: pd.DataFrame) -> pd.DataFrame:
    """Participants with the baseline characteristics entered on the baseline forms
    (medical history, medication, laboratory) merged over those recorded at screening."""
    names = [f.name for f in collection.baseline_forms(protocol)]
    rows = _form_rows(trial, names)
    rows = rows[rows["visit"] == protocol.baseline_visit.name]
    if rows.empty:
        return parts
    entered: dict[Any, dict[str, Any]] = {}
    for pk, answers in zip(rows["pk"], rows["answers"], strict=True):
        given = {k: v for k, v in _json(answers).items() if v is not None}
        entered.setdefault(pk, {}).update(given)
    merged = [
        {**_json(b), **entered.get(pk, {})}
        for pk, b in zip(parts["pk"], parts["baseline"], strict=True)
    ]
    return parts.assign(baseline=merged)


VITAL_COLUMNS = [i.id for i in collection.VITAL_ITEMS]


def vital_signs(trial: Trial, vis: pd.DataFrame, pid: pd.Series) -> pd.DataFrame:
    """Vital signs and weight per participant and visit (``vital_signs.csv``)."""
    rows = _form_rows(trial, [collection.VITAL_SIGNS])
    answers = pd.DataFrame.from_records(
        [_json(a) for a in rows["answers"]], index=rows.index, columns=VITAL_COLUMNS
    )
    day = vis.set_index(["pk", "visit"])["day"]
    keys = pd.MultiIndex.from_arrays([rows["pk"], rows["visit"]])
    out = pd.DataFrame(
        {
            "participant_id": _lookup(pid, rows["pk"]),
            "visit": rows["visit"],
            "day": pd.array(day.reindex(keys).to_numpy(), dtype="Int64"),
        }
    )
    return pd.concat([out, answers], axis=1).sort_values(["participant_id", "day"], kind="stable")


LOG_FILES = {
    "concomitant_medication": "concomitant_medications.csv",
    "protocol_deviation": "protocol_deviations.csv",
    "treatment_discontinuation": "treatment_discontinuations.csv",
    "end_of_study": "end_of_study.csv",
}


def log_tables(trial: Trial, pid: pd.Series) -> dict[str, pd.DataFrame]:
    """The participants' running logs, one table per log form (entry id and its items)."""
    rows = _frame(
        "SELECT l.participant_id, l.id, l.form, l.answers FROM edc_logrecord l"
        " JOIN edc_participant p ON p.id = l.participant_id WHERE p.trial_id = %s ORDER BY l.id",
        [trial.pk],
        ["pk", "entry_id", "form", "answers"],
    )
    out = {}
    for name, spec in collection.LOG_FORMS.items():
        sel = rows[rows["form"] == name]
        items = [i.id for i in spec.items]
        answers = pd.DataFrame.from_records(
            [_json(a) for a in sel["answers"]], index=sel.index, columns=items
        )
        head = pd.DataFrame(
            {"participant_id": _lookup(pid, sel["pk"]), "entry_id": sel["entry_id"]}
        )
        out[name] = pd.concat([head, answers], axis=1).sort_values(
            ["participant_id", "entry_id"], kind="stable"
        )
    return out


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
    """Measurements as integer codes (participant pk, visit and variable positions, -1 when
    not in the protocol; the below-LLOQ flag, -1 when not given): fast to read and to turn
    into categorical columns for a million rows.

    The database packs the four codes into one integer per row, so that the driver makes two
    Python objects per measurement instead of five (reading them is most of an export's time);
    numpy unpacks them.
    """
    visits = [v.name for v in protocol.visits]
    variables = [v.name for v in protocol.variables]
    visit_sql, visit_params = _case("m.visit", visits)
    var_sql, var_params = _case("m.variable", variables)
    n_visit, n_var = len(visits) + 1, len(variables) + 1  # codes shifted by one: -1 -> 0
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT ((m.participant_id * {n_visit} + {visit_sql} + 1) * {n_var}"
            f" + {var_sql} + 1) * 3 + COALESCE(CAST(m.below_lloq AS INTEGER), -1) + 1, m.value"
            " FROM edc_measurement m JOIN edc_participant p ON p.id = m.participant_id"
            " WHERE p.trial_id = %s",
            [*visit_params, *var_params, trial.pk],
        )
        rows = cur.fetchall()
    packed = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.float64, count=2 * len(rows))
    del rows
    code = packed[0::2].astype(np.int64)  # exact: the packed codes stay far below 2**53
    code, below = np.divmod(code, 3)
    code, variable = np.divmod(code, n_var)
    pk, visit = np.divmod(code, n_visit)
    return pd.DataFrame(
        {
            "pk": pk,
            "visit": visit - 1,
            "variable": variable - 1,
            "value": packed[1::2],
            "below_lloq": below - 1,
        }
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


CRF_SOURCES = "crf_sources.csv"


@dataclass
class ExportTables:
    """The tidy dataset plus what the SDTM domains need that it does not hold."""

    dataset: TrialDataset
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)
    blinded: bool = False
    derived: dict[str, Any] = field(default_factory=dict)  # built once, shared by writers


def build(trial: Trial, with_arm: bool) -> ExportTables:
    """Read the store into the tidy trial dataset (arms only when ``with_arm``)."""
    protocol = protocol_of(trial)
    parts = _with_baseline_forms(trial, protocol, _participants(trial))
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
        " v.in_window, v.target_on FROM edc_visitoccurrence v"
        " JOIN edc_participant p ON p.id = v.participant_id WHERE p.trial_id = %s",
        [trial.pk],
        [
            "pk",
            "visit",
            "order",
            "status",
            "day",
            "reason",
            "occurred_on",
            "in_window",
            "target_on",
        ],
    )
    meas = _measurement_codes(trial, protocol)
    aes = _frame(
        "SELECT a.participant_id, a.id, a.term, a.body_system, a.onset_on, a.end_on, a.serious,"
        " a.severity, a.related, a.outcome, a.treatment_emergent, a.te_sae"
        " FROM edc_adverseevent a JOIN edc_participant p ON p.id = a.participant_id"
        " WHERE p.trial_id = %s AND a.voided_at IS NULL ORDER BY a.id",
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
    v = v.reset_index(drop=True)
    logs = log_tables(trial, pid)
    held = vis.assign(participant_id=_lookup(pid, vis["pk"]))
    stopped = discontinuations(
        logs["treatment_discontinuation"],
        held,
        held["occurred_on"].where(held["occurred_on"].notna(), held["target_on"]),
        protocol,
    )
    ice = pd.concat([withdrawals(v, protocol), stopped], ignore_index=True)
    ds = TrialDataset(p, m, ae, s, d, v, ice)
    extra = {
        "crf_sources": _crf_sources(trial, pid),
        "infusions": inf.assign(participant_id=_lookup(pid, inf["pk"])),
        "visits": vis.assign(participant_id=_lookup(pid, vis["pk"])),
        "adverse_events": aes.assign(participant_id=_lookup(pid, aes["pk"])),
        "anchor": pd.DataFrame({"participant_id": pid, "anchor": anchor.reindex(pid.index)}),
        "vital_signs": vital_signs(trial, vis, pid),
        **logs,
    }
    if not with_arm:
        for name, columns in BLINDED_COLUMNS.items():
            frame = ds.table(name).drop(columns=list(columns))
            setattr(ds, name, frame)
        extra["infusions"] = extra["infusions"].drop(
            columns=["cells", "cells_per_kg", "lot", "is_placebo", "product"]
        )
    return ExportTables(ds, extra, blinded=not with_arm)


def _crf_sources(trial: Trial, pid: pd.Series) -> pd.DataFrame:
    """Who gave each CRF's answers (staff, or the participant in an ePRO session)."""
    crfs = _frame(
        "SELECT c.participant_id, c.visit, c.instrument, c.source, c.version FROM edc_crf c"
        " JOIN edc_participant p ON p.id = c.participant_id WHERE p.trial_id = %s",
        [trial.pk],
        ["pk", "visit", "instrument", "source", "version"],
    )
    return (
        crfs.assign(participant_id=_lookup(pid, crfs["pk"]))[
            ["participant_id", "visit", "instrument", "source", "version"]
        ]
        .sort_values(["participant_id", "visit", "instrument"], kind="stable")
        .reset_index(drop=True)
    )


def write(tables: ExportTables, out: Path, protocol: Protocol) -> list[Path]:
    """The tidy trial dataset (what ``frailtrial analyze`` reads): one csv per table, and
    beside it ``vital_signs.csv`` (vital signs and weight per visit), the logs
    (``concomitant_medications.csv``, ``protocol_deviations.csv``, ``end_of_study.csv``) and
    ``crf_sources.csv``: who gave each CRF's answers (source staff or participant)."""
    files = write_dataset(tables.dataset, out)
    beside = {"vital_signs": "vital_signs.csv", **LOG_FILES, "crf_sources": CRF_SOURCES}
    for name, file in beside.items():
        frame = tables.extra.get(name)
        if frame is not None:
            files.append(Path(out) / file)
            write_csv(frame, files[-1])  # the dataset's writer: same bytes, one format
    return files
