"""Compiled (numba) kernels of the batched MMRM: the per-pattern sums and the starting
Sigma of separable designs, their criterion with its gradient and approximate Hessian in
Sigma, the whole optimiser for ``us``, Satterthwaite's exact Hessian and variance
gradient, and the Newton step (modified where the Hessian is not positive definite) of
the numpy optimiser. Every per-pattern product runs over the pattern's observed visits
only (its precision is zero elsewhere).

``fit_many`` spends its time on many data sets of a few dozen subjects each: numpy's
batched calls on (B, K, 6, 6) stacks are dominated by per-call and per-matrix overhead,
so the per-data-set algebra of :func:`frailtrial.stats.mmrm_core.evaluate` for separable
designs (the ``Kron`` sums) is written here as plain loops, compiled once and cached on
disk. The kernels release the GIL, so chunks of data sets run in parallel threads. The
formulas are those documented in ``mmrm_core``; the tests check the kernel against the
per-subject (non-separable) numpy evaluation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from frailtrial.stats.deferred import defer
from frailtrial.stats.kernel_cache import use_user_cache

use_user_cache(__file__)  # one compile per machine and source, not per checkout
# numba's BLAS check at the first kernel load imports scipy.linalg.cython_blas; without
# scipy.linalg's __init__ (0.03-0.09 s, stats/deferred.py)
defer("scipy.linalg")

Array = NDArray[Any]
LOG_2PI = math.log(2.0 * math.pi)


@njit(cache=True, nogil=True)
def _cholesky(a: Array, low: Array, m: int) -> bool:  # pragma: no cover - compiled
    """Lower Cholesky factor of the leading m x m block of ``a`` into ``low``; False where
    a pivot is not clearly positive (relative to the largest diagonal entry) or not
    finite."""
    scale = 0.0
    for i in range(m):
        scale = max(scale, abs(a[i, i]))
    for j in range(m):
        pivot = a[j, j]
        for k in range(j):
            pivot -= low[j, k] * low[j, k]
        if not pivot > 1e-13 * scale:  # also catches NaN
            return False
        root = math.sqrt(pivot)
        low[j, j] = root
        for i in range(j + 1, m):
            acc = a[i, j]
            for k in range(j):
                acc -= low[i, k] * low[j, k]
            low[i, j] = acc / root
        for i in range(j):
            low[i, j] = 0.0
    return True


@njit(cache=True, nogil=True)
def _cholesky_solve(low: Array, x: Array, m: int) -> None:  # pragma: no cover - compiled
    """Solve (L L') x = b in place (``x`` holds b on entry) from the lower factor L of the
    leading m x m block: forward then back substitution."""
    for i in range(m):
        acc = x[i]
        for e in range(i):
            acc -= low[i, e] * x[e]
        x[i] = acc / low[i, i]
    for i in range(m - 1, -1, -1):
        acc = x[i]
        for e in range(i + 1, m):
            acc -= low[e, i] * x[e]
        x[i] = acc / low[i, i]


@njit(cache=True, nogil=True)
def _inverse_from_cholesky(low: Array, m: int, linv: Array, out: Array) -> None:  # pragma: no cover
    """(L L')^-1 into ``out`` and L^-1 into ``linv`` from the lower factor L (leading m x m
    blocks)."""
    for i in range(m):
        linv[i, i] = 1.0 / low[i, i]
        for j in range(i):
            acc = 0.0
            for k in range(j, i):
                acc -= low[i, k] * linv[k, j]
            linv[i, j] = acc / low[i, i]
    for i in range(m):
        for j in range(i + 1):
            acc = 0.0
            for k in range(i, m):
                acc += linv[k, i] * linv[k, j]
            out[i, j] = acc
            out[j, i] = acc


@njit(cache=True, nogil=True)
def _matmul(a: Array, b: Array, out: Array) -> None:  # pragma: no cover - compiled
    """out = A B for small 2-d arrays (summed in the order of the inner index)."""
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            acc = 0.0
            for k in range(a.shape[1]):
                acc += a[i, k] * b[k, j]
            out[i, j] = acc


@njit(cache=True, nogil=True)
def _matmul_tn(a: Array, b: Array, out: Array) -> None:  # pragma: no cover - compiled
    """out = A' B for small 2-d arrays (summed in the order of the shared row index)."""
    for i in range(a.shape[1]):
        for j in range(b.shape[1]):
            acc = 0.0
            for k in range(a.shape[0]):
                acc += a[k, i] * b[k, j]
            out[i, j] = acc


@njit(cache=True, nogil=True)
def _pairs(t: int) -> tuple[Array, Array]:  # pragma: no cover - compiled
    """Row and column of the distinct entries (a <= b) of a T x T symmetric matrix."""
    m = t * (t + 1) // 2
    iu = np.empty(m, np.int64)
    ju = np.empty(m, np.int64)
    q = 0
    for i in range(t):
        for j in range(i, t):
            iu[q] = i
            ju[q] = j
            q += 1
    return iu, ju


@njit(cache=True, nogil=True)
def _workspace(n_k: int, t: int, pc: int, pv: int, p: int) -> Any:  # pragma: no cover
    """Scratch arrays of :func:`_evaluate_one`, allocated once per call of a kernel."""
    m = t * (t + 1) // 2
    return (
        np.zeros((n_k, t, t)),  # wk
        np.zeros((n_k, t, pv)),  # wv
        np.zeros((n_k, pc, t)),  # cr
        np.zeros((n_k, t, t)),  # rk
        np.zeros((n_k, t, t)),  # uu
        np.zeros((n_k, t, t)),  # kk
        np.zeros((t, t)),  # sub
        np.zeros((t, t)),  # low
        np.zeros((t, t)),  # inv
        np.zeros((p, p)),  # xtwx
        np.zeros((p, p)),  # cx
        np.zeros(p),  # xtwy
        np.zeros((pc, pv)),  # bmat
        np.zeros((pc, t)),  # mean
        np.zeros((t, t)),  # tmp
        np.zeros((pv, pv)),  # gk
        np.zeros((t, pv)),  # vg
        (np.zeros((t, p)), np.zeros((t, p)), np.zeros((pc, t))),  # zk, rw, cwk
        np.zeros((m, p)),  # ssym
        np.zeros((m, p)),  # sa
        np.zeros((max(p, t), max(p, t))),  # linv
        np.zeros((pv, pv)),  # vwv
        np.zeros((pc, pv)),  # cwv
        np.zeros((n_k, t + 1), np.int64),  # obs: observed visits of each pattern, their number
        _pair_index(t),  # pair
        np.zeros((3, t, t)),  # loc: X_k, W_k, K_k at the observed visits of a pattern
        np.zeros((3, m), np.int64),  # lpair: local rows, columns, global index of its pairs
        np.zeros(m),  # half
        (
            np.full(1, -1, np.int64),  # the data set the local copies below are of
            np.zeros((n_k, t, pv)),  # V at the observed visits of each pattern
            np.zeros((n_k, pc, t)),  # CY_k at its observed visits
            np.zeros((n_k, t, t)),  # YY_k at its observed visits
            np.zeros((pc, t)),  # the mean's rows at a pattern's observed visits
        ),
    )


@njit(cache=True, nogil=True)
def _prepare(d: int, data: Any, ws: Any) -> None:  # pragma: no cover - compiled
    """The observed visits of each pattern of data set ``d`` (``obs``: the visits, then
    their number) and copies of its per-pattern sums and of V at those visits, so that
    every per-pattern product runs over contiguous local indices; kept while the same
    data set is evaluated again (the optimiser's steps)."""
    pattern_mask, count, cy, yy, v = data[0], data[1], data[3], data[4], data[5]
    obs = ws[23]
    prep, vl, cyl, yyl = ws[28][:4]
    if prep[0] == d:
        return
    n_k, t = pattern_mask.shape[1], pattern_mask.shape[2]
    for k in range(n_k):
        no = 0
        for i in range(t):
            if pattern_mask[d, k, i] > 0.0:
                obs[k, no] = i
                no += 1
        obs[k, t] = no
        if count[d, k] == 0.0:
            continue
        for la in range(no):
            i = obs[k, la]
            for g in range(v.shape[1]):
                vl[k, la, g] = v[i, g]
            for c in range(cy.shape[2]):
                cyl[k, c, la] = cy[d, k, c, i]
            for lb in range(no):
                yyl[k, la, lb] = yy[d, k, i, obs[k, lb]]
    prep[0] = d


@njit(cache=True, nogil=True)
def _precisions(  # pragma: no cover - compiled
    d: int, sigma: Array, data: Any, ws: Any
) -> tuple[bool, float]:
    """The precision W_k = Sigma_k^-1 of each missingness pattern of data set ``d`` at
    ``sigma``, at its observed visits (``wk[k, :no, :no]``, local indices, after
    :func:`_prepare`), and sum_k n_k log|Sigma_k|; False where a Sigma_k is not positive
    definite."""
    _prepare(d, data, ws)
    count = data[1]
    wk, sub, low, linv, obs = ws[0], ws[6], ws[7], ws[20], ws[23]
    n_k, t = count.shape[1], sigma.shape[0]
    logdet = 0.0
    for k in range(n_k):
        if count[d, k] == 0.0:
            continue
        no = obs[k, t]
        for i in range(no):
            for j in range(no):
                sub[i, j] = sigma[obs[k, i], obs[k, j]]
        if not _cholesky(sub, low, no):
            return False, np.inf
        ld = 0.0
        for i in range(no):
            ld += math.log(low[i, i])
        logdet += 2.0 * ld * count[d, k]
        _inverse_from_cholesky(low, no, linv, wk[k])
    return True, logdet


@njit(cache=True, nogil=True)
def _pattern_g(cck: Array, ci: Array, vi: Array, a: Array, gk: Array) -> None:  # pragma: no cover
    """G_k (Pv x Pv) with ``P_k = V G_k V' = sum_n X_n A X_n'`` over a pattern's subjects:
    ``G_k[vi_i, vi_j] = sum CC_k[ci_i, ci_j] A[i, j]`` (A and CC_k symmetric: each pair
    i > j once, doubled)."""
    gk[:, :] = 0.0
    for i in range(ci.size):
        gk[vi[i], vi[i]] += cck[ci[i], ci[i]] * a[i, i]
        for j in range(i):
            prod = cck[ci[i], ci[j]] * a[i, j]
            gk[vi[i], vi[j]] += prod
            gk[vi[j], vi[i]] += prod


@njit(cache=True, nogil=True)
def _add_m_g_mt(  # pragma: no cover - compiled
    m: Array, gk: Array, no: int, mg: Array, out: Array
) -> None:
    """``out += M G M'`` over the leading ``no`` rows of M (a pattern's observed visits;
    ``mg`` is scratch), e.g. ``P_k = V G_k V'``, ``W_k P_k W_k = (W_k V) G_k (W_k V)'`` or
    ``W_k R_k W_k`` (``W_k`` symmetric)."""
    pv = gk.shape[0]
    for la in range(no):
        for g in range(pv):
            acc = 0.0
            for h in range(pv):
                acc += m[la, h] * gk[h, g]
            mg[la, g] = acc
    for la in range(no):
        for lb in range(la + 1):
            acc = 0.0
            for g in range(pv):
                acc += mg[la, g] * m[lb, g]
            out[la, lb] += acc
            if lb != la:
                out[lb, la] += acc


@njit(cache=True, nogil=True)
def _evaluate_one(  # pragma: no cover - compiled
    d: int,
    sigma: Array,
    data: Any,
    reml: bool,
    level: int,
    ws: Any,
    beta_out: Array,
    a_out: Array,
    grad_out: Array,
    hess_out: Array,
) -> float:
    """-2 log L of data set ``d`` at ``sigma`` (T x T) for a separable design, with
    (``level`` >= 1) its gradient in Sigma into ``grad_out`` and (``level`` 2) the
    Hessian without REML's trace term over the distinct entries (a <= b) of Sigma into
    ``hess_out``; beta and (X'WX)^-1 into ``beta_out`` and ``a_out``. Returns +inf where
    Sigma or X'WX is not positive definite. ``data`` holds the ``Kron`` arrays (see
    :func:`kron_evaluate`)."""
    pattern_mask, count, cc, v, ci, vi, n_obs = (
        data[0], data[1], data[2], data[5], data[6], data[7], data[8]
    )  # fmt: skip
    wk, wv, cr, rk, uu, kk = ws[:6]
    xtwx, cx, xtwy, bmat, mean, tmp, gk, vg = ws[9:17]
    linv, vwv, cwv, obs = ws[20:24]
    vl, cyl, yyl, ml = ws[28][1:]
    n_k = pattern_mask.shape[1]
    t = sigma.shape[0]
    pc = cc.shape[2]
    pv = v.shape[1]
    p = ci.size
    ok, logdet = _precisions(d, sigma, data, ws)
    if not ok:
        return np.inf
    # X'WX and X'Wy from the per-pattern sums
    for i in range(p):
        xtwy[i] = 0.0
        for j in range(p):
            xtwx[i, j] = 0.0
    # every per-pattern product below runs over the pattern's observed visits only, in
    # local indices (W_k and the sums of its subjects are zero elsewhere)
    for k in range(n_k):
        if count[d, k] == 0.0:
            continue
        no = obs[k, t]
        _wv(wk[k], vl[k], no, wv[k])  # W_k V
        for i in range(pv):  # V' W_k V (symmetric) and CY_k W_k V
            for j in range(i + 1):
                acc = 0.0
                for la in range(no):
                    acc += vl[k, la, i] * wv[k, la, j]
                vwv[i, j] = acc
                vwv[j, i] = acc
        for c in range(pc):
            for j in range(pv):
                acc = 0.0
                for la in range(no):
                    acc += cyl[k, c, la] * wv[k, la, j]
                cwv[c, j] = acc
        for i in range(p):
            for j in range(i + 1):
                xtwx[i, j] += cc[d, k, ci[i], ci[j]] * vwv[vi[i], vi[j]]
            xtwy[i] += cwv[ci[i], vi[i]]
    for i in range(p):
        for j in range(i):
            xtwx[j, i] = xtwx[i, j]
    if not _cholesky(xtwx, cx, p):
        return np.inf
    _inverse_from_cholesky(cx, p, linv, a_out)
    for i in range(p):
        acc = 0.0
        for j in range(p):
            acc += a_out[i, j] * xtwy[j]
        beta_out[i] = acc
    for c in range(pc):
        for j in range(pv):
            bmat[c, j] = 0.0
    for j in range(p):
        bmat[ci[j], vi[j]] = beta_out[j]
    for c in range(pc):
        for i in range(t):
            acc = 0.0
            for j in range(pv):
                acc += bmat[c, j] * v[i, j]
            mean[c, i] = acc
    # per pattern: sums of c r' (cr) and r r' (rk) with r = y - X beta
    quad_form = 0.0
    for k in range(n_k):
        if count[d, k] == 0.0:
            continue
        ob, no = obs[k], obs[k, t]
        for c in range(pc):
            for la in range(no):
                ml[c, la] = mean[c, ob[la]]
        for c in range(pc):
            for la in range(no):
                acc = cyl[k, c, la]
                for e in range(pc):
                    acc -= cc[d, k, c, e] * ml[e, la]
                cr[k, c, la] = acc
        for la in range(no):
            for lb in range(no):
                acc = yyl[k, la, lb]
                for c in range(pc):
                    acc -= cyl[k, c, la] * ml[c, lb] + ml[c, la] * cr[k, c, lb]
                rk[k, la, lb] = acc
                quad_form += wk[k, la, lb] * acc
    crit = logdet + quad_form
    ldx = 0.0
    for i in range(p):
        ldx += math.log(cx[i, i])
    if reml:
        crit += 2.0 * ldx + (n_obs[d] - p) * LOG_2PI
    else:
        crit += n_obs[d] * LOG_2PI
    if not math.isfinite(crit):
        return np.inf
    if level == 0:
        return crit
    # gradient: sum_k count_k W_k - W_k R_k W_k  [- W_k P_k W_k, REML]
    for i in range(t):
        for j in range(t):
            grad_out[i, j] = 0.0
    for k in range(n_k):
        if count[d, k] == 0.0:
            continue
        ob, no = obs[k], obs[k, t]
        uu[k, :no, :no] = 0.0  # W_k R_k W_k
        _add_m_g_mt(wk[k], rk[k, :no, :no], no, tmp, uu[k])
        if reml:  # W_k P_k W_k = (W_k V) G_k (W_k V)'
            _pattern_g(cc[d, k], ci, vi, a_out, gk)
            kk[k, :no, :no] = 0.0
            _add_m_g_mt(wv[k], gk, no, vg, kk[k])
        for la in range(no):
            i = ob[la]
            for lb in range(no):
                j = ob[lb]
                grad_out[i, j] += count[d, k] * wk[k, la, lb] - uu[k, la, lb]
                if reml:
                    grad_out[i, j] -= kk[k, la, lb]
    if level == 1:
        return crit
    _hessian_sigma(d, data, reml, ws, hess_out)
    return crit


@njit(cache=True, nogil=True)
def _hessian_sigma(  # pragma: no cover - compiled
    d: int, data: Any, reml: bool, ws: Any, hess_out: Array
) -> None:
    """The Hessian of :func:`_evaluate_one` without REML's trace term, over the distinct
    entries (a <= b) of Sigma, into ``hess_out``, from the workspace of an evaluation of
    data set ``d`` at level 1 or 2 (its ``wk``, ``wv``, ``cr``, ``uu``, ``kk``, ``obs`` and
    ``linv``, the inverse of X'WX's Cholesky factor)."""
    pattern_mask, count, cc, ci, vi = data[0], data[1], data[2], data[6], data[7]
    wk, wv, cr, uu, kk = ws[0], ws[1], ws[2], ws[4], ws[5]
    zk, rw, cwk = ws[17]
    ssym, sa, linv = ws[18:21]
    obs, pair, loc, lpair, half = ws[23:28]
    n_k, t = pattern_mask.shape[1], pattern_mask.shape[2]
    pc = cc.shape[2]
    p = ci.size
    m = t * (t + 1) // 2
    # s[(a,c), j] = sum_k (W_k V)[a, vi_j] (CR_k W_k)[ci_j, c]; the Hessian is
    # C - 2 s A s', each summed over the orderings (a,b),(b,a) x (c,d),(d,c) of a pair
    # of distinct entries: ssym[(a,b)] = s[(a,b)] + s[(b,a)] (once when a = b), summed
    # from zk[a, j] = (W_k V)[a, vi_j] and rk_[c, j] = (CR_k W_k)[ci_j, c] at the pattern's
    # observed visits (W_k is zero elsewhere)
    for r in range(m):
        for j in range(p):
            ssym[r, j] = 0.0
    for k in range(n_k):
        if count[d, k] == 0.0:
            continue
        ob, no = obs[k], obs[k, t]
        for la in range(no):
            for e in range(pc):
                crw = 0.0
                for lr in range(no):
                    crw += cr[k, e, lr] * wk[k, lr, la]
                cwk[e, la] = crw
            for j in range(p):
                zk[la, j] = wv[k, la, vi[j]]
                rw[la, j] = cwk[ci[j], la]
        for la in range(no):
            for lb in range(la, no):
                row = ssym[pair[ob[la], ob[lb]]]
                if la == lb:
                    for j in range(p):
                        row[j] += zk[la, j] * rw[la, j]
                else:
                    for j in range(p):
                        row[j] += zk[la, j] * rw[lb, j] + zk[lb, j] * rw[la, j]
    # s A s' = (s L^-T)(s L^-T)' with A = L^-T L^-1 (L = chol(X'WX), L^-1 lower)
    for r in range(m):
        for i in range(p):
            acc = 0.0
            for j in range(i + 1):
                acc += ssym[r, j] * linv[i, j]
            sa[r, i] = acc
    for r in range(m):
        for c in range(r + 1):
            acc = 0.0
            for j in range(p):
                acc += sa[r, j] * sa[c, j]
            hess_out[r, c] = -2.0 * acc
    # C[(a,b),(c,d)] = sum_k X_k[d,a] W_k[b,c] (+ W_k[d,a] K_k[b,c], REML), X_k =
    # 2 U_k - n_k W_k (+ K_k); symmetric in the two pairs once summed over orderings
    # over the pairs of observed visits only (W_k is zero elsewhere), from copies of X_k,
    # W_k and K_k (zero for ML) at those visits; a diagonal pair's two equal orderings
    # are halved instead of skipped
    xl, wl, kl = loc[0], loc[1], loc[2]
    for k in range(n_k):
        if count[d, k] == 0.0:
            continue
        ob, no = obs[k], obs[k, t]
        cnt = count[d, k]
        for la in range(no):
            for lb in range(no):
                kv = kk[k, la, lb] if reml else 0.0
                xl[la, lb] = 2.0 * uu[k, la, lb] - cnt * wk[k, la, lb] + kv
                wl[la, lb] = wk[k, la, lb]
                kl[la, lb] = kv
        q = 0
        for la in range(no):  # local pairs in the order of _pairs, and their global index
            for lb in range(la, no):
                lpair[0, q] = la
                lpair[1, q] = lb
                lpair[2, q] = pair[ob[la], ob[lb]]
                half[q] = 0.5 if la == lb else 1.0
                q += 1
        for r in range(q):
            ia, ib, gr = lpair[0, r], lpair[1, r], lpair[2, r]
            for c in range(r + 1):
                ic, id_ = lpair[0, c], lpair[1, c]
                acc = (
                    xl[id_, ia] * wl[ib, ic] + wl[id_, ia] * kl[ib, ic]
                    + xl[ic, ia] * wl[ib, id_] + wl[ic, ia] * kl[ib, id_]
                    + xl[id_, ib] * wl[ia, ic] + wl[id_, ib] * kl[ia, ic]
                    + xl[ic, ib] * wl[ia, id_] + wl[ic, ib] * kl[ia, id_]
                )  # fmt: skip
                hess_out[gr, lpair[2, c]] += acc * half[r] * half[c]
    for r in range(m):
        for c in range(r):
            hess_out[c, r] = hess_out[r, c]


@njit(cache=True, nogil=True)
def pattern_sums(  # pragma: no cover - compiled
    c: Array, y: Array, pattern_of: Array, cc: Array, cy: Array, yy: Array
) -> None:
    """Per-pattern sums of a separable design over the subjects of each pattern: ``c c'``
    into ``cc`` (B, K, Pc, Pc), ``c y'`` into ``cy`` (B, K, Pc, T) and ``y y'`` into
    ``yy`` (B, K, T, T), from ``c`` (B, n, Pc), ``y`` (B, n, T, zero at missing visits) and
    each subject's pattern ``pattern_of`` (B, n); the output arrays start at zero."""
    b, n, pc = c.shape
    t = y.shape[2]
    for d in range(b):
        for i in range(n):
            k = pattern_of[d, i]
            for e in range(pc):
                ce = c[d, i, e]
                for f in range(pc):
                    cc[d, k, e, f] += ce * c[d, i, f]
                for a in range(t):
                    cy[d, k, e, a] += ce * y[d, i, a]
            for a in range(t):
                ya = y[d, i, a]
                for g in range(t):
                    yy[d, k, a, g] += ya * y[d, i, g]


@njit(cache=True, nogil=True)
def number_patterns(  # pragma: no cover - compiled
    mask: Array, pattern_of: Array, codes: Array, n_pat: Array
) -> None:
    """The distinct missingness patterns of each data set of ``mask`` (B, n, T): their
    codes (bit a set where visit a is observed) in increasing order into ``codes[d,
    :n_pat[d]]``, their number into ``n_pat`` and each subject's into ``pattern_of``."""
    b, n, t = mask.shape
    own = np.zeros(n, np.int64)
    for d in range(b):
        for i in range(n):
            code = 0
            for a in range(t):
                if mask[d, i, a]:
                    code |= 1 << a
            own[i] = code
        k = 0  # insertion into the sorted distinct codes codes[d, :k]
        for i in range(n):
            code = own[i]
            j = k
            while j > 0 and codes[d, j - 1] > code:
                j -= 1
            if j > 0 and codes[d, j - 1] == code:
                continue
            for m in range(k, j, -1):
                codes[d, m] = codes[d, m - 1]
            codes[d, j] = code
            k += 1
        n_pat[d] = k
        for i in range(n):
            lo, hi = 0, k - 1
            while lo < hi:
                mid = (lo + hi) // 2
                if codes[d, mid] < own[i]:
                    lo = mid + 1
                else:
                    hi = mid
            pattern_of[d, i] = lo


@njit(cache=True, nogil=True)
def rank_suspects(data: Any, out: Array) -> None:  # pragma: no cover - compiled
    """False in ``out`` for each data set of a separable batch whose design is clearly of
    full rank: ``X'X`` from the per-pattern sums (``sum_k CC_k[ci, ci'] (V' M_k V)[vi,
    vi']``) scaled to a correlation matrix ``C`` has a Cholesky factor after ``1e-10
    tr(C)`` is taken off its diagonal (then its smallest eigenvalue exceeds 1e-10 times
    the largest); True where that fails, for the exact test of ``rank_problems``."""
    pattern_mask, count, cc, v, ci, vi = data[0], data[1], data[2], data[5], data[6], data[7]
    b, n_k, t = pattern_mask.shape
    pv = v.shape[1]
    p = ci.size
    xtx = np.zeros((p, p))
    low = np.zeros((p, p))
    vmv = np.zeros((pv, pv))
    scale = np.zeros(p)
    for d in range(b):
        xtx[:, :] = 0.0
        for k in range(n_k):
            if count[d, k] == 0.0:
                continue
            for e in range(pv):
                for f in range(e + 1):
                    acc = 0.0
                    for a in range(t):
                        acc += pattern_mask[d, k, a] * v[a, e] * v[a, f]
                    vmv[e, f] = acc
                    vmv[f, e] = acc
            for i in range(p):
                for j in range(i + 1):
                    xtx[i, j] += cc[d, k, ci[i], ci[j]] * vmv[vi[i], vi[j]]
        trace = 0.0
        for i in range(p):
            scale[i] = math.sqrt(max(xtx[i, i], 1e-300))
        for i in range(p):
            for j in range(i + 1):
                xtx[i, j] /= scale[i] * scale[j]
                xtx[j, i] = xtx[i, j]
            trace += xtx[i, i]
        for i in range(p):
            xtx[i, i] -= 1e-10 * trace
        out[d] = not _cholesky(xtx, low, p)


@njit(cache=True, nogil=True)
def scatter_constant(  # pragma: no cover - compiled
    set_id: Array, local: Array, n_max: int, col: Array, out: Array
) -> bool:
    """``out[set_id[i] * n_max + local[i]] = col[i]`` for every row i that is used
    (``local[i] >= 0``), and whether the used rows of each subject all agree (a
    subject-level column is constant within each subject; NaN never agrees)."""
    for i in range(col.size):
        if local[i] >= 0:
            out[set_id[i] * n_max + local[i]] = col[i]
    for i in range(col.size):
        if local[i] >= 0 and out[set_id[i] * n_max + local[i]] != col[i]:
            return False
    return True


@njit(cache=True, nogil=True)
def code_small_ints(values: Array, lo: int, table: Array, codes: Array) -> int:  # pragma: no cover
    """Codes of integers in ``lo`` .. ``lo + table.size - 1`` in order of first appearance
    into ``codes``, from ``table`` (-1 on entry, the code of ``lo + j`` at ``j`` on exit);
    returns the number of distinct values."""
    k = 0
    for i in range(values.size):
        j = values[i] - lo
        c = table[j]
        if c < 0:
            c = k
            table[j] = k
            k += 1
        codes[i] = c
    return k


@njit(cache=True, nogil=True)
def number_within(  # pragma: no cover - compiled
    group: Array, code: Array, used: Array, span: int, number: Array, size: Array
) -> None:
    """The number of each ``used`` row's ``code`` (0 .. ``span`` - 1) among the distinct
    codes of the used rows of its ``group``, in increasing order, into ``number`` (-1 for
    a row not used), and how many distinct codes each group has into ``size`` (one entry
    a group), from a table of groups x codes."""
    table = np.full((size.size, span), -1, np.int64)
    for i in range(group.size):
        if used[i]:
            table[group[i], code[i]] = 0
    for g in range(size.size):
        k = 0
        for c in range(span):
            if table[g, c] == 0:
                table[g, c] = k
                k += 1
        size[g] = k
    for i in range(group.size):
        number[i] = table[group[i], code[i]] if used[i] else -1


@njit(cache=True, nogil=True)
def place_rows(  # pragma: no cover - compiled
    set_id: Array,
    local: Array,
    vcode: Array,
    y: Array,
    numbers: Array,
    ya: Array,
    mask: Array,
    per_visit: Array,
    sums: Array,
    first_inf: Array,
) -> int:
    """Each used row's outcome (``local[i] >= 0``: its subject's number in its data set)
    into its cell ``ya[set, subject, visit]`` (``mask`` True there), in one pass that also
    counts each data set's observations per visit into ``per_visit`` (B, T), sums the
    numeric columns ``numbers`` (V, rows) into ``sums`` (B, V + 1; the last column counts
    the rows) and finds each data set's first row whose outcome is infinite
    (``first_inf``, -1 for none). Returns the first row whose cell is filled already (its
    subject has two rows at that visit; the outputs are then incomplete), else -1."""
    n_num = numbers.shape[0]
    for i in range(y.size):
        n = local[i]
        if n < 0:
            continue
        s, a = set_id[i], vcode[i]
        if mask[s, n, a]:
            return i
        mask[s, n, a] = True
        ya[s, n, a] = y[i]
        per_visit[s, a] += 1
        for g in range(n_num):
            sums[s, g] += numbers[g, i]
        sums[s, n_num] += 1.0
        if math.isinf(y[i]) and first_inf[s] < 0:
            first_inf[s] = i
    return -1


@njit(cache=True, nogil=True)
def sequential_start(  # pragma: no cover - compiled
    data: Any, sigma: Array, ok: Array
) -> None:
    """Starting Sigma (B, T, T) of separable designs from the factored likelihood of
    monotone missing data (Anderson 1957): visit j regressed on the subject-level columns
    and the earlier visits, over the subjects observed at every visit up to j (from the
    per-pattern sums), gives ``Sigma = T^-1 D T^-T`` (T unit lower triangular with minus
    the coefficients of the earlier visits, D the residual variances, divided by ``n_j -
    Pc``). ``ok`` is False where a regression has too few subjects or is singular."""
    pattern_mask, count, cc, cy, yy = data[0], data[1], data[2], data[3], data[4]
    b, n_k, t = pattern_mask.shape
    pc = cc.shape[2]
    q_max = pc + t
    s = np.zeros((q_max, q_max))
    low = np.zeros((q_max, q_max))
    coef = np.zeros(q_max)
    tm = np.eye(t)
    tinv = np.zeros((t, t))
    dvec = np.zeros(t)
    for d in range(b):
        ok[d] = True
        for j in range(t):
            q = pc + j
            s[: q + 1, : q + 1] = 0.0
            nj = 0.0
            for k in range(n_k):
                full = count[d, k] > 0.0
                for a in range(j + 1):
                    full = full and pattern_mask[d, k, a] > 0.0
                if not full:
                    continue
                nj += count[d, k]
                for e in range(pc):
                    for f in range(pc):
                        s[e, f] += cc[d, k, e, f]
                    for a in range(j + 1):
                        s[e, pc + a] += cy[d, k, e, a]
                for a in range(j + 1):
                    for g in range(j + 1):
                        s[pc + a, pc + g] += yy[d, k, a, g]
            for e in range(pc):
                for a in range(j + 1):
                    s[pc + a, e] = s[e, pc + a]
            if not (nj > q and _cholesky(s, low, q)):
                ok[d] = False
                break
            for i in range(q):  # L L' coef = s[:q, q]
                coef[i] = s[i, q]
            _cholesky_solve(low, coef, q)
            rss = s[q, q]
            for i in range(q):
                rss -= s[i, q] * coef[i]
            dvec[j] = rss / (nj - pc)
            if not (dvec[j] > 0.0 and math.isfinite(dvec[j])):
                ok[d] = False
                break
            for a in range(j):
                tm[j, a] = -coef[pc + a]
        if ok[d]:
            _from_regressions(tm, dvec, tinv, sigma[d])


@njit(cache=True, nogil=True)
def _from_regressions(  # pragma: no cover - compiled
    tm: Array, dvec: Array, tinv: Array, sigma: Array
) -> None:
    """``Sigma = T^-1 D T^-T`` into ``sigma`` from the unit lower triangular T (minus the
    coefficients of each visit's regression on the earlier ones) and the residual
    variances D."""
    t = dvec.size
    for i in range(t):  # T^-1, unit lower triangular
        for j in range(t):
            tinv[i, j] = 1.0 if i == j else 0.0
        for j in range(i):
            acc = 0.0
            for e in range(j, i):
                acc -= tm[i, e] * tinv[e, j]
            tinv[i, j] = acc
    for i in range(t):
        for j in range(i + 1):
            acc = 0.0
            for e in range(j + 1):
                acc += tinv[i, e] * dvec[e] * tinv[j, e]
            sigma[i, j] = acc
            sigma[j, i] = acc


@njit(cache=True, nogil=True)
def _fixed_point_workspace(t: int) -> Any:  # pragma: no cover - compiled
    """Scratch arrays of :func:`_fixed_point`."""
    return (
        np.zeros((t, t)),  # L
        np.zeros((t, t)),  # Sigma
        np.zeros((t, t)),  # sums over the patterns observed up to a visit
        np.zeros((t, t)),  # their Cholesky factor
        np.zeros(t),  # regression coefficients
        np.eye(t),  # T
        np.zeros((t, t)),  # T^-1
        np.zeros(t),  # D
    )


@njit(cache=True, nogil=True)
def _fixed_point(  # pragma: no cover - compiled
    d: int,
    theta: Array,
    rows: Array,
    cols: Array,
    data: Any,
    reml: bool,
    ws: Any,
    fw: Any,
    beta: Array,
    a: Array,
    grad: Array,
    out: Array,
) -> float:
    """A better us starting point for data set ``d``: one fixed-point (EM) step of REML
    (ML) from ``theta`` into ``out``; returns -2 log L at ``theta`` (inf where it cannot be
    evaluated; ``out`` is then ``theta``). For complete data the step is ``Sigma = sum_n
    (r_n r_n' + X_n A X_n') / N`` (ML without ``X_n A X_n'``), r the GLS residuals at
    ``theta``; under missingness the same sums per pattern, ``R_k + P_k``, enter the
    factored likelihood: visit j regressed on the earlier ones over the subjects observed
    at every visit up to j, its residual variance divided by their number. On the bench's
    trials it brings the Newton decrement of the start from about 1 to about 0.01: one
    Newton iteration fewer for about half its cost. ``beta``, ``a`` and ``grad`` are
    scratch."""
    count, cc, ci, vi = data[1], data[2], data[6], data[7]
    t = grad.shape[0]
    rk, gk, vg, obs, vl = ws[3], ws[15], ws[16], ws[23], ws[28][1]
    low, sig, sums, slow, coef, tm, tinv, dvec = fw
    out[:] = theta
    _us_factor(theta, rows, cols, low)
    if not _us_sigma(low, sig):
        return np.inf
    f0 = _evaluate_one(d, sig, data, reml, 0, ws, beta, a, grad, grad)
    if not math.isfinite(f0):
        return np.inf
    for k in range(count.shape[1]):  # rk becomes R_k + P_k, P_k = V G_k V' (REML)
        if count[d, k] > 0.0 and reml:
            _pattern_g(cc[d, k], ci, vi, a, gk)
            _add_m_g_mt(vl[k], gk, obs[k, t], vg, rk[k])
    for j in range(t):
        sums[: j + 1, : j + 1] = 0.0
        nj = 0.0
        for k in range(count.shape[1]):  # patterns observed at every visit up to j
            if count[d, k] == 0.0 or obs[k, t] <= j or obs[k, j] != j:
                continue
            nj += count[d, k]
            for la in range(j + 1):
                for lb in range(j + 1):
                    sums[la, lb] += rk[k, la, lb]
        if not (nj > 0.0 and _cholesky(sums, slow, j + 1)):
            return f0
        for i in range(j):
            coef[i] = sums[i, j]
        _cholesky_solve(slow, coef, j)
        rss = sums[j, j]
        for i in range(j):
            rss -= sums[i, j] * coef[i]
        dvec[j] = rss / nj
        if not (dvec[j] > 0.0 and math.isfinite(dvec[j])):
            return f0
        for i in range(j):
            tm[j, i] = -coef[i]
    _from_regressions(tm, dvec, tinv, sig)
    if _cholesky(sig, low, t):
        for k in range(theta.size):
            entry = low[rows[k], cols[k]]
            out[k] = math.log(entry) if k < t else entry
    return f0


@njit(cache=True, nogil=True)
def kron_evaluate(  # pragma: no cover - compiled
    idx: Array,
    sigma: Array,
    data: Any,
    reml: bool,
    level: int,
    f: Array,
    beta: Array,
    a: Array,
    grad: Array,
    hess: Array,
) -> None:
    """:func:`_evaluate_one` for the data sets ``idx`` at ``sigma`` (one per entry of
    ``idx``); results go to ``f``, ``beta``, ``a``, ``grad`` and ``hess`` indexed like
    ``idx``. ``data`` = (pattern_mask (B, K, T), count (B, K), cc (B, K, Pc, Pc),
    cy (B, K, Pc, T), yy (B, K, T, T), v (T, Pv), ci (p,), vi (p,), n_obs (B,))."""
    pattern_mask, cc, v, ci = data[0], data[2], data[5], data[6]
    ws = _workspace(pattern_mask.shape[1], sigma.shape[1], cc.shape[2], v.shape[1], ci.size)
    for s in range(idx.size):
        f[s] = _evaluate_one(
            idx[s], sigma[s], data, reml, level, ws, beta[s], a[s], grad[s], hess[s]
        )


@njit(cache=True, nogil=True)
def _wv(w: Array, vl: Array, no: int, out: Array) -> None:  # pragma: no cover - compiled
    """out = W V at a pattern's ``no`` observed visits (local indices: W no x no, V's rows
    at those visits ``vl``)."""
    for la in range(no):
        for g in range(vl.shape[1]):
            acc = 0.0
            for lb in range(no):
                acc += w[la, lb] * vl[lb, g]
            out[la, g] = acc


@njit(cache=True, nogil=True)
def inverse_quadratic(  # pragma: no cover - compiled
    h: Array, g: Array, out: Array, pd: Array
) -> None:
    """``g' H^-1 g`` for a stack of Hessians (B, P, P) and vectors (B, k, P) into ``out``
    (B, k), by Cholesky (``|L^-1 g|^2``); ``pd`` False (``out`` untouched) where H is not
    clearly positive definite."""
    n = h.shape[1]
    low = np.zeros((n, n))
    half = np.zeros(n)
    for s in range(h.shape[0]):
        pd[s] = _cholesky(h[s], low, n)
        if not pd[s]:
            continue
        for q in range(g.shape[1]):
            acc2 = 0.0
            for i in range(n):
                acc = g[s, q, i]
                for e in range(i):
                    acc -= low[i, e] * half[e]
                half[i] = acc / low[i, i]
                acc2 += half[i] * half[i]
            out[s, q] = acc2


@njit(cache=True, nogil=True)
def newton_directions(h: Array, g: Array, d: Array, pd: Array) -> None:  # pragma: no cover
    """:func:`_newton` for a stack of Hessians (B, P, P) and gradients (B, P): directions
    into ``d``, whether each H is positive definite into ``pd``."""
    n = h.shape[1]
    low = np.zeros((n, n))
    evals = np.zeros(n)
    evecs = np.zeros((n, n))
    for s in range(h.shape[0]):
        pd[s] = _newton(h[s], g[s], low, d[s], evals, evecs)


@njit(cache=True, nogil=True)
def _pair_index(t: int) -> Array:  # pragma: no cover - compiled
    """(T, T) index of the distinct entry (min(a,b), max(a,b)) in the order of _pairs."""
    out = np.empty((t, t), np.int64)
    q = 0
    for i in range(t):
        for j in range(i, t):
            out[i, j] = q
            out[j, i] = q
            q += 1
    return out


@njit(cache=True, nogil=True)
def _us_factor(theta: Array, rows: Array, cols: Array, low: Array) -> None:  # pragma: no cover
    """Cholesky factor L of us (log-diagonal, then the strict lower triangle by rows)."""
    t = low.shape[0]
    for i in range(t):
        for j in range(t):
            low[i, j] = 0.0
    for k in range(theta.size):
        low[rows[k], cols[k]] = math.exp(theta[k]) if k < t else theta[k]


@njit(cache=True, nogil=True)
def _us_sigma(low: Array, sig: Array) -> bool:  # pragma: no cover - compiled
    """Sigma = L L' into ``sig``; False unless finite."""
    t = low.shape[0]
    for i in range(t):
        for j in range(i + 1):
            acc = 0.0
            for e in range(j + 1):
                acc += low[i, e] * low[j, e]
            sig[i, j] = acc
            sig[j, i] = acc
            if not math.isfinite(acc):
                return False
    return True


@njit(cache=True, nogil=True)
def _us_feasible(  # pragma: no cover - compiled
    theta: Array,
    low: Array,
    sig: Array,
    ework: Array,
    evals: Array,
    evecs: Array,
    conditioned: bool,
) -> bool:
    """:func:`_us_sigma`, and False unless ``theta`` is finite and (if ``conditioned``)
    Sigma well conditioned: smallest eigenvalue above 1e-10 times the largest, the
    feasibility check of the numpy optimiser's line search."""
    for k in range(theta.size):
        if not math.isfinite(theta[k]):
            return False
    if not _us_sigma(low, sig):
        return False
    if not conditioned:
        return True
    # cheap sufficient test: Sigma - 1e-10 tr(Sigma) I positive definite (tr >= largest
    # eigenvalue); the eigenvalues only where it fails
    t = sig.shape[0]
    trace = 0.0
    for i in range(t):
        trace += sig[i, i]
    for i in range(t):
        for j in range(t):
            ework[i, j] = sig[i, j] - (1e-10 * trace if i == j else 0.0)
    if _cholesky(ework, evecs, t):
        return True
    _jacobi_eigen(sig, ework, evals, evecs)
    return evals.min() > 1e-10 * max(evals.max(), 1e-300)


@njit(cache=True, nogil=True)
def _us_derivatives(  # pragma: no cover - compiled
    theta: Array,
    rows: Array,
    cols: Array,
    low: Array,
    grad_sigma: Array,
    hess_sigma: Array,
    with_hessian: bool,
    pair: Array,
    js: Array,
    tmp: Array,
    g: Array,
    h: Array,
) -> None:
    """Gradient (and, ``with_hessian``, Hessian from ``hess_sigma``) of -2 log L in the
    us parameters by the chain rule, as ``theta_derivatives``: ``dSigma/dtheta_k`` is
    non-zero only in the entries of row/column ``rows[k]``, ``scale_k * L[c, cols[k]]``
    (doubled on the diagonal), and the second derivatives contribute
    ``2 s_k s_l G[i_k, i_l]`` for parameters of the same column plus ``g_k`` on the
    log-diagonal."""
    t = low.shape[0]
    n_par = theta.size
    for k in range(n_par):
        scale = math.exp(theta[k]) if k < t else 1.0
        i, j = rows[k], cols[k]
        acc = 0.0
        for c in range(t):
            acc += grad_sigma[i, c] * low[c, j]
            js[k, c] = scale * low[c, j] * (2.0 if c == i else 1.0)
        g[k] = 2.0 * scale * acc
    if not with_hessian:
        return
    m = hess_sigma.shape[0]
    for k in range(n_par):  # tmp = J' H_Sigma, J's column k non-zero at pairs (rows[k], c)
        i = rows[k]
        out = tmp[k]
        out[:m] = 0.0
        for c in range(t):
            coef = js[k, c]
            row = hess_sigma[pair[i, c]]
            for r in range(m):
                out[r] += coef * row[r]
    for k in range(n_par):
        sk = math.exp(theta[k]) if k < t else 1.0
        for q in range(k + 1):
            i = rows[q]
            acc = 0.0
            for c in range(t):
                acc += tmp[k, pair[i, c]] * js[q, c]
            if cols[k] == cols[q]:
                sq = math.exp(theta[q]) if q < t else 1.0
                acc += 2.0 * sk * sq * grad_sigma[rows[k], rows[q]]
            h[k, q] = acc
        if k < t:
            h[k, k] += g[k]
    for k in range(n_par):
        for q in range(k):
            h[q, k] = h[k, q]


@njit(cache=True, nogil=True)
def _newton(  # pragma: no cover - compiled
    h: Array, g: Array, low: Array, d: Array, evals: Array, evecs: Array
) -> bool:
    """d = -H^-1 g; where H is not positive definite (returns False) its eigenvalues are
    made positive (floor 1e-8 of the largest), d = 0 where H or g is not finite."""
    n = g.size
    if _cholesky(h, low, n):
        for i in range(n):
            d[i] = g[i]
        _cholesky_solve(low, d, n)
        for i in range(n):
            d[i] = -d[i]
        return True
    finite = True
    for i in range(n):
        d[i] = 0.0
        finite = finite and math.isfinite(g[i])
        for j in range(n):
            finite = finite and math.isfinite(h[i, j])
    if not finite:
        return False
    _jacobi_eigen(h, low, evals, evecs)
    top = 1e-12
    for e in range(n):
        top = max(top, abs(evals[e]))
    for e in range(n):
        proj = 0.0
        for i in range(n):
            proj += evecs[i, e] * g[i]
        proj /= max(abs(evals[e]), 1e-8 * top)
        for i in range(n):
            d[i] -= evecs[i, e] * proj
    return False


@njit(cache=True, nogil=True)
def _jacobi_eigen(a: Array, work: Array, vals: Array, vecs: Array) -> None:  # pragma: no cover
    """Eigenvalues and eigenvectors (columns) of a small symmetric matrix by cyclic Jacobi
    rotations (accurate, and no LAPACK call inside the compiled kernels)."""
    n = a.shape[0]
    diag_sq = 0.0
    for i in range(n):
        for j in range(n):
            work[i, j] = a[i, j]
            vecs[i, j] = 1.0 if i == j else 0.0
        diag_sq += a[i, i] * a[i, i]
    for _ in range(100):
        off = 0.0
        for i in range(n):
            for j in range(i + 1, n):
                off += work[i, j] * work[i, j]
        if not off > 1e-32 * diag_sq:
            break
        for p in range(n - 1):
            for q in range(p + 1, n):
                apq = work[p, q]
                if apq == 0.0:
                    continue
                theta = (work[q, q] - work[p, p]) / (2.0 * apq)
                if abs(theta) > 1e150:
                    t = 0.5 / theta
                else:
                    t = 1.0 / (abs(theta) + math.sqrt(theta * theta + 1.0))
                    if theta < 0.0:
                        t = -t
                c = 1.0 / math.sqrt(t * t + 1.0)
                s = t * c
                for k in range(n):
                    akp, akq = work[k, p], work[k, q]
                    work[k, p] = c * akp - s * akq
                    work[k, q] = s * akp + c * akq
                for k in range(n):
                    apk, aqk = work[p, k], work[q, k]
                    work[p, k] = c * apk - s * aqk
                    work[q, k] = s * apk + c * aqk
                for k in range(n):
                    vkp, vkq = vecs[k, p], vecs[k, q]
                    vecs[k, p] = c * vkp - s * vkq
                    vecs[k, q] = s * vkp + c * vkq
    for i in range(n):
        vals[i] = work[i, i]


@njit(cache=True, nogil=True)
def _secant(h: Array, s: Array, y: Array, hs: Array) -> None:  # pragma: no cover
    """BFGS update of H in place so that H s = y; skipped unless y's is clearly positive."""
    n = s.size
    shs = 0.0
    ys = 0.0
    for i in range(n):
        acc = 0.0
        for j in range(n):
            acc += h[i, j] * s[j]
        hs[i] = acc
        shs += s[i] * acc
        ys += y[i] * s[i]
    if not (ys > 1e-8 * max(shs, 1e-300) and shs > 0):
        return
    for i in range(n):
        for j in range(n):
            h[i, j] += y[i] * y[j] / ys - hs[i] * hs[j] / shs


@njit(cache=True, nogil=True)
def us_optimize(  # pragma: no cover - compiled
    theta: Array,
    rows: Array,
    cols: Array,
    data: Any,
    reml: bool,
    max_iter: int,
    tol: float,
    chord: float,
    f: Array,
    beta: Array,
    a: Array,
    grad: Array,
    hess: Array,
    iters: Array,
    decrement: Array,
    status: Array,
    exact: bool,
    fixed_point: bool,
) -> None:
    """``mmrm_core.optimize`` for the us structure and a separable design, one data set
    at a time: Newton steps with the approximate Hessian, backtracking, BFGS updates,
    gradient-only steps once the decrement is below ``chord``; converged when the
    decrement is below ``tol``. ``theta`` (B, P) holds the starting values and receives
    the optimum. ``status``: 0 converged, 1 -2 log L not finite at the start, 2 the line
    search found no decrease, 3 iteration limit. With ``fixed_point``, the optimiser starts
    from one fixed-point step of REML (ML) from ``theta`` (:func:`_fixed_point`), unless
    that is not at least as good. With ``exact``, ``hess`` receives the
    exact Hessian (REML's trace term included) at the last point of statuses 0 and 3,
    from the workspace of its evaluation (no second evaluation); else, and for the other
    statuses, the last quasi-Newton Hessian."""
    pattern_mask, cc, v, ci = data[0], data[2], data[5], data[6]
    t = pattern_mask.shape[2]
    p = ci.size
    n_par = theta.shape[1]
    m = t * (t + 1) // 2
    ws = _workspace(pattern_mask.shape[1], t, cc.shape[2], v.shape[1], p)
    pair = _pair_index(t)
    low = np.zeros((t, t))
    sig = np.zeros((t, t))
    gs = np.zeros((t, t))
    hs = np.zeros((m, m))
    js = np.zeros((n_par, t))
    tmp = np.zeros((n_par, m))
    hlow = np.zeros((n_par, n_par))
    evals = np.zeros(n_par)
    evecs = np.zeros((n_par, n_par))
    ework = np.zeros((t, t))
    tvals = np.zeros(t)
    tvecs = np.zeros((t, t))
    d = np.zeros(n_par)
    trial = np.zeros(n_par)
    step_vec = np.zeros(n_par)
    g_old = np.zeros(n_par)
    work = np.zeros(n_par)
    beta_t = np.zeros(p)
    a_t = np.zeros((p, p))
    tw = _trace_workspace(pattern_mask.shape[1], t, p, cc.shape[2])
    fw = _fixed_point_workspace(t)
    for s in range(theta.shape[0]):
        th, g, h = theta[s], grad[s], hess[s]
        iters[s] = 0
        decrement[s] = np.inf
        status[s] = 3
        f_given = np.inf  # -2 log L at the given start, when a fixed-point step is tried
        if fixed_point:
            f_given = _fixed_point(s, th, rows, cols, data, reml, ws, fw, beta_t, a_t, gs, trial)
        else:
            for k in range(n_par):
                trial[k] = th[k]
        # the start is evaluated like a trial point, at the loop's one call site (without
        # the conditioning check, as the numpy optimiser) and always "accepted"
        start = True
        refined = math.isfinite(f_given)
        level = 2
        step = 1.0
        gd = 0.0
        n_dir = 0
        while True:
            _us_factor(trial, rows, cols, low)
            f_new = np.inf
            if _us_feasible(trial, low, sig, ework, tvals, tvecs, not start):
                f_new = _evaluate_one(s, sig, data, reml, level, ws, beta_t, a_t, gs, hs)
            if start:
                if refined and not f_new <= f_given:  # back to the given start
                    refined = False
                    for k in range(n_par):
                        trial[k] = th[k]
                    continue
                if not math.isfinite(f_new):
                    f[s] = np.inf
                    status[s] = 1
                    break
            elif not (
                math.isfinite(f_new) and f_new <= f[s] + 1e-4 * step * gd + 1e-12 * abs(f[s])
            ):
                step *= 0.5
                if step <= 1e-12:
                    status[s] = 2
                    break
                for k in range(n_par):
                    trial[k] = th[k] + step * d[k]
                continue
            # accepted (or the start): move, update beta, gradient and Hessian
            for k in range(n_par):
                step_vec[k] = trial[k] - th[k]
                g_old[k] = g[k]
                th[k] = trial[k]
            f[s] = f_new
            for i in range(p):
                beta[s, i] = beta_t[i]
                for j in range(p):
                    a[s, i, j] = a_t[i, j]
            _us_derivatives(th, rows, cols, low, gs, hs, level == 2, pair, js, tmp, g, h)
            if not start:
                iters[s] += 1
                for k in range(n_par):
                    g_old[k] = g[k] - g_old[k]
                _secant(h, step_vec, g_old, work)
            start = False
            if n_dir == max_iter:
                break
            n_dir += 1
            pd = _newton(h, g, hlow, d, evals, evecs)
            gd = 0.0
            for k in range(n_par):
                gd += g[k] * d[k]
            decrement[s] = -gd
            if pd and -gd < tol:
                status[s] = 0
                break
            level = 1 if (pd and -gd < chord) else 2
            step = 1.0
            for k in range(n_par):
                trial[k] = th[k] + d[k]
        if exact and (status[s] == 0 or status[s] == 3):  # the workspace holds theta's
            _hessian_sigma(s, data, reml, ws, hs)
            if reml:
                _trace_term(s, data, ws[1], a_t, tw, hs)
            _us_derivatives(th, rows, cols, low, gs, hs, True, pair, js, tmp, g, h)


@njit(cache=True, nogil=True)
def _trace_term(  # pragma: no cover - compiled
    d: int, data: Any, wv: Array, a: Array, tw: Any, hess: Array
) -> None:
    """Add REML's ``-tr(A S_r A S_c)`` to the Hessian over the distinct entries r = (a, b)
    of Sigma (``mmrm_core.trace_term``), from the per-pattern sums of a separable design.
    ``S_r = Q_ab + Q_ba`` (``Q_aa`` on the diagonal), ``Q_ab = sum_k Y_ka CC_k Y_kb'`` with
    ``Y_ka[i, e] = [ci_i = e] (W_k V)[a, vi_i]`` (p x Pc), so ``A S_r`` is a sum of
    ``(A Y_ka CC_k) Y_kb'``, i.e. of ``B_ka[i, j] z_kb[j]`` with ``B_ka[i, j] = (A Y_ka
    CC_k)[i, ci_j]`` (formed once per pattern and observed visit) and ``z_kb[j] = (W_k
    V)[b, vi_j]``; ``tr(A S_r A S_c)`` is the inner product of ``A S_r`` with ``(A S_c)'``,
    all pairs at once by one matrix product. ``wv`` holds ``W_k V`` of the data set, ``tw``
    the scratch arrays of :func:`_trace_workspace`."""
    pattern_mask, count, cc, ci, vi = data[0], data[1], data[2], data[6], data[7]
    zrow, bka, ay, aby, m_mats, m_trans = tw
    n_k = count.shape[1]
    t = wv.shape[1]
    p = ci.size
    m = t * (t + 1) // 2
    iu, ju = _pairs(t)
    for k in range(n_k):
        if count[d, k] == 0.0:
            continue
        la = -1  # the local row of W_k V (observed visits in order)
        for a_ in range(t):
            if pattern_mask[d, k, a_] == 0.0:
                continue  # W_k V is zero in rows of visits not observed in pattern k
            la += 1
            for i in range(p):
                zrow[k, a_, i] = wv[k, la, vi[i]]
            ay[:, :] = 0.0
            for j in range(p):  # A Y_ka
                e = ci[j]
                zj = zrow[k, a_, j]
                for i in range(p):
                    ay[i, e] += a[i, j] * zj
            _matmul(ay, cc[d, k], aby)  # (A Y_ka) CC_k
            for i in range(p):
                for j in range(p):
                    bka[k, a_, i, j] = aby[i, ci[j]]
    for r in range(m):
        ia, ib = iu[r], ju[r]
        mr = m_mats[r]
        mr[:, :] = 0.0
        for k in range(n_k):
            if count[d, k] == 0.0 or pattern_mask[d, k, ia] == 0.0 or pattern_mask[d, k, ib] == 0.0:
                continue
            if ia == ib:
                for i in range(p):
                    for j in range(p):
                        mr[i, j] += bka[k, ia, i, j] * zrow[k, ia, j]
            else:
                for i in range(p):
                    for j in range(p):
                        mr[i, j] += (
                            bka[k, ia, i, j] * zrow[k, ib, j] + bka[k, ib, i, j] * zrow[k, ia, j]
                        )
        for i in range(p):
            for j in range(p):
                m_trans[r, j, i] = mr[i, j]
    gram = np.dot(m_mats.reshape(m, p * p), m_trans.reshape(m, p * p).T)
    for r in range(m):
        for c in range(m):
            hess[r, c] -= gram[r, c]


@njit(cache=True, nogil=True)
def _trace_workspace(n_k: int, t: int, p: int, pc: int) -> Any:  # pragma: no cover
    """Scratch arrays of :func:`_trace_term`."""
    m = t * (t + 1) // 2
    return (
        np.zeros((n_k, t, p)),  # rows of W_k V spread over the p columns
        np.zeros((n_k, t, p, p)),  # B_ka
        np.zeros((p, pc)),  # A Y_ka
        np.zeros((p, pc)),  # (A Y_ka) CC_k
        np.zeros((m, p, p)),  # A S_r
        np.zeros((m, p, p)),  # (A S_r)'
    )


@njit(cache=True, nogil=True)
def kron_exact(  # pragma: no cover - compiled
    idx: Array,
    sigma: Array,
    data: Any,
    reml: bool,
    phil: Array,
    f: Array,
    beta: Array,
    a: Array,
    grad: Array,
    hess: Array,
    vgrad: Array,
) -> None:
    """Satterthwaite's pieces for the data sets ``idx`` at ``sigma`` (one per entry of
    ``idx``): criterion, beta, (X'WX)^-1, gradient and exact Hessian in Sigma (REML's
    trace term included) as :func:`kron_evaluate`, and for each row ``u = Phi l`` of
    ``phil`` (entries, k, p) the gradient in Sigma of its variance ``l' Phi l``,
    ``sum_n (W X_n u)(W X_n u)' = sum_k (W_k V) U' CC_k U (W_k V)'`` (``U[ci_j, vi_j] =
    u_j``), into ``vgrad`` (entries, k, T, T). NaN where the criterion is not finite."""
    pattern_mask, cc, v, ci = data[0], data[2], data[5], data[6]
    n_k = pattern_mask.shape[1]
    t = sigma.shape[1]
    pc = cc.shape[2]
    pv = v.shape[1]
    p = ci.size
    ws = _workspace(n_k, t, pc, pv, p)
    wv = ws[1]
    tw = _trace_workspace(n_k, t, p, pc)
    vw = _variance_workspace(t, pc, pv)
    for s in range(idx.size):
        d = idx[s]
        f[s] = _evaluate_one(d, sigma[s], data, reml, 2, ws, beta[s], a[s], grad[s], hess[s])
        if not math.isfinite(f[s]):
            grad[s, :, :] = np.nan
            hess[s, :, :] = np.nan
            vgrad[s, :, :, :] = np.nan
            continue
        if reml:
            _trace_term(d, data, wv, a[s], tw, hess[s])
        _variance_gradient(d, data, wv, ws[23], phil[s], vw, vgrad[s])


@njit(cache=True, nogil=True)
def _variance_workspace(t: int, pc: int, pv: int) -> Any:  # pragma: no cover - compiled
    """Scratch arrays of :func:`_variance_gradient`."""
    return np.zeros((pc, pv)), np.zeros((pc, pv)), np.zeros((pv, pv)), np.zeros((t, pv))


@njit(cache=True, nogil=True)
def _variance_gradient(  # pragma: no cover - compiled
    d: int, data: Any, wv: Array, obs: Array, phil: Array, vw: Any, out: Array
) -> None:
    """For each row ``u = Phi l`` of ``phil`` (k, p), the gradient in Sigma of the variance
    ``l' Phi l`` of data set ``d``: ``sum_k (W_k V) U' CC_k U (W_k V)'`` (``U[ci_j, vi_j] =
    u_j``) into ``out`` (k, T, T), from ``wv`` = W_k V of each pattern at its observed
    visits ``obs`` (local rows)."""
    count, cc, ci, vi = data[1], data[2], data[6], data[7]
    umat, cu, gk, tv = vw
    t = obs.shape[1] - 1
    for q in range(phil.shape[0]):
        umat[:, :] = 0.0
        for j in range(ci.size):
            umat[ci[j], vi[j]] = phil[q, j]
        out[q, :, :] = 0.0
        for k in range(count.shape[1]):
            if count[d, k] == 0.0:
                continue
            no = obs[k, t]
            _matmul(cc[d, k], umat, cu)
            _matmul_tn(umat, cu, gk)  # U' CC_k U
            _matmul(wv[k], gk, tv)  # (rows past the pattern's visits unused)
            for la in range(no):  # (W_k V) U' CC_k U (W_k V)'
                for lb in range(no):
                    acc = 0.0
                    for g in range(gk.shape[0]):
                        acc += tv[la, g] * wv[k, lb, g]
                    out[q, obs[k, la], obs[k, lb]] += acc


@njit(cache=True, nogil=True)
def kron_variance_gradient(  # pragma: no cover - compiled
    idx: Array, sigma: Array, data: Any, phil: Array, vgrad: Array
) -> None:
    """:func:`_variance_gradient` of the data sets ``idx`` at ``sigma`` (one per entry of
    ``idx``; ``phil`` (entries, k, p)) into ``vgrad`` (entries, k, T, T), without the
    criterion: what Satterthwaite's df need besides a fit's exact Hessian. NaN where a
    pattern's Sigma is not positive definite."""
    pattern_mask, count, cc, v, ci = data[0], data[1], data[2], data[5], data[6]
    n_k = pattern_mask.shape[1]
    t = sigma.shape[1]
    ws = _workspace(n_k, t, cc.shape[2], v.shape[1], ci.size)
    wk, wv, obs, vl = ws[0], ws[1], ws[23], ws[28][1]
    vw = _variance_workspace(t, cc.shape[2], v.shape[1])
    for s in range(idx.size):
        d = idx[s]
        ok, _ = _precisions(d, sigma[s], data, ws)
        if not ok:
            vgrad[s, :, :, :] = np.nan
            continue
        for k in range(n_k):
            if count[d, k] > 0.0:
                _wv(wk[k], vl[k], obs[k, t], wv[k])
        _variance_gradient(d, data, wv, obs, phil[s], vw, vgrad[s])


@njit(cache=True, nogil=True)
def us_chain(  # pragma: no cover - compiled
    theta: Array,
    rows: Array,
    cols: Array,
    grad_sigma: Array,
    hess_sigma: Array,
    grad: Array,
    hess: Array,
) -> None:
    """The chain rule of :func:`_us_derivatives` for a stack of us fits: gradient and
    Hessian of -2 log L in theta (B, P) and (B, P, P) from those in Sigma."""
    b, n_par = theta.shape
    t = grad_sigma.shape[1]
    m = hess_sigma.shape[1]
    pair = _pair_index(t)
    low = np.zeros((t, t))
    js = np.zeros((n_par, t))
    tmp = np.zeros((n_par, m))
    for s in range(b):
        _us_factor(theta[s], rows, cols, low)
        _us_derivatives(
            theta[s], rows, cols, low, grad_sigma[s], hess_sigma[s], True, pair, js, tmp,
            grad[s], hess[s],
        )  # fmt: skip


@njit(cache=True, nogil=True)
def us_variance_chain(  # pragma: no cover - compiled
    theta: Array, rows: Array, cols: Array, vgrad: Array, vgrad_theta: Array
) -> None:
    """The gradient in theta of each contrast's variance (B, k, P) of a stack of us fits
    from its gradient in Sigma ``vgrad`` (B, k, T, T) (first derivatives only:
    ``tr(dSigma/dtheta_j M)``)."""
    b, n_par = theta.shape
    t = vgrad.shape[2]
    pair = _pair_index(t)
    low = np.zeros((t, t))
    js = np.zeros((n_par, t))
    unused = np.zeros((1, 1))
    for s in range(b):
        _us_factor(theta[s], rows, cols, low)
        for q in range(vgrad.shape[1]):
            _us_derivatives(
                theta[s], rows, cols, low, vgrad[s, q], unused, False, pair, js, unused,
                vgrad_theta[s, q], unused,
            )  # fmt: skip
