"""Refits of the imputation MMRM on many resampled data sets, as one batch.

A sample is a row of subject indices (a bootstrap sample repeats subjects) with a flag per
entry saying whether it is in the sample (a jackknife sample is all subjects, one flagged
out): the batch is laid out for :mod:`frailtrial.stats.mmrm_core` directly from the
subject x visit arrays (no data frames), and optimised by the same Newton code as
:func:`frailtrial.stats.mmrm.fit_many`, in chunks over the CPU cores.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from frailtrial.stats import mmrm_core as core
from frailtrial.stats.blas_threads import one_blas_thread
from frailtrial.stats.covariance import make_structure
from frailtrial.stats.sensitivity.layout import Layout

Array = NDArray[Any]
CHUNK = 250  # most data sets per optimiser call
WORK_FLOATS = 1.5e7  # bound on the per-chunk work arrays (about 120 MB)


@dataclass(frozen=True)
class Fits:
    """Imputation-model parameters of B samples."""

    beta: Array  # (B, p)
    sigma: Array  # (B, T, T)
    converged: NDArray[np.bool_]  # (B,)
    reason: list[str]


def _batch(layout: Layout, idx: NDArray[np.int64], present: NDArray[np.bool_]) -> core.Batch:
    mask = layout.fit_mask[idx] & present[..., None]
    y = np.where(mask, np.nan_to_num(layout.y[idx]), 0.0)
    if layout.kron is None:
        return core.make_batch(y, mask, layout.x_own[idx] * mask[..., None])
    c, v, ci, vi = layout.kron
    return core.make_kron(c[idx], v, ci, vi, core.make_batch(y, mask))


def _solve(
    layout: Layout, idx: NDArray[np.int64], present: NDArray[np.bool_], covariance: str
) -> tuple[Array, Array, Array, list[str]]:
    structure = make_structure(covariance, len(layout.visits))
    batch = _batch(layout, idx, present)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        theta0 = structure.start(core.start_sigma(batch))
        opt = core.optimize(structure, batch, True, theta0)
        sigma = structure.sigma(opt.theta)
    return opt.beta, sigma, opt.converged, opt.reason


def _chunk_size(layout: Layout, m: int) -> int:
    """Data sets per chunk such that the per-subject work arrays (outcome products, the
    design's subject columns per missingness pattern) stay within WORK_FLOATS."""
    t = len(layout.visits)
    codes = (layout.fit_mask.astype(np.int64) << np.arange(t)).sum(axis=1)
    k = np.unique(codes).size + 1  # patterns, and one for left-out subjects
    width = layout.kron[0].shape[1] if layout.kron is not None else layout.x_own.shape[2] * t
    per_set = m * (t * t + width * (k + 1) + k)
    return int(np.clip(WORK_FLOATS // per_set, 8, CHUNK))


def fit_samples(
    layout: Layout,
    idx: NDArray[np.int64],
    present: NDArray[np.bool_] | None = None,
    covariance: str = "us",
) -> Fits:
    """REML fits of the imputation model to the samples ``idx`` (B, m) (entries with
    ``present`` False left out), in chunks over the CPU cores (the compiled kernels
    release the GIL)."""
    if present is None:
        present = np.ones(idx.shape, dtype=bool)
    n_sets = idx.shape[0]
    n_chunks = max(1, -(-n_sets // _chunk_size(layout, idx.shape[1])))
    n_chunks = max(n_chunks, min(os.cpu_count() or 1, n_sets // 64))
    chunks = np.array_split(np.arange(n_sets), n_chunks)
    with one_blas_thread():
        if n_chunks == 1:
            parts = [_solve(layout, idx, present, covariance)]
        else:
            with ThreadPoolExecutor(min(os.cpu_count() or 1, n_chunks)) as pool:
                parts = list(
                    pool.map(lambda c: _solve(layout, idx[c], present[c], covariance), chunks)
                )
    return Fits(
        beta=np.concatenate([p[0] for p in parts]),
        sigma=np.concatenate([p[1] for p in parts]),
        converged=np.concatenate([p[2] for p in parts]),
        reason=[r for p in parts for r in p[3]],
    )
