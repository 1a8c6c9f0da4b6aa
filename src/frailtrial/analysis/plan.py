"""The analysis plan's test rules applied through ``frailtrial.stats.selection`` and
``frailtrial.stats.contingency``.

Each function returns a :class:`Comparison` (test name, p, why) rather than raising when a
comparison cannot be made on the data at hand (too few values, a constant sample, an empty
table): a report cell then says why it is empty instead of the whole analysis stopping.
No table shows a confidence interval of these estimates, so none is computed (the rank
tests' Hodges-Lehmann interval is the costly part of a Mann-Whitney or Wilcoxon test).
The plan's multiplicity through ``frailtrial.stats.multiplicity``: :func:`adjust` for a
family known by its p-values, :func:`adjust_arms` for the active arms vs placebo of one
endpoint (with Dunnett's and Bonferroni's simultaneous intervals).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from frailtrial.errors import InputError
from frailtrial.protocol.model import AnalysisPlan
from frailtrial.stats import multiplicity as mult
from frailtrial.stats.contingency import compare_proportions, fisher_exact
from frailtrial.stats.results import TestResult
from frailtrial.stats.selection import Rule, compare_to_baseline, compare_two_groups

FloatArray = npt.NDArray[np.float64]
_RULES: dict[str, Rule] = {
    "t_or_mann_whitney": "auto",
    "t": "parametric",
    "mann_whitney": "nonparametric",
    "paired_t_or_wilcoxon": "auto",
    "paired_t": "parametric",
    "wilcoxon": "nonparametric",
}
_CATEGORICAL: dict[str, Literal["auto", "chi_square", "fisher"]] = {
    "chi_square_or_fisher": "auto",
    "chi_square": "chi_square",
    "fisher": "fisher",
}


@dataclass(frozen=True)
class Comparison:
    """One test's outcome; ``p`` is NaN when the test could not be made (``reason`` says why);
    ``estimate``: the test's estimate (difference, or Hodges-Lehmann shift)."""

    test: str
    p: float
    reason: str
    estimate: float = math.nan


def _none(reason: str) -> Comparison:
    return Comparison("none", math.nan, reason)


def _two_samples(
    compare: Callable[..., TestResult],
    x: FloatArray,
    y: FloatArray,
    rule: str,
    plan: AnalysisPlan,
) -> Comparison:
    """``compare`` (a ``stats.selection`` rule-based comparison) by the plan's ``rule``, without
    the estimate's CI; an ``InputError`` (a sample the test cannot take) becomes the reason
    of an empty cell."""
    try:
        res = compare(x, y, rule=_RULES[rule], alpha_normality=plan.normality_alpha, conf_int=False)
    except InputError as exc:
        return _none(str(exc))
    return Comparison(res.test, res.p, res.reason, res.estimate)


def between(a: FloatArray, b: FloatArray, plan: AnalysisPlan) -> Comparison:
    """Two independent groups by ``plan.between_groups`` (a constant sample: rank test)."""
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if min(a.size, b.size) < 3:
        return _none(f"fewer than 3 values in a group ({a.size}, {b.size})")
    return _two_samples(compare_two_groups, a, b, plan.between_groups, plan)


def within(before: FloatArray, after: FloatArray, plan: AnalysisPlan) -> Comparison:
    """Paired follow-up vs baseline by ``plan.within_group`` (pairs with both values)."""
    keep = ~(np.isnan(before) | np.isnan(after))
    before, after = before[keep], after[keep]
    if before.size < 3:
        return _none(f"fewer than 3 pairs ({before.size})")
    return _two_samples(compare_to_baseline, before, after, plan.within_group, plan)


def categorical(table: npt.NDArray[np.int64], plan: AnalysisPlan) -> Comparison:
    """A groups x levels count table by ``plan.categorical``; empty levels are dropped.
    Table 1 shows the test and p only, so Fisher's odds ratio (and its CI) is not computed."""
    t = table[:, table.sum(axis=0) > 0]
    if t.shape[1] < 2 or (t.sum(axis=1) == 0).any():
        return _none("no variation between levels")
    try:
        res = compare_proportions(t, rule=_CATEGORICAL[plan.categorical], odds_ratio=False)
    except InputError as exc:
        return _none(str(exc))
    return Comparison(res.test, res.p, res.reason)


def fisher(table: npt.NDArray[np.int64]) -> Comparison:
    """Fisher's exact test of a 2 x 2 (or r x c) table, as Table 2 reports per term."""
    try:
        res = fisher_exact(table, odds_ratio=False)
    except InputError as exc:
        return _none(str(exc))
    return Comparison(res.test, res.p, res.reason)


def p_method(plan: AnalysisPlan) -> mult.PMethod | None:
    """The adjustment of a family known only by its p-values: the plan's method, Bonferroni
    when the plan says Dunnett (which needs the comparisons' joint distribution), None for
    no adjustment."""
    if plan.multiplicity == "none":
        return None
    return "bonferroni" if plan.multiplicity == "dunnett" else plan.multiplicity


def adjust(p: FloatArray, plan: AnalysisPlan) -> FloatArray:
    """Multiplicity adjustment of the plan over a family of p-values (NaN kept), by
    :func:`p_method`."""
    method = p_method(plan)
    if method is None or np.isnan(p).all():
        return p.copy()
    return mult.adjust_p(p, method)


@dataclass(frozen=True)
class Adjusted:
    """One family's adjusted p-values and simultaneous intervals (NaN where the method
    gives none, or the comparison has no estimate); ``method``: how it was adjusted."""

    p: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    method: str


def adjust_arms(
    estimate: FloatArray,
    se: FloatArray,
    df: FloatArray,
    p: FloatArray,
    plan: AnalysisPlan,
    cov: FloatArray | None = None,
) -> Adjusted:
    """The plan's adjustment across the active arms vs placebo of one endpoint (a model's
    effects at one visit). Bonferroni and Dunnett also give simultaneous (1 - alpha)
    intervals; Dunnett uses ``cov`` (the effects' joint covariance) and the smallest df of
    the family. Comparisons without an estimate are left out of the family."""
    k = estimate.size
    nan = np.full(k, np.nan)
    ok = np.isfinite(estimate) & np.isfinite(se) & np.isfinite(p)
    method = plan.multiplicity
    if method == "dunnett":
        if cov is None:
            raise InputError("dunnett needs the joint covariance of the comparisons")
        if not ok.any():
            return Adjusted(nan, nan, nan, method)
        dfs = df[ok][np.isfinite(df[ok])]
        sim = mult.dunnett(
            estimate[ok], cov[np.ix_(ok, ok)], float(dfs.min()) if dfs.size else math.inf,
            plan.alpha,
        )  # fmt: skip
        p_adj, low, high = nan.copy(), nan.copy(), nan.copy()
        p_adj[ok], low[ok], high[ok] = sim.p_adjusted, sim.ci_low, sim.ci_high
        return Adjusted(p_adj, low, high, method)
    low, high = nan.copy(), nan.copy()
    if method == "bonferroni" and ok.any():
        dfs = np.where(np.isfinite(df[ok]), df[ok], np.inf)
        low[ok], high[ok] = mult.bonferroni_intervals(estimate[ok], se[ok], dfs, plan.alpha)
    return Adjusted(adjust(np.where(ok, p, np.nan), plan), low, high, method)


def marker(p: float, thresholds: dict[str, float]) -> str:
    """The strictest marker whose threshold p meets (``p <= threshold``), or ''."""
    if math.isnan(p):
        return ""
    hits = [(t, m) for m, t in thresholds.items() if p <= t]
    return min(hits)[1] if hits else ""
