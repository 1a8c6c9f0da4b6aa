"""Refits of the imputation MMRM on many resampled data sets, as one batch.

A bootstrap sample is a row of subject indices (repeating subjects) with a flag per entry
saying whether it is in the sample: the batch is laid out for
:mod:`frailtrial.stats.mmrm_core` directly from the subject x visit arrays (no data
frames). A jackknife of a separable imputation model is made from per-pattern sums
instead, each sample the full data's less one subject's (O(n) rather than O(n^2) for the
n + 1 fits). Both are optimised by the same Newton code as
:func:`frailtrial.stats.mmrm.fit_many`, in chunks over the CPU cores.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from frailtrial.stats import mmrm_core as core
from frailtrial.stats.allocator import keep_freed_memory
from frailtrial.stats.blas_threads import one_blas_thread
from frailtrial.stats.covariance import make_structure
from frailtrial.stats.sensitivity.layout import Layout

Array = NDArray[Any]
CHUNK = 250  # most data sets per optimiser call
WORK_FLOATS = 1.5e7  # bound on the per-chunk work arrays (about 120 MB)
Solved = tuple[Array, Array, Array, list[str]]  # beta, sigma, converged, reason of a chunk


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


def _jackknife_sums(layout: Layout) -> core.Batch:
    """The full data and each leave-one-subject-out data set of a separable imputation
    model as per-pattern sums (:func:`core.sums_batch`): sample ``j + 1`` is the full
    data's sums less subject j's, so the batch costs O(n), not O(n^2), to make and to
    fit (the optimiser works from the sums alone)."""
    assert layout.kron is not None
    c, v, ci, vi = layout.kron
    mask = layout.fit_mask
    y = np.where(mask, np.nan_to_num(layout.y), 0.0)
    full = core.make_kron(c[None], v, ci, vi, core.make_batch(y[None], mask[None]))
    kr = full.kron
    assert kr is not None
    n = layout.n
    left, k = np.arange(1, n + 1), full.pattern_of[0]
    cc, cy, yy, count = (np.repeat(a, n + 1, axis=0) for a in (kr.cc, kr.cy, kr.yy, kr.count))
    cc[left, k] -= c[:, :, None] * c[:, None, :]
    cy[left, k] -= c[:, :, None] * y[:, None, :]
    yy[left, k] -= y[:, :, None] * y[:, None, :]
    count[left, k] -= 1.0
    pattern_mask = np.repeat(full.pattern_mask, n + 1, axis=0)
    return core.sums_batch(pattern_mask, v, ci, vi, (cc, cy, yy, count))


def _solve(batch: core.Batch, covariance: str) -> Solved:
    structure = make_structure(covariance, batch.y.shape[2])
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


def _in_chunks(n_sets: int, size: int, solve: Callable[[NDArray[np.int64]], Solved]) -> Fits:
    """``solve`` on chunks of at most ``size`` data sets, over the CPU cores (the compiled
    kernels release the GIL)."""
    n_chunks = max(1, -(-n_sets // size))
    n_chunks = max(n_chunks, min(os.cpu_count() or 1, n_sets // 64))
    chunks = np.array_split(np.arange(n_sets), n_chunks)
    keep_freed_memory()
    with one_blas_thread():
        if n_chunks == 1:
            parts = [solve(chunks[0])]
        else:
            with ThreadPoolExecutor(min(os.cpu_count() or 1, n_chunks)) as pool:
                parts = list(pool.map(solve, chunks))
    return Fits(
        beta=np.concatenate([p[0] for p in parts]),
        sigma=np.concatenate([p[1] for p in parts]),
        converged=np.concatenate([p[2] for p in parts]),
        reason=[r for p in parts for r in p[3]],
    )


def fit_samples(
    layout: Layout,
    idx: NDArray[np.int64],
    present: NDArray[np.bool_] | None = None,
    covariance: str = "us",
) -> Fits:
    """REML fits of the imputation model to the samples ``idx`` (B, m) (entries with
    ``present`` False left out), in chunks over the CPU cores."""
    flags = np.ones(idx.shape, dtype=bool) if present is None else present
    return _in_chunks(
        idx.shape[0],
        _chunk_size(layout, idx.shape[1]),
        lambda rows: _solve(_batch(layout, idx[rows], flags[rows]), covariance),
    )


def fit_jackknife(layout: Layout, covariance: str = "us") -> Fits:
    """REML fits of the imputation model to the full data (first) and to the data without
    each subject in turn (n + 1 fits): from per-pattern sums for a separable design (in
    O(n) time and memory), else from the subject x visit arrays of one chunk at a time."""
    n = layout.n
    if layout.kron is not None:
        batch = _jackknife_sums(layout)
        return _in_chunks(n + 1, CHUNK, lambda rows: _solve(batch.subset(rows), covariance))

    def without(rows: NDArray[np.int64]) -> core.Batch:
        idx = np.broadcast_to(np.arange(n), (rows.size, n))
        return _batch(layout, idx, rows[:, None] - 1 != np.arange(n)[None, :])

    return _in_chunks(n + 1, _chunk_size(layout, n), lambda rows: _solve(without(rows), covariance))
