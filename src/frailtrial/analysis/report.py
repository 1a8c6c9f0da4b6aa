"""report.html: one self-contained page (inline CSS and SVG) from an analysis result."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from frailtrial.analysis.endpoints import primary_model
from frailtrial.analysis.format import fixed, fmt, n_pct, p_phrase, pvalue, signed
from frailtrial.analysis.plan import p_method
from frailtrial.analysis.records import records
from frailtrial.analysis.sensitivity_report import estimands_html
from frailtrial.analysis.templates_env import ENV as _ENV
from frailtrial.protocol import Protocol
from frailtrial.protocol.model import ModelSpec

if TYPE_CHECKING:
    from frailtrial.analysis.results import AnalysisResult
    from frailtrial.protocol import Protocol


def _num(x: Any, decimals: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if isinstance(x, (int,)) or (isinstance(x, float) and x.is_integer() and decimals == 0):
        return str(int(x))
    return fmt(float(x), decimals)


def table1_display(result: AnalysisResult) -> list[dict[str, Any]]:
    protocol = result.protocol
    actives = [a.name for a in protocol.active_arms]
    rows, group = [], None
    for r in records(result.table1.rows):
        header = None
        if r["group"] and r["group"] != group:
            header = r["group"]
        group = r["group"]
        unit = f" ({r['unit']})" if r["unit"] and not r["level"] else ""
        label = f"  {r['level']}" if r["level"] else f"{r['label']}{unit}"
        tests = [
            {"p": pvalue(r[f"p_{a}"]), "smd": _num(r[f"smd_{a}"]), "test": r[f"test_{a}"]}
            for a in actives
        ]
        if r["level"] and r["level"] == _first_level(result.table1.rows, r["characteristic"]):
            # a heading row carries the characteristic's test; its levels only their SMDs
            rows.append(
                {
                    "group_header": None,
                    "label": f"{r['label']}, n (%)",
                    "cells": [""] * len(protocol.arms),
                    "tests": tests,
                }
            )
            tests = [{"p": "", "smd": t["smd"], "test": ""} for t in tests]
        rows.append(
            {
                "group_header": header,
                "label": label,
                "cells": [r[a] for a in protocol.arm_names],
                "tests": tests,
            }
        )
    return rows


def _first_level(rows: pd.DataFrame, characteristic: str) -> str:
    return str(rows.loc[rows["characteristic"] == characteristic, "level"].iloc[0])


def table3_display(result: AnalysisResult) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    protocol = result.protocol
    visits = [v.name for v in protocol.assessment_visits]
    by_key = {(r["variable"], r["arm"], r["visit"]): r for r in records(result.table3.cells)}
    present = {k[0] for k in by_key}
    rows, detail = [], []
    for var in protocol.variables:
        if var.name not in present:
            continue
        d = var.decimals
        for i, arm in enumerate(protocol.arms):
            row_cells = []
            for v in visits:
                if (var.name, arm.name, v) not in by_key:
                    row_cells.append({"visit": v, "text": ""})
                    continue
                c = {str(k): x for k, x in by_key[(var.name, arm.name, v)].items()}
                marks = ",".join(m for m in (c["marker_vs_baseline"], c["marker_vs_control"]) if m)
                text = f"{_num(c['mean'], d)} ± {_num(c['sd'], d)}" + (marks and f" {marks}")
                row_cells.append({"visit": v, "text": text})
                detail.append(
                    {
                        "variable": var.label,
                        "arm": arm.label,
                        "visit": v,
                        "n": int(c["n"]),
                        "mean": _num(c["mean"], d),
                        "sd": _num(c["sd"], d),
                        "change": _num(c["mean_change"], d),
                        "test_b": _str(c.get("test_vs_baseline")),
                        "p_b": pvalue(c["p_vs_baseline"]),
                        "p_adj": pvalue(c["p_vs_baseline_adj"]),
                        "test_c": _str(c.get("test_vs_control")),
                        "p_c": pvalue(c["p_vs_control"]),
                    }
                )
            rows.append(
                {
                    "first": i == 0,
                    "variable": var.name,
                    "variable_label": var.label + (f" ({var.unit})" if var.unit else ""),
                    "arm": arm.name,
                    "arm_label": arm.label,
                    "cells": row_cells,
                }
            )
    return rows, detail


def _str(x: Any) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)


def _ci(low: float, high: float, scale: float, decimals: int) -> str:
    if math.isnan(low):
        return ""
    return f"{fixed(scale * low, decimals)} to {fixed(scale * high, decimals)}"


def _estimate(e: dict[str, Any], scale: float, decimals: int) -> str:
    """'+9.71 (5.67 to 13.76)': the estimate (times ``scale``) and its 95 % CI."""
    if math.isnan(e["estimate"]):
        return ""
    ci = _ci(e["ci_low"], e["ci_high"], scale, decimals)
    return f"{signed(scale * e['estimate'], decimals)} ({ci})"


def endpoint_display(a: dict[str, Any], result: AnalysisResult) -> dict[str, Any]:
    """One endpoint's display (report.html and tables.docx): per-arm incidence (if any) and
    the effects vs placebo."""
    protocol = result.protocol
    control = protocol.control_arm.label
    incidence = a.get("measure", "incidence") == "incidence"
    scale, decimals = (100.0, 1) if incidence else (1.0, 2)
    effects = [
        {
            "comparison": f"{protocol.arm(e['arm']).label} − {control}",
            "estimate": _estimate(e, scale, decimals),
            "p": pvalue(e["p"]),
            "p_adjusted": pvalue(e["p_adjusted"]),
            "method": e["method"],
        }
        for e in a["effect_vs_control"]
    ]
    arms = [
        {
            "label": protocol.arm(r["arm"]).label,
            "events": r["events"],
            "n": r["n"],
            "pct": _num(100 * r["proportion"], 1),
            "ci": _ci(r["ci_low"], r["ci_high"], 100.0, 1),
        }
        for r in a.get("arms", [])
    ]
    trend = a.get("trend")
    trend_text = ""
    if trend:
        p = p_phrase(trend["p"], " ") if not math.isnan(trend["p"]) else "not computed"
        note = f" ({trend['note']})" if trend.get("note") else ""
        trend_text = f"{trend['method']}: {p}{note}"
    if incidence:
        label = a.get("label") or (
            f"{a['event']} incidence within {a['window_days']} days of the first dose"
        )
        note = (
            f"Participants of the {a['population']} population with at least one "
            f"{a['event']} with onset from the first dose up to {a['window_days']} days after "
            f"it; % with the exact Clopper-Pearson 95 % CI; risk difference (treatment − "
            f"{control}) in percentage points with the Newcombe hybrid-score 95 % CI; "
            "Fisher's exact test."
        )
        estimate_label = "Risk difference, %"
    else:
        label = a["label"]
        note = (
            f"Model {a['model']} ({a['population'].upper()}); treatment − {control} at "
            "the endpoint's visit."
        )
        estimate_label = "Difference"
    return {
        "endpoint": a["endpoint"],
        "kind": a["kind"],
        "primary": a["endpoint"] == protocol.primary_endpoint.name,
        "label": label,
        "note": note,
        "arms": arms,
        "effects": effects,
        "estimate_label": estimate_label,
        # the method the p-values were adjusted by (an incidence under Dunnett: Bonferroni)
        "multiplicity": p_method(protocol.analysis) or "none"
        if incidence
        else protocol.analysis.multiplicity,
        "trend": trend_text,
    }


def _endpoints_html(result: AnalysisResult) -> str:
    """The primary endpoint's analysis first, then the other incidence endpoints."""
    h = result.headline
    others = [a for a in result.incidence if a["endpoint"] != h.get("endpoint")]
    blocks = [endpoint_display(a, result) for a in ([h] if h else []) + others]
    return _ENV.get_template("endpoints.html.j2").render(blocks=blocks)


def _endpoints_title(result: AnalysisResult) -> str:
    others = any(a["endpoint"] != result.headline.get("endpoint") for a in result.incidence)
    return "Primary endpoint" + (" and incidence endpoints" if others else "")


def _effect_cell(r: Mapping[str, Any]) -> str:
    """'+1.23 (0.10, 2.36) p=0.034', then the adjusted p (and simultaneous interval) when
    the plan's multiplicity adjusted it."""
    text = (
        f"{signed(r['estimate'])} ({fmt(r['ci_low'])}, {fmt(r['ci_high'])}) "
        f"{p_phrase(float(r['p']))}"
    )
    if r.get("adjustment", "none") == "none":
        return text
    text += f"; adj. {p_phrase(float(r['p_adjusted']))}"
    if not pd.isna(r.get("ci_low_adj")):
        text += f" [{fmt(r['ci_low_adj'])}, {fmt(r['ci_high_adj'])}]"
    return text


def _multiplicity_note(protocol: Protocol) -> str:
    """How the effects vs placebo were adjusted (the models' notes)."""
    plan = protocol.analysis
    k = len(protocol.active_arms)
    if plan.multiplicity == "none" or k < 2:
        text = "No adjustment across arms."
    else:
        sim = {
            "dunnett": "; simultaneous CIs [in brackets] from the multivariate t with the "
            "contrasts' correlation and the smallest df of the visit",
            "bonferroni": "; simultaneous CIs [in brackets] at level 1 - alpha / k",
        }.get(plan.multiplicity, "")
        text = (
            f"Adjusted p: {plan.multiplicity.capitalize()} across the {k} active arms vs "
            f"{protocol.control_arm.label} at each visit{sim}."
        )
    if plan.fixed_sequence:
        text += (
            " Fixed sequence (each endpoint tested only when every arm was significant at "
            f"{plan.alpha:g} for the ones before): {' → '.join(plan.fixed_sequence)}."
        )
    return text


def _models_html(result: AnalysisResult) -> str:
    protocol = result.protocol
    e, fits = result.models.effects, result.models.fits
    if fits.empty:
        return ""
    labels = {v.name: v.label for v in protocol.visits}
    specs = list(protocol.analysis.models)
    blocks = []
    names = [s.name for s in specs] + (["dose_response"] if protocol.analysis.dose_response else [])
    for name in names:
        spec = next((s for s in specs if s.name == name), None)
        sub = e[e["model"] == name]
        f = fits[fits["model"] == name]
        visits = [v for v in protocol.assessment_visits if v.name in set(sub["visit"])]
        # each variable's comparisons in order of appearance, each a visit -> effect row map
        # (one pass over the effects instead of a filter per variable and arm)
        by_comparison: dict[str, dict[Any, dict[Any, dict[str, Any]]]] = {}
        for r in sub.to_dict(orient="records"):
            by_comparison.setdefault(r["variable"], {}).setdefault(r["arm"], {})[r["visit"]] = r
        rows = []
        for var in protocol.variables:
            fv = f[f["variable"] == var.name]
            for arm, effects in by_comparison.get(var.name, {}).items():
                cells = [_effect_cell(effects[v.name]) if v.name in effects else "" for v in visits]
                test = ""
                if "arm_visit_p" in fv and len(fv):
                    test = pvalue(float(fv["arm_visit_p"].iloc[0]))
                comparison = (
                    "slope per dose unit"
                    if arm == "trend"
                    else f"{protocol.arm(str(arm)).label} vs {protocol.control_arm.label}"
                )
                rows.append(
                    {"variable": var.label, "comparison": comparison, "cells": cells, "test": test}
                )
        failures = [  # a row without a fit's size is a model that failed; its note says why
            f"{r['variable']}: {r['note']}"
            for r in f.to_dict(orient="records")
            if pd.isna(r["n_obs"])
        ]
        left_out = [  # participants of the population a fitted model could not use
            f"{r['variable']}: {r['note']}"
            for r in f.to_dict(orient="records")
            if not pd.isna(r["n_obs"]) and r.get("n_excluded")
        ]
        if spec is None:
            title = "Dose-response trend (MMRM, linear in dose)"
            formula = str(f["formula"].iloc[0]) if len(f) else "change ~ visit + visit:dose"
            df_note = str(sub["df_method"].iloc[0]) if len(sub) else ""
            note = (
                f"{formula} (the primary MMRM's covariates and covariance); slope per "
                f"lowest-dose unit, 95 % CI, {df_note}."
            )
        elif spec.kind == "mmrm":
            title = f"{_model_role(spec, protocol)}: MMRM on change from baseline"
            terms = (["baseline"] if spec.baseline_covariate else []) + spec.covariates
            note = (
                f"Change ~ {' + '.join([*terms, 'arm × visit'])}, "
                f"{spec.covariance} covariance, {spec.method.upper()}, {spec.df} df; "
                "treatment effect (active − control) per visit with 95 % CI."
            )
        else:
            title = (
                f"{_model_role(spec, protocol)}: random-intercept mixed model "
                f"({spec.method.upper()})"
            )
            note = (
                f"Value ~ {' + '.join([*spec.covariates, 'arm × visit'])} with a random "
                "intercept per participant (the paper's mixed-effect maximum-likelihood "
                "regression); arm difference per visit with 95 % CI (Satterthwaite df) and the "
                "F test of arm × visit."
            )
        if spec is not None:
            note += " " + _multiplicity_note(protocol)
        blocks.append(
            {
                "name": name,
                "title": title,
                "note": note,
                "rows": rows,
                "visits": [{"label": labels[v.name]} for v in visits],
                "has_test": spec is not None and spec.kind == "random_intercept",
                "failures": failures,
                "left_out": left_out,
            }
        )
    return _ENV.get_template("models.html.j2").render(blocks=blocks)


def _model_role(spec: ModelSpec, protocol: Protocol) -> str:
    """'Primary model' only for the model of the primary endpoint."""
    if spec == primary_model(protocol):
        return f"Primary model (endpoint {protocol.primary_endpoint.name})"
    return "Supportive model" if spec.role == "supportive" else "Model of secondary endpoints"


def _exclusion_rows(result: AnalysisResult) -> list[dict[str, Any]]:
    """Each reason for exclusion from the primary analysis with its count per arm."""
    arms = result.consort.arms
    reasons = dict.fromkeys(r for a in arms for r in a.exclusion_reasons)
    return [{"reason": r, "counts": [a.exclusion_reasons.get(r, 0) for a in arms]} for r in reasons]


def render_report(
    result: AnalysisResult,
    figures: dict[str, str],
    change_figures: list[dict[str, str]],
    estimand_figures: list[dict[str, str]] | None = None,
) -> str:
    """The HTML of report.html (``estimand_figures``: those of :mod:`.sensitivity_report`)."""
    protocol = result.protocol
    labels = {v.name: v.label for v in protocol.visits}
    by_visit = result.compliance["by_visit"]
    compliance_rows = []
    for v in protocol.assessment_visits:
        sub = by_visit[by_visit["visit"] == v.name].set_index("arm")
        compliance_rows.append(
            {
                "label": v.label,
                "cells": [
                    f"{int(sub.at[a, 'attended'])} / {int(sub.at[a, 'scheduled'])}"
                    if a in sub.index
                    else ""
                    for a in protocol.arm_names
                ],
            }
        )
    miss = result.missing
    missing_rows = []
    for var in protocol.variables:
        s = miss[miss["variable"] == var.name].set_index("visit")["missing"]
        missing_rows.append(
            {
                "label": var.label,
                "cells": [int(s.get(v.name, 0)) for v in protocol.assessment_visits],
            }
        )
    t3_rows, t3_detail = table3_display(result)
    pops = [
        {"name": p.name, "definition": p.definition, "counts": result.population_counts[p.name]}
        for p in protocol.analysis.populations
    ]
    actives = protocol.active_arms
    template = _ENV.get_template("report.html.j2")
    return template.render(
        title=f"{protocol.identity.short_title}: trial report",
        protocol=protocol,
        provenance=result.provenance,
        consort=result.consort,
        consort_exclusions=_exclusion_rows(result),
        compliance=result.compliance,
        compliance_rows=compliance_rows,
        populations=pops,
        primary_population=protocol.analysis.primary_population.upper(),
        headline=result.headline,
        endpoints=_endpoints_html(result),
        endpoints_title=_endpoints_title(result),
        table1=result.table1,
        table1_rows=table1_display(result),
        actives=actives,
        table2=_ENV.get_template("table2.html.j2").render(
            rows=result.table2.rows.to_dict(orient="records"),
            arms=protocol.arms,
            actives=actives,
            n=result.table2.n,
            footnote=result.table2.footnote,
            pvalue=pvalue,
            n_pct=n_pct,
        ),
        table3=result.table3,
        table3_rows=t3_rows,
        table3_detail=t3_detail,
        models=_models_html(result),
        estimands=estimands_html(result, estimand_figures or []),
        visits=[{"name": v.name, "label": labels[v.name]} for v in protocol.assessment_visits],
        figures=figures,
        change_figures=change_figures,
        missing_rows=missing_rows,
    )
