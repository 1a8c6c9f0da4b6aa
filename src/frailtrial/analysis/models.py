"""The plan's models, one fit per outcome variable, via ``frailtrial.stats``.

- ``mmrm``: change from baseline ~ baseline + covariates + arm * visit over the post-baseline
  visits
  (covariance, REML/ML and df method from the plan; all variables fitted together with
  ``stats.mmrm.fit_many``); the treatment effect of each active arm vs control at each
  visit with its 95 % CI.
- ``random_intercept``: the HUC-MSC paper's "mixed effect maximum likelihood regression":
  value ~ covariates + arm * visit over all assessment visits with a random intercept per
  participant
  (``stats.lmm``), its arm x visit test and the arm contrasts per visit.
- With ``dose_response`` (CRATUS): an MMRM on change with a linear dose term per visit
  (dose in units of the lowest active dose), whose slope is the dose-response trend test.

Covariates are the model's baseline characteristics (``ModelSpec.covariates``), taken from
participants.csv. A fit that fails (too few data, no convergence) is reported as a row with
the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from frailtrial.analysis.plan import adjust_arms
from frailtrial.analysis.populations import left_out
from frailtrial.analysis.table3 import baseline_of
from frailtrial.errors import ConvergenceError, InputError
from frailtrial.protocol import Protocol
from frailtrial.protocol.model import ModelSpec
from frailtrial.stats.multiplicity import serial_gatekeeping

if TYPE_CHECKING:
    from frailtrial.stats.fit_results import FitResults
    from frailtrial.stats.lmm_many import RandomInterceptBatch

# The model engines (frailtrial.stats.mmrm, lmm, lmm_many: numba, formulaic) are imported by
# the functions that fit, not here: ``analyze`` fits in a second process while this one
# builds the tables (analysis/forked.py), and the results (Models) need none of them.

EXCLUDED = ["model", "variable", "participant_id", "arm", "reason"]
"""Columns of :attr:`Models.excluded`."""
_FAILS = (ConvergenceError, InputError, np.linalg.LinAlgError, ValueError)
_PairSe = dict[tuple[str, str, str, str, str], float]
"""(model, variable, visit, arm, other arm) -> standard error of arm - other arm."""


@dataclass(frozen=True)
class Models:
    """``effects``: one row per model x variable x comparison x visit; ``fits``: one row per
    model x variable (size, likelihood, convergence, interaction test, ``n_excluded`` and
    the reasons in ``note``); ``excluded``: one row per model x variable x population member
    the model could not use (``participant_id``, ``arm``, ``reason``)."""

    effects: pd.DataFrame
    fits: pd.DataFrame
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EXCLUDED))


def _change_frame(m: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """The post-baseline rows with their ``base`` value and ``change`` (rows without both
    dropped); ``visit`` a categorical of the follow-up visits."""
    later = [v.name for v in protocol.follow_up_visits]
    post = m.assign(base=baseline_of(m, protocol))[m["visit"].isin(later)]
    post = post.assign(change=post["value"] - post["base"]).dropna(subset=["change"])
    return post.assign(visit=_factor(post["visit"], later))


def _factor(s: pd.Series, categories: list[str]) -> pd.Categorical[Any]:
    """``pd.Categorical(s, categories)`` by a hashed lookup of the categories, without
    iterating the strings in Python (values outside ``categories`` become NaN)."""
    codes = pd.Index(categories).get_indexer(pd.Index(s))
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories))


def _by_variable(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The rows of each variable (in their order), split in one pass."""
    return {
        str(k): g.reset_index(drop=True)
        for k, g in frame.groupby("variable", sort=False, observed=True)
    }


def _arm_factor(s: pd.Series, protocol: Protocol) -> pd.Categorical[Any]:
    order = [protocol.control_arm.name] + [a.name for a in protocol.active_arms]
    return _factor(s, order)


def adjusted_for(spec: ModelSpec) -> list[str]:
    """The terms a model of change adjusts for: ``base`` (unless the spec leaves it out)
    and the spec's baseline covariates."""
    return (["base"] if spec.baseline_covariate else []) + list(spec.covariates)


def mmrm_formula(spec: ModelSpec) -> str:
    """The mean structure of an MMRM of change: ``change ~ base + covariates + arm * visit``
    (one baseline slope for every visit)."""
    return "change ~ " + " + ".join([*adjusted_for(spec), "arm * visit"])


def _mmrm(
    post: pd.DataFrame, protocol: Protocol, spec: ModelSpec, covs: _PairSe
) -> tuple[list[dict], list[dict]]:
    """``post``: the change-from-baseline rows of :func:`_change_frame`; with Dunnett, the
    standard errors of arm-vs-arm contrasts go to ``covs``."""
    from frailtrial.stats import mmrm

    formula = mmrm_formula(spec)
    by_var = _by_variable(post.assign(arm=_arm_factor(post["arm"], protocol)))
    variables = [v.name for v in protocol.variables if v.name in by_var]
    datasets = [by_var[v] for v in variables]
    effects: list[dict] = []
    fits: list[dict] = []
    df = spec.df
    try:
        results = mmrm.fit_many(
            datasets, formula, "participant_id", "visit", spec.covariance, spec.method
        )
    except _FAILS as exc:
        for v in variables:
            fits.append(_fit_row(spec, v, formula, note=f"not fitted: {exc}"))
        return effects, fits
    good = []
    for v, fit in zip(variables, results, strict=True):
        if fit.converged:
            good.append((v, fit))
        else:
            fits.append(_fit_row(spec, v, formula, note="did not converge"))
    if not good:
        return effects, fits
    try:  # one contrast matrix for every variable (same design), inference batched
        labels, lmat = good[0][1].treatment_contrast_matrix("arm")
        keys = [
            (str(c).split(" - ")[0], str(v))
            for c, v in zip(labels["contrast"], labels["visit"], strict=True)
        ]
        pairs = _arm_pairs(keys) if protocol.analysis.multiplicity == "dunnett" else []
        extra = [lmat[i] - lmat[j] for _, i, j in pairs]
        table = mmrm.estimate_many([f for _, f in good], np.vstack([lmat, *extra]), df)
    except _FAILS as exc:
        for v, _ in good:
            fits.append(_fit_row(spec, v, formula, note=f"no contrasts: {exc}"))
        return effects, fits
    for k, (v, fit) in enumerate(good):
        fits.append(_fitted_row(spec, v, formula, fit))
        rows = table[table["fit"] == k].sort_values("row").to_dict(orient="records")
        for (arm, visit), r in zip(keys, rows, strict=False):
            effects.append(_effect(spec, v, arm, visit, r, f"{df} df"))
        for (visit, i, j), r in zip(pairs, rows[len(keys) :], strict=True):
            covs[(spec.name, v, visit, keys[i][0], keys[j][0])] = float(r["se"])
    return effects, fits


def _arm_pairs(keys: list[tuple[str, str]]) -> list[tuple[str, int, int]]:
    """(visit, i, j) for each pair of rows i < j of ``keys`` ((arm, visit) of contrasts vs
    the control) at the same visit: the arm-vs-arm contrasts whose standard errors give the
    covariance of the two effects (Dunnett)."""
    by_visit: dict[str, list[int]] = {}
    for i, (_, visit) in enumerate(keys):
        by_visit.setdefault(visit, []).append(i)
    return [
        (visit, i, j)
        for visit, idx in by_visit.items()
        for a, i in enumerate(idx)
        for j in idx[a + 1 :]
    ]


def _fit_row(
    spec: ModelSpec,
    variable: str,
    formula: str,
    n_subjects: int | None = None,
    n_obs: int | None = None,
    loglik: float = math.nan,
    aic: float = math.nan,
    note: str = "",
    **extra: float,
) -> dict:
    return {
        "model": spec.name,
        "kind": spec.kind,
        "variable": variable,
        "formula": formula,
        "covariance": spec.covariance if spec.kind == "mmrm" else "random intercept",
        "method": spec.method,
        "n_subjects": n_subjects,
        "n_obs": n_obs,
        "loglik": loglik,
        "aic": aic,
        "note": note,
        **extra,
    }


def _fitted_row(
    spec: ModelSpec,
    variable: str,
    formula: str,
    fit: FitResults,
    note: str = "",
    **extra: float,
) -> dict:
    """The fit row of a model that was fitted: its size and likelihood from ``fit``."""
    return _fit_row(
        spec, variable, formula, fit.n_subjects, fit.n_obs, fit.loglik, fit.aic, note, **extra
    )


def _effect(spec: ModelSpec, variable: str, arm: str, visit: str, r: dict, df_note: str) -> dict:
    return {
        "model": spec.name,
        "variable": variable,
        "arm": arm,
        "visit": visit,
        "estimate": float(r["estimate"]),
        "se": float(r["se"]),
        "df": float(r["df"]) if r.get("df") is not None else math.nan,
        "ci_low": float(r["ci_low"]),
        "ci_high": float(r["ci_high"]),
        "p": float(r["p"]),
        "df_method": df_note,
    }


def _random_intercept(
    m: pd.DataFrame, protocol: Protocol, spec: ModelSpec, covs: _PairSe
) -> tuple[list[dict], list[dict]]:
    """Per variable: the arm x visit test and the arm contrasts per visit, from one batched
    fit of every variable (``stats.lmm_many``; each data set's fit is the one it has alone);
    a variable the batch cannot take (singular, not converged) is fitted alone, as is every
    variable when the batch fails. With Dunnett, the standard errors of arm-vs-arm
    contrasts go to ``covs``."""
    from frailtrial.stats import lmm, lmm_many

    seen = set(m["visit"].unique())
    visits = [v.name for v in protocol.assessment_visits if v.name in seen]
    formula = "value ~ " + " + ".join([*spec.covariates, "arm * visit"])
    effects: list[dict] = []
    fits: list[dict] = []
    by_var = _by_variable(m)
    prepared = [
        (var.name, by_var[var.name].assign(arm=_arm_factor(by_var[var.name]["arm"], protocol),
                                           visit=_factor(by_var[var.name]["visit"], visits)))
        for var in protocol.variables
        if var.name in by_var
    ]  # fmt: skip
    shared = _batch(prepared, formula, spec)
    fitted: list[tuple[str, pd.DataFrame]] = []
    for k, (name, d) in enumerate(prepared):
        try:
            fit = (
                lmm.RandomInterceptFit(shared, k)
                if shared is not None and shared.converged[k]
                else lmm.fit_random_intercept(d, formula, "participant_id", method=spec.method)
            )
            test = fit.group_time_test("arm", "visit")
        except _FAILS as exc:
            fits.append(_fit_row(spec, name, formula, note=f"not fitted: {exc}"))
            continue
        fitted.append((name, d))
        fits.append(
            _fitted_row(
                spec,
                name,
                formula,
                fit,
                arm_visit_f=test.f,
                arm_visit_ddf=test.ddf,
                arm_visit_p=test.p_f,
                arm_visit_lr_p=test.p_lr,
            )
        )
    if not fitted:
        return effects, fits
    batch = shared if shared is not None and len(fitted) == len(prepared) else None
    if batch is None:
        try:
            batch = lmm_many.fit_many_random_intercept(
                [d for _, d in fitted], formula, "participant_id", method=spec.method
            )
        except _FAILS as exc:
            fits.append(_fit_row(spec, "(all)", formula, note=f"contrasts not estimated: {exc}"))
            return effects, fits
    actives = [a.name for a in protocol.active_arms]
    for arm in actives:
        for visit in visits:
            try:
                est = batch.treatment_contrast("arm", arm, "visit", visit)
            except _FAILS:
                continue
            for k, (name, _) in enumerate(fitted):
                r = {
                    "estimate": est.estimate[k],
                    "se": est.se[k],
                    "df": est.df[k] if est.df is not None else math.nan,
                    "ci_low": est.ci_low[k],
                    "ci_high": est.ci_high[k],
                    "p": est.p[k],
                }
                effects.append(_effect(spec, name, arm, visit, r, "satterthwaite df"))
    if protocol.analysis.multiplicity == "dunnett":
        for a, first in enumerate(actives):
            for second in actives[a + 1 :]:
                for visit in visits:
                    try:
                        est = batch.treatment_contrast(
                            "arm", first, "visit", visit, reference=second
                        )
                    except _FAILS:
                        continue
                    for k, (name, _) in enumerate(fitted):
                        covs[(spec.name, name, visit, first, second)] = float(est.se[k])
    return effects, fits


def _batch(
    prepared: list[tuple[str, pd.DataFrame]], formula: str, spec: ModelSpec
) -> RandomInterceptBatch | None:
    """One random-intercept fit of every variable's data set (one design, one optimiser
    run), or None when the batch cannot be fitted (a data set the model refuses)."""
    from frailtrial.stats import lmm_many

    if not prepared:
        return None
    try:
        return lmm_many.fit_many_random_intercept(
            [d for _, d in prepared], formula, "participant_id", method=spec.method
        )
    except _FAILS:
        return None


def _dose_response(
    post: pd.DataFrame, protocol: Protocol, like: ModelSpec | None
) -> tuple[list[dict], list[dict]]:
    """``post``: the change-from-baseline rows of :func:`_change_frame`. The model adjusts
    for what the primary MMRM ``like`` adjusts for (baseline, covariates) and takes its
    covariance, method and df (unstructured, REML, Kenward-Roger without one)."""
    from frailtrial.stats import mmrm

    doses = {a.name: (a.dose.cells or a.dose.cells_per_kg or 0.0) for a in protocol.arms}
    unit = min(d for d in doses.values() if d > 0)
    post = post.assign(dose=post["arm"].map(doses).astype(float) / unit)
    spec = ModelSpec(
        name="dose_response",
        kind="mmrm",
        outcome="change_from_baseline",
        role="supportive",
        **(
            like.model_dump(
                include={"baseline_covariate", "covariates", "covariance", "method", "df"}
            )
            if like is not None
            else {}
        ),
    )
    formula = "change ~ " + " + ".join([*adjusted_for(spec), "visit", "visit:dose"])
    effects: list[dict] = []
    fits: list[dict] = []
    later = [v.name for v in protocol.follow_up_visits]
    df = spec.df
    by_var = _by_variable(post)
    for var in protocol.variables:
        if var.name not in by_var:
            continue
        d = by_var[var.name]
        try:
            fit = mmrm.mmrm(d, formula, "participant_id", "visit", spec.covariance, spec.method)
            coef = fit.coefficients(df)
        except _FAILS as exc:
            fits.append(_fit_row(spec, var.name, formula, note=f"not fitted: {exc}"))
            continue
        fits.append(_fitted_row(spec, var.name, formula, fit, f"slope per {unit:.3g} cells"))
        for r in coef.to_dict(orient="records"):
            parts = str(r["term"]).split(":")
            if "dose" not in parts:
                continue
            visit = next(v for v in later if f"visit{v}" in parts)
            effects.append(_effect(spec, var.name, "trend", visit, r, f"{df} df"))
    return effects, fits


def _with_covariates(
    m: pd.DataFrame, protocol: Protocol, participants: pd.DataFrame | None
) -> pd.DataFrame:
    """``m`` with a column per baseline characteristic that a model adjusts for."""
    names = list(dict.fromkeys(c for s in protocol.analysis.models for c in s.covariates))
    if not names or participants is None:
        return m
    by_id = participants.set_index("participant_id")
    return m.assign(**{c: m["participant_id"].map(by_id[c]).to_numpy() for c in names})


def _adjust(effects: pd.DataFrame, protocol: Protocol, pair_se: _PairSe) -> pd.DataFrame:
    """``effects`` with ``p_adjusted``, ``adjustment`` and simultaneous ``ci_low_adj`` /
    ``ci_high_adj``: the plan's multiplicity across the active arms vs placebo of each model,
    variable and visit, then the fixed sequence over the plan's listed endpoints. A
    dose-response slope is one test per visit: its p is its own adjusted p."""
    plan = protocol.analysis
    n = len(effects)
    p_adj = effects["p"].to_numpy(float).copy()
    label = np.full(n, "none", dtype=object)
    low, high = np.full(n, np.nan), np.full(n, np.nan)
    cols = {c: effects[c].to_numpy(float) for c in ("estimate", "se", "df", "p")}
    arm_names = effects["arm"].astype(str).to_numpy()
    keys = ["model", "variable", "visit"]
    groups = effects[arm_names != "trend"].groupby(keys, sort=False).indices
    rows = np.flatnonzero(arm_names != "trend")
    for key, where in groups.items():
        pos = rows[where]
        names = arm_names[pos].tolist()
        est, se, df, p = (cols[c][pos] for c in ("estimate", "se", "df", "p"))
        cov = None
        if plan.multiplicity == "dunnett":
            cov = np.diag(se**2)
            for i, a in enumerate(names):
                for j in range(i + 1, len(names)):
                    d = pair_se.get((*map(str, key), a, names[j]), math.nan)
                    cov[i, j] = cov[j, i] = (se[i] ** 2 + se[j] ** 2 - d**2) / 2
        try:
            adj = adjust_arms(est, se, df, p, plan, cov)
        except InputError as exc:  # e.g. an arm-vs-arm contrast that could not be estimated
            p_adj[pos] = np.nan
            label[pos] = f"{plan.multiplicity} not computed: {exc}"
            continue
        p_adj[pos], low[pos], high[pos] = adj.p, adj.ci_low, adj.ci_high
        if len(names) > 1 and adj.method != "none":
            label[pos] = f"{adj.method} across {len(names)} arms vs {protocol.control_arm.name}"
    out = effects.assign(p_adjusted=p_adj, adjustment=label, ci_low_adj=low, ci_high_adj=high)
    if plan.fixed_sequence:
        families = [_endpoint_rows(out, protocol, name) for name in plan.fixed_sequence]
        gated = serial_gatekeeping(
            [
                out.loc[i, "p_adjusted"].to_numpy(float) if len(i) else np.array([np.nan])
                for i in families
            ]
        )
        n = len(families)
        for step, (idx, p) in enumerate(zip(families, gated, strict=True), start=1):
            out.loc[idx, "p_adjusted"] = p
            out.loc[idx, "adjustment"] = [
                f"{a}; fixed sequence {step} of {n}" for a in out.loc[idx, "adjustment"]
            ]
    return out


def _endpoint_rows(effects: pd.DataFrame, protocol: Protocol, name: str) -> pd.Index:
    """The arm-vs-placebo rows that test endpoint ``name``: its variable and visit in the
    plan's model of its measure (the primary model when it is of that measure)."""
    ep = next(e for e in protocol.endpoints if e.name == name)
    specs = [s for s in protocol.analysis.models if s.outcome == ep.measure]
    specs.sort(key=lambda s: s.role != "primary")
    if not specs:
        return effects.index[:0]
    e = effects
    sel = (e["model"] == specs[0].name) & (e["variable"] == ep.variable) & (e["visit"] == ep.visit)
    return e.index[sel & (e["arm"] != "trend")]


def _count_left_out(
    fits: pd.DataFrame,
    m: pd.DataFrame,
    protocol: Protocol,
    participants: pd.DataFrame | None,
    population: pd.Series,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``fits`` with ``n_excluded`` and the reasons in ``note``, and the participants of
    ``population`` each model left out (see :func:`populations.left_out`)."""
    parts = [pd.DataFrame(columns=EXCLUDED)]
    for (model, formula), rows in fits.groupby(["model", "formula"], sort=False):
        out = left_out(population, m, protocol, participants, str(formula))
        parts.append(out[out["variable"].isin(rows["variable"])].assign(model=model))
    excluded = pd.concat(parts, ignore_index=True)[EXCLUDED]
    counts = excluded.groupby(["model", "variable", "reason"], sort=False).size()
    said: dict[tuple[str, str], str] = {}
    for (model, variable), c in counts.groupby(level=[0, 1], sort=False):
        why = "; ".join(f"{r} ({int(n)})" for (_, _, r), n in c.items())
        said[(str(model), str(variable))] = (
            f"{int(c.sum())} of {len(population)} participants left out: {why}"
        )
    keys = list(zip(fits["model"], fits["variable"], strict=True))
    total = excluded.groupby(["model", "variable"]).size()
    fits = fits.assign(
        n_excluded=[int(total.get(k, 0)) for k in keys],
        note=[
            "; ".join(x for x in (str(note or ""), said.get(k, "")) if x)
            for note, k in zip(fits["note"], keys, strict=True)
        ],
    )
    return fits, excluded


EFFECTS = ["model", "variable", "arm", "visit", "estimate", "se", "df", "ci_low", "ci_high", "p",
           "df_method"]  # fmt: skip
"""Columns of :attr:`Models.effects` before the multiplicity adjustment."""
KINDS = ("mmrm", "random_intercept")
"""The engines a plan's models run on: the MMRM (also the dose-response model: numba) and
the random-intercept model (numpy); ``analyze`` fits them in two processes."""


@dataclass(frozen=True)
class Fits:
    """The plan's models of one engine before the multiplicity adjustment: per model (its
    position in the plan; the dose-response model after them) its effect and fit rows, and
    the standard errors of arm-vs-arm contrasts (Dunnett)."""

    rows: dict[int, tuple[list[dict], list[dict]]]
    pair_se: _PairSe

    def effects(self) -> pd.DataFrame:
        """The effect rows (:data:`EFFECTS`), in plan order."""
        return pd.DataFrame(
            [e for k in sorted(self.rows) for e in self.rows[k][0]], columns=EFFECTS
        )


def fit_kind(
    m: pd.DataFrame, protocol: Protocol, participants: pd.DataFrame | None, kind: str
) -> Fits:
    """The plan's models that run on engine ``kind`` (:data:`KINDS`) on the population's
    measurements ``m`` (with ``arm``); their covariates come from ``participants``."""
    if kind not in KINDS:
        raise ValueError(f"model engine {kind!r}: one of {', '.join(KINDS)}")
    plan = protocol.analysis
    rows: dict[int, tuple[list[dict], list[dict]]] = {}
    pair_se: _PairSe = {}
    m = _with_covariates(m, protocol, participants)
    if kind == "mmrm":
        post = _change_frame(m, protocol)  # once, for every model of change
        for i, spec in enumerate(plan.models):
            if spec.kind == "mmrm":
                rows[i] = _mmrm(post, protocol, spec, pair_se)
        if plan.dose_response:
            mmrms = sorted(
                (s for s in plan.models if s.kind == "mmrm"), key=lambda s: s.role != "primary"
            )
            rows[len(plan.models)] = _dose_response(post, protocol, mmrms[0] if mmrms else None)
    else:
        for i, spec in enumerate(plan.models):
            if spec.kind == kind:
                rows[i] = _random_intercept(m, protocol, spec, pair_se)
    return Fits(rows, pair_se)


def combine(
    parts: list[Fits],
    m: pd.DataFrame,
    protocol: Protocol,
    participants: pd.DataFrame | None = None,
    population: pd.Series | None = None,
) -> Models:
    """The plan's models from the fits of every engine: each effect vs control carries the
    plan's multiplicity adjustment (:func:`_adjust`); with ``population`` (arm by
    participant_id), the members each model leaves out are counted with a reason."""
    rows = {k: v for part in parts for k, v in part.rows.items()}
    pair_se = {k: v for part in parts for k, v in part.pair_se.items()}
    effects = [e for k in sorted(rows) for e in rows[k][0]]
    fits = [f for k in sorted(rows) for f in rows[k][1]]
    frame = _adjust(pd.DataFrame(effects, columns=EFFECTS), protocol, pair_se)
    fit_rows = pd.DataFrame(fits)
    if population is None or fit_rows.empty:
        return Models(frame, fit_rows)
    fit_rows, excluded = _count_left_out(fit_rows, m, protocol, participants, population)
    return Models(frame, fit_rows, excluded)


def fit_models(
    m: pd.DataFrame,
    protocol: Protocol,
    participants: pd.DataFrame | None = None,
    population: pd.Series | None = None,
) -> Models:
    """Every model of the plan on the population's measurements ``m`` (with ``arm``); the
    models' covariates come from ``participants`` (participants.csv); each effect vs control
    carries the plan's multiplicity adjustment (:func:`_adjust`). With ``population`` (arm by
    participant_id), the members each model leaves out are counted with a reason."""
    parts = [fit_kind(m, protocol, participants, kind) for kind in KINDS]
    return combine(parts, m, protocol, participants, population)
