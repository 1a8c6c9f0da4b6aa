"""The protocol's endpoints by their measure, and the primary endpoint as the headline.

- ``incidence`` endpoints (variables ``ae``, ``sae``, ``te_sae``): participants of the safety
  population (arm received, as Table 2) with at least one qualifying event, per arm, with
  the exact (Clopper-Pearson) 95 % CI; each active arm against the placebo arm by the risk
  difference (treatment - placebo) with the Newcombe hybrid-score 95 % CI and Fisher's exact
  test; with two or more active arms, the Cochran-Armitage trend test over the dose order
  (placebo < lowest dose < ... < highest dose, scores 0, 1, 2, ...).
  A qualifying event is treatment-emergent (onset on or after the first dose) and starts at
  most W days after the first dose: W = ``analysis.te_sae_window_days`` for ``te_sae`` (the
  same events as Table 2's TE-SAE column), otherwise the endpoint visit's study day - 1
  (study day 1 is the first dose). ``sae`` and ``te_sae`` count serious events only.
- ``change_from_baseline`` and ``value`` endpoints: the effect of each active arm vs placebo
  at the endpoint's visit from the plan's model of that measure (an ``mmrm`` analyses change
  from baseline, a ``random_intercept`` model the value); that model is the primary model.

The headline always holds the primary endpoint; a primary that cannot be analysed raises
:class:`~frailtrial.errors.InputError` (one line saying why). p_adjusted: the plan's
``analysis.multiplicity`` across the active arms (:func:`frailtrial.analysis.plan.adjust`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from frailtrial.analysis.format import fmt, p_phrase, signed
from frailtrial.analysis.models import Models
from frailtrial.analysis.plan import adjust, p_method
from frailtrial.analysis.table2 import ae_flags
from frailtrial.dataset import TrialDataset
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol
from frailtrial.protocol.model import Endpoint, ModelSpec
from frailtrial.stats import incidence as inc
from frailtrial.stats.effect_sizes import risk_difference

INCIDENCE_VARIABLES: dict[str, str] = {
    "ae": "adverse event",
    "sae": "serious adverse event",
    "te_sae": "treatment-emergent serious adverse event",
}
"""The incidence variables an endpoint can name, and what each counts."""
_MODEL_KIND = {"change_from_baseline": "mmrm", "value": "random_intercept"}
_INCIDENCE_METHOD = "risk difference, Newcombe hybrid-score 95 % CI; Fisher's exact test"


def primary_model(protocol: Protocol) -> ModelSpec | None:
    """The plan's model that analyses the primary endpoint: of the models of its measure,
    the first with role ``primary``, else the first; None for an incidence primary or
    when the plan has no model of its measure. Only this model is called primary."""
    kind = _MODEL_KIND.get(protocol.primary_endpoint.measure)
    fitting = [s for s in protocol.analysis.models if s.kind == kind]
    return next((s for s in fitting if s.role == "primary"), fitting[0] if fitting else None)


def _where(protocol: Protocol, ep: Endpoint) -> str:
    i = next(i for i, e in enumerate(protocol.endpoints) if e.name == ep.name)
    return f"endpoints[{i}] ({ep.name})"


def check_primary(protocol: Protocol) -> None:
    """Refuse, before any computing, a primary endpoint the analysis cannot give: at a visit
    before treatment, an incidence variable not in :data:`INCIDENCE_VARIABLES`, or a
    continuous measure without a model of that measure in ``analysis.models``."""
    ep = protocol.primary_endpoint
    where = f"primary endpoint {_where(protocol, ep)}"
    visit = next((v for v in protocol.visits if v.name == ep.visit), None)
    if visit is None or visit.kind in ("screening", "baseline"):
        kind = f"a {visit.kind} visit" if visit else "not a visit"
        raise InputError(
            f"{where}: visit {ep.visit!r} is {kind}; a treatment effect needs a visit after "
            "baseline"
        )
    if ep.measure == "incidence":
        if ep.variable not in INCIDENCE_VARIABLES:
            raise InputError(
                f"{where}: incidence of {ep.variable!r} cannot be analysed; allowed: "
                f"{', '.join(INCIDENCE_VARIABLES)}"
            )
    elif primary_model(protocol) is None:
        raise InputError(
            f"{where}: measure {ep.measure} needs a {_MODEL_KIND[ep.measure]} model in "
            "analysis.models, and the plan has none"
        )


def _window(protocol: Protocol, ep: Endpoint) -> int:
    """Days after the first dose within which an event counts (see the module docstring)."""
    window = protocol.analysis.te_sae_window_days
    if ep.variable == "te_sae" and window is not None:
        return window
    return next(v.day for v in protocol.visits if v.name == ep.visit) - 1


def _dose_scores(protocol: Protocol) -> tuple[dict[str, float] | None, str]:
    """Trend scores by dose order (placebo 0, then 1, 2, ... by increasing dose) and a note;
    None when the active arms' doses cannot be ordered (mixed kinds, equal doses)."""
    actives = protocol.active_arms
    kinds = {a.dose.kind for a in actives}
    doses = [a.dose.cells if a.dose.kind == "fixed" else a.dose.cells_per_kg for a in actives]
    if len(kinds) != 1 or None in doses or len(set(doses)) != len(doses):
        return None, "the active arms' doses have no order (different kinds or equal doses)"
    ranked = sorted(zip(doses, (a.name for a in actives), strict=True))
    scores = {protocol.control_arm.name: 0.0} | {n: float(k + 1) for k, (_, n) in enumerate(ranked)}
    order = " < ".join(protocol.arm(n).label for n in scores)
    return scores, f"scores by dose order: {order}"


def _incidence_endpoint(
    ep: Endpoint, ae: pd.DataFrame, n: dict[str, int], protocol: Protocol
) -> dict[str, Any]:
    window = _window(protocol, ep)
    hit = ae["te"].to_numpy() & (ae["since"].to_numpy() <= window)
    if ep.variable in ("sae", "te_sae"):
        hit &= ae["serious"].to_numpy()
    events = ae.loc[hit].groupby("arm")["participant_id"].nunique()
    arms: list[dict[str, Any]] = []
    for a in protocol.arms:
        k, m = int(events.get(a.name, 0)), n[a.name]
        low, high = inc.clopper_pearson(k, m) if m else (math.nan, math.nan)
        arms.append(
            {
                "arm": a.name,
                "events": k,
                "n": m,
                "proportion": k / m if m else math.nan,
                "ci_low": low,
                "ci_high": high,
            }
        )
    by = {r["arm"]: r for r in arms}
    ctrl = by[protocol.control_arm.name]
    effects: list[dict[str, Any]] = []
    for a in protocol.active_arms:
        r = by[a.name]
        if r["n"] and ctrl["n"]:
            rd = risk_difference(r["events"], r["n"], ctrl["events"], ctrl["n"])
            est, low, high = rd.estimate, rd.ci_low, rd.ci_high
            p = inc.fisher_2x2(r["events"], r["n"], ctrl["events"], ctrl["n"])
        else:
            est = low = high = p = math.nan
        effects.append(
            {
                "arm": a.name,
                "estimate": est,
                "ci_low": low,
                "ci_high": high,
                "p": p,
                "method": _INCIDENCE_METHOD,
            }
        )
    _adjusted(effects, protocol)
    return {
        "endpoint": ep.name,
        "kind": ep.kind,
        "variable": ep.variable,
        "visit": ep.visit,
        "event": INCIDENCE_VARIABLES.get(ep.variable, ep.variable),
        "window_days": window,
        "population": "safety",
        "comparator": protocol.control_arm.name,
        "arms": arms,
        "effect_vs_control": effects,
        "trend": _trend(arms, protocol),
    }


def _trend(arms: list[dict[str, Any]], protocol: Protocol) -> dict[str, Any] | None:
    """Cochran-Armitage over the dose order, with two or more active arms."""
    if len(protocol.active_arms) < 2:
        return None
    scores, note = _dose_scores(protocol)
    if scores is None:
        return {"method": "Cochran-Armitage trend test", "p": math.nan, "note": note}
    rows = [r for r in arms if r["n"]]
    if len(rows) < 2:
        return {"method": "Cochran-Armitage trend test", "p": math.nan, "note": "no data"}
    res = inc.cochran_armitage(
        [r["events"] for r in rows], [r["n"] for r in rows], [scores[r["arm"]] for r in rows]
    )
    if math.isnan(res.p):
        note += "; not defined: no group has an event (or every participant has one)"
    return {
        "method": "Cochran-Armitage trend test",
        "scores": {r["arm"]: scores[r["arm"]] for r in rows},
        "z": res.z,
        "chi_square": res.chi_square,
        "p": res.p,
        "note": note,
    }


def _adjusted(effects: list[dict[str, Any]], protocol: Protocol) -> None:
    """``p_adjusted`` of each effect: the plan's multiplicity across the active arms, and
    ``adjustment``, the method used (Fisher p-values have no joint distribution: a Dunnett
    plan adjusts them by Bonferroni, and says so)."""
    adj = adjust(np.array([e["p"] for e in effects], dtype=float), protocol.analysis)
    used = p_method(protocol.analysis) or "none"
    for e, q in zip(effects, adj, strict=True):
        e["p_adjusted"], e["adjustment"] = float(q), used


def incidence_endpoints(
    ds: TrialDataset, safety: pd.Series, protocol: Protocol
) -> list[dict[str, Any]]:
    """Every incidence endpoint of the protocol over the safety population (``safety``: arm
    received by participant_id). An unknown incidence variable is an InputError."""
    eps = [e for e in protocol.endpoints if e.measure == "incidence"]
    if not eps:
        return []
    for e in eps:
        if e.variable not in INCIDENCE_VARIABLES:
            raise InputError(
                f"{_where(protocol, e)}: incidence of {e.variable!r} cannot be analysed; "
                f"allowed: {', '.join(INCIDENCE_VARIABLES)}"
            )
    ae = ae_flags(ds, safety, protocol)
    n = {a: int((safety == a).sum()) for a in protocol.arm_names}
    return [_incidence_endpoint(e, ae, n, protocol) for e in eps]


def incidence_frame(analyses: list[dict[str, Any]]) -> pd.DataFrame:
    """tables/incidence.csv: one row per endpoint and arm (effects on the active arms)."""
    rows = []
    for a in analyses:
        eff = {e["arm"]: e for e in a["effect_vs_control"]}
        for r in a["arms"]:
            e = eff.get(r["arm"], {})
            rows.append(
                {
                    "endpoint": a["endpoint"],
                    "visit": a["visit"],
                    "window_days": a["window_days"],
                    **r,
                    "risk_difference": e.get("estimate", math.nan),
                    "rd_ci_low": e.get("ci_low", math.nan),
                    "rd_ci_high": e.get("ci_high", math.nan),
                    "p_fisher": e.get("p", math.nan),
                    "p_adjusted": e.get("p_adjusted", math.nan),
                    "adjustment": e.get("adjustment", "none"),
                }
            )
    return pd.DataFrame(rows)


_ADJ_CI = ("ci_low_adj", "ci_high_adj")  # simultaneous CI, where the adjustment gives one


def risk_difference_text(e: dict[str, Any]) -> str:
    """'+6.7 % (95 % CI -10.2 to 23.5), Fisher p = 0.598': an incidence effect vs control."""
    return (
        f"{signed(100 * e['estimate'], 1)} % (95 % CI {fmt(100 * e['ci_low'], 1)} to "
        f"{fmt(100 * e['ci_high'], 1)}), Fisher {p_phrase(e['p'], ' ')}"
    )


def _incidence_headline(a: dict[str, Any], protocol: Protocol) -> dict[str, Any]:
    ep = protocol.primary_endpoint
    where = f"primary endpoint {_where(protocol, ep)}"
    empty = [r["arm"] for r in a["arms"] if not r["n"]]
    if empty:
        raise InputError(
            f"{where}: no participant of arm(s) {', '.join(empty)} in the safety population "
            "(dosing.csv); the incidence cannot be compared"
        )
    visit = next(v for v in protocol.visits if v.name == ep.visit)
    text = " / ".join(f"{protocol.arm(r['arm']).label} {r['events']}/{r['n']}" for r in a["arms"])
    detail = "; ".join(
        f"{protocol.arm(e['arm']).label} − {protocol.control_arm.label} {risk_difference_text(e)}"
        for e in a["effect_vs_control"]
    )
    if a["trend"] is not None and not math.isnan(a["trend"]["p"]):
        detail += f"; trend over doses {p_phrase(a['trend']['p'], ' ')}"
    return {
        **a,
        "measure": "incidence",
        "label": f"{a['event']} incidence by {visit.label} ({a['window_days']} days after "
        "the first dose)",
        "text": text,
        "detail": detail,
    }


def _model_headline(
    cells: pd.DataFrame, models: Models, protocol: Protocol, spec: ModelSpec
) -> dict[str, Any]:
    ep = protocol.primary_endpoint
    where = f"primary endpoint {_where(protocol, ep)}"
    e = models.effects
    eff = e[(e["model"] == spec.name) & (e["variable"] == ep.variable) & (e["visit"] == ep.visit)]
    eff = eff[eff["arm"].isin([a.name for a in protocol.active_arms])]
    if eff.empty or eff["estimate"].isna().all():
        f = models.fits
        notes = f.loc[(f["model"] == spec.name) & (f["variable"] == ep.variable), "note"]
        why = next((str(x) for x in notes if x), "no measurements of it")
        raise InputError(
            f"{where}: model {spec.name} gives no effect of {ep.variable} at {ep.visit} ({why})"
        )
    by_arm = {str(r["arm"]): r for r in eff.to_dict(orient="records")}
    what = f"MMRM ({spec.covariance})" if spec.kind == "mmrm" else "random-intercept model"
    effects: list[dict[str, Any]] = []
    for a in protocol.active_arms:
        r = by_arm.get(a.name, {})
        df = r.get("df_method", "")
        effects.append(
            {"arm": a.name}
            | {
                k: float(r.get(k, math.nan))
                for k in ("estimate", "ci_low", "ci_high", "p", "p_adjusted", *_ADJ_CI)
            }
            | {
                "adjustment": str(r.get("adjustment", "none")),
                "method": f"{what} {spec.name}, {spec.method.upper()}, {df}: "
                f"{a.name} − {protocol.control_arm.name}",
            }
        )
    sub = cells[(cells["variable"] == ep.variable) & (cells["visit"] == ep.visit)]
    measure, column = (
        ("change", "mean_change") if ep.measure == "change_from_baseline" else ("value", "mean")
    )
    means = {str(r["arm"]): float(r[column]) for r in sub.to_dict(orient="records")}
    var = protocol.variable(ep.variable)
    visit = next(v for v in protocol.visits if v.name == ep.visit)
    return {
        "endpoint": ep.name,
        "kind": ep.kind,
        "measure": ep.measure,
        "variable": ep.variable,
        "visit": ep.visit,
        "model": spec.name,
        "population": protocol.analysis.primary_population,
        "comparator": protocol.control_arm.name,
        "label": f"{var.label} {measure} at {visit.label}",
        column: means,
        "effect_vs_control": effects,
        "text": " / ".join(
            f"{protocol.arm(a).label} {signed(c) if measure == 'change' else fmt(c)}"
            for a, c in means.items()
        ),
        "detail": "; ".join(
            f"{protocol.arm(x['arm']).label} vs {protocol.control_arm.label} "
            f"{signed(x['estimate'])} (95 % CI {fmt(x['ci_low'])} to {fmt(x['ci_high'])}), "
            f"{p_phrase(x['p'], ' ')} ({spec.name})"
            for x in effects
        ),
    }


def headline(
    cells: pd.DataFrame, models: Models, incidence: list[dict[str, Any]], protocol: Protocol
) -> dict[str, Any]:
    """The primary endpoint's analysis: ``endpoint`` and ``effect_vs_control`` (one entry
    per active arm: arm, estimate, ci_low, ci_high, p, p_adjusted, method; estimate =
    treatment - placebo), with the per-arm summaries. InputError when it cannot be given."""
    check_primary(protocol)
    ep = protocol.primary_endpoint
    if ep.measure == "incidence":
        a = next(x for x in incidence if x["endpoint"] == ep.name)
        return _incidence_headline(a, protocol)
    spec = primary_model(protocol)
    assert spec is not None  # check_primary refused a primary without a model
    return _model_headline(cells, models, protocol, spec)
