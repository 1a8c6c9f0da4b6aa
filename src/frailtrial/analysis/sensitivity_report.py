"""The estimands section of report.html: each estimand's attributes, the primary analysis
and the sensitivity analyses side by side at the endpoint visit, a forest plot across them
and the tipping-point plots (figures also written to figures/)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from frailtrial.analysis.format import fixed, pvalue, signed
from frailtrial.analysis.models import mmrm_formula
from frailtrial.analysis.sensitivity import analysis_model, model_formulas
from frailtrial.analysis.sensitivity_figures import forest_svg, tipping_svg
from frailtrial.analysis.templates_env import ENV as _ENV
from frailtrial.protocol import Protocol
from frailtrial.protocol.model import Estimand

if TYPE_CHECKING:
    from frailtrial.analysis.results import AnalysisResult

_STRATEGY = {
    "MAR": "missing at random",
    "JR": "jump to reference",
    "CR": "copy reference",
    "CIR": "copy increments from reference",
    "LMCF": "last mean carried forward",
    "treatment_policy": "treatment policy",
}


def _labels(est: Estimand, protocol: Protocol) -> dict[str, str]:
    """Row label of each analysis: the primary model, then each sensitivity analysis."""
    spec = analysis_model(protocol, est)
    population = protocol.analysis.primary_population.upper()  # the models' population
    primary = f"Primary: MMRM {spec.name} ({population})"
    return {"primary": primary, **{s.name: f"{s.name} ({s.method})" for s in est.sensitivity}}


def _at_visit(result: AnalysisResult, est: Estimand) -> pd.DataFrame:
    """The estimand's rows at its endpoint visit, primary first, in plan order."""
    visit = next(e.visit for e in result.protocol.endpoints if e.name == est.endpoint)
    e = result.sensitivity.effects
    rows = e[(e["endpoint"] == est.endpoint) & (e["visit"].astype(str) == visit)]
    order = ["primary", *(s.name for s in est.sensitivity)]
    arms = [a.name for a in result.protocol.active_arms]
    key = rows["analysis"].map(order.index) * len(arms) + rows["arm"].map(arms.index)
    return rows.assign(_k=key.to_numpy()).sort_values("_k").drop(columns="_k")


def estimand_figures(result: AnalysisResult) -> list[dict[str, str]]:
    """Per estimand with sensitivity analyses: its forest plot and a tipping-point plot
    per analysis with a grid (``name``: the figure's file stem, ``svg``)."""
    protocol = result.protocol
    out = []
    tips = result.sensitivity.tipping_points
    grids = result.sensitivity.tipping
    for est in protocol.analysis.estimands:
        if not est.sensitivity:
            continue
        visit = next(e.visit for e in protocol.endpoints if e.name == est.endpoint)
        title = f"{est.endpoint} at {visit}: primary and sensitivity analyses"
        rows = _at_visit(result, est)
        names = {"primary": "primary model", **{s.name: s.name for s in est.sensitivity}}
        svg = forest_svg(rows, names, title, protocol)
        out.append({"name": f"forest_{est.endpoint}", "svg": svg, "endpoint": est.endpoint})
        for s in est.sensitivity:
            grid = grids[(grids["endpoint"] == est.endpoint) & (grids["analysis"] == s.name)]
            if grid.empty:
                continue
            mine = [t for t in tips if t["endpoint"] == est.endpoint and t["analysis"] == s.name]
            by_arm = {str(t["arm"]): t["tipping_delta"] for t in mine}
            title = f"Tipping point: {s.name} ({est.endpoint} at {visit})"
            out.append(
                {
                    "name": f"tipping_{est.endpoint}_{s.name}",
                    "svg": tipping_svg(grid, by_arm, title, protocol),
                    "endpoint": est.endpoint,
                }
            )
    return out


def _cell(r: dict[str, Any]) -> dict[str, str]:
    if r["estimate"] is None or math.isnan(float(r["estimate"])):
        return {"estimate": "not estimated", "p": ""}
    ci = f"{fixed(float(r['ci_low']))} to {fixed(float(r['ci_high']))}"
    return {"estimate": f"{signed(float(r['estimate']))} ({ci})", "p": pvalue(float(r["p_value"]))}


def estimands_html(result: AnalysisResult, figures: list[dict[str, str]]) -> str:
    """The estimands section ('' when the plan declares no sensitivity analysis)."""
    protocol = result.protocol
    blocks = []
    for est in protocol.analysis.estimands:
        if not est.sensitivity:
            continue
        ep = next(e for e in protocol.endpoints if e.name == est.endpoint)
        var = protocol.variable(est.variable)
        rows = _at_visit(result, est)
        labels = _labels(est, protocol)
        sens = {s.name: s for s in est.sensitivity}
        table = []
        for name in labels:
            sub = rows[rows["analysis"] == name]
            if sub.empty:
                continue
            first = sub.iloc[0]
            s = sens.get(name)
            table.append(
                {
                    "name": name,
                    "label": labels[name],
                    "method": first["method"],
                    "strategy": first["strategy"],
                    "delta": "" if s is None else f"{s.delta:g}",
                    "cells": [
                        _cell(r)
                        for r in sub.to_dict(orient="records")  # one per active arm
                    ],
                    "note": "; ".join(n for n in sub["note"].fillna("") if n),
                }
            )
        tips = [
            {
                "analysis": t["analysis"],
                "arm": protocol.arm(str(t["arm"])).label,
                "delta": "none within the grid"
                if t["tipping_delta"] is None
                else f"{t['tipping_delta']:.4g}",
            }
            for t in result.sensitivity.tipping_points
            if t["endpoint"] == est.endpoint
        ]
        spec = analysis_model(protocol, est)
        imputation, per_visit = model_formulas(spec)
        blocks.append(
            {
                "imputation": imputation,
                "analysis": per_visit,
                "covariance": spec.covariance,
                "primary_formula": mmrm_formula(spec),
                "endpoint": est.endpoint,
                "population": est.population.upper(),
                "variable": f"{var.label}: {ep.measure.replace('_', ' ')} at {ep.visit}",
                "treatment": ", ".join(
                    f"{a.label} vs {protocol.control_arm.label}" for a in protocol.active_arms
                ),
                "events": [
                    f"{i.event.replace('_', ' ')}: {_STRATEGY[i.strategy]} ({i.strategy})"
                    for i in est.intercurrent_events
                ],
                "summary": est.summary_measure.replace("_", " "),
                "arms": [a.label for a in protocol.active_arms],
                "rows": table,
                "tips": tips,
                "figures": [f for f in figures if f["endpoint"] == est.endpoint],
                "alpha": protocol.analysis.alpha,
            }
        )
    if not blocks:
        return ""
    return _ENV.get_template("estimands.html.j2").render(
        blocks=blocks, control=protocol.control_arm.label
    )
