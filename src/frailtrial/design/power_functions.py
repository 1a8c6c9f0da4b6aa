"""Power of the tests a small two-arm trial is sized for, at a given (possibly non-integer) n.

Every function returns the probability of rejecting H0 when the stated effect is true.
Two-sided power counts rejections in both tails, as R ``pwr`` and G*Power do (R's
``power.t.test``/``power.prop.test`` do the same with ``strict = TRUE``). Group 1 is the
control arm, group 2 the experimental arm; a positive effect means group 2 is higher.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy import stats
from scipy.special import gammaln

Alternative = Literal["two-sided", "greater"]

#: Asymptotic relative efficiency of the Mann-Whitney / Wilcoxon tests vs the t test
#: under normal data (Hodges & Lehmann 1956).
ARE_NORMAL = 3.0 / math.pi


def _z_crit(alpha: float, alternative: Alternative) -> float:
    return float(stats.norm.isf(alpha / 2 if alternative == "two-sided" else alpha))


def _normal_power(shift: float, alpha: float, alternative: Alternative) -> float:
    """Power of a z test whose statistic is N(shift, 1) under H1."""
    z = _z_crit(alpha, alternative)
    if alternative == "two-sided":
        return float(stats.norm.sf(z - shift) + stats.norm.cdf(-z - shift))
    return float(stats.norm.sf(z - shift))


def t_power(ncp: float, df: float, alpha: float, alternative: Alternative) -> float:
    """Exact power of a t test from the noncentral t distribution."""
    two = alternative == "two-sided"
    tc = float(stats.t.isf(alpha / 2 if two else alpha, df))
    return t_power_at(tc, ncp, df, alternative)


def t_power_at(tc: float, ncp: float, df: float, alternative: Alternative) -> float:
    """P(T > tc) (+ P(T < -tc) two-sided) for T noncentral t(df, ncp).

    scipy's noncentral t returns NaN far in a tail; such a tail is taken from its
    complement (the tail the effect points to) or as 0 (the opposite tail).
    """
    two = alternative == "two-sided"
    if two:
        ncp = abs(ncp)
    upper = float(stats.nct.sf(tc, df, ncp))
    if not math.isfinite(upper):
        upper = 1.0 - float(stats.nct.cdf(tc, df, ncp)) if ncp > 0 else 0.0
        upper = upper if math.isfinite(upper) else float(ncp > tc)
    if not two:
        return upper
    lower = float(stats.nct.cdf(-tc, df, ncp))
    return upper + (lower if math.isfinite(lower) else 0.0)


def two_sample_ncp_df(
    n1: float, n2: float, d: float, df: float, ancova_rho: float | None = None
) -> tuple[float, float]:
    """Noncentrality and df of the two-sample contrast d = (mu2 - mu1) / sigma, given the
    unadjusted error df.

    With ``ancova_rho`` the test is the treatment coefficient of an ANCOVA on a baseline
    covariate correlated rho with the outcome: residual SD sigma*sqrt(1 - rho^2) and one
    degree of freedom spent on the covariate (Borm et al. 2007: n ~ n_t * (1 - rho^2)).
    """
    if ancova_rho is not None:
        d, df = d / math.sqrt(1.0 - ancova_rho**2), df - 1.0
    return d * math.sqrt(n1 * n2 / (n1 + n2)), df


def two_sample_t_power(
    n1: float,
    n2: float,
    d: float,
    alpha: float,
    alternative: Alternative = "two-sided",
    ancova_rho: float | None = None,
) -> float:
    """Two-sample t test (pooled SD) with standardized difference d = (mu2 - mu1) / sigma,
    df = n1 + n2 - 2 (ANCOVA on a baseline with ``ancova_rho``: see
    :func:`two_sample_ncp_df`)."""
    ncp, df = two_sample_ncp_df(n1, n2, d, n1 + n2 - 2.0, ancova_rho)
    return t_power(ncp, df, alpha, alternative)


def paired_t_power(
    n: float, dz: float, alpha: float, alternative: Alternative = "two-sided"
) -> float:
    """Paired (one-sample on differences) t test; dz = mean difference / SD of differences."""
    return t_power(dz * math.sqrt(n), n - 1.0, alpha, alternative)


def mann_whitney_are_power(
    n1: float, n2: float, d: float, alpha: float, alternative: Alternative = "two-sided"
) -> float:
    """Mann-Whitney power as the t test's power at n * 3/pi (normal-data ARE)."""
    return two_sample_t_power(n1 * ARE_NORMAL, n2 * ARE_NORMAL, d, alpha, alternative)


def wilcoxon_are_power(
    n: float, dz: float, alpha: float, alternative: Alternative = "two-sided"
) -> float:
    """Wilcoxon signed-rank power as the paired t test's power at n * 3/pi."""
    return paired_t_power(n * ARE_NORMAL, dz, alpha, alternative)


def prob_superiority(d: float) -> float:
    """P(Y2 > Y1) for two normal samples whose means differ by d SDs: Phi(d / sqrt 2)."""
    return float(stats.norm.cdf(d / math.sqrt(2.0)))


def mann_whitney_noether_power(
    n1: float, n2: float, d: float, alpha: float, alternative: Alternative = "two-sided"
) -> float:
    """Noether (1987): U is approximately normal with shift sqrt(12 c(1-c) N) (p - 1/2).

    p = P(Y2 > Y1) = Phi(d / sqrt 2) for normal data, c = n1 / N.
    """
    big_n = n1 + n2
    c = n1 / big_n
    shift = math.sqrt(12.0 * c * (1.0 - c) * big_n) * (prob_superiority(d) - 0.5)
    return _normal_power(shift, alpha, alternative)


def wilcoxon_noether_power(
    n: float, dz: float, alpha: float, alternative: Alternative = "two-sided"
) -> float:
    """Noether (1987) for the signed-rank test: shift sqrt(3 n) (p' - 1/2).

    p' = P(D + D' > 0) = Phi(sqrt(2) dz) for normal differences.
    """
    p_prime = float(stats.norm.cdf(math.sqrt(2.0) * dz))
    return _normal_power(math.sqrt(3.0 * n) * (p_prime - 0.5), alpha, alternative)


def two_prop_chisq_power(
    n1: float,
    n2: float,
    p1: float,
    p2: float,
    alpha: float,
    alternative: Alternative = "two-sided",
    continuity: bool = False,
) -> float:
    """Chi-square (pooled z) test of two proportions, normal approximation.

    Pooled variance under H0, unpooled under H1 (Fleiss; as R ``power.prop.test``).
    With ``continuity`` the difference is reduced by the Yates correction (1/n1 + 1/n2)/2
    (Casagrande, Pike & Smith 1978; for equal n this gives Fleiss, Tytun & Ury's
    n_cc = n/4 (1 + sqrt(1 + 4/(n |p1 - p2|)))^2).
    """
    pbar = (n1 * p1 + n2 * p2) / (n1 + n2)
    se0 = math.sqrt(pbar * (1 - pbar) * (1 / n1 + 1 / n2))
    se1 = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    delta = p2 - p1
    cc = 0.5 * (1 / n1 + 1 / n2) if continuity else 0.0
    z = _z_crit(alpha, alternative)
    upper = float(stats.norm.sf((z * se0 + cc - delta) / se1))
    if alternative == "greater":
        return upper
    return upper + float(stats.norm.cdf((-z * se0 - cc - delta) / se1))


def two_prop_arcsine_power(
    n1: float, n2: float, p1: float, p2: float, alpha: float, alternative: Alternative = "two-sided"
) -> float:
    """Arcsine (Cohen's h) normal approximation, as R ``pwr.2p2n.test``."""
    h = 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))
    return _normal_power(h * math.sqrt(n1 * n2 / (n1 + n2)), alpha, alternative)


def _log_choose(n: int) -> np.ndarray:
    """log C(n, k) for k = 0..n."""
    k = np.arange(n + 1)
    return np.asarray(gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1))


def _log_binom_pmf(n: int, p: float, log_choose: np.ndarray) -> np.ndarray:
    k = np.arange(n + 1)
    with np.errstate(divide="ignore"):
        return log_choose + k * np.log(p) + (n - k) * np.log1p(-p)


def fisher_exact_power(
    n1: int, n2: int, p1: float, p2: float, alpha: float, alternative: Alternative = "two-sided"
) -> float:
    """Exact power of Fisher's exact test by enumerating every 2x2 table.

    For each table (x1 events of n1, x2 of n2) the conditional p-value is computed as R's
    ``fisher.test`` does (two-sided: sum of hypergeometric probabilities not above the
    observed one, relative tolerance 1e-7; greater: P(X2 >= x2 | margins)); the power is the
    binomial probability of the tables with p <= alpha.
    """
    lc1, lc2 = _log_choose(n1), _log_choose(n2)
    lb1, lb2 = _log_binom_pmf(n1, p1, lc1), _log_binom_pmf(n2, p2, lc2)
    power = 0.0
    for m in range(n1 + n2 + 1):
        x2 = np.arange(max(0, m - n1), min(n2, m) + 1)
        x1 = m - x2
        logh = lc1[x1] + lc2[x2]
        h = np.exp(logh - logh.max())
        h /= h.sum()
        if alternative == "two-sided":
            order = np.sort(h)
            csum = np.cumsum(order)
            idx = np.searchsorted(order, h * (1 + 1e-7), side="right") - 1
            pval = csum[idx]
        else:
            pval = np.cumsum(h[::-1])[::-1]  # P(X2 >= x2 | m); x2 ascending
        reject = pval <= alpha
        if reject.any():
            power += float(np.exp(lb1[x1[reject]] + lb2[x2[reject]]).sum())
    return min(power, 1.0)
