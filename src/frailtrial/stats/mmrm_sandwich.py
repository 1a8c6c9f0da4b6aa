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


def empirical_vcov(fit: MmrmFit, method: str = "sandwich") -> Array:
    """Empirical covariance (p, p) of ``fit``'s beta by ``method`` (see the module)."""
    method = vcov_method(method)
    if method == "model":
        return fit.vcov
    parts = fit.parts
    phi, w, x = parts.phi, parts.w, parts.x
    y = fit.frame.batch.y[fit.index]
    resid = (y - x @ fit.beta) * parts.mask  # (n, T)
    if method == "sandwich":
        score = np.einsum("ntp,nt->np", parts.z, resid)  # X_i' W_i e_i
    else:
        root = _sym_power(w, 0.5)  # W_i^(1/2), zero on missing visits
        xt = root @ x  # whitened design (n, T, p)
        hat = np.einsum("nap,pq,nbq->nab", xt, phi, xt)
        t = w.shape[-1]
        obs = parts.mask[..., :, None] & parts.mask[..., None, :]
        resid_hat = np.where(obs, np.eye(t) - hat, np.eye(t))  # identity on missing visits
        jack = method == "jackknife"
        adj = np.linalg.inv(resid_hat) if jack else _sym_power(resid_hat, -0.5)
        et = np.einsum("nab,nb->na", root, resid)
        score = np.einsum("nap,nab,nb->np", xt, adj, et)
    meat = score.T @ score
    out = phi @ meat @ phi
    return 0.5 * (out + out.T)
