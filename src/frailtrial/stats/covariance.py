"""Within-subject covariance structures over visits for the MMRM.

Each structure maps an unconstrained-or-checked parameter vector ``theta`` (batched,
shape ``(B, P)``) to a visit covariance matrix ``Sigma`` (``(B, T, T)``) and gives the
first derivatives ``dSigma/dtheta`` and the contraction of the second derivatives with a
symmetric matrix, which is all the Newton optimiser needs (chain rule through the
likelihood's derivatives with respect to ``Sigma``).

Optimisation parameters (like R mmrm): log standard deviations, and for ``us`` the
off-diagonal entries of the Cholesky factor (always positive definite); for the other
structures the correlations themselves, kept feasible by a positive-definiteness check in
the line search.

Each structure also has SAS PROC MIXED's own parameterisation (``native``: variances,
covariances, correlations as SAS lists them); Kenward-Roger uses it so that its
second-derivative term matches SAS (``ddfm=kr``), and ``kenward_roger_linear`` drops that term.
The names are those of :mod:`frailtrial.stats.model_options` (:func:`make_structure`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]


_STEP = 1e-20  # complex step
_FD = 1e-5  # finite difference for second derivatives


def _lags(n_visits: int) -> NDArray[np.int64]:
    idx = np.arange(n_visits)
    return np.abs(idx[:, None] - idx[None, :])


def complex_jacobian(f: Callable[[Array], Array], theta: Array) -> Array:
    """dSigma/dtheta by complex-step differentiation (exact to rounding): (B, P, T, T)."""
    n_par = theta.shape[1]
    out = []
    for k in range(n_par):
        th = theta.astype(np.complex128)
        th[:, k] += 1j * _STEP
        out.append(f(th).imag / _STEP)
    return np.stack(out, axis=1)


def numeric_second(fun: Callable[[Array], Array], theta: Array) -> Array:
    """d2Sigma/dtheta_k dtheta_l by central differences of the complex-step Jacobian."""
    n_par = theta.shape[1]
    rows = []
    for k in range(n_par):
        h = _FD * np.maximum(1.0, np.abs(theta[:, k]))
        up = theta.copy()
        dn = theta.copy()
        up[:, k] += h
        dn[:, k] -= h
        d = (complex_jacobian(fun, up) - complex_jacobian(fun, dn)) / (2 * h)[:, None, None, None]
        rows.append(d)
    s2 = np.stack(rows, axis=1)
    return 0.5 * (s2 + s2.transpose(0, 2, 1, 3, 4))


class Structure(ABC):
    """A covariance structure over ``n_visits`` visits."""

    name: str
    label: str

    def __init__(self, n_visits: int) -> None:
        self.n_visits = n_visits

    @property
    @abstractmethod
    def n_theta(self) -> int:
        """Number of covariance parameters."""

    @abstractmethod
    def sigma(self, theta: Array) -> Array:
        """Covariance matrix (B, T, T); works on complex input for complex-step derivatives."""

    @abstractmethod
    def start(self, sigma0: Array) -> Array:
        """Starting parameters from a starting estimate of Sigma (B, T, T)."""

    @abstractmethod
    def native_names(self) -> list[str]:
        """SAS PROC MIXED names of the native covariance parameters."""

    @abstractmethod
    def native_sigma(self, phi: Array) -> Array:
        """Sigma from SAS's native parameters (complex-capable)."""

    @abstractmethod
    def native_from_sigma(self, sigma: Array) -> Array:
        """SAS's native parameters of a fitted Sigma (B, P)."""

    def jacobian(self, theta: Array) -> Array:
        """dSigma/dtheta, (B, P, T, T)."""
        return complex_jacobian(self.sigma, theta)

    def second_term(self, theta: Array, grad_sigma: Array) -> Array:
        """sum_ab G_ab d2Sigma_ab/dtheta_k dtheta_l for symmetric G, (B, P, P)."""
        s2 = numeric_second(self.sigma, theta)
        return np.einsum("bklxy,bxy->bkl", s2, grad_sigma)

    def native_derivatives(self, sigma: Array) -> tuple[Array, Array, Array]:
        """Native parameters, dSigma/dphi and d2Sigma/dphi2 at a fitted Sigma."""
        phi = self.native_from_sigma(sigma)
        return phi, complex_jacobian(self.native_sigma, phi), numeric_second(self.native_sigma, phi)


class Unstructured(Structure):
    """us: Sigma = L L', L lower triangular with log-diagonal parameters (as R mmrm)."""

    name = "us"
    label = "unstructured"

    def __init__(self, n_visits: int) -> None:
        super().__init__(n_visits)
        diag = np.arange(n_visits)
        below_r, below_c = np.tril_indices(n_visits, -1)  # strict lower triangle by rows
        self._rows = np.concatenate([diag, below_r])
        self._cols = np.concatenate([diag, below_c])
        self._is_diag = self._rows == self._cols
        nr, nc = np.tril_indices(n_visits)
        self._nat_rows, self._nat_cols = nr, nc

    @property
    def n_theta(self) -> int:
        return self.n_visits * (self.n_visits + 1) // 2

    @property
    def factor_index(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Row and column in L of each parameter (the diagonal first, then by rows)."""
        return self._rows, self._cols

    def chol(self, theta: Array) -> Array:
        """Cholesky factor L (B, T, T)."""
        b = theta.shape[0]
        t = self.n_visits
        lmat = np.zeros((b, t, t), dtype=theta.dtype)
        vals = np.where(self._is_diag[None, :], np.exp(theta), theta)
        lmat[:, self._rows, self._cols] = vals
        return lmat

    def sigma(self, theta: Array) -> Array:
        lmat = self.chol(theta)
        return lmat @ lmat.transpose(0, 2, 1)

    def start(self, sigma0: Array) -> Array:
        lmat = np.linalg.cholesky(sigma0)
        vals = lmat[:, self._rows, self._cols]
        return np.where(self._is_diag[None, :], np.log(np.abs(vals) + 1e-300), vals)

    def jacobian(self, theta: Array) -> Array:
        lmat = self.chol(theta)
        b, p = theta.shape
        t = self.n_visits
        scale = np.where(self._is_diag[None, :], np.exp(theta), 1.0)  # (B, P)
        # L_k = c_k e_i e_j'  ->  L_k L' + L L_k' ; (L_k L')[a, :] = c_k e_i * L[:, j]'
        lk_lt = np.zeros((b, p, t, t))
        lk_lt[:, np.arange(p), self._rows, :] = scale[:, :, None] * lmat[
            :, :, self._cols
        ].transpose(0, 2, 1)
        return lk_lt + lk_lt.transpose(0, 1, 3, 2)

    def second_term(self, theta: Array, grad_sigma: Array) -> Array:
        scale = np.where(self._is_diag[None, :], np.exp(theta), 1.0)
        same_col = (self._cols[:, None] == self._cols[None, :]).astype(float)
        g_rows = grad_sigma[:, self._rows[:, None], self._rows[None, :]]  # G[i_k, i_l]
        out = 2.0 * scale[:, :, None] * scale[:, None, :] * same_col[None] * g_rows
        jac = self.jacobian(theta)
        grad_theta = np.einsum("bkxy,bxy->bk", jac, grad_sigma)
        diag_idx = np.flatnonzero(self._is_diag)
        out[:, diag_idx, diag_idx] += grad_theta[:, diag_idx]
        return out

    def native_names(self) -> list[str]:
        return [f"UN({i + 1},{j + 1})" for i, j in zip(self._nat_rows, self._nat_cols, strict=True)]

    def native_sigma(self, phi: Array) -> Array:
        b = phi.shape[0]
        t = self.n_visits
        s = np.zeros((b, t, t), dtype=phi.dtype)
        s[:, self._nat_rows, self._nat_cols] = phi
        s[:, self._nat_cols, self._nat_rows] = phi
        return s

    def native_from_sigma(self, sigma: Array) -> Array:
        return sigma[:, self._nat_rows, self._nat_cols]

    def native_derivatives(self, sigma: Array) -> tuple[Array, Array, Array]:
        phi = self.native_from_sigma(sigma)
        b, p = phi.shape
        t = self.n_visits
        jac = np.zeros((b, p, t, t))
        k = np.arange(p)
        jac[:, k, self._nat_rows, self._nat_cols] = 1.0
        jac[:, k, self._nat_cols, self._nat_rows] = 1.0
        return phi, jac, np.zeros((b, p, p, t, t))


class _Correlation(Structure):
    """Sigma = D C D with standard deviations D (one or per visit) and correlation C."""

    heterogeneous: bool
    sd_names = "Var"

    @property
    def n_sd(self) -> int:
        return self.n_visits if self.heterogeneous else 1

    @property
    @abstractmethod
    def n_corr(self) -> int:
        """Number of correlation parameters."""

    @abstractmethod
    def corr(self, rho: Array) -> Array:
        """Correlation matrix from correlation parameters (B, n_corr) -> (B, T, T)."""

    @abstractmethod
    def corr_start(self, corr0: Array) -> Array:
        """Correlation parameters from an empirical correlation matrix."""

    @property
    def n_theta(self) -> int:
        return self.n_sd + self.n_corr

    def _scaled(self, sd: Array, rho: Array) -> Array:
        """D C D from the standard deviation(s) (B, n_sd) and correlation parameters."""
        if not self.heterogeneous:
            sd = np.repeat(sd, self.n_visits, axis=1)
        return sd[:, :, None] * self.corr(rho) * sd[:, None, :]

    def sigma(self, theta: Array) -> Array:
        return self._scaled(np.exp(theta[:, : self.n_sd]), theta[:, self.n_sd :])

    def start(self, sigma0: Array) -> Array:
        var = np.clip(np.diagonal(sigma0, axis1=1, axis2=2), 1e-8, None)
        sd = np.sqrt(var)
        corr0 = sigma0 / (sd[:, :, None] * sd[:, None, :])
        log_sd = np.log(sd) if self.heterogeneous else np.log(sd).mean(axis=1, keepdims=True)
        rho = self.corr_start(corr0)
        # shrink correlations towards zero until Sigma is positive definite
        for _ in range(30):
            theta = np.concatenate([log_sd, rho], axis=1)
            ok = np.linalg.eigvalsh(self.sigma(theta))[:, 0] > 0
            if ok.all():
                break
            rho = np.where(ok[:, None], rho, rho * 0.5)
        return np.concatenate([log_sd, rho], axis=1)

    # native: variances instead of log sd, correlations as they are
    def native_sigma(self, phi: Array) -> Array:
        return self._scaled(np.sqrt(phi[:, : self.n_sd]), phi[:, self.n_sd :])

    def native_from_sigma(self, sigma: Array) -> Array:
        var = np.diagonal(sigma, axis1=1, axis2=2)
        sd = np.sqrt(var)
        cmat = sigma / (sd[:, :, None] * sd[:, None, :])
        v = var if self.heterogeneous else var[:, :1]
        return np.concatenate([v, self.corr_params(cmat)], axis=1)

    @abstractmethod
    def corr_params(self, cmat: Array) -> Array:
        """Exact correlation parameters of a correlation matrix of this structure."""


def _lag_means(corr0: Array, n_lags: int) -> Array:
    lags = _lags(corr0.shape[1])
    return np.stack([corr0[:, lags == k].mean(axis=1) for k in range(1, n_lags + 1)], axis=1)


class CompoundSymmetry(_Correlation):
    """cs / csh: one common correlation."""

    def __init__(self, n_visits: int, heterogeneous: bool) -> None:
        super().__init__(n_visits)
        self.heterogeneous = heterogeneous
        self.name = "csh" if heterogeneous else "cs"
        self.label = "heterogeneous compound symmetry" if heterogeneous else "compound symmetry"

    @property
    def n_corr(self) -> int:
        return 1

    def corr(self, rho: Array) -> Array:
        t = self.n_visits
        eye = np.eye(t)
        r = rho[:, 0][:, None, None]
        return eye + (1 - eye) * r

    def corr_start(self, corr0: Array) -> Array:
        return np.clip(_lag_means(corr0, self.n_visits - 1).mean(axis=1, keepdims=True), -0.1, 0.9)

    def corr_params(self, cmat: Array) -> Array:
        return cmat[:, 1:2, 0]

    def native_names(self) -> list[str]:
        if self.heterogeneous:
            return [f"Var({i + 1})" for i in range(self.n_visits)] + ["CSH"]
        return ["CS", "Residual"]

    def native_sigma(self, phi: Array) -> Array:
        if self.heterogeneous:
            return super().native_sigma(phi)
        t = self.n_visits
        cs, resid = phi[:, 0][:, None, None], phi[:, 1][:, None, None]
        return cs * np.ones((t, t)) + resid * np.eye(t)

    def native_from_sigma(self, sigma: Array) -> Array:
        if self.heterogeneous:
            return super().native_from_sigma(sigma)
        cs = sigma[:, 1, 0]
        return np.stack([cs, sigma[:, 0, 0] - cs], axis=1)


class AutoRegressive(_Correlation):
    """ar1 / ar1h: correlation rho^|i-j| over visit indices."""

    def __init__(self, n_visits: int, heterogeneous: bool) -> None:
        super().__init__(n_visits)
        self.heterogeneous = heterogeneous
        self.name = "ar1h" if heterogeneous else "ar1"
        self.label = "heterogeneous AR(1)" if heterogeneous else "AR(1)"
        self._lag = _lags(n_visits)

    @property
    def n_corr(self) -> int:
        return 1

    def corr(self, rho: Array) -> Array:
        r = rho[:, 0][:, None, None]
        return r ** self._lag[None]

    def corr_start(self, corr0: Array) -> Array:
        return np.clip(_lag_means(corr0, 1), -0.9, 0.9)

    def corr_params(self, cmat: Array) -> Array:
        return cmat[:, 1:2, 0]

    def native_names(self) -> list[str]:
        if self.heterogeneous:
            return [f"Var({i + 1})" for i in range(self.n_visits)] + ["ARH(1)"]
        return ["Residual", "AR(1)"]


class Toeplitz(_Correlation):
    """toep / toeph: one correlation per lag."""

    def __init__(self, n_visits: int, heterogeneous: bool) -> None:
        super().__init__(n_visits)
        self.heterogeneous = heterogeneous
        self.name = "toeph" if heterogeneous else "toep"
        self.label = "heterogeneous Toeplitz" if heterogeneous else "Toeplitz"
        self._lag = _lags(n_visits)

    @property
    def n_corr(self) -> int:
        return self.n_visits - 1

    def corr(self, rho: Array) -> Array:
        full = np.concatenate([np.ones((rho.shape[0], 1), dtype=rho.dtype), rho], axis=1)
        return full[:, self._lag]

    def corr_start(self, corr0: Array) -> Array:
        return np.clip(_lag_means(corr0, self.n_visits - 1), -0.9, 0.9)

    def corr_params(self, cmat: Array) -> Array:
        return cmat[:, 1:, 0]

    def native_names(self) -> list[str]:
        lags = [f"({k + 1})" for k in range(1, self.n_visits)]
        if self.heterogeneous:
            return [f"Var({i + 1})" for i in range(self.n_visits)] + ["TOEPH" + x for x in lags]
        return ["Residual"] + ["TOEP" + x for x in lags]

    def native_sigma(self, phi: Array) -> Array:
        if self.heterogeneous:
            return super().native_sigma(phi)
        return phi[:, self._lag]

    def native_from_sigma(self, sigma: Array) -> Array:
        if self.heterogeneous:
            return super().native_from_sigma(sigma)
        return sigma[:, 0, :]


class AnteDependence(_Correlation):
    """adh: first-order ante-dependence, corr(i, j) = prod of rho_k for k in [i, j)."""

    name = "adh"
    label = "heterogeneous ante-dependence"
    heterogeneous = True

    @property
    def n_corr(self) -> int:
        return self.n_visits - 1

    def corr(self, rho: Array) -> Array:
        t = self.n_visits
        b = rho.shape[0]
        out = np.ones((b, t, t), dtype=rho.dtype)
        for i in range(t):
            prod = np.ones(b, dtype=rho.dtype)
            for j in range(i + 1, t):
                prod = prod * rho[:, j - 1]
                out[:, i, j] = prod
                out[:, j, i] = prod
        return out

    def corr_start(self, corr0: Array) -> Array:
        idx = np.arange(self.n_visits - 1)
        return np.clip(corr0[:, idx, idx + 1], -0.9, 0.9)

    def corr_params(self, cmat: Array) -> Array:
        idx = np.arange(self.n_visits - 1)
        return cmat[:, idx, idx + 1]

    def native_names(self) -> list[str]:
        return [f"Var({i + 1})" for i in range(self.n_visits)] + [
            f"Rho({i + 1})" for i in range(self.n_visits - 1)
        ]


@lru_cache(maxsize=64)
def make_structure(name: str, n_visits: int) -> Structure:
    """The structure called ``name`` over ``n_visits`` visits (one shared, immutable
    instance per name and size)."""
    if name == "us":
        return Unstructured(n_visits)
    if name in ("cs", "csh"):
        return CompoundSymmetry(n_visits, heterogeneous=name == "csh")
    if name in ("ar1", "ar1h"):
        return AutoRegressive(n_visits, heterogeneous=name == "ar1h")
    if name in ("toep", "toeph"):
        return Toeplitz(n_visits, heterogeneous=name == "toeph")
    if name == "adh":
        return AnteDependence(n_visits)
    raise ValueError(name)
