"""Pooling the per-sample estimates into one estimate, SE, CI and p-value (as rbmi's pool).

- jackknife (conditional mean imputation): the full-data estimate, the jackknife SE
  ``sqrt((N-1)/N * sum (est_i - mean)^2)``, normal CI and p-value;
- bootstrap: the full-data estimate with the percentile CI (R quantile type 6) and the
  p-value from inverting it, or the normal CI with the bootstrap SD (``normal``);
- Rubin's rules (multiple imputation): the mean estimate, total variance
  ``W + (1 + 1/M) B`` and the Barnard-Rubin degrees of freedom with the complete-data df.

Every function takes estimates with the samples on the first axis and returns arrays of
the remaining shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from frailtrial.stats.fit_results import inference

Array = NDArray[Any]
Pooled = dict[str, Array]


def _normal(est: Array, se: Array, conf_level: float) -> Pooled:
    _, p, low, high = inference(est, se, None, conf_level)
    return {"estimate": est, "se": se, "ci_low": low, "ci_high": high, "p_value": p}


def jackknife(est: Array, conf_level: float = 0.95) -> Pooled:
    """``est[0]`` from the full data, ``est[1:]`` leaving out one subject each."""
    loo = est[1:]
    n = loo.shape[0]
    se = np.sqrt((n - 1) / n * ((loo - loo.mean(axis=0)) ** 2).sum(axis=0))
    return _normal(est[0], se, conf_level)


def bootstrap_normal(est: Array, conf_level: float = 0.95) -> Pooled:
    """``est[0]`` from the full data, ``est[1:]`` from bootstrap samples: normal CI with
    the bootstrap standard deviation."""
    return _normal(est[0], est[1:].std(axis=0, ddof=1), conf_level)


def bootstrap_percentile(est: Array, conf_level: float = 0.95) -> Pooled:
    """``est[0]`` from the full data; CI from the quantiles (R type 6) of the bootstrap
    estimates ``est[1:]``; two-sided p-value = twice the smaller tail at 0."""
    boot = est[1:]
    alpha = 1 - conf_level
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=0, method="weibull")
    flat = boot.reshape(boot.shape[0], -1)
    p = np.array([_percentile_p(flat[:, j]) for j in range(flat.shape[1])])
    return {
        "estimate": est[0],
        "se": np.full(est.shape[1:], np.nan),
        "ci_low": low,
        "ci_high": high,
        "p_value": p.reshape(est.shape[1:]),
    }


def _percentile_p(x: Array) -> float:
    """Two-sided p-value of the percentile bootstrap: 2 min(q, 1 - q) with q the level at
    which the type-6 quantile of ``x`` is 0 (rbmi's ``pval_percentile``)."""
    x = np.sort(x)
    n = x.size
    if (x == 0).all():
        return 1.0
    if x[0] > 0 or x[-1] < 0:
        return 0.0
    if (x == 0).any():
        rank = np.flatnonzero(x == 0) + 1  # ranks of the zeros (ties first)
        q_low, q_high = rank.min() / (n + 1), 1 - rank.max() / (n + 1)
        return float(min(2 * min(q_low, q_high), 1.0))
    j = int((x < 0).sum())  # x[j-1] < 0 < x[j] (0-based)
    h = j + (0 - x[j - 1]) / (x[j] - x[j - 1])
    q = h / (n + 1)
    return float(min(2 * min(q, 1 - q), 1.0))


def rubin(est: Array, se: Array, df_complete: float, conf_level: float = 0.95) -> Pooled:
    """Rubin's rules over M imputations (first axis), Barnard-Rubin df."""
    m = est.shape[0]
    point = est.mean(axis=0)
    var_w = (se**2).mean(axis=0)
    var_b = est.var(axis=0, ddof=1)
    var_t = var_w + (1 + 1 / m) * var_b
    df = barnard_rubin_df(var_b, var_t, m, df_complete)
    se_t = np.sqrt(var_t)
    _, p, low, high = inference(point, se_t, df, conf_level)
    return {"estimate": point, "se": se_t, "ci_low": low, "ci_high": high, "p_value": p, "df": df}


def barnard_rubin_df(var_b: Array, var_t: Array, m: int, df_complete: float) -> Array:
    """Barnard and Rubin (1999) degrees of freedom; ``df_complete`` may be ``inf``."""
    lam = (1 + 1 / m) * var_b / var_t
    with np.errstate(divide="ignore", invalid="ignore"):
        v_old = (m - 1) / lam**2
        if np.isinf(df_complete):
            return np.where(lam == 0, np.inf, v_old)
        v_obs = (df_complete + 1) / (df_complete + 3) * df_complete * (1 - lam)
        return np.where(lam == 0, v_obs, v_old * v_obs / (v_old + v_obs))
