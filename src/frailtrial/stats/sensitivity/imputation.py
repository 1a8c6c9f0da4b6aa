"""Imputation of the missing visits from the MMRM parameters of each sample.

For a subject with mean ``mu`` (its strategy's, :func:`strategies.strategy_mean`) and the
visit covariance ``Sigma``, the missing visits ``m`` given the observed ``o`` are normal
with mean ``mu_m + S_mo S_oo^-1 (y_o - mu_o)`` and covariance ``S_mm - S_mo S_oo^-1 S_om``.
Conditional mean imputation (Wolbers et al. 2022) takes the mean; approximate Bayesian MI
draws from the distribution. Subjects are grouped by missingness pattern, so each
regression ``S_mo S_oo^-1`` is solved once per pattern for all samples at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from frailtrial.stats.sensitivity.layout import Layout
from frailtrial.stats.sensitivity.strategies import strategy_mean

Array = NDArray[Any]


def strategy_design(layout: Layout) -> Array:
    """(n, T, p) rows whose product with a sample's coefficients is each subject's mean
    under its strategy (the strategies are linear in the own and reference means)."""
    own, ref = layout.x_own.transpose(2, 0, 1), layout.x_ref.transpose(2, 0, 1)
    return strategy_mean(own, ref, layout.ice, layout.strategy).transpose(1, 2, 0)


def imputation_means(layout: Layout, beta: Array) -> Array:
    """(B, n, T) mean of every subject under its strategy, for the parameters of B samples
    (one product with the strategy design, instead of the strategies applied per sample)."""
    n, t, p = layout.x_own.shape
    return (strategy_design(layout).reshape(n * t, p) @ beta.T).T.reshape(-1, n, t)


def missing_patterns(layout: Layout) -> list[tuple[NDArray[np.bool_], NDArray[np.int64]]]:
    """The distinct missingness patterns (missing visits, subjects' rows), in code order."""
    missing = layout.missing
    codes = (missing.astype(np.int64) << np.arange(missing.shape[1])).sum(axis=1)
    groups = (np.flatnonzero(codes == c) for c in np.unique(codes))
    return [(missing[rows[0]], rows) for rows in groups]


def regression(sigma: Array, m: NDArray[np.bool_]) -> Array:
    """(B, |m|, |o|) regression ``S_mo S_oo^-1`` of the missing visits ``m`` on the others."""
    o = ~m
    s_oo = sigma[:, o][:, :, o]
    s_mo = sigma[:, m][:, :, o]
    return np.linalg.solve(s_oo, s_mo.transpose(0, 2, 1)).transpose(0, 2, 1)


def impute(
    layout: Layout,
    beta: Array,
    sigma: Array,
    rng: np.random.Generator | None = None,
) -> Array:
    """Completed outcomes (B, n, T) of all subjects for each sample's parameters: the
    conditional mean of the missing visits, or a draw from their conditional distribution
    when ``rng`` is given."""
    mu = imputation_means(layout, beta)
    y = np.broadcast_to(layout.y, mu.shape).copy()
    for m, rows in missing_patterns(layout):
        if not m.any():
            continue
        o = ~m
        cond_mean = mu[:, rows][..., m]  # (B, k, |m|)
        if o.any():
            reg = regression(sigma, m)
            resid = layout.y[rows][:, o][None] - mu[:, rows][..., o]  # (B, k, |o|)
            cond_mean = cond_mean + np.einsum("bmo,bko->bkm", reg, resid)
        if rng is not None:
            cov = sigma[:, m][:, :, m]
            if o.any():
                cov = cov - np.matmul(reg, sigma[:, m][:, :, o].transpose(0, 2, 1))
            chol = np.linalg.cholesky(0.5 * (cov + cov.transpose(0, 2, 1)))
            normal = rng.standard_normal(cond_mean.shape)
            cond_mean = cond_mean + np.einsum("bij,bkj->bki", chol, normal)
        block = y[:, rows]
        block[..., m] = cond_mean
        y[:, rows] = block
    return y
