"""Multiplicity: adjusted p-values and simultaneous intervals for a family of comparisons.

- :func:`adjust_p`: Bonferroni, Holm and Hochberg step-up, as R's ``p.adjust``.
- :func:`dunnett`: single-step Dunnett for k comparisons with one control, from the
  estimates and their joint covariance (any correlation, not only equal arm sizes):
  adjusted p-values and simultaneous intervals from the multivariate t, as R's
  ``multcomp::glht(..., mcp(arm = "Dunnett"))`` / ``mvtnorm``.
- :func:`serial_gatekeeping`: families tested in a fixed order, each at full alpha, a
  family reached only when every hypothesis before it was rejected (a fixed sequence is the
  case of one hypothesis per family).

The multivariate t probability ``P(max_i |T_i| <= c)`` is one-dimensional quadrature when
the correlation has the one-factor form ``r_ij = l_i l_j`` (always for two comparisons,
for three whenever the signs allow, and for arms of any sizes against one control in a
one-way layout): Gauss-Hermite over the shared normal, generalized Gauss-Laguerre over the
chi-square of the t's denominator. Any other correlation goes to Genz's quasi-Monte Carlo algorithm
(``scipy.stats.multivariate_t``, fixed seed, error about 1e-5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt

from frailtrial.errors import InputError
from frailtrial.stats.distributions import chi2_ppf, norm_cdf, t_ppf
from frailtrial.stats.roots import brent_root
from frailtrial.stats.special_functions import special

FloatArray = npt.NDArray[np.float64]
PMethod = Literal["bonferroni", "holm", "hochberg"]

_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(64)
_GH_W = _GH_W / math.sqrt(2.0 * math.pi)
_GL_U, _GL_W = np.polynomial.legendre.leggauss(96)
_GL_U, _GL_W = (_GL_U + 1.0) / 2.0, _GL_W / 2.0
_QMC_POINTS = 500_000


def adjust_p(p: Sequence[float] | FloatArray, method: PMethod = "bonferroni") -> FloatArray:
    """Adjusted p-values as R's ``p.adjust``; NaN entries stay NaN and are not counted."""
    try:
        arr = np.asarray(p, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"p-values: values must be numbers ({exc})") from None
    if arr.ndim != 1:
        raise InputError(f"p-values: expected a one-dimensional sequence, got shape {arr.shape}")
    if ((arr < 0) | (arr > 1)).any():
        raise InputError("p-values must lie in [0, 1]")
    out = np.full(arr.shape, np.nan)
    ok = ~np.isnan(arr)
    q = arr[ok]
    m = q.size
    if method == "bonferroni":
        adj = np.minimum(1.0, m * q)
    elif method == "holm":
        order = np.argsort(q, kind="stable")
        adj = np.empty(m)
        adj[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * q[order]))
    elif method == "hochberg":
        order = np.argsort(-q, kind="stable")  # largest first
        adj = np.empty(m)
        adj[order] = np.minimum(1.0, np.minimum.accumulate((np.arange(m) + 1) * q[order]))
    else:
        raise InputError(f"method must be bonferroni, holm or hochberg, got {method!r}")
    out[ok] = adj
    return out


# ---------------------------------------------------------------- multivariate t


def _one_factor(corr: FloatArray) -> FloatArray | None:
    """Loadings ``l`` with ``corr[i, j] = l_i l_j`` off the diagonal and ``|l_i| < 1``, or
    None when the correlation has no such form."""
    k = corr.shape[0]
    if k == 1:
        return np.zeros(1)
    if k == 2:
        r = float(corr[0, 1])
        s = math.sqrt(abs(r))
        lam = np.array([s, math.copysign(s, r)])
    else:
        r01, r02, r12 = corr[0, 1], corr[0, 2], corr[1, 2]
        if r12 == 0 or r01 * r02 / r12 <= 0:
            return None
        l0 = math.sqrt(r01 * r02 / r12)
        lam = np.concatenate([[l0], corr[0, 1:] / l0])
    off = ~np.eye(k, dtype=bool)
    if (np.abs(lam) >= 1).any() or np.abs((np.outer(lam, lam) - corr)[off]).max() > 1e-10:
        return None
    return lam


def _coverage_given_s(c_s: FloatArray, lam: FloatArray, two_sided: bool) -> FloatArray:
    """P(every Z_i within +-c_s) (or below c_s) for normals Z_i = l_i W + sqrt(1 - l_i^2) E_i,
    each c_s; Gauss-Hermite over the shared W."""
    shift = lam[:, None] * _GH_X[None, :]  # (k, nodes)
    scale = np.sqrt(1.0 - lam**2)[:, None]
    c = c_s[:, None, None]
    inside = norm_cdf((c - shift) / scale)
    if two_sided:
        inside = inside - norm_cdf((-c - shift) / scale)
    return np.asarray(inside.prod(axis=1) @ _GH_W)


@lru_cache(maxsize=256)
def _denominator_nodes(df: float) -> tuple[FloatArray, FloatArray]:
    """Nodes and weights of S = sqrt(chi2_df / df): generalized Gauss-Laguerre in chi2 / 2
    up to 300 df (exact to rounding for the smooth integrand), beyond that (where its
    weights overflow) Gauss-Legendre over the quantiles of S (error below 3e-7 there)."""
    if df <= 300:
        x, w = special.roots_genlaguerre(64, df / 2 - 1)
        return np.sqrt(2 * x / df), w / w.sum()
    return np.sqrt(chi2_ppf(_GL_U, df) / df), _GL_W


def _coverage_one_factor(c: FloatArray, lam: FloatArray, df: float, two_sided: bool) -> FloatArray:
    if math.isinf(df):
        return _coverage_given_s(c, lam, two_sided)
    s, w = _denominator_nodes(float(df))
    inner = _coverage_given_s(np.outer(c, s).ravel(), lam, two_sided).reshape(c.size, s.size)
    return np.asarray(inner @ w)


def _coverage_qmc(c: float, corr: FloatArray, df: float, two_sided: bool) -> float:
    from scipy import stats  # 0.5 s to import: only for a correlation of no one-factor form

    k = corr.shape[0]
    upper = np.full(k, c)
    lower = -upper if two_sided else np.full(k, -np.inf)
    if math.isinf(df):
        dist = stats.multivariate_normal(mean=np.zeros(k), cov=corr)
        return float(dist.cdf(upper, lower_limit=lower, rng=np.random.default_rng(1)))
    mvt = stats.multivariate_t(shape=corr, df=df)
    return float(mvt.cdf(upper, lower_limit=lower, maxpts=_QMC_POINTS, random_state=1))


def max_t_coverage(
    c: float | Sequence[float] | FloatArray, corr: FloatArray, df: float, two_sided: bool = True
) -> FloatArray:
    """``P(max_i |T_i| <= c)`` (or ``max_i T_i <= c``) for each ``c``: T multivariate t with
    ``df`` degrees of freedom (inf: normal) and correlation matrix ``corr``."""
    cs = np.atleast_1d(np.asarray(c, dtype=float))
    corr = np.asarray(corr, dtype=float)
    lam = _one_factor(corr)
    if lam is not None:
        return _coverage_one_factor(cs, lam, df, two_sided)
    return np.array([_coverage_qmc(float(x), corr, df, two_sided) for x in cs])


def dunnett_coverage(c: float, k: int, rho: float, df: float, two_sided: bool = True) -> float:
    """P(max_i |T_i| <= c) (or max_i T_i <= c) for k equicorrelated t statistics,
    ``corr(Z_i, Z_j) = rho >= 0`` (rho = n_exp / (n_exp + n_control) for arms of equal
    size against one control)."""
    lam = np.full(k, math.sqrt(rho))
    return float(_coverage_one_factor(np.array([c]), lam, df, two_sided)[0])


def _critical_value(corr: FloatArray, df: float, alpha: float, two_sided: bool) -> float:
    target = 1.0 - alpha
    return brent_root(
        lambda c: float(max_t_coverage(c, corr, df, two_sided)[0]) - target, 0.0, 50.0, xtol=1e-10
    )


@lru_cache(maxsize=4096)
def dunnett_critical_value(
    k: int, rho: float, df: float, alpha: float, alternative: str = "two-sided"
) -> float:
    """Dunnett's critical value: family-wise error alpha over k equicorrelated comparisons
    with a control."""
    corr = np.full((k, k), rho)
    np.fill_diagonal(corr, 1.0)
    return _critical_value(corr, df, alpha, alternative == "two-sided")


@dataclass(frozen=True)
class Simultaneous:
    """A family's single-step adjusted p-values and simultaneous (1 - alpha) intervals;
    ``critical_value``: the multiplier of each standard error."""

    p_adjusted: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    critical_value: float


def dunnett(
    estimate: Sequence[float] | FloatArray,
    cov: FloatArray,
    df: float,
    alpha: float = 0.05,
) -> Simultaneous:
    """Single-step Dunnett (two-sided) for k comparisons with ``cov`` their (k, k) joint
    covariance and ``df`` the t's degrees of freedom (inf: normal): adjusted
    ``p_i = 1 - P(max_j |T_j| <= |t_i|)`` and ``estimate -+ c se`` with ``c`` the
    (1 - alpha) quantile of ``max_j |T_j|``."""
    est = np.asarray(estimate, dtype=float)
    cov = np.asarray(cov, dtype=float)
    if est.ndim != 1 or cov.shape != (est.size, est.size):
        raise InputError(
            f"dunnett: {est.size} estimates need a ({est.size}, {est.size}) covariance"
        )
    se = np.sqrt(np.diag(cov))
    if not (np.isfinite(est).all() and np.isfinite(cov).all() and (se > 0).all()):
        raise InputError("dunnett: estimates and covariance must be finite, variances positive")
    if not df > 0:
        raise InputError(f"dunnett: df must be positive, got {df}")
    corr = cov / np.outer(se, se)
    t = np.abs(est / se)
    p_adj = np.clip(1.0 - max_t_coverage(t, corr, df), 0.0, 1.0)
    c = _critical_value(corr, df, alpha, True)
    return Simultaneous(p_adj, est - c * se, est + c * se, c)


def bonferroni_intervals(
    estimate: FloatArray, se: FloatArray, df: FloatArray, alpha: float = 0.05
) -> tuple[FloatArray, FloatArray]:
    """Simultaneous (1 - alpha) intervals of k comparisons by Bonferroni: each at level
    1 - alpha / k with its own t df."""
    half = t_ppf(1.0 - alpha / (2 * estimate.size), df) * se
    return estimate - half, estimate + half


# ---------------------------------------------------------------- ordered families


def serial_gatekeeping(families: Sequence[FloatArray]) -> list[FloatArray]:
    """Adjusted p-values of families tested in the listed order, each with its own
    (already adjusted) p-values at full alpha; a family is tested only when every
    hypothesis of the families before it is rejected. Adjusted p = max(own adjusted p,
    every adjusted p before it), so rejection at alpha stops at the first family with a p
    above alpha. A missing p (NaN) closes the gate: every later p is NaN."""
    out: list[FloatArray] = []
    gate = 0.0
    for fam in families:
        arr = np.asarray(fam, dtype=float)
        out.append(np.maximum(arr, gate))
        gate = float(np.max(out[-1])) if arr.size else gate
    return out


def fixed_sequence(p: Sequence[float] | FloatArray) -> FloatArray:
    """Adjusted p-values of hypotheses tested in the listed order, each at full alpha,
    stopping at the first one not rejected: the running maximum of p."""
    return np.concatenate(serial_gatekeeping([np.atleast_1d(x) for x in np.asarray(p, float)]))
