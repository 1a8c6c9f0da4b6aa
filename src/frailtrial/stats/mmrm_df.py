"""Degrees of freedom and adjusted covariance for MMRM contrasts.

- Satterthwaite: ``df = 2 v^2 / (g' W g)`` with ``v = l' Phi l``, ``g = dv/dtheta`` and ``W``
  the inverse observed information of the covariance parameters (invariant to their
  parameterisation at the optimum).
- Kenward-Roger (Kenward & Roger 1997, as SAS ``ddfm=kr``): adjusted covariance
  ``Phi_A = Phi + 2 Phi [sum W_hj (Q_hj - P_h Phi P_j - R_hj / 4)] Phi`` in SAS's own
  covariance parameters, and the scaled-F degrees of freedom; ``kenward_roger_linear`` drops the
  second-derivative term ``R`` (SAS ``ddfm=kr(linear)``; identical for linear structures
  such as ``us``, ``cs`` and ``toep``).
- residual: ``N - rank(X)``; between-within: SAS's split of ``N`` into subjects and visits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from frailtrial.errors import InputError
from frailtrial.stats.mmrm_core import sym_pairs
from frailtrial.stats.mmrm_kernels import inverse_quadratic

Array = NDArray[Any]


@dataclass
class Parts:
    """Quantities at the optimum of one fit that every df method draws on."""

    phi: Array  # (p, p) unadjusted covariance of beta
    w: Array  # (n, T, T) masked precision per subject
    z: Array  # (n, T, p) = W X
    x: Array  # (n, T, p)
    mask: NDArray[np.bool_]  # (n, T)
    grad_sigma: Array  # (T, T)
    hess_sigma: Array  # (m, m) over the distinct entries of Sigma (mmrm_core.sym_pairs)
    jac: Array  # (P, T, T) dSigma/dtheta in the fit's parameterisation
    hess_theta: Array  # (P, P) exact Hessian of -2 log L
    reml: bool


def _gram(z: Array) -> Array:
    """G[a, j, b, l] = sum_n Z_n[a, j] Z_n[b, l], shape (T, p, T, p): one matrix product
    over the subjects, from which every sum_n Z_n' M Z_n with a common M follows."""
    n, t, p = z.shape
    zr = z.reshape(n, t * p)
    return (zr.T @ zr).reshape(t, p, t, p)


def _sandwich(gram: Array, m: Array) -> Array:
    """sum_n Z_n' M_k Z_n for each (T, T) matrix M_k of ``m`` (..., T, T), via the Gram."""
    return np.einsum("...ab,ajbl->...jl", m, gram)


def _f_matrices(gram: Array, jac: Array) -> Array:
    """F_k = sum_n Z_n' J_k Z_n = -X' dV^-1/dtheta_k X, shape (P, p, p)."""
    return _sandwich(gram, jac)


def _inv_information(hess: Array) -> Array:
    """Covariance of the covariance parameters: inverse of half the Hessian of -2 log L."""
    try:
        return np.linalg.inv(0.5 * hess)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(0.5 * hess)


def satterthwaite(parts: Parts, contrasts: Array) -> Array:
    """Satterthwaite df for each row of ``contrasts`` (k, p)."""
    lp = contrasts @ parts.phi  # (k, p)
    v = np.einsum("ip,ip->i", lp, contrasts)
    return satterthwaite_many(
        parts.z[None], parts.jac[None], parts.hess_theta[None], lp[None], v[None]
    )[0]


def satterthwaite_many(z: Array, jac: Array, hess: Array, phil: Array, var: Array) -> Array:
    """Satterthwaite df (B, k) of B fits at once: ``var^2 / (g' H^-1 g)`` (= ``2 v^2 / (g' W
    g)`` with ``W = (H / 2)^-1``) from the per-subject ``Z = W X`` (B, n, T, p), dSigma/dtheta
    ``jac`` (B, P, T, T), the exact Hessian of -2 log L ``hess`` (B, P, P), ``Phi l`` =
    ``phil`` (B, k, p) and ``var`` = ``l' Phi l`` (B, k); ``g = dv/dtheta = sum_n (Z_n Phi
    l)' J (Z_n Phi l)``. NaN where a degenerate fit has no usable Hessian."""
    wl = np.einsum("bntp,bkp->bknt", z, phil)  # Z_n Phi l
    msum = np.einsum("bkna,bknc->bkac", wl, wl)
    grad = np.einsum("bjac,bkac->bkj", jac, msum)  # d(l' Phi l)/dtheta
    return satterthwaite_from_gradient(grad, hess, var)


def satterthwaite_from_gradient(grad: Array, hess: Array, var: Array) -> Array:
    """:func:`satterthwaite_many` from the gradient ``grad`` (B, k, P) of each contrast's
    variance in the covariance parameters and symmetric Hessians ``hess`` (B, P, P): the
    Cholesky reads their lower triangles, where a NaN or infinity makes it fail (NaN df)."""
    # g' H^-1 g = |L^-1 g|^2 by Cholesky (compiled) where H is positive definite (a
    # converged fit; a Hessian with a NaN is not), else by pinv where H is finite
    denom = np.empty(grad.shape[:2])
    pd_ok = np.zeros(hess.shape[0], dtype=bool)
    inverse_quadratic(
        np.ascontiguousarray(hess, dtype=float), np.ascontiguousarray(grad, dtype=float),
        denom, pd_ok,
    )  # fmt: skip
    usable: NDArray[np.bool_] = np.asarray(np.isfinite(grad).all(axis=(1, 2)))
    if not pd_ok.all():
        rest = np.flatnonzero(~pd_ok)
        usable[rest] &= np.isfinite(hess[rest]).all(axis=(1, 2))
        rest = rest[usable[rest]]
        sol = np.matmul(np.linalg.pinv(hess[rest])[:, None], grad[rest][..., None])[..., 0]
        denom[rest] = (grad[rest] * sol).sum(axis=2)
    dfs = np.where(denom > 0, var**2 / np.maximum(denom, 1e-300), np.inf)
    return np.where(usable[:, None], dfs, np.nan)


@dataclass
class KenwardRoger:
    """Kenward-Roger components in SAS's covariance parameterisation."""

    phi_adj: Array
    p_mats: Array  # (P, p, p) = X' dV^-1/dphi X
    cov_theta: Array  # (P, P)

    def df(self, phi: Array, contrast: Array) -> float:
        """Kenward-Roger denominator df of a contrast matrix (q, p)."""
        return self.df_scale(phi, contrast)[0]

    def df_scale(self, phi: Array, contrast: Array) -> tuple[float, float]:
        """Kenward-Roger denominator df ``m`` of a contrast matrix (q, p) and the scale
        ``lambda = m / (E* (m - 2))`` of its F statistic."""
        lmat = np.atleast_2d(contrast)
        q = lmat.shape[0]
        if q == 1:  # M = l l' / v: tr(M Phi P_h Phi) = u' P_h u / v (u = Phi l), a2 = a1
            u = phi @ lmat[0]
            tr = np.matmul(self.p_mats, u) @ u / float(lmat[0] @ u)
            a1 = a2 = float(tr @ self.cov_theta @ tr)
        else:
            m = lmat.T @ np.linalg.solve(lmat @ phi @ lmat.T, lmat)
            mpv = np.matmul(m @ phi, np.matmul(self.p_mats, phi))  # M Phi P_h Phi
            tr = np.trace(mpv, axis1=1, axis2=2)
            a1 = float(tr @ self.cov_theta @ tr)
            n_par = mpv.shape[0]
            # a2 = sum_hj W_hj tr(MPV_h MPV_j)
            prods = mpv.reshape(n_par, -1) @ mpv.transpose(0, 2, 1).reshape(n_par, -1).T
            a2 = float((self.cov_theta * prods).sum())
        b = (a1 + 6 * a2) / (2 * q)
        g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
        denom = 3 * q + 2 * (1 - g)
        c1, c2, c3 = g / denom, (q - g) / denom, (q + 2 - g) / denom
        e_star = 1 / (1 - a2 / q)
        v_star = 2 / q * (1 + c1 * b) / ((1 - c2 * b) ** 2 * (1 - c3 * b))
        rho = v_star / (2 * e_star**2)
        m_df = 4 + (q + 2) / (q * rho - 1)
        return float(m_df), float(m_df / (e_star * (m_df - 2)))


def kenward_roger(
    parts: Parts, native_jac: Array, native_second: Array, linear: bool
) -> KenwardRoger:
    """Adjusted covariance and df pieces (REML only)."""
    if not parts.reml:
        raise InputError("Kenward-Roger degrees of freedom need a REML fit (method='reml')")
    iu, ju = sym_pairs(native_jac.shape[-1])
    jf = native_jac[:, iu, ju]
    hess = jf @ parts.hess_sigma @ jf.T + np.einsum("klxy,xy->kl", native_second, parts.grad_sigma)
    cov_theta = _inv_information(0.5 * (hess + hess.T))
    z = parts.z
    n, t, p = z.shape
    gram = _gram(z)
    p_mats = -_f_matrices(gram, native_jac)
    phi = parts.phi
    # sum_kl W_kl Q_kl with Q_kl = sum_n (J_k Z_n)' W_n (J_l Z_n) = sum_n Z_n' A_n Z_n, where
    # A_n[a, d] = sum_bc W_n[b, c] K[b, c, a, d] and K = sum_kl W_kl J_k[b, a] J_l[c, d]
    n_par = native_jac.shape[0]
    jflat = native_jac.reshape(n_par, t * t)
    kmat = (jflat.T @ (cov_theta @ jflat)).reshape(t, t, t, t).transpose(0, 2, 1, 3)
    a_n = (parts.w.reshape(n, t * t) @ kmat.reshape(t * t, t * t)).reshape(n, t, t)
    inner = z.reshape(n * t, p).T @ (a_n @ z).reshape(n * t, p)
    # sum_kl W_kl P_k Phi P_l
    w_p = (cov_theta @ p_mats.reshape(n_par, p * p)).reshape(n_par, p, p)
    inner -= np.matmul(np.matmul(p_mats, phi), w_p).sum(axis=0)
    if not linear and np.any(native_second):
        # sum_kl W_kl R_kl with R_kl = sum_n Z_n' d2Sigma/dphi_k dphi_l Z_n
        s2 = np.einsum("kl,klab->ab", cov_theta, native_second)
        inner -= 0.25 * _sandwich(gram, s2)
    phi_adj = phi + 2.0 * phi @ inner @ phi
    return KenwardRoger(phi_adj=0.5 * (phi_adj + phi_adj.T), p_mats=p_mats, cov_theta=cov_theta)


def residual_df(n_obs: int, rank: int) -> float:
    """N minus the rank of the fixed-effects design."""
    return float(n_obs - rank)


def between_within(parts: Parts, contrasts: Array) -> Array:
    """Between-within df: between-subject columns get n_subjects - rank(between part),
    contrasts touching a within-subject column get N - n_subjects - rank(within part)."""
    x, mask = parts.x, parts.mask
    present = mask.any(axis=1)
    x, mask = x[present], mask[present]
    n_sub = x.shape[0]
    n_obs = int(mask.sum())
    first = np.argmax(mask, axis=1)
    x_first = x[np.arange(n_sub), first]  # (n, p)
    varies = (np.abs(x - x_first[:, None, :]) * mask[..., None]).max(axis=(0, 1)) > 1e-12
    xs = x[mask]
    rank_b = int(np.linalg.matrix_rank(xs[:, ~varies])) if (~varies).any() else 0
    rank_w = int(np.linalg.matrix_rank(xs)) - rank_b
    df_between = float(n_sub - rank_b)
    df_within = float(n_obs - n_sub - rank_w)
    touches_within = (np.abs(contrasts[:, varies]) > 0).any(axis=1)
    return np.where(touches_within, df_within, df_between)
