"""Batched REML/ML criterion of the MMRM with exact gradient and Hessian, and its optimiser.

Every subject gets the full T x T visit layout; a missing visit is masked out
(``Sigma_i = M Sigma M + (I - M)`` with zero rows of X and y), so that determinants and
quadratic forms equal those of the observed sub-block and all work is batched array
algebra over ``(B data sets, n subjects, T visits)``. Subjects sharing a missingness
pattern within a data set share one factorisation (small Cholesky factors and inverses
are vectorised over the whole stack), and the ``W (x) W`` terms of the Hessian are formed
once per pattern from per-pattern sums, not per subject.

The criterion ``f = -2 log L`` (REML or ML, beta profiled out) is differentiated with
respect to the visit covariance ``Sigma`` itself: ``df = tr(G dSigma)`` and
``d2f = sum H[a,b,c,d] dSigma[a,b] dSigma[c,d]``; a covariance structure maps them to
its parameters by the chain rule. Newton steps with this Hessian (REML's trace term
dropped during the iterations, BFGS-corrected after each step, eigenvalue-modified where
not positive definite) and a backtracking line search converge in about five steps from
the factored-likelihood start of :func:`start_sigma` (six from the moment estimate);
convergence is declared on the Newton decrement and reported with the gradient norm. A
data set whose criterion cannot be evaluated gets ``f = +inf`` and stops with a reason;
it never raises for the whole batch.

Separable designs (subject-level columns times visit-level columns, the usual
``covariates + arm*visit``) are evaluated from per-pattern sums by the compiled kernels of
:mod:`frailtrial.stats.mmrm_kernels`, which also run the whole optimiser for ``us``; the
numpy code here evaluates any design per subject and serves the exact-Hessian inference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from frailtrial.errors import InputError
from frailtrial.stats.covariance import Structure, Unstructured
from frailtrial.stats.mmrm_kernels import (
    kron_evaluate,
    kron_exact,
    kron_variance_gradient,
    newton_directions,
    number_patterns,
    pattern_sums,
    sequential_start,
    us_chain,
    us_optimize,
    us_variance_chain,
)

Array = NDArray[Any]
LOG_2PI = float(np.log(2 * np.pi))
SMALL_STACK = 64  # below this many matrices LAPACK beats the vectorised sweeps


def all_in_order(idx: NDArray[np.int64], n: int) -> bool:
    """Whether ``idx`` is 0, 1, ..., n - 1: all of n rows in order, so that the arrays
    themselves serve instead of copies of their rows."""
    return idx.size == n and bool((idx == np.arange(n)).all())


@dataclass
class Batch:
    """Model data of B data sets in the padded subject x visit layout, with the distinct
    missingness patterns of each data set (padded to the largest number K in the batch).

    The per-subject design rows ``x`` of a separable design are built from its factors
    on first use only: fitting needs the per-pattern sums of :class:`Kron`, the rows are
    for exact-Hessian inference on the fits actually inspected."""

    y: Array  # (B, n, T), zero for missing visits
    mask: NDArray[np.bool_]  # (B, n, T)
    pattern_mask: Array  # (B, K, T) float 0/1 observed visits of each pattern
    pattern_of: NDArray[np.int64]  # (B, n) pattern of each subject
    members: Array  # (B, K, n) float 0/1, subject n has pattern k
    kron: Kron | None = None  # separable design, when it is one
    rows: Array | None = None  # (B, n, T, p) design rows, zero for missing visits

    @property
    def x(self) -> Array:
        """(B, n, T, p) design rows, zero rows for missing visits."""
        if self.rows is None:
            kr = self.kron
            assert kr is not None, "a batch needs design rows or separable factors"
            self.rows = kr.c[:, :, None, kr.ci] * kr.v[None, None, :, kr.vi] * self.mask[..., None]
        return self.rows

    @property
    def n_sets(self) -> int:
        return int(self.y.shape[0])

    @property
    def counts(self) -> Array:
        """(B, K) subjects of each pattern: a separable design's sums hold them (a batch of
        sums has no subjects), else the members."""
        return self.kron.count if self.kron is not None else self.members.sum(axis=2)

    @property
    def n_obs(self) -> NDArray[np.int64]:
        return self.mask.sum(axis=(1, 2))

    def subset(self, idx: NDArray[np.int64]) -> Batch:
        """The data sets ``idx`` only."""
        if all_in_order(idx, self.n_sets):
            return self
        return Batch(
            y=self.y[idx],
            mask=self.mask[idx],
            pattern_mask=self.pattern_mask[idx],
            pattern_of=self.pattern_of[idx],
            members=self.members[idx],
            kron=None if self.kron is None else self.kron.subset(idx),
            rows=None if self.rows is None else self.rows[idx],
        )


@dataclass
class Kron:
    """A separable design, ``X_n[a, j] = c[n, ci[j]] * v[a, vi[j]]`` (subject-level times
    visit-level columns, as in ``y ~ base + arm*visit``): then ``X' V^-1 X`` and the other
    sums over subjects come from small per-pattern sums of ``c c'`` and ``V' W_k V``
    instead of per-subject products (evaluated by the compiled kernel)."""

    c: Array  # (B, n, Pc) subject-level columns
    v: Array  # (T, Pv) visit-level columns
    ci: NDArray[np.int64]  # (p,)
    vi: NDArray[np.int64]  # (p,)
    cc: Array  # (B, K, Pc, Pc) sum of c c' over the subjects of each pattern
    cy: Array  # (B, K, Pc, T) sum of c y'
    yy: Array  # (B, K, T, T) sum of y y'
    count: Array  # (B, K) subjects of each pattern (float)
    n_obs: Array  # (B,) observations (float)

    def subset(self, idx: NDArray[np.int64]) -> Kron:
        return Kron(
            self.c[idx],
            self.v,
            self.ci,
            self.vi,
            self.cc[idx],
            self.cy[idx],
            self.yy[idx],
            self.count[idx],
            self.n_obs[idx],
        )


def make_kron(
    c: Array, v: Array, ci: NDArray[np.int64], vi: NDArray[np.int64], batch: Batch
) -> Batch:
    """``batch`` with its separable-design factors (see :class:`Kron`)."""
    b, _, pc = c.shape
    k = batch.members.shape[1]
    t = batch.y.shape[2]
    cc = np.zeros((b, k, pc, pc))
    cy = np.zeros((b, k, pc, t))
    yy = np.zeros((b, k, t, t))
    c = np.ascontiguousarray(c, dtype=float)
    pattern_sums(c, np.ascontiguousarray(batch.y, dtype=float), batch.pattern_of, cc, cy, yy)
    batch.kron = Kron(
        c=c,
        v=np.ascontiguousarray(v, dtype=float),
        ci=ci,
        vi=vi,
        cc=cc,
        cy=cy,
        yy=yy,
        count=batch.members.sum(axis=2),
        n_obs=batch.n_obs.astype(float),
    )
    return batch


def sums_batch(
    pattern_mask: Array,
    v: Array,
    ci: NDArray[np.int64],
    vi: NDArray[np.int64],
    sums: tuple[Array, Array, Array, Array],
) -> Batch:
    """A batch of a separable design known by its per-pattern sums only: ``pattern_mask``
    (B, K, T) and ``sums`` = (cc, cy, yy, count) as in :class:`Kron`. It has no subjects
    (its per-subject arrays are empty), so only what works from the sums takes it: the
    optimiser, the starting values and the separable evaluation. A jackknife's data sets
    are made so, each the full data's sums less one subject's (sensitivity/fitting.py)."""
    cc, cy, yy, count = sums
    b, k, t = pattern_mask.shape
    n_obs = (count * pattern_mask.sum(axis=2)).sum(axis=1)
    v = np.ascontiguousarray(v, dtype=float)
    kron = Kron(np.zeros((b, 0, cc.shape[2])), v, ci, vi, cc, cy, yy, count, n_obs)
    return Batch(
        y=np.zeros((b, 0, t)),
        mask=np.zeros((b, 0, t), dtype=bool),
        pattern_mask=pattern_mask,
        pattern_of=np.zeros((b, 0), dtype=np.int64),
        members=np.zeros((b, k, 0)),
        kron=kron,
    )


def make_batch(y: Array, mask: NDArray[np.bool_], x: Array | None = None) -> Batch:
    """Group the subjects of each data set by missingness pattern; ``y`` and the design
    rows ``x`` (None: a separable design's, see :func:`make_kron`) are zero at missing
    visits."""
    b, n, t = mask.shape
    if t > 63:
        raise InputError(f"{t} visits: at most 63 are allowed (a missingness pattern is 64 bits)")
    pattern_of = np.empty((b, n), dtype=np.int64)
    codes = np.zeros((b, max(n, 1)), dtype=np.int64)
    counts = np.zeros(b, dtype=np.int64)
    number_patterns(np.ascontiguousarray(mask), pattern_of, codes, counts)
    n_pat = max(int(counts.max()) if b else 0, 1)
    used = np.arange(n_pat)[None, :] < counts[:, None]  # (B, K) padded patterns are empty
    pattern_mask = ((codes[:, :n_pat, None] >> np.arange(t)) & 1) * used[..., None].astype(float)
    members = (pattern_of[:, None, :] == np.arange(n_pat)[None, :, None]).astype(float)
    return Batch(
        rows=x,
        y=y,
        mask=mask,
        pattern_mask=pattern_mask,
        pattern_of=pattern_of,
        members=members,
    )


def batched_cholesky(a: Array) -> tuple[Array, NDArray[np.bool_]]:
    """Lower Cholesky factors of a stack of small symmetric matrices (..., m, m), vectorised
    over the stack, and which of them are positive definite. A failed pivot is replaced by
    1 so the factor stays finite; callers discard those matrices."""
    if a.size:
        try:  # LAPACK is faster; the sweep only finds out which matrices fail
            low = np.linalg.cholesky(a)
            if np.isfinite(low).all():
                return low, np.ones(a.shape[:-2], dtype=bool)
        except np.linalg.LinAlgError:
            pass
    with np.errstate(over="ignore", invalid="ignore"):
        return _cholesky_sweep(a)


def _cholesky_sweep(a: Array) -> tuple[Array, NDArray[np.bool_]]:
    m = a.shape[-1]
    low = np.zeros_like(a)
    ok: NDArray[np.bool_] = np.asarray(np.isfinite(a).all(axis=(-2, -1)))
    scale = np.abs(np.diagonal(a, axis1=-2, axis2=-1)).max(axis=-1)
    for j in range(m):
        row = low[..., j, :j]
        pivot = a[..., j, j] - (row * row).sum(axis=-1)
        good = pivot > 1e-13 * scale
        ok &= good
        root = np.sqrt(np.where(good, pivot, 1.0))
        low[..., j, j] = root
        if j + 1 < m:
            rest = a[..., j + 1 :, j] - np.matmul(low[..., j + 1 :, :j], row[..., :, None])[..., 0]
            low[..., j + 1 :, j] = rest / root[..., None]
    return low, ok


def inverse_from_cholesky(low: Array) -> Array:
    """(L L')^-1 from lower triangular L (..., m, m), vectorised over the stack."""
    if low[..., 0, 0].size <= SMALL_STACK:
        linv = np.linalg.inv(low)
        return np.matmul(linv.swapaxes(-1, -2), linv)
    m = low.shape[-1]
    linv = np.zeros_like(low)
    for i in range(m):
        acc = -np.matmul(low[..., i : i + 1, :i], linv[..., :i, :])[..., 0, :]
        acc[..., i] += 1.0
        linv[..., i, :] = acc / low[..., i, i][..., None]
    return np.matmul(linv.swapaxes(-1, -2), linv)


@dataclass
class Evaluation:
    """Criterion and its pieces at one Sigma per data set."""

    f: Array  # (B,)  -2 log L, +inf where Sigma or X' V^-1 X is not positive definite
    beta: Array  # (B, p)
    a: Array  # (B, p, p) = (X' V^-1 X)^-1
    w: Array  # (B, n, T, T) masked precision per subject
    z: Array  # (B, n, T, p) = W X
    u: Array  # (B, n, T) = W (y - X beta)
    wk: Array  # (B, K, T, T) masked precision per pattern
    grad_sigma: Array | None = None  # (B, T, T)
    hess_sigma: Array | None = None  # (B, m, m) over the distinct entries of Sigma


def evaluate(
    sigma: Array,
    batch: Batch,
    reml: bool,
    derivs: str = "none",
    idx: NDArray[np.int64] | None = None,
) -> Evaluation:
    """-2 log L (REML or ML) for each data set, and its derivatives in Sigma.

    ``derivs``: ``"none"``; ``"grad"`` (gradient only); ``"exact"`` (gradient and Hessian);
    ``"approx"`` (gradient and the Hessian without REML's ``tr(A F A F)`` term, which is
    positive semi-definite and costs as much as the rest of the Hessian: dropping it makes
    the matrix larger, so Newton steps stay descent directions and converge linearly at a
    rate of about ``p / N``). Data sets whose covariance or ``X' V^-1 X`` is not positive
    definite get ``f = +inf`` (finite placeholders elsewhere) instead of an exception.
    ``idx``: evaluate only these data sets of the batch (``sigma`` has one per entry).
    """
    if batch.kron is not None and derivs != "exact":
        every = np.arange(sigma.shape[0]) if idx is None else idx
        return _evaluate_kron(sigma, batch, batch.kron, reml, derivs, every)
    if idx is not None:
        batch = batch.subset(idx)
    b, n, t, p = batch.x.shape
    m = batch.pattern_mask
    eye = np.eye(t)
    mm = m[..., :, None] * m[..., None, :]
    sub = mm * sigma[:, None] + (eye - m[..., :, None] * eye)  # (B, K, T, T)
    chol, ok_k = batched_cholesky(sub)
    logdet_k = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
    wk = inverse_from_cholesky(chol) * mm
    w = wk[np.arange(b)[:, None], batch.pattern_of]  # (B, n, T, T)
    logdet = (logdet_k * batch.counts).sum(axis=1)

    z = np.matmul(w, batch.x)  # (B, n, T, p)
    xf = batch.x.reshape(b, n * t, p)
    zf = z.reshape(b, n * t, p)
    xtwx = np.matmul(xf.transpose(0, 2, 1), zf)
    xtwx = 0.5 * (xtwx + xtwx.transpose(0, 2, 1))
    cx, ok_x = batched_cholesky(xtwx)
    a = inverse_from_cholesky(cx)
    xtwy = np.matmul(zf.transpose(0, 2, 1), batch.y.reshape(b, n * t, 1))
    beta = np.matmul(a, xtwy)[..., 0]
    r = batch.y - np.matmul(xf, beta[..., None]).reshape(b, n, t)
    u = np.matmul(w, r[..., None])[..., 0]
    f = _criterion(logdet + (r * u).sum(axis=(1, 2)), cx, batch, reml, ok_k, ok_x)
    ev = Evaluation(f=f, beta=beta, a=a, w=w, z=z, u=u, wk=wk)
    if derivs != "none":
        ev.grad_sigma, ev.hess_sigma = _derivatives(ev, batch, reml, derivs)
    return ev


def _criterion(base: Array, cx: Array, batch: Batch, reml: bool, ok_k: Array, ok_x: Array) -> Array:
    """-2 log-likelihood from log|Sigma| + r'W r (``base``): the REML term log|X'WX| (from its
    Cholesky ``cx``) and the 2 pi constant; +inf where a factorisation failed."""
    p = cx.shape[-1]
    if reml:
        f = base + 2.0 * np.log(np.diagonal(cx, axis1=1, axis2=2)).sum(axis=1)
        f = f + (batch.n_obs - p) * LOG_2PI
    else:
        f = base + batch.n_obs * LOG_2PI
    ok = ok_k.all(axis=1) & ok_x & np.isfinite(f)
    return np.where(ok, f, np.inf)


def kron_arrays(batch: Batch, kr: Kron) -> tuple[Array, ...]:
    """The arrays of a separable design in the order the compiled kernels take them."""
    return (batch.pattern_mask, kr.count, kr.cc, kr.cy, kr.yy, kr.v, kr.ci, kr.vi, kr.n_obs)


def _evaluate_kron(
    sigma: Array, batch: Batch, kr: Kron, reml: bool, derivs: str, idx: NDArray[np.int64]
) -> Evaluation:
    """:func:`evaluate` for a separable design (``derivs`` ``"none"``, ``"grad"`` or
    ``"approx"``) by the compiled kernel; the per-subject arrays of the result are empty."""
    b = idx.size
    t = sigma.shape[1]
    p = kr.ci.size
    m = t * (t + 1) // 2
    level = {"none": 0, "grad": 1, "approx": 2}[derivs]
    f = np.empty(b)
    beta = np.zeros((b, p))
    a = np.zeros((b, p, p))
    grad = np.zeros((b, t, t) if level else (b, 0, 0))
    hess = np.zeros((b, m, m) if level == 2 else (b, 0, 0))
    kron_evaluate(
        idx, np.ascontiguousarray(sigma, dtype=float), kron_arrays(batch, kr), reml, level,
        f, beta, a, grad, hess,
    )  # fmt: skip
    return _without_subjects(f, beta, a, grad if level else None, hess if level == 2 else None)


def exact_with_variance_gradient(
    sigma: Array, batch: Batch, reml: bool, phil: Array
) -> tuple[Evaluation, Array]:
    """:func:`evaluate` with ``"exact"`` derivatives for a separable design, by the compiled
    kernel, and the gradient in Sigma of the variance ``l' Phi l`` of each contrast with
    ``Phi l`` = ``phil`` (B, k, p): ``sum_n (W X_n Phi l)(W X_n Phi l)'`` (B, k, T, T), what
    Satterthwaite's df need (NaN where the criterion is not finite)."""
    kr = batch.kron
    assert kr is not None, "a separable design is needed"
    b, t = sigma.shape[0], sigma.shape[1]
    p = kr.ci.size
    m = t * (t + 1) // 2
    f = np.empty(b)
    beta = np.zeros((b, p))
    a = np.zeros((b, p, p))
    grad = np.zeros((b, t, t))
    hess = np.zeros((b, m, m))
    vgrad = np.zeros((b, phil.shape[1], t, t))
    kron_exact(
        np.arange(b), np.ascontiguousarray(sigma, dtype=float), kron_arrays(batch, kr), reml,
        np.ascontiguousarray(phil, dtype=float), f, beta, a, grad, hess, vgrad,
    )  # fmt: skip
    return _without_subjects(f, beta, a, grad, hess), vgrad


def variance_gradient(
    sigma: Array, batch: Batch, phil: Array, idx: NDArray[np.int64] | None = None
) -> Array:
    """The gradient in Sigma of each contrast's variance of
    :func:`exact_with_variance_gradient` (B, k, T, T) alone, for fits whose exact Hessian
    the optimiser gave (``optimize(..., exact_hessian=True)``): no evaluation of the
    criterion. ``idx``: the data sets of ``batch`` that ``sigma`` and ``phil`` are of (all,
    in order, by default)."""
    kr = batch.kron
    assert kr is not None, "a separable design is needed"
    b, t = sigma.shape[0], sigma.shape[1]
    vgrad = np.zeros((b, phil.shape[1], t, t))
    kron_variance_gradient(
        np.arange(b) if idx is None else idx, np.ascontiguousarray(sigma, dtype=float),
        kron_arrays(batch, kr), np.ascontiguousarray(phil, dtype=float), vgrad,
    )  # fmt: skip
    return vgrad


def variance_theta_gradient(
    structure: Structure, theta: Array, msum: Array, jac: Array | None = None
) -> Array:
    """The gradient of each contrast's variance in the structure's parameters (B, k, P)
    from its gradient in Sigma ``msum`` (B, k, T, T); compiled for us, else from the
    Jacobian ``jac`` (computed when not given)."""
    if isinstance(structure, Unstructured):
        vgrad = np.zeros((theta.shape[0], msum.shape[1], theta.shape[1]))
        rows, cols = structure.factor_index
        us_variance_chain(np.ascontiguousarray(theta, dtype=float), rows, cols, msum, vgrad)
        return vgrad
    jac = structure.jacobian(theta) if jac is None else jac
    return np.einsum("bjac,bkac->bkj", jac, msum)


def variance_chain_rule(
    structure: Structure, theta: Array, ev: Evaluation, msum: Array
) -> tuple[Array, Array]:
    """Exact Hessian of -2 log L in the structure's parameters (B, P, P) and the gradient
    of each contrast's variance (B, k, P), from their derivatives in Sigma (``ev`` with
    exact derivatives, ``msum`` of :func:`exact_with_variance_gradient`); compiled for us."""
    assert ev.grad_sigma is not None and ev.hess_sigma is not None
    if isinstance(structure, Unstructured):
        b, n_par = theta.shape
        grad = np.zeros((b, n_par))
        hess = np.zeros((b, n_par, n_par))
        rows, cols = structure.factor_index
        us_chain(
            np.ascontiguousarray(theta, dtype=float), rows, cols, ev.grad_sigma,
            ev.hess_sigma, grad, hess,
        )  # fmt: skip
        return hess, variance_theta_gradient(structure, theta, msum)
    _, hess, jac = theta_derivatives(structure, theta, ev)
    return hess, variance_theta_gradient(structure, theta, msum, jac)


def _without_subjects(
    f: Array, beta: Array, a: Array, grad: Array | None, hess: Array | None
) -> Evaluation:
    """An :class:`Evaluation` without the per-subject arrays (empty)."""
    empty = np.empty((f.size, 0, 0, 0))
    return Evaluation(
        f=f,
        beta=beta,
        a=a,
        w=empty,
        z=empty,
        u=empty.reshape(f.size, 0, 0),
        wk=empty,
        grad_sigma=grad,
        hess_sigma=hess,
    )


@lru_cache(maxsize=32)
def sym_pairs(t: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Row and column of the distinct entries of a symmetric T x T matrix (a <= b)."""
    iu, ju = np.triu_indices(t)
    return iu, ju


@lru_cache(maxsize=32)
def _sym_sum(t: int) -> Array:
    """(m, T*T) 0/1 matrix summing entries (a,b) and (b,a) of a flattened T x T matrix
    into the distinct pair (a<=b) of :func:`sym_pairs` (once for a diagonal pair)."""
    iu, ju = sym_pairs(t)
    out = np.zeros((iu.size, t * t))
    out[np.arange(iu.size), iu * t + ju] = 1.0
    out[np.arange(iu.size), ju * t + iu] = 1.0
    return out


def _to_sym(c: Array, quad: Array) -> Array:
    """Hessian over the distinct entries of symmetric Sigma from C[(d,a),(b,c)] and
    Q[(a,b),(c,d)] (both (B, T*T, T*T)), H = C - 2 Q in [a,b,c,d] order, summed over
    the orderings (a,b), (b,a) and (c,d), (d,c) of each pair of distinct entries."""
    b, t2, _ = c.shape
    t = math.isqrt(t2)
    full = c.reshape(b, t, t, t, t).transpose(0, 2, 3, 4, 1).reshape(b, t2, t2) - 2.0 * quad
    sym_t = _sym_sum(t).T
    m = sym_t.shape[1]
    half = np.matmul(full.reshape(b * t2, t2), sym_t).reshape(b, t2, m)  # F S'
    return (
        np.matmul(half.transpose(0, 2, 1).reshape(b * m, t2), sym_t)
        .reshape(b, m, m)
        .transpose(0, 2, 1)
    )


def _derivatives(
    ev: Evaluation, batch: Batch, reml: bool, derivs: str
) -> tuple[Array, Array | None]:
    """Gradient G (T x T) and Hessian of -2 log L in the distinct entries of Sigma.

    The Hessian is indexed by the pairs of :func:`sym_pairs`, so a structure's Hessian is
    ``J H J'`` with ``J[k, m] = dSigma[a_m, b_m] / dtheta_k``. Subjects sharing a
    missingness pattern share ``W``, so the ``W (x) W``-type terms are formed once per
    pattern from per-pattern sums of ``u u'`` and ``Z A Z'``.
    """
    z, u, a, wk = ev.z, ev.u, ev.a, ev.wk
    b, n, t, p = z.shape
    t2 = t * t
    members = batch.members  # (B, K, n)
    count = batch.counts
    wkf = wk.reshape(b, -1, t2)
    uu = np.matmul(members, (u[..., :, None] * u[..., None, :]).reshape(b, n, t2))  # (B, K, T2)
    grad = (count[..., None] * wkf - uu).sum(axis=1)
    if reml:
        za = np.matmul(z.reshape(b, n * t, p), a).reshape(b, n, t, p)
        k_subj = np.matmul(za, z.transpose(0, 1, 3, 2)).reshape(b, n, t2)  # Z A Z'
        kk = np.matmul(members, k_subj)  # (B, K, T2)
        grad = grad - kk.sum(axis=1)
    grad = grad.reshape(b, t, t)
    if derivs == "grad":
        return grad, None
    # s[(a,c), j] = sum_n Z[n,a,j] u[n,c]
    s = np.matmul(z.reshape(b, n, t * p).transpose(0, 2, 1), u).reshape(b, t, p, t)
    s = s.transpose(0, 1, 3, 2).reshape(b, t2, p)
    quad_b = np.matmul(np.matmul(s, a), s.transpose(0, 2, 1))
    xc = 2.0 * uu - count[..., None] * wkf
    if reml:
        xc = xc + kk
        c = np.matmul(xc.transpose(0, 2, 1), wkf) + np.matmul(wkf.transpose(0, 2, 1), kk)
    else:
        c = np.matmul(xc.transpose(0, 2, 1), wkf)
    h = _to_sym(c, quad_b)
    if reml and derivs == "exact":
        h = h + trace_term(z, a)
    return grad, h


def trace_term(z: Array, a: Array) -> Array:
    """REML's ``-tr(A F_D A F_E)`` part of the Hessian in the distinct entries of Sigma,
    ``F_D = sum_n Z_n' D Z_n``: with ``Q_ab = sum_n Zt_n[a]' Zt_n[b]`` (``Zt = Z L_A``) and
    ``G[ab, cd] = <Q_ab, Q_cd>`` it is ``-<S_ab, S_cd>``, ``S_ab = Q_ab + Q_ba``
    (``S_aa = Q_aa``), i.e. a sum of four entries of ``G``."""
    b, n, t, p = z.shape
    la, _ = batched_cholesky(a)
    zt = np.matmul(z.reshape(b, n * t, p), la).reshape(b, n, t * p)
    q = np.matmul(zt.transpose(0, 2, 1), zt).reshape(b, t, p, t, p)
    blocks = q.transpose(0, 1, 3, 2, 4).reshape(b, t * t, p * p)  # rows: vec(Q_ab)
    gram = np.matmul(blocks, blocks.transpose(0, 2, 1)).reshape(b, -1)
    r1, c1, r2, c2, half = _trace_gather(t)
    g = gram[:, r1] + gram[:, c1] + gram[:, r2] + gram[:, c2]
    return -g * half


@lru_cache(maxsize=32)
def _trace_gather(t: int) -> tuple[Array, Array, Array, Array, Array]:
    """Flat indices into G (T*T x T*T) of <Q_ab, Q_cd>, <Q_ab, Q_dc>, <Q_ba, Q_cd> and
    <Q_ba, Q_dc> over pairs a<=b, c<=d, and the 1/2 weights of diagonal pairs."""
    iu, ju = sym_pairs(t)
    ab, ba = (iu * t + ju)[:, None], (ju * t + iu)[:, None]
    cd, dc = (iu * t + ju)[None, :], (ju * t + iu)[None, :]
    t2 = t * t
    half = np.where(iu == ju, 0.5, 1.0)
    return ab * t2 + cd, ab * t2 + dc, ba * t2 + cd, ba * t2 + dc, half[:, None] * half[None, :]


def theta_derivatives(
    structure: Structure, theta: Array, ev: Evaluation
) -> tuple[Array, Array, Array]:
    """Gradient and Hessian of -2 log L in the structure's parameters, and dSigma/dtheta."""
    assert ev.grad_sigma is not None and ev.hess_sigma is not None
    jac = structure.jacobian(theta)  # (B, P, T, T)
    g = np.einsum("bkxy,bxy->bk", jac, ev.grad_sigma)
    iu, ju = sym_pairs(jac.shape[-1])
    js = jac[:, :, iu, ju]
    h = np.matmul(np.matmul(js, ev.hess_sigma), js.transpose(0, 2, 1))
    h = h + structure.second_term(theta, ev.grad_sigma)
    h = 0.5 * (h + h.transpose(0, 2, 1))
    return g, h, jac


def normal_equations(batch: Batch) -> tuple[Array, Array]:
    """X'X (B, p, p) and X'y (B, p) of the design rows, or of a separable design from its
    per-pattern sums: ``X'X[i, j] = sum_k CC_k[ci_i, ci_j] (V' M_k V)[vi_i, vi_j]``."""
    kr = batch.kron
    if kr is None:
        xf = batch.x.reshape(batch.n_sets, -1, batch.x.shape[3])
        xtx = np.matmul(xf.transpose(0, 2, 1), xf)
        xty = np.matmul(xf.transpose(0, 2, 1), batch.y.reshape(batch.n_sets, -1, 1))[..., 0]
        return xtx, xty
    b, k, pc, _ = kr.cc.shape
    pv = kr.v.shape[1]
    vmv = np.matmul(kr.v.T * batch.pattern_mask[..., None, :], kr.v)  # (B, K, Pv, Pv)
    full = np.matmul(kr.cc.reshape(b, k, -1).transpose(0, 2, 1), vmv.reshape(b, k, -1))
    full = full.reshape(b, pc, pc, pv, pv)
    ci, vi = kr.ci, kr.vi
    xtx = full[:, ci[:, None], ci[None, :], vi[:, None], vi[None, :]]
    with np.errstate(over="ignore", invalid="ignore"):  # extreme outcomes: f = inf later
        xty = np.matmul(kr.cy.sum(axis=1), kr.v)[:, ci, vi]
    return xtx, xty


def start_sigma(batch: Batch) -> Array:
    """Starting Sigma of each data set: for a separable design the factored-likelihood
    estimate of :func:`frailtrial.stats.mmrm_kernels.sequential_start` (closer to the
    REML optimum under dropout: about one Newton step fewer than the moment estimate),
    else, and where that cannot be formed, the moment estimate :func:`ols_sigma`."""
    if batch.kron is None:
        return ols_sigma(batch)
    b, t = batch.n_sets, batch.y.shape[2]
    sigma = np.zeros((b, t, t))
    ok = np.zeros(b, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        sequential_start(kron_arrays(batch, batch.kron), sigma, ok)
    if not ok.all():
        bad = np.flatnonzero(~ok)
        sigma[bad] = ols_sigma(batch.subset(bad))
    return sigma


def ols_sigma(batch: Batch) -> Array:
    """Moment estimate of Sigma from OLS residuals (pairwise complete), made positive definite."""
    b, t = batch.n_sets, batch.y.shape[2]
    m = batch.pattern_mask  # pairwise counts from the patterns
    cnt = np.einsum("bk,bks,bku->bsu", batch.counts, m, m)
    xtx, xty = normal_equations(batch)
    low, _ = batched_cholesky(xtx)
    beta = np.matmul(inverse_from_cholesky(low), xty[..., None])[..., 0]
    if batch.kron is None:
        r = batch.y - np.matmul(batch.x, beta[:, None, :, None])[..., 0]
        rr = np.matmul(r.transpose(0, 2, 1), r)
    else:  # from the per-pattern sums: r r' = y y' - c'y m' - m y'c + m' c c' m, masked
        kr = batch.kron
        bmat = np.zeros((b, kr.cc.shape[2], kr.v.shape[1]))
        bmat[:, kr.ci, kr.vi] = beta
        mean = np.matmul(bmat, kr.v.T)  # (B, Pc, T)
        cym = np.matmul(kr.cy.transpose(0, 1, 3, 2), mean[:, None])  # (B, K, T, T)
        quad = np.matmul(mean.transpose(0, 2, 1)[:, None], np.matmul(kr.cc, mean[:, None]))
        m = batch.pattern_mask
        rr = (
            (kr.yy - cym - cym.transpose(0, 1, 3, 2) + quad) * m[..., :, None] * m[..., None, :]
        ).sum(axis=1)
    s = rr / np.maximum(cnt, 1.0)
    var = np.clip(np.diagonal(s, axis1=1, axis2=2), 1e-8, None)
    var = np.where(np.isfinite(var), var, 1.0)
    s = np.where((cnt >= 2) & np.isfinite(s), s, 0.0)
    s[:, np.arange(t), np.arange(t)] = var
    ok = batched_cholesky(s)[1] & (np.linalg.eigvalsh(s)[:, 0] > 1e-8 * var.max(axis=1))
    diag = np.zeros_like(s)
    diag[:, np.arange(t), np.arange(t)] = var
    return np.where(ok[:, None, None], s, diag)


@dataclass
class Optimum:
    """Result of the Newton optimisation for B data sets, with beta and its covariance
    from the last evaluation (at ``theta``)."""

    theta: Array
    f: Array
    grad: Array
    hess: Array
    beta: Array
    a: Array
    iterations: NDArray[np.int64]
    converged: NDArray[np.bool_]
    decrement: Array
    reason: list[str]
    exact: NDArray[np.bool_]  # hess is the exact Hessian at theta (else quasi-Newton)


def _newton_direction(g: Array, h: Array) -> tuple[Array, NDArray[np.bool_]]:
    """-H^-1 g, with H's eigenvalues made positive where H is not positive definite (the
    compiled optimiser's step, see :func:`frailtrial.stats.mmrm_kernels.newton_directions`)."""
    d = np.zeros_like(g)
    pd = np.zeros(g.shape[0], dtype=bool)
    newton_directions(np.ascontiguousarray(h), np.ascontiguousarray(g), d, pd)
    return d, pd


def _feasible(structure: Structure, theta: Array) -> NDArray[np.bool_]:
    ok: NDArray[np.bool_] = np.asarray(np.isfinite(theta).all(axis=1))
    with np.errstate(over="ignore", invalid="ignore"):
        sig = structure.sigma(np.where(ok[:, None], theta, 0.0))
    if not np.isfinite(sig).all():
        ok &= np.isfinite(sig).all(axis=(1, 2))
        sig = np.where(ok[:, None, None], sig, np.eye(sig.shape[1]))
    vals = np.linalg.eigvalsh(sig)
    return ok & (vals[:, 0] > 1e-10 * np.maximum(vals[:, -1], 1e-300))


def optimize(
    structure: Structure,
    batch: Batch,
    reml: bool,
    theta0: Array,
    max_iter: int = 100,
    tol: float = 1e-10,
    chord: float = 1e-1,
    exact_hessian: bool = False,
    fixed_point_start: bool = True,
) -> Optimum:
    """Newton-Raphson with analytic Hessian and backtracking, vectorised over data sets.

    The Hessian is the approximate one of :func:`evaluate` (``"approx"``: it needs about
    two more steps than the exact one but each costs half, so it is faster overall). Converged
    when the Newton decrement ``g' H^-1 g`` (twice the predicted gain in ``-2 log L``) is
    below ``tol``. Once the decrement is below ``chord`` the Hessian is kept from the
    previous iterate and only the exact gradient is recomputed (each such step costs
    about 60 %). After every step the Hessian gets a BFGS (secant) update with the change
    of the gradient, which supplies the curvature the approximate Hessian misses along
    the step and shortens the linear tail of the iterations. A data set whose criterion
    cannot be evaluated at the start, or whose line search finds no decrease, stops with
    a reason. ``exact_hessian``: the compiled optimiser (us, separable design) ends with
    the exact Hessian at the optimum (``Optimum.exact``), from its last evaluation, for
    Satterthwaite's df; the numpy one returns its quasi-Newton Hessian.
    ``fixed_point_start``: the compiled optimiser starts from one fixed-point step of
    REML (ML) from ``theta0`` (:func:`frailtrial.stats.mmrm_kernels._fixed_point`; from
    ``theta0`` itself where that step is not at least as good), about one Newton
    iteration fewer; the numpy one always starts from ``theta0``.
    """
    if isinstance(structure, Unstructured) and batch.kron is not None:
        return _optimize_us_kron(
            structure, batch, batch.kron, reml, theta0, max_iter, tol, chord, exact_hessian,
            fixed_point_start,
        )  # fmt: skip
    b = theta0.shape[0]
    theta = theta0.copy()
    ev = evaluate(structure.sigma(theta), batch, reml, "approx")
    f, beta, a = ev.f.copy(), ev.beta.copy(), ev.a.copy()
    g, h, _ = theta_derivatives(structure, theta, ev)
    iters = np.zeros(b, dtype=np.int64)
    converged = np.zeros(b, dtype=bool)
    failed = ~np.isfinite(f)
    reason = [
        "-2 log L not finite at the starting values (non-finite or extreme outcome values?)"
        if bad
        else ""
        for bad in failed
    ]
    decrement = np.full(b, np.inf)
    for _ in range(max_iter):
        active = np.flatnonzero(~converged & ~failed)
        if active.size == 0:
            break
        d, pd = _newton_direction(g[active], h[active])
        dec = -(g[active] * d).sum(axis=1)
        decrement[active] = dec
        done = pd & (dec < tol)
        converged[active[done]] = True
        todo = active[~done]
        d = d[~done]
        keep_h = (pd & (dec < chord))[~done]
        step = np.ones(todo.size)
        while todo.size:
            trial = theta[todo] + step[:, None] * d
            ok = _feasible(structure, trial)
            f_new = np.full(todo.size, np.inf)
            full = ok & ~keep_h
            grad_only = ok & keep_h
            if full.any():
                ev_t = evaluate(structure.sigma(trial[full]), batch, reml, "approx", todo[full])
                f_new[full] = ev_t.f
            if grad_only.any():
                ev_g = evaluate(
                    structure.sigma(trial[grad_only]), batch, reml, "grad", todo[grad_only]
                )
                f_new[grad_only] = ev_g.f
            gd = (g[todo] * d).sum(axis=1)
            accept = np.isfinite(f_new) & (
                f_new <= f[todo] + 1e-4 * step * gd + 1e-12 * np.abs(f[todo])
            )
            if accept.any():
                idx = todo[accept]
                theta_old, g_old = theta[idx].copy(), g[idx].copy()
                theta[idx] = trial[accept]
                f[idx] = f_new[accept]
                iters[idx] += 1
                upd = accept & full
                if upd.any():
                    sel = (np.cumsum(full) - 1)[upd]
                    part = _take(ev_t, sel)
                    g_new, h_new, _ = theta_derivatives(structure, trial[upd], part)
                    g[todo[upd]], h[todo[upd]] = g_new, h_new
                    beta[todo[upd]], a[todo[upd]] = part.beta, part.a
                upd = accept & grad_only
                if upd.any():
                    assert ev_g.grad_sigma is not None
                    sel = (np.cumsum(grad_only) - 1)[upd]
                    g[todo[upd]] = theta_gradient(structure, trial[upd], ev_g.grad_sigma[sel])
                    beta[todo[upd]], a[todo[upd]] = ev_g.beta[sel], ev_g.a[sel]
                h[idx] = _secant_update(h[idx], theta[idx] - theta_old, g[idx] - g_old)
            step = step * 0.5
            keep = ~accept & (step > 1e-12)
            for i in todo[~accept & ~keep]:
                failed[i] = True
                reason[i] = "line search found no decrease of -2 log L"
            todo, d, step, keep_h = todo[keep], d[keep], step[keep], keep_h[keep]
    for i in np.flatnonzero(~converged & ~failed):
        reason[i] = f"iteration limit {max_iter} reached"
    return Optimum(
        theta, f, g, h, beta, a, iters, converged, decrement, reason, np.zeros(b, dtype=bool)
    )


_STATUS = (
    "",
    "-2 log L not finite at the starting values (non-finite or extreme outcome values?)",
    "line search found no decrease of -2 log L",
    "iteration limit {} reached",
)


def _optimize_us_kron(
    structure: Unstructured,
    batch: Batch,
    kr: Kron,
    reml: bool,
    theta0: Array,
    max_iter: int,
    tol: float,
    chord: float,
    exact_hessian: bool,
    fixed_point_start: bool,
) -> Optimum:
    """:func:`optimize` for us and a separable design by the compiled kernel (the same
    steps, one data set at a time, without numpy's per-call overhead)."""
    b, n_par = theta0.shape
    p = kr.ci.size
    theta = np.ascontiguousarray(theta0, dtype=float).copy()
    f = np.empty(b)
    beta = np.zeros((b, p))
    a = np.zeros((b, p, p))
    grad = np.zeros((b, n_par))
    hess = np.zeros((b, n_par, n_par))
    iters = np.zeros(b, dtype=np.int64)
    decrement = np.full(b, np.inf)
    status = np.zeros(b, dtype=np.int64)
    rows, cols = structure.factor_index
    us_optimize(
        theta, rows, cols, kron_arrays(batch, kr), reml, max_iter, tol, chord,
        f, beta, a, grad, hess, iters, decrement, status, exact_hessian, fixed_point_start,
    )  # fmt: skip
    beta[status == 1], a[status == 1] = np.nan, np.nan  # never evaluated
    reason = [_STATUS[k].format(max_iter) for k in status]
    exact = (status == 0) | (status == 3) if exact_hessian else np.zeros(b, dtype=bool)
    return Optimum(theta, f, grad, hess, beta, a, iters, status == 0, decrement, reason, exact)


def _secant_update(h: Array, s: Array, y: Array) -> Array:
    """BFGS update of Hessians (B, P, P) with the step ``s`` and gradient change ``y``, so
    that ``H s = y`` (the curvature the approximate Hessian misses along the last step);
    skipped where the curvature ``y's`` is not clearly positive."""
    hs = np.matmul(h, s[..., None])[..., 0]
    shs = (s * hs).sum(axis=1)
    ys = (y * s).sum(axis=1)
    ok = (ys > 1e-8 * np.maximum(shs, 1e-300)) & (shs > 0)
    ys_safe = np.where(ok, ys, 1.0)
    shs_safe = np.where(ok, shs, 1.0)
    new = (
        h
        + y[:, :, None] * y[:, None, :] / ys_safe[:, None, None]
        - hs[:, :, None] * hs[:, None, :] / shs_safe[:, None, None]
    )
    return np.where(ok[:, None, None], new, h)


def theta_gradient(structure: Structure, theta: Array, grad_sigma: Array) -> Array:
    """Gradient of -2 log L in the structure's parameters from its gradient in Sigma."""
    return np.einsum("bkxy,bxy->bk", structure.jacobian(theta), grad_sigma)


def _take(ev: Evaluation, idx: NDArray[np.int64]) -> Evaluation:
    """The data sets ``idx`` of an evaluation, without the per-subject arrays (not needed
    after the derivatives are formed)."""
    assert ev.grad_sigma is not None and ev.hess_sigma is not None
    return _without_subjects(
        ev.f[idx], ev.beta[idx], ev.a[idx], ev.grad_sigma[idx], ev.hess_sigma[idx]
    )
