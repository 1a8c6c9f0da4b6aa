"""Satterthwaite's df from a variance gradient and a Hessian (mmrm_df.
satterthwaite_from_gradient), the last step of ``estimate_many``: against numpy's solve
and pinv, and NaN where the Hessian or the gradient is not finite."""

from __future__ import annotations

import numpy as np

from frailtrial.stats.mmrm_df import satterthwaite_from_gradient


def _stack(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(6, 5, 5))
    hess = m @ m.transpose(0, 2, 1) + 0.5 * np.eye(5)
    grad = rng.normal(size=(6, 2, 5))
    var = rng.uniform(0.5, 2.0, size=(6, 2))
    return hess, grad, var


def test_positive_definite_hessians_equal_a_solve() -> None:
    hess, grad, var = _stack()
    want = var**2 / np.einsum(
        "bkp,bkp->bk", grad, np.linalg.solve(hess[:, None], grad[..., None])[..., 0]
    )
    np.testing.assert_allclose(satterthwaite_from_gradient(grad, hess, var), want, rtol=1e-12)


def test_an_indefinite_hessian_goes_through_pinv_and_non_finite_ones_give_nan() -> None:
    hess, grad, var = _stack(1)
    hess[1] = np.diag([2.0, 1.0, -1.0, 3.0, 1.0])  # not positive definite, finite
    hess[2, 3, 1] = hess[2, 1, 3] = np.nan
    hess[3, 0, 0] = np.inf
    grad[4, 1, 2] = np.nan  # that fit's both rows: its gradient is not usable
    out = satterthwaite_from_gradient(grad, hess, var)
    quad = np.einsum("kp,pq,kq->k", grad[1], np.linalg.pinv(hess[1]), grad[1])
    want = np.where(quad > 0, var[1] ** 2 / np.maximum(quad, 1e-300), np.inf)
    np.testing.assert_allclose(out[1], want, rtol=1e-10)
    assert np.isnan(out[2]).all() and np.isnan(out[3]).all() and np.isnan(out[4]).all()
    good = [0, 5]
    want = var[good] ** 2 / np.einsum(
        "bkp,bkp->bk",
        grad[good],
        np.linalg.solve(hess[good][:, None], grad[good][..., None])[..., 0],
    )
    np.testing.assert_allclose(out[good], want, rtol=1e-12)
