"""Empirical (sandwich) covariance of the MMRM's fixed effects, as SAS and R mmrm offer it.

``Phi_E = Phi (sum_i X_i' W_i A_i e_i e_i' A_i' W_i X_i) Phi`` with ``Phi = (X' W X)^-1``,
``W_i`` the subject's precision and ``e_i = y_i - X_i beta`` its residuals. The small-sample
variants differ in ``A_i``, which acts on the whitened residuals ``W_i^(1/2) e_i``:

- ``sandwich``: ``A_i = I`` (SAS ``EMPIRICAL``, R mmrm ``"Empirical"``, CR0);
- ``jackknife``: ``A_i = (I - H_ii)^-1`` (R mmrm ``"Empirical-Jackknife"``, CR3 without the
  ``(n - 1) / n`` factor);
- ``bias-reduced``: ``A_i = (I - H_ii)^(-1/2)`` (R mmrm ``"Empirical-Bias-Reduced"``, CR2,
  Bell & McCaffrey 2002),

with ``H_ii = W_i^(1/2) X_i Phi X_i' W_i^(1/2)`` the subject's block of the whitened hat
matrix. All three are invariant to the choice of the square root of ``W_i``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from frailtrial.errors import InputError

if TYPE_CHECKING:
    from frailtrial.stats.mmrm import MmrmFit

Array = NDArray[Any]
VCOV_METHODS = ("model", "sandwich", "jackknife", "bias-reduced")
_ALIASES = {
    "asymptotic": "model",
    "empirical": "sandwich",
    "empirical-jackknife": "jackknife",
    "empirical-bias-reduced": "bias-reduced",
}


def vcov_method(name: str) -> str:
    """Canonical covariance method of the fixed effects (R mmrm's names accepted)."""
    key = str(name).strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in VCOV_METHODS:
        raise InputError(
            f"vcov {name!r}: unknown; allowed: {', '.join(VCOV_METHODS)} "
            "(R mmrm's Asymptotic, Empirical, Empirical-Jackknife, Empirical-Bias-Reduced)"
        )
    return key


def _sym_power(mat: Array, power: float) -> Array:
    """Symmetric power of a stack of symmetric positive semi-definite matrices; eigenvalues
    at zero (padding of missing visits) stay zero for positive powers."""
    vals, vecs = np.linalg.eigh(mat)
    vals = np.clip(vals, 0.0, None)
    with np.errstate(divide="ignore"):
        scaled = np.where(vals > 1e-12 * vals.max(axis=-1, keepdims=True), vals**power, 0.0)
    return np.einsum("...ij,...j,...kj->...ik", vecs, scaled, vecs)


def _whitened(fit: MmrmFit, method: str) -> tuple[Array, Array, Array]:
    """Per subject: the whitened design ``W_i^(1/2) X_i`` (n, T, p), the adjustment ``A_i``
    (n, T, T; identity for the plain sandwich) and the whitened residuals (n, T). The
    square roots are taken once per missingness pattern."""
    batch = fit._batch()
    x, mask, y = batch.x[0], batch.mask[0], batch.y[0]
    t = x.shape[1]
    pm = batch.pattern_mask[0]  # (K, T)
    both = pm[:, :, None] * pm[:, None, :]
    sub = both * fit.sigma + (np.eye(t) - pm[:, :, None] * np.eye(t))
    root = _sym_power(np.linalg.inv(sub) * both, 0.5)[batch.pattern_of[0]]  # (n, T, T)
    xt = root @ x
    resid = (y - x @ fit.beta) * mask
    if method == "sandwich":
        adj = np.broadcast_to(np.eye(t), (x.shape[0], t, t))
    else:
        hat = xt @ fit.vcov @ xt.transpose(0, 2, 1)
        obs = mask[:, :, None] & mask[:, None, :]
        resid_hat = np.where(obs, np.eye(t) - hat, np.eye(t))  # identity on missing visits
        jack = method == "jackknife"
        adj = np.linalg.inv(resid_hat) if jack else _sym_power(resid_hat, -0.5)
    return xt, adj, (root @ resid[..., None])[..., 0]


def empirical_vcov(fit: MmrmFit, method: str = "sandwich") -> Array:
    """Empirical covariance (p, p) of ``fit``'s beta by ``method`` (see the module)."""
    method = vcov_method(method)
    if method == "model":
        return fit.vcov
    xt, adj, et = _whitened(fit, method)
    score = (xt.transpose(0, 2, 1) @ (adj @ et[..., None]))[..., 0]  # X_i' W^1/2 A_i W^1/2 e_i
    phi = fit.vcov
    out = phi @ (score.T @ score) @ phi
    return 0.5 * (out + out.T)


def empirical_satterthwaite(fit: MmrmFit, method: str, contrasts: Array) -> Array:
    """Satterthwaite df of each row ``c`` of ``contrasts`` (k, p) with an empirical
    covariance (Bell & McCaffrey 2002, as R mmrm): ``tr(M)^2 / sum(M^2)`` with
    ``M_ij = u_i' (I - H)_ij u_j``, ``u_i = A_i W_i^(1/2) X_i Phi c``, i.e.
    ``M = diag(u_i' u_i) - S Phi S'`` with rows ``s_i = X_i' W_i^(1/2) u_i``; the sums are
    taken without forming the (n, n) matrix, all contrasts at once."""
    method = vcov_method(method)
    xt, adj, _ = _whitened(fit, method)
    phi = fit.vcov
    lmat = np.atleast_2d(contrasts)
    u = (adj @ (xt @ (phi @ lmat.T))).transpose(2, 0, 1)  # (k, n, T)
    s = (xt.transpose(0, 2, 1) @ u.transpose(1, 2, 0)).transpose(2, 0, 1)  # (k, n, p)
    uu = (u * u).sum(axis=2)  # (k, n)
    diag = np.einsum("knp,pq,knq->kn", s, phi, s)  # diagonal of S Phi S'
    pg = phi @ np.einsum("knp,knq->kpq", s, s)  # Phi S'S
    frob = np.einsum("kpq,kqp->k", pg, pg)  # |S Phi S'|_F^2 = tr((Phi S'S)^2)
    trace = uu.sum(axis=1) - diag.sum(axis=1)
    sum_sq = (uu * uu).sum(axis=1) - 2 * (uu * diag).sum(axis=1) + frob
    return np.asarray(trace**2 / sum_sq)
