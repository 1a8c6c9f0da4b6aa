"""The analysis plan's choice between a t test and a rank test, by data distribution.

Two groups (Table 1 baseline rows, between arms at a visit)::

    from frailtrial.stats.selection import compare_two_groups
    r = compare_two_groups(msc_values, placebo_values)        # rule="auto"
    r.test, r.p, r.reason          # 'mann_whitney_u', 0.031, 'Shapiro-Wilk p = 0.012 ...'
    r.estimate, r.ci_low, r.ci_high  # Hodges-Lehmann shift (or mean difference) with 95 % CI

Within an arm against baseline (Table 3)::

    r = compare_to_baseline(before, after)   # paired t or Wilcoxon signed-rank

Rule ``"auto"`` (the HUC-MSC paper's "according to data distribution"): Shapiro-Wilk in
each group (for paired data: on the differences after - before) at ``alpha_normality``
(default 0.05); if no test rejects (every p > alpha) the t test is used, otherwise
Mann-Whitney U (paired: Wilcoxon signed-rank). A sample of more than 5000 values (beyond
Shapiro-Wilk) takes the t test, and ``reason`` says so. ``"parametric"`` and
``"nonparametric"`` force one of them.

Missing values: NaN observations are dropped and the number dropped is reported in
``n_dropped`` (pairs are dropped when either member is NaN); values that are not numbers
raise :class:`~frailtrial.errors.InputError`, as do too few observations.

The tests themselves: :mod:`~frailtrial.stats.parametric` and
:mod:`~frailtrial.stats.nonparametric` (R 4.2's ``t.test``, ``wilcox.test``); Shapiro-Wilk
as R's ``shapiro.test``. Contingency tables (chi-square or Fisher by expected counts):
:func:`frailtrial.stats.contingency.compare_proportions`; p-value adjustment:
:func:`frailtrial.stats.multiplicity.adjust_p`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import numpy as np

from frailtrial.errors import InputError
from frailtrial.stats.nonparametric import mann_whitney_u, wilcoxon_signed_rank
from frailtrial.stats.parametric import paired_t_test, t_test
from frailtrial.stats.results import NormalityResult, TestResult
from frailtrial.stats.samples import FloatArray, observations, paired_differences
from frailtrial.stats.shapiro import shapiro_wilk_w

Rule = Literal["auto", "parametric", "nonparametric"]


def shapiro_wilk(x: Sequence[float] | FloatArray, alpha: float = 0.05) -> NormalityResult:
    """Shapiro-Wilk normality test (Royston's algorithm, as R's ``shapiro.test``).

    Needs 3 to 5000 non-missing values that are not all identical.
    """
    v, _ = observations(x, "sample", 3)
    if v.size > 5000:
        raise InputError(f"Shapiro-Wilk needs at most 5000 observations, got {v.size}")
    if np.ptp(v) == 0:
        raise InputError("Shapiro-Wilk: all values are identical")
    w, p = shapiro_wilk_w(v)
    return NormalityResult(w, p, int(v.size), alpha, p > alpha)


_SHAPIRO_MAX = 5000
_LARGE_REASON = (
    "more than 5000 observations: Shapiro-Wilk is not defined there (R's limit); t test, "
    "valid for such samples by the central limit theorem"
)


_CONSTANT_REASON = "a constant sample: Shapiro-Wilk is not defined there; "


def compare_two_groups(
    a: Sequence[float] | FloatArray,
    b: Sequence[float] | FloatArray,
    *,
    rule: Rule = "auto",
    alpha_normality: float = 0.05,
    equal_var: bool = True,
    conf_level: float = 0.95,
    conf_int: bool = True,
) -> TestResult:
    """Compare two independent groups by the plan's rule (see the module docstring).

    The t test is Student's (``equal_var=True``, SPSS's "equal variances assumed" row) or
    Welch's; the rank test is Mann-Whitney U with the Hodges-Lehmann shift.
    ``conf_int=False``: no CI for the estimate (NaN ends; the rank test's CI is costly).
    """
    normality: tuple[NormalityResult, ...] = ()
    if rule == "auto":
        xa, xb = observations(a, "group a", 3)[0], observations(b, "group b", 3)[0]
        if max(xa.size, xb.size) > _SHAPIRO_MAX:
            parametric, reason = True, _LARGE_REASON
        elif np.ptp(xa) == 0 or np.ptp(xb) == 0:
            parametric, reason = False, _CONSTANT_REASON + "Mann-Whitney U"
        else:
            normality = (shapiro_wilk(xa, alpha_normality), shapiro_wilk(xb, alpha_normality))
            parametric = all(r.normal for r in normality)
            reason = _normality_reason(normality, ("a", "b"), alpha_normality, parametric)
    elif rule == "parametric":
        parametric, reason = True, "rule 'parametric': t test"
    elif rule == "nonparametric":
        parametric, reason = False, "rule 'nonparametric': Mann-Whitney U"
    else:
        raise InputError(f"rule must be 'auto', 'parametric' or 'nonparametric', got {rule!r}")
    res = (
        t_test(a, b, equal_var=equal_var, conf_level=conf_level)
        if parametric
        else mann_whitney_u(a, b, conf_level=conf_level, conf_int=conf_int)
    )
    return _with_reason(res, reason, normality, conf_int)


def compare_to_baseline(
    before: Sequence[float] | FloatArray,
    after: Sequence[float] | FloatArray,
    *,
    rule: Rule = "auto",
    alpha_normality: float = 0.05,
    conf_level: float = 0.95,
    conf_int: bool = True,
) -> TestResult:
    """Compare paired follow-up values with baseline: paired t or Wilcoxon signed-rank.

    ``before[i]`` and ``after[i]`` belong to the same participant (pairs with a NaN are
    dropped and counted). Rule ``"auto"`` applies Shapiro-Wilk to the differences
    after - before. ``conf_int=False``: no CI for the estimate (NaN ends).
    """
    normality: tuple[NormalityResult, ...] = ()
    if rule == "auto":
        d, _ = paired_differences(before, after, 3)
        if d.size > _SHAPIRO_MAX:
            parametric, reason = True, _LARGE_REASON
        elif np.ptp(d) == 0:
            parametric, reason = False, _CONSTANT_REASON + "Wilcoxon signed-rank"
        else:
            normality = (shapiro_wilk(d, alpha_normality),)
            parametric = normality[0].normal
            reason = _normality_reason(normality, ("differences",), alpha_normality, parametric)
    elif rule == "parametric":
        parametric, reason = True, "rule 'parametric': paired t test"
    elif rule == "nonparametric":
        parametric, reason = False, "rule 'nonparametric': Wilcoxon signed-rank"
    else:
        raise InputError(f"rule must be 'auto', 'parametric' or 'nonparametric', got {rule!r}")
    res = (
        paired_t_test(before, after, conf_level=conf_level)
        if parametric
        else wilcoxon_signed_rank(before, after, conf_level=conf_level, conf_int=conf_int)
    )
    return _with_reason(res, reason, normality, conf_int)


def _normality_reason(
    results: tuple[NormalityResult, ...], names: tuple[str, ...], alpha: float, parametric: bool
) -> str:
    parts = ", ".join(f"{n}: p = {r.p:.3g}" for n, r in zip(names, results, strict=True))
    if parametric:
        return f"Shapiro-Wilk did not reject normality at alpha {alpha:g} ({parts}): t test"
    return f"Shapiro-Wilk rejected normality at alpha {alpha:g} ({parts}): rank test"


def _with_reason(
    res: TestResult, reason: str, normality: tuple[NormalityResult, ...], conf_int: bool
) -> TestResult:
    out = replace(res, reason=reason, normality=normality)
    return out if conf_int else replace(out, ci_low=math.nan, ci_high=math.nan)
