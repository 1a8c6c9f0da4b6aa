"""Reproduction of a publication: its printed tables against ours, cell by cell.

Each printed number is compared with ours rounded to the number of decimals it was printed
with (``20`` against 20.00 is equal, ``203.2`` is compared at one decimal). Table 3's
markers are shown side by side (with our p-values in a note) but never counted as numbers:
a simulated data set that reproduces means and SDs does not reproduce the paper's individual
values, so its tests differ, and that is reported, not hidden. The p-values and changes from
baseline printed only in the paper's text (``PublishedTrial.table3.between_group_p`` and
``changes_from_baseline``) are not compared.

A trial known only by its abstract (:func:`replicate_abstract`, CRATUS) is compared
statement by statement: arms and size, mean age, the primary result, and the direction of
each 6-month finding; the abstract's gaps are listed, and our analysis of the primary
endpoint is shown as ours only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from frailtrial.analysis.endpoints import risk_difference_text
from frailtrial.analysis.format import p_phrase, signed
from frailtrial.analysis.results import AnalysisResult
from frailtrial.analysis.table2 import ae_flags
from frailtrial.analysis.templates_env import ENV as _ENV
from frailtrial.dataset import TrialDataset
from frailtrial.protocol import Protocol
from frailtrial.protocol.published import PublishedTrial, decimals, printed_as
from frailtrial.protocol.published.abstract import Finding, PublishedAbstract

_T1_FIELDS = {
    "mean_sd": ("mean", "sd"),
    "median_iqr": ("median", "q1", "q3"),
    "n_pct": ("n", "pct"),
}


@dataclass(frozen=True)
class Replication:
    """``cells``: one row per compared printed number or marker; ``summary`` per table;
    ``not_given``: facts the publication does not give (an abstract's gaps)."""

    cells: pd.DataFrame
    summary: pd.DataFrame
    not_given: tuple[str, ...] = ()


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
    return Replication(cells, _summary(cells))


def _summary(cells: pd.DataFrame) -> pd.DataFrame:
    """Compared and equal per table (markers and our-only rows apart)."""
    numbers = cells[~cells["kind"].isin(["marker", "ours_only"])]
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
    return summary


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


# ------------------------------------------------------------ a trial known by its abstract

_SAMPLE = (
    "all randomized; a simulated sample drawn with the published mean and SD, not matched "
    "to them (the abstract has no table to match)"
)


def _fact(
    table: str, item: str, published: str, ours: str, equal: bool, kind: str = "fact", **kw: str
) -> dict[str, Any]:
    """A compared statement (``kind`` fact or finding), or ``ours_only`` (not in the source)."""
    row = _row(table, item, kw.pop("statistic", ""), published, math.nan, **kw)
    return row | {"kind": kind, "ours": ours, "equal": bool(equal)}


def _direction(protocol: Protocol, variable: str, visit: str) -> str:
    """The benefit direction of ``variable``: its endpoint's at ``visit``, else 'higher'."""
    eps = [e for e in protocol.endpoints if e.variable == variable]
    ep = next((e for e in eps if e.visit == visit), eps[0] if eps else None)
    return ep.direction if ep is not None else "higher"


def _our_change(f: Finding, result: AnalysisResult, visit: str) -> tuple[float, float, str]:
    """Our estimate, p and what they are for a finding: vs baseline, Table 3's mean change and
    within-arm test; vs placebo, the plan's MMRM treatment effect on change."""
    if f.versus == "baseline":
        c = result.table3.cells
        sel = c[(c["variable"] == f.variable) & (c["arm"] == f.arm) & (c["visit"] == visit)]
        if sel.empty:
            return math.nan, math.nan, "Table 3"
        r = sel.iloc[0]
        test = r.get("test_vs_baseline")
        what = f"mean change from baseline; {test if isinstance(test, str) else 'no'} test"
        return float(r["mean_change"]), float(r["p_vs_baseline"]), what
    spec = next((s for s in result.protocol.analysis.models if s.kind == "mmrm"), None)
    e = result.models.effects
    sel = e[
        (e["model"] == (spec.name if spec else ""))
        & (e["variable"] == f.variable)
        & (e["arm"] == f.arm)
        & (e["visit"] == visit)
    ]
    if spec is None or sel.empty:
        return math.nan, math.nan, "no MMRM of change in the plan"
    r = sel.iloc[0]
    return float(r["estimate"]), float(r["p"]), f"MMRM {spec.name}: difference in change vs placebo"


def _finding(f: Finding, result: AnalysisResult, ab: PublishedAbstract) -> dict[str, Any]:
    """'Improved' is a change in the benefit direction, with p < alpha when the abstract
    prints a p (or says 'not improved'); direction alone when it states only a direction."""
    protocol = result.protocol
    est, p, what = _our_change(f, result, ab.visit)
    higher = _direction(protocol, f.variable, ab.visit) == "higher"
    benefit = est > 0 if higher else est < 0
    significant = p < protocol.analysis.alpha
    ours_improved = benefit if (f.improved and f.p is None) else benefit and significant
    stated = "improved" if f.improved else "not improved"
    if f.p is not None:
        stated += f" (p {f.p})" if f.p.startswith("<") else f" (p = {f.p})"
    if math.isnan(est):
        ours, equal = "not estimated", False
    else:
        sig = f", {p_phrase(p, ' ')}" if not math.isnan(p) else ""
        ours = f"{'improved' if ours_improved else 'not improved'}: {signed(est)}{sig}"
        equal = ours_improved == f.improved
    note = "; ".join(x for x in (f.statement, f.note, f"ours: {what}") if x)
    return _fact(
        "6-month findings",
        f.variable,
        stated,
        ours,
        equal,
        "finding",
        arm=f.arm,
        visit=ab.visit,
        statistic=f"vs {f.versus}",
        note=note,
    )


def _primary_rows(
    ab: PublishedAbstract, result: AnalysisResult, ds: TrialDataset
) -> list[dict[str, Any]]:
    """The stated count of therapy-related TE-SAEs against ours, and our analysis of the
    primary endpoint, which the abstract gives nothing to compare with."""
    protocol = result.protocol
    ae = ae_flags(ds, result.populations.arms("safety"), protocol)
    related = int(ae.loc[ae["te_sae"] & ae["related"], "participant_id"].nunique())
    published = str(ab.primary.therapy_related_events)
    rows = [
        _row(
            "Primary endpoint",
            ab.primary.endpoint,
            "participants with a therapy-related TE-SAE",
            published,
            float(related),
            "count",
            note=ab.primary.statement,
        )
    ]
    h = result.headline
    if h.get("endpoint") != ab.primary.endpoint:
        return rows
    for r in h.get("arms", []):
        rows.append(
            _fact(
                "Primary endpoint",
                ab.primary.endpoint,
                "not given",
                f"{r['events']}/{r['n']} (95 % CI {100 * r['ci_low']:.1f} to "
                f"{100 * r['ci_high']:.1f} %)",
                False,
                "ours_only",
                arm=r["arm"],
                statistic="participants with a TE-SAE of any cause",
            )
        )
    for e in h["effect_vs_control"]:
        rows.append(
            _fact(
                "Primary endpoint",
                ab.primary.endpoint,
                "not given",
                risk_difference_text(e),
                False,
                "ours_only",
                arm=e["arm"],
                statistic="risk difference vs placebo",
            )
        )
    return rows


def replicate_abstract(
    ab: PublishedAbstract, result: AnalysisResult, ds: TrialDataset
) -> Replication:
    """What an abstract states (arms and size, mean age, the primary result, the direction
    of each finding) against the analysis ``result`` of the dataset ``ds``."""
    protocol = result.protocol
    ours_arms = "; ".join(protocol.arm(a).label for a in ab.arms if a in protocol.arm_names)
    age = ds.participants["age"].astype(float)
    rows = [
        _fact(
            "Design",
            "arms",
            "; ".join(ab.arms.values()),
            ours_arms,
            sorted(ab.arms) == sorted(protocol.arm_names),
        ),
        _row("Design", "randomized", "n", ab.n_randomized, result.consort.randomized, "count"),
        *(
            _row("Design", "age", stat, printed, value, note=_SAMPLE)
            for stat, printed, value in (
                ("mean", ab.age_mean, float(age.mean())),
                ("sd", ab.age_sd, float(age.std(ddof=1))),
            )
        ),
        *_primary_rows(ab, result, ds),
        *(_finding(f, result, ab) for f in ab.findings),
    ]
    cells = pd.DataFrame(rows)
    return Replication(cells, _summary(cells), tuple(ab.not_given))


def render_abstract_replication(
    rep: Replication, ab: PublishedAbstract, result: AnalysisResult
) -> str:
    """The HTML page of an abstract's facts against ours (self-contained)."""
    protocol = result.protocol
    labels = {
        **{v.name: v.label for v in protocol.variables},
        **{a.name: a.label for a in protocol.arms},
        **{v.name: v.label for v in protocol.visits},
    }
    rows = [
        r
        | {
            "item_label": labels.get(r["item"], r["item"]),
            "arm_label": labels.get(r["arm"], r["arm"]),
        }
        for r in rep.cells.to_dict(orient="records")
    ]
    return _ENV.get_template("replicate_abstract.html.j2").render(
        title=f"{protocol.identity.short_title}: the abstract's statements against frailtrial's",
        source=ab.source,
        summary=rep.summary.to_dict(orient="records"),
        rows=rows,
        not_given=rep.not_given,
        provenance=result.provenance,
    )
