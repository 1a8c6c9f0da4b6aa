"""Effect sizes with their confidence intervals: mean difference, Cohen's d and Hedges' g
(from samples, or from a published table's means, SDs and n through :func:`pooled_smd`
and :func:`smd_interval`), the Hodges-Lehmann shift, the risk difference, and the
baseline-table standardized differences (as R tableone).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from frailtrial.errors import InputError
from frailtrial.stats.distributions import norm_ppf
from frailtrial.stats.nonparametric import mann_whitney_u
from frailtrial.stats.parametric import t_test
from frailtrial.stats.samples import (
    FloatArray,
    as_float,
    check_conf_level,
    observations,
    whole_counts,
)
from frailtrial.stats.special_functions import special


@dataclass(frozen=True)
class EffectSize:
    """An effect size with its confidence interval and the method that produced it."""

    name: str
    estimate: float
    ci_low: float
    ci_high: float
    conf_level: float
    method: str


def mean_difference(
    a: Sequence[float] | FloatArray,
    b: Sequence[float] | FloatArray,
    *,
    equal_var: bool = True,
    conf_level: float = 0.95,
) -> EffectSize:
    """Difference of means a - b with the t-based CI (pooled SD, or Welch's when unequal)."""
    r = t_test(a, b, equal_var=equal_var, conf_level=conf_level)
    how = "pooled-variance t" if equal_var else "Welch t"
    return EffectSize("mean difference", r.estimate, r.ci_low, r.ci_high, conf_level, how)


def hedges_g(
    a: Sequence[float] | FloatArray, b: Sequence[float] | FloatArray, *, conf_level: float = 0.95
) -> EffectSize:
    """Hedges' g of a - b with its CI.

    g = J d with d = (mean_a - mean_b) / pooled SD and the exact small-sample factor
    J = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)), df = n_a + n_b - 2. CI: the noncentral t
    interval for d (the noncentrality parameters at which the observed t is the upper and
    lower alpha/2 quantile), scaled by sqrt(1/n_a + 1/n_b) and multiplied by J.
    """
    check_conf_level(conf_level)
    x, _ = observations(a, "group a", 2)
    y, _ = observations(b, "group b", 2)
    var_x, var_y = float(np.var(x, ddof=1)), float(np.var(y, ddof=1))
    s = pooled_smd(float(x.mean() - y.mean()), var_x, x.size, var_y, y.size)
    lo, hi = (v * s.j for v in smd_interval(s.d, x.size, y.size, conf_level))
    return EffectSize("Hedges' g", s.g, lo, hi, conf_level, "noncentral t, J applied to CI")


@dataclass(frozen=True)
class PooledSmd:
    """Cohen's d = mean difference / pooled SD, and Hedges' g = J d (``j``: J)."""

    mean_difference: float
    pooled_sd: float
    df: int
    d: float
    j: float
    g: float


def pooled_smd(mean_difference: float, var_a: float, n_a: int, var_b: float, n_b: int) -> PooledSmd:
    """Cohen's d and Hedges' g of a - b from each group's variance and n, df = n_a + n_b - 2
    (from samples in :func:`hedges_g`, from a published table in
    :func:`frailtrial.design.effect_size.effect_size`)."""
    df = n_a + n_b - 2
    sp = math.sqrt(((n_a - 1) * var_a + (n_b - 1) * var_b) / df)
    if sp == 0:
        raise InputError("Hedges' g: both groups are constant (zero pooled SD)")
    d = mean_difference / sp
    j = hedges_j(df)
    return PooledSmd(mean_difference, sp, df, d, j, j * d)


def smd_interval(d: float, n_a: int, n_b: int, conf_level: float) -> tuple[float, float]:
    """CI of Cohen's d by inverting the noncentral t of t = d / sqrt(1/n_a + 1/n_b),
    df = n_a + n_b - 2 (exact under normality; as MBESS ``ci.smd``)."""
    scale = math.sqrt(1 / n_a + 1 / n_b)
    lo, hi = (v * scale for v in noncentral_t_interval(d / scale, n_a + n_b - 2, conf_level))
    return lo, hi


def hedges_j(df: float) -> float:
    """Exact small-sample bias correction of Cohen's d,
    J = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2))."""
    return math.exp(special.gammaln(df / 2) - special.gammaln((df - 1) / 2)) / math.sqrt(df / 2)


def noncentral_t_interval(t: float, df: float, level: float) -> tuple[float, float]:
    """The noncentrality parameters at which the observed ``t`` is the upper and the
    lower (1 - level)/2 quantile: the CI of the noncentrality (of d when scaled)."""
    alpha = 1 - level
    return _ncp_for(t, df, 1 - alpha / 2), _ncp_for(t, df, alpha / 2)


def _ncp_for(t: float, df: float, prob: float) -> float:
    """Noncentrality parameter at which P(T <= t) = prob."""
    from scipy import optimize  # with scipy.stats, 0.7 s to import: only for this CI
    from scipy import stats as sps

    f = lambda ncp: float(sps.nct.cdf(t, df, ncp)) - prob  # noqa: E731
    # the roots lie about z * sqrt(1 + t^2 / (2 df)) from t; stay near them (scipy's nct
    # returns NaN far out in the tails)
    width = 1.0 + 2.0 * math.sqrt(1 + t * t / (2 * df))
    lo, hi = t - width, t + width
    while f(lo) < 0:
        lo -= width
    while f(hi) > 0:
        hi += width
    return float(optimize.brentq(f, lo, hi, xtol=1e-12, rtol=1e-12))


def hodges_lehmann(
    a: Sequence[float] | FloatArray, b: Sequence[float] | FloatArray, *, conf_level: float = 0.95
) -> EffectSize:
    """Hodges-Lehmann shift a - b with the CI of R's ``wilcox.test(conf.int=TRUE)``."""
    r = mann_whitney_u(a, b, conf_level=conf_level)
    how = "exact Wilcoxon" if r.exact else "normal-approximation Wilcoxon inversion"
    return EffectSize("Hodges-Lehmann shift", r.estimate, r.ci_low, r.ci_high, conf_level, how)


def _wilson(x: int, n: int, z: float) -> tuple[float, float]:
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def risk_difference(
    events_a: int,
    n_a: int,
    events_b: int,
    n_b: int,
    *,
    method: Literal["newcombe", "wald"] = "newcombe",
    conf_level: float = 0.95,
) -> EffectSize:
    """Risk difference p_a - p_b with a Wald or Newcombe hybrid-score (method 10) CI.

    Newcombe: from the Wilson score intervals (l_i, u_i) of each proportion,
    [d - sqrt((p_a - l_a)^2 + (u_b - p_b)^2), d + sqrt((u_a - p_a)^2 + (p_b - l_b)^2)].
    """
    check_conf_level(conf_level)
    xa, na = whole_counts(events_a, n_a, "group a")
    xb, nb = whole_counts(events_b, n_b, "group b")
    pa, pb = xa / na, xb / nb
    d = pa - pb
    z = float(norm_ppf(0.5 + conf_level / 2))
    if method == "wald":
        half = z * math.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb)
        return EffectSize("risk difference", d, d - half, d + half, conf_level, "Wald")
    if method != "newcombe":
        raise InputError(f"method must be 'newcombe' or 'wald', got {method!r}")
    la, ua = _wilson(xa, na, z)
    lb, ub = _wilson(xb, nb, z)
    lo = d - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2)
    hi = d + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)
    return EffectSize("risk difference", d, lo, hi, conf_level, "Newcombe hybrid score")


def smd_continuous(a: Sequence[float] | FloatArray, b: Sequence[float] | FloatArray) -> float:
    """Standardized mean difference (mean_a - mean_b) / sqrt((s_a^2 + s_b^2) / 2), signed.

    The baseline-table SMD (as R tableone, which reports its absolute value); NaNs dropped.
    """
    x, _ = observations(a, "group a", 2)
    y, _ = observations(b, "group b", 2)
    denom = math.sqrt((np.var(x, ddof=1) + np.var(y, ddof=1)) / 2)
    diff = float(x.mean() - y.mean())
    if denom == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / denom


def smd_categorical(counts_a: Sequence[int], counts_b: Sequence[int]) -> float:
    """Standardized difference of a categorical variable (Yang & Dalton 2012, as tableone):
    sqrt(T' S^+ T) with T the differences in level proportions beyond the first level and
    S the mean of the two groups' multinomial covariance matrices (pseudo-inverse S^+).
    Non-negative; for two levels it equals |smd_binary|."""
    a = as_float(counts_a, "counts of group a")
    b = as_float(counts_b, "counts of group b")
    if a.size != b.size or a.size < 2:
        raise InputError("need the counts of the same >= 2 levels in both groups")
    if (a < 0).any() or (b < 0).any() or np.isnan(a).any() or np.isnan(b).any():
        raise InputError("level counts must be non-negative numbers")
    if a.sum() == 0 or b.sum() == 0:
        raise InputError("each group needs at least one observation")
    pa, pb = (a / a.sum())[1:], (b / b.sum())[1:]
    t = pa - pb
    s = (np.diag(pa) - np.outer(pa, pa) + np.diag(pb) - np.outer(pb, pb)) / 2
    return float(math.sqrt(max(float(t @ np.linalg.pinv(s) @ t), 0.0)))


def smd_binary(events_a: int, n_a: int, events_b: int, n_b: int) -> float:
    """Standardized difference of proportions (p_a - p_b) / sqrt((p_a q_a + p_b q_b) / 2)."""
    xa, na = whole_counts(events_a, n_a, "group a")
    xb, nb = whole_counts(events_b, n_b, "group b")
    pa, pb = xa / na, xb / nb
    denom = math.sqrt((pa * (1 - pa) + pb * (1 - pb)) / 2)
    if denom == 0:
        return 0.0 if pa == pb else math.copysign(math.inf, pa - pb)
    return (pa - pb) / denom
