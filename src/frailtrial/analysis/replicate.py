"""Reproduction of a publication: its printed tables against ours, cell by cell.

Each printed number is compared with ours rounded to the number of decimals it was printed
with (``20`` against 20.00 is equal, ``203.2`` is compared at one decimal). Table 3's
markers are shown side by side (with our p-values in a note) but never counted as numbers:
a simulated data set that reproduces means and SDs does not reproduce the paper's individual
values, so its tests differ, and that is reported, not hidden. The p-values and changes from
baseline printed only in the paper's text (``PublishedTrial.table3.between_group_p`` and
``changes_from_baseline``) are not compared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from frailtrial.analysis.report import _ENV
from frailtrial.analysis.results import AnalysisResult
from frailtrial.protocol.published import PublishedTrial, decimals, printed_as

_T1_FIELDS = {
    "mean_sd": ("mean", "sd"),
    "median_iqr": ("median", "q1", "q3"),
    "n_pct": ("n", "pct"),
}


@dataclass(frozen=True)
class Replication:
    """``cells``: one row per compared printed number or marker; ``summary`` per table."""

    cells: pd.DataFrame
    summary: pd.DataFrame


def _ours_text(value: float, printed: str) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.{decimals(printed)}f}"


def _row(
    table: str,
    item: str,
    stat: str,
    printed: str,
    ours: float,
    kind: str = "number",
    *,
    level: str = "",
    arm: str = "",
    visit: str = "",
    note: str = "",
) -> dict[str, Any]:
    """One compared number: a ``count`` is equal as an integer, a ``number`` at the
    decimals it was printed with."""
    if kind == "count":
        equal = not math.isnan(ours) and int(printed) == round(ours)
        text = "" if math.isnan(ours) else str(round(ours))
    else:
        equal = not math.isnan(ours) and printed_as(ours, printed)
        text = _ours_text(ours, printed)
    return {
        "table": table,
        "item": item,
        "level": level,
        "arm": arm,
        "visit": visit,
        "statistic": stat,
        "kind": kind,
        "published": printed,
        "ours": text,
        "ours_full": ours,
        "equal": bool(equal),
        "note": note,
    }


def _table1(pub: PublishedTrial, result: AnalysisResult) -> list[dict[str, Any]]:
    rows = result.table1.rows
    out = []
    for r in pub.table1.rows:
        level = r.level or ""
        sel = rows[(rows["characteristic"] == r.name) & (rows["level"].fillna("") == level)]
        ours = sel.iloc[0] if len(sel) else None
        note = r.note or ""
        for arm, cell in r.cells.items():
            for stat in _T1_FIELDS[r.summary]:
                col = {"n": "count"}.get(stat, stat)
                value = float(ours[f"{arm}_{col}"]) if ours is not None else math.nan
                kind = "count" if stat == "n" else "number"
                printed = str(getattr(cell, stat))
                out.append(
                    _row(
                        "Table 1",
                        r.name,
                        stat,
                        printed,
                        value,
                        kind,
                        level=level,
                        arm=arm,
                        note=note,
                    )
                )
    return out


def _table2(pub: PublishedTrial, result: AnalysisResult) -> list[dict[str, Any]]:
    rows = result.table2.rows
    terms = rows[rows["level"] == "term"]
    out = []
    for r in pub.table2.rows:
        sel = terms[terms["term"].str.lower() == r.term.lower()]
        for arm, cell in r.cells.items():
            n = float(sel[f"{arm}_participants"].sum()) if len(sel) else 0.0
            pct = 100.0 * n / result.table2.n[arm] if result.table2.n[arm] else math.nan
            note = r.note or ""
            out.append(_row("Table 2", r.term, "n", str(cell.n), n, "count", arm=arm, note=note))
            out.append(_row("Table 2", r.term, "pct", str(cell.pct), pct, arm=arm, note=note))
    return out


def _table3(pub: PublishedTrial, result: AnalysisResult) -> list[dict[str, Any]]:
    frame = result.table3.cells
    lookup = {
        (str(r["variable"]), str(r["arm"]), str(r["visit"])): r
        for r in frame.to_dict(orient="records")
    }
    out = []
    for r in pub.table3.rows:
        for arm, by_visit in r.cells.items():
            for visit, cell in by_visit.items():
                key = (r.variable, arm, visit)
                ours = lookup.get(key)
                for stat in ("mean", "sd"):
                    printed = str(getattr(cell, stat))
                    value = float(ours[stat]) if ours is not None else math.nan
                    out.append(
                        _row("Table 3", r.variable, stat, printed, value, arm=arm, visit=visit)
                    )
                mine = (
                    []
                    if ours is None
                    else [m for m in (ours["marker_vs_baseline"], ours["marker_vs_control"]) if m]
                )
                out.append(
                    {
                        "table": "Table 3",
                        "item": r.variable,
                        "level": "",
                        "arm": arm,
                        "visit": visit,
                        "statistic": "markers",
                        "kind": "marker",
                        "published": ",".join(cell.markers),
                        "ours": ",".join(mine),
                        "ours_full": math.nan,
                        "equal": sorted(cell.markers) == sorted(mine),
                        "note": ""
                        if ours is None
                        else f"p vs baseline {ours['p_vs_baseline']:.4g}; p vs control "
                        f"{ours['p_vs_control']:.4g}",
                    }
                )
    return out


def _flow(pub: PublishedTrial, result: AnalysisResult) -> list[dict[str, Any]]:
    s, c, comp, att = pub.screening, result.consort, result.compliance, pub.attendance
    out = [
        _row("CONSORT", stage, "n", str(getattr(s, stage)), getattr(c, stage), "count")
        for stage in ("screened", "excluded", "randomized")
    ]
    scheduled, missed = str(att.scheduled_visits), str(att.missed_visits)
    out += [
        _row("Attendance", "scheduled visits", "n", scheduled, comp["scheduled"], "count"),
        _row("Attendance", "missed visits", "n", missed, comp["missed"], "count"),
        _row(
            "Attendance",
            "missed visits",
            "percent",
            att.missed_percent_printed,
            comp["missed_pct"],
            note="; ".join(att.notes[:1]),
        ),
    ]
    by = comp["by_visit"].set_index(["visit", "arm"])
    for visit, arms in att.visits.items():
        for arm, n in arms.items():
            ours = float(by.at[(visit, arm), "attended"]) if (visit, arm) in by.index else math.nan
            out.append(
                _row("Attendance", "assessed", "n", str(n), ours, "count", arm=arm, visit=visit)
            )
    return out


def replicate(pub: PublishedTrial, result: AnalysisResult) -> Replication:
    """Every printed number of the publication against the analysis ``result``."""
    rows = _flow(pub, result) + _table1(pub, result) + _table2(pub, result) + _table3(pub, result)
    cells = pd.DataFrame(rows)
    numbers = cells[cells["kind"] != "marker"]
    summary = (
        numbers.groupby("table", sort=False)["equal"]
        .agg(compared="size", equal="sum")
        .reset_index()
    )
    markers = cells[cells["kind"] == "marker"]
    if len(markers):
        summary = pd.concat(
            [
                summary,
                pd.DataFrame(
                    [
                        {
                            "table": "Table 3 markers",
                            "compared": len(markers),
                            "equal": int(markers["equal"].sum()),
                        }
                    ]
                ),
            ],
            ignore_index=True,
        )
    summary["different"] = summary["compared"] - summary["equal"]
    return Replication(cells, summary)


def render_replication(rep: Replication, pub: PublishedTrial, result: AnalysisResult) -> str:
    """The side-by-side HTML page (self-contained)."""
    protocol = result.protocol
    labels = {v.name: v.label for v in protocol.visits}
    arm_labels = {a.name: a.label for a in protocol.arms}
    var_labels = {v.name: v.label for v in protocol.variables}
    char_labels = {c.name: c.label for c in protocol.baseline_characteristics}
    c = rep.cells
    t3 = c[c["table"] == "Table 3"]
    t3_rows = []
    for r in pub.table3.rows:
        for arm in r.cells:
            cells = []
            for v in pub.table3.visits:
                sub = t3[(t3["item"] == r.variable) & (t3["arm"] == arm) & (t3["visit"] == v)]
                cells.append({s.statistic: s for s in sub.itertuples()})
            t3_rows.append(
                {
                    "variable": var_labels.get(r.variable, r.variable),
                    "arm": arm_labels.get(arm, arm),
                    "cells": cells,
                }
            )
    other = c[c["table"] != "Table 3"].copy()
    other["item_label"] = [
        char_labels.get(i, var_labels.get(i, i)) + (f" — {lv}" if lv else "")
        for i, lv in zip(other["item"], other["level"], strict=True)
    ]
    other["arm_label"] = other["arm"].map(lambda a: arm_labels.get(a, a))
    other["visit_label"] = other["visit"].map(lambda v: labels.get(v, v))
    return _ENV.get_template("replicate.html.j2").render(
        title=f"{protocol.identity.short_title}: the paper's tables against frailtrial's",
        source=pub.source,
        summary=rep.summary.to_dict(orient="records"),
        other=other.to_dict(orient="records"),
        t3_rows=t3_rows,
        visits=[labels[v] for v in pub.table3.visits],
        provenance=result.provenance,
    )
