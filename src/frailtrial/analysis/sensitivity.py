"""The plan's estimands: their sensitivity analyses run through ``frailtrial.stats.sensitivity``
(reference-based and delta-adjusted multiple imputation, as R rbmi) beside the primary model.

For each estimand (an endpoint of change from baseline) and each of its sensitivity
analyses, every active arm is compared with the placebo arm on the data of those two arms
(a 3-arm trial gives one comparison per active arm, as the primary model's effects):

- data: every member of the estimand's population with a baseline value, at every
  post-baseline visit (the change missing where not measured), its arm and the baseline
  covariates of the model that analyses the endpoint;
- imputation model: ``change ~ base * visit + covariates + arm * visit`` (the model's
  covariance); analysis model per visit: ``change ~ arm + base + covariates`` (ANCOVA);
- intercurrent events from intercurrent_events.csv: one per participant (rbmi takes one),
  the earliest whose strategy is not treatment policy (a treatment-policy event keeps the
  data and imputes MAR, as no event), else the earliest; the analysis's ``strategy``, when
  given, replaces every other strategy (it varies the assumption about missing data, not
  the estimand's treatment-policy events);
- a tipping-point search at the endpoint visit reuses the imputations over the grid.

A sensitivity analysis the engine refuses (too few data before the events, no convergence)
is reported with the reason instead of numbers; the rest of the analysis goes on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from frailtrial.analysis.models import adjusted_for
from frailtrial.analysis.populations import Populations
from frailtrial.analysis.records import records
from frailtrial.analysis.table3 import baseline_of
from frailtrial.dataset.intercurrent import DEFAULT_STRATEGY
from frailtrial.errors import ConvergenceError, InputError
from frailtrial.protocol import Protocol
from frailtrial.protocol.model import Estimand, ModelSpec, SensitivityAnalysis

if TYPE_CHECKING:  # the engine (numba, formulaic) is imported by the functions that run it
    from frailtrial.stats.sensitivity import Imputations

EFFECT_COLUMNS = [
    "endpoint",
    "analysis",
    "method",
    "strategy",
    "delta",
    "arm",
    "visit",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "p_value",
    "n_subjects",
    "n_samples",
    "note",
]
"""Columns of tables/sensitivity.csv: the primary model's effects (analysis ``primary``),
then each sensitivity analysis's, per active arm and visit."""
TIPPING_COLUMNS = [
    "endpoint",
    "analysis",
    "arm",
    "visit",
    "delta",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "p_value",
    "significant",
]
"""Columns of tables/tipping_point.csv: the effect at the endpoint visit over each grid."""
_ENGINE_FAILS = (InputError, ConvergenceError, np.linalg.LinAlgError, ValueError)


@dataclass(frozen=True)
class Sensitivity:
    """``effects`` (:data:`EFFECT_COLUMNS`), ``tipping`` (:data:`TIPPING_COLUMNS`) and
    ``tipping_points``: per estimand, analysis and arm, the delta at which the effect at
    the endpoint visit stops being significant (None when it does not within the grid)."""

    effects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EFFECT_COLUMNS))
    tipping: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TIPPING_COLUMNS))
    tipping_points: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self, protocol: Protocol) -> dict[str, Any]:
        """results.json's ``sensitivity``: per estimand, its attributes, the primary
        model's effects and each sensitivity analysis's effects and tipping point."""
        out = []
        for est in protocol.analysis.estimands:
            mine = self.effects[self.effects["endpoint"] == est.endpoint]
            analyses = []
            for s in est.sensitivity:
                rows = mine[mine["analysis"] == s.name]
                analyses.append(
                    {
                        **s.model_dump(),
                        "effects": records(
                            rows.drop(columns=["endpoint", "analysis"]), missing_as_none=True
                        ),
                        "tipping_points": [
                            t
                            for t in self.tipping_points
                            if t["endpoint"] == est.endpoint and t["analysis"] == s.name
                        ],
                    }
                )
            primary = mine[mine["analysis"] == "primary"]
            out.append(
                {
                    **est.model_dump(exclude={"sensitivity"}),
                    "primary": records(
                        primary.drop(columns=["endpoint", "analysis"]), missing_as_none=True
                    ),
                    "analyses": analyses,
                }
            )
        return {"estimands": out}


def analysis_model(protocol: Protocol, estimand: Estimand) -> ModelSpec:
    """The plan's MMRM of change that analyses the estimand's endpoint: the primary one,
    else the first (``protocol validate`` requires one beside sensitivity analyses)."""
    mmrms = [s for s in protocol.analysis.models if s.kind == "mmrm"]
    mmrms = [s for s in mmrms if s.outcome == "change_from_baseline"]
    return next((s for s in mmrms if s.role == "primary"), mmrms[0])


def model_formulas(spec: ModelSpec) -> tuple[str, str]:
    """The imputation model and the per-visit analysis model of the sensitivity analyses
    analysed by ``spec``: ``change ~ base * visit + covariates + arm * visit`` and
    ``change ~ arm + base + covariates`` (``base`` unless the spec leaves it out).

    The baseline slope varies by visit in the imputation model because the ANCOVA at each
    visit estimates its own: an imputation model with one common slope would be poorer than
    the analysis model (uncongenial). With it, MAR by conditional mean reproduces an MMRM of
    the same mean structure; the primary MMRM, with one baseline slope for all visits, can
    differ from the MAR row by that model difference."""
    adjusted = adjusted_for(spec)
    terms = [f"{t} * visit" if t == "base" else t for t in adjusted]
    return (
        "change ~ " + " + ".join([*terms, "arm * visit"]),
        "change ~ " + " + ".join(["arm", *adjusted]),
    )


def sensitivity_data(
    measurements: pd.DataFrame,
    population: pd.Series,
    variable: str,
    protocol: Protocol,
    participants: pd.DataFrame,
    covariates: list[str],
) -> pd.DataFrame:
    """One row per member of ``population`` (arm by participant_id) with a baseline value
    x post-baseline visit: ``participant_id``, ``arm``, ``visit`` (categorical in visit
    order), ``base``, ``change`` (NaN where not measured) and the ``covariates``."""
    later = [v.name for v in protocol.follow_up_visits]
    m = measurements[
        (measurements["variable"].astype(str) == variable)
        & measurements["participant_id"].isin(population.index)
        & measurements["value"].notna()
    ]
    m = m.assign(base=baseline_of(m, protocol))
    base = m.dropna(subset=["base"]).groupby("participant_id", observed=True)["base"].first()
    ids = [p for p in population.index if p in base.index]
    grid = pd.DataFrame(
        {
            "participant_id": np.repeat(np.array(ids, dtype=object), len(later)),
            "visit": np.tile(np.array(later, dtype=object), len(ids)),
        }
    )
    post = m[m["visit"].astype(str).isin(later)]
    value = post.set_index([post["participant_id"].astype(str), post["visit"].astype(str)])["value"]
    key = pd.MultiIndex.from_arrays([grid["participant_id"], grid["visit"]])
    grid["arm"] = grid["participant_id"].map(population).astype(str)
    grid["base"] = grid["participant_id"].map(base).astype(float)
    grid["change"] = value.reindex(key).to_numpy(float) - grid["base"].to_numpy()
    by_id = participants.set_index("participant_id")
    for c in covariates:
        grid[c] = grid["participant_id"].map(by_id[c]).to_numpy()
    grid["visit"] = pd.Categorical(grid["visit"], categories=later)
    return grid


def one_event_each(ice: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """intercurrent_events.csv reduced to one row per participant (``participant_id``,
    ``visit``, ``strategy``): the earliest event not under treatment policy, else the
    earliest."""
    if ice.empty:
        return pd.DataFrame(columns=["participant_id", "visit", "strategy"])
    order = pd.Index([v.name for v in protocol.visits])
    ranked = ice.assign(
        _tp=ice["strategy"].astype(str) == "treatment_policy",
        _at=order.get_indexer(pd.Index(ice["visit"].astype(str))),
    ).sort_values(["participant_id", "_tp", "_at"], kind="stable")
    first = ranked.drop_duplicates("participant_id")
    return first[["participant_id", "visit", "strategy"]].astype(str).reset_index(drop=True)


def _primary_rows(effects: pd.DataFrame, spec: ModelSpec, est: Estimand) -> list[dict]:
    """The model's effects of the estimand's variable (analysis ``primary``)."""
    e = effects[(effects["model"] == spec.name) & (effects["variable"] == est.variable)]
    e = e[e["arm"] != "trend"]
    return [
        {
            "endpoint": est.endpoint,
            "analysis": "primary",
            "method": f"MMRM {spec.name} ({spec.covariance}, {spec.method}, {spec.df} df)",
            "strategy": "MAR",
            "delta": 0.0,
            "arm": r["arm"],
            "visit": r["visit"],
            "estimate": r["estimate"],
            "se": r["se"],
            "ci_low": r["ci_low"],
            "ci_high": r["ci_high"],
            "p_value": r["p"],
            "n_subjects": math.nan,
            "n_samples": math.nan,
            "note": "",
        }
        for r in e.to_dict(orient="records")
    ]


def _imputations(
    pair: pd.DataFrame,
    events: pd.DataFrame,
    s: SensitivityAnalysis,
    formulas: tuple[str, str],
    covariance: str,
    control: str,
    cache: dict[tuple[Any, ...], Imputations],
) -> Imputations:
    """The imputations of one analysis of ``pair`` (an active arm and ``control``): fitted
    once per arm, method, samples, seed and events with their strategies, so analyses that
    differ only in delta or tipping grid (or name the recorded strategy explicitly) share
    them."""
    if s.strategy is not None:  # treatment-policy events keep their data (no imputation)
        tp = events["strategy"] == "treatment_policy"
        events = events.assign(strategy=events["strategy"].where(tp, s.strategy))
    key = (
        tuple(sorted(set(pair["arm"]))),
        s.method,
        s.samples,
        s.seed,
        tuple(map(tuple, events.to_numpy().tolist())),
    )
    if key not in cache:
        from frailtrial.stats.sensitivity import prepare_imputations

        cache[key] = prepare_imputations(
            pair,
            formula=formulas[0],
            subject="participant_id",
            visit="visit",
            group="arm",
            reference=control,
            analysis=formulas[1],
            ice=events if len(events) else None,
            strategy=DEFAULT_STRATEGY,
            method=s.method,
            samples=s.samples,
            seed=s.seed,
            covariance=covariance,
        )
    return cache[key]


def _run_pair(
    data: pd.DataFrame,
    ice: pd.DataFrame,
    s: SensitivityAnalysis,
    formulas: tuple[str, str],
    covariance: str,
    control: str,
    arm: str,
    endpoint_visit: str,
    alpha: float,
    cache: dict[tuple[Any, ...], Imputations],
) -> tuple[pd.DataFrame, dict[str, Any], Any]:
    """One analysis of ``arm`` vs ``control``: its effects per visit, its counts and its
    tipping point (None without a grid)."""
    pair = data[data["arm"].isin([control, arm])]
    events = ice[ice["participant_id"].isin(set(pair["participant_id"]))]
    imputations = _imputations(pair, events, s, formulas, covariance, control, cache)
    res = imputations.result(s.delta, 1 - alpha)
    tip = None
    if s.tipping_point is not None:
        tp = s.tipping_point
        grid = np.linspace(tp.low, tp.high, tp.steps)
        from frailtrial.stats.sensitivity import tipping_point

        tip = tipping_point(imputations, grid, visit=endpoint_visit, alpha=alpha)
    counts = {"n_subjects": res.n_subjects, "n_samples": res.n_samples}
    return res.effects, counts, tip


def run_estimands(
    measurements: pd.DataFrame,
    populations: Populations,
    participants: pd.DataFrame,
    ice: pd.DataFrame,
    effects: pd.DataFrame,
    protocol: Protocol,
) -> Sensitivity:
    """Every sensitivity analysis of the plan's estimands beside the primary model's
    effects (``effects``: the plan's model effects)."""
    rows: list[dict] = []
    grids: list[pd.DataFrame] = []
    tips: list[dict[str, Any]] = []
    control = protocol.control_arm.name
    alpha = protocol.analysis.alpha
    events = one_event_each(ice, protocol)
    for est in protocol.analysis.estimands:
        if not est.sensitivity:
            continue
        spec = analysis_model(protocol, est)
        rows += _primary_rows(effects, spec, est)
        covariates = list(spec.covariates)
        formulas = model_formulas(spec)
        data = sensitivity_data(
            measurements,
            populations.arms(est.population),
            est.variable,
            protocol,
            participants,
            covariates,
        )
        visit = next(e.visit for e in protocol.endpoints if e.name == est.endpoint)
        cache: dict[tuple[Any, ...], Imputations] = {}  # this estimand's data only
        for s in est.sensitivity:
            for arm in (a.name for a in protocol.active_arms):
                head = {
                    "endpoint": est.endpoint,
                    "analysis": s.name,
                    "method": s.method,
                    "strategy": s.strategy or "as recorded",
                    "delta": s.delta,
                    "arm": arm,
                }
                try:
                    eff, counts, tip = _run_pair(
                        data,
                        events,
                        s,
                        formulas,
                        spec.covariance,
                        control,
                        arm,
                        visit,
                        alpha,
                        cache,
                    )
                except _ENGINE_FAILS as exc:
                    rows.append({**head, "visit": visit, "note": f"not estimated: {exc}"})
                    continue
                numbers = ["visit", "estimate", "se", "ci_low", "ci_high", "p_value"]
                for r in eff[numbers].to_dict(orient="records"):
                    rows.append({**head, **counts, **r, "note": ""})
                if tip is not None:
                    grids.append(
                        tip.grid.assign(
                            endpoint=est.endpoint, analysis=s.name, arm=arm, visit=tip.visit
                        )
                    )
                    tips.append(
                        {
                            "endpoint": est.endpoint,
                            "analysis": s.name,
                            "arm": arm,
                            "visit": tip.visit,
                            "alpha": tip.alpha,
                            "tipping_delta": tip.tipping_delta,
                        }
                    )
    tipping = (
        pd.concat(grids, ignore_index=True)[TIPPING_COLUMNS]
        if grids
        else pd.DataFrame(columns=TIPPING_COLUMNS)
    )
    return Sensitivity(pd.DataFrame(rows, columns=EFFECT_COLUMNS), tipping, tips)
