"""Compiled MMRM kernels against the numpy per-subject evaluation and optimiser.

The kernels (``stats/mmrm_kernels.py``) evaluate separable designs from per-pattern sums
and run the us optimiser one data set at a time; the numpy code they replace for
``fit_many`` evaluates every subject's matrices. Both must agree to rounding: criterion,
beta, (X'WX)^-1, gradient and approximate Hessian in Sigma, and the whole optimisation
path (same iterations, same optimum)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from frailtrial.stats import mmrm_core as core
from frailtrial.stats import mmrm_kernels as kernels
from frailtrial.stats.covariance import Unstructured, make_structure
from frailtrial.stats.mmrm_data import build_frame

FORMULA = "y ~ base + arm*visit"


def _trials(n_trials: int, seed: int, n: int = 24, n_visits: int = 5) -> list[pd.DataFrame]:
    """Two-arm trials with a baseline covariate, AR(1)-like errors, dropout and holes."""
    rng = np.random.default_rng(seed)
    sd = np.linspace(4, 7, n_visits)
    lag = np.abs(np.subtract.outer(np.arange(n_visits), np.arange(n_visits)))
    chol = np.linalg.cholesky(np.outer(sd, sd) * 0.5**lag)
    out = []
    for _ in range(n_trials):
        arm = np.repeat(["A", "B"], n // 2)
        base = rng.normal(40, 8, n)
        y = (
            0.4 * base[:, None]
            + np.linspace(0, 3, n_visits)
            + (arm == "B")[:, None] * np.linspace(0, 2, n_visits)
            + rng.standard_normal((n, n_visits)) @ chol.T
        )
        drop = np.where(rng.uniform(size=n) < 0.3, rng.integers(2, n_visits, n), n_visits)
        y[np.arange(n_visits)[None, :] >= drop[:, None]] = np.nan
        y[rng.uniform(size=y.shape) < 0.05] = np.nan  # intermittent holes
        out.append(
            pd.DataFrame(
                {
                    "id": np.repeat(np.arange(n), n_visits),
                    "visit": np.tile([f"V{k}" for k in range(n_visits)], n),
                    "arm": np.repeat(arm, n_visits),
                    "base": np.repeat(base, n_visits),
                    "y": y.ravel(),
                }
            )
        )
    return out


@pytest.fixture(scope="module")
def batches() -> tuple[core.Batch, core.Batch]:
    """The same data sets with the separable-design sums and without (per subject)."""
    frame = build_frame(_trials(40, seed=3), FORMULA, "id", "visit", strict=False)
    assert frame.batch.kron is not None and not frame.problems
    rows = frame.batch.x.copy()  # built from the separable factors
    return frame.batch, dataclasses.replace(frame.batch, kron=None, rows=rows)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("derivs", ["none", "grad", "approx"])
def test_kernel_evaluation_equals_per_subject_numpy(
    batches: tuple[core.Batch, core.Batch], reml: bool, derivs: str
) -> None:
    kron, plain = batches
    rng = np.random.default_rng(11)
    sigma = core.ols_sigma(plain)
    sigma = sigma * rng.uniform(0.7, 1.3, (sigma.shape[0], 1, 1))  # away from any optimum
    got = core.evaluate(sigma, kron, reml, derivs)
    want = core.evaluate(sigma, plain, reml, derivs)
    np.testing.assert_allclose(got.f, want.f, rtol=1e-12)
    np.testing.assert_allclose(got.beta, want.beta, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(got.a, want.a, rtol=1e-9, atol=1e-14)
    if derivs != "none":
        assert got.grad_sigma is not None and want.grad_sigma is not None
        scale = np.abs(want.grad_sigma).max()
        np.testing.assert_allclose(got.grad_sigma, want.grad_sigma, rtol=0, atol=1e-10 * scale)
    if derivs == "approx":
        assert got.hess_sigma is not None and want.hess_sigma is not None
        scale = np.abs(want.hess_sigma).max()
        np.testing.assert_allclose(got.hess_sigma, want.hess_sigma, rtol=0, atol=1e-10 * scale)


def test_kernel_evaluates_a_subset_and_flags_non_positive_definite_sigma(
    batches: tuple[core.Batch, core.Batch],
) -> None:
    kron, plain = batches
    idx = np.array([5, 2, 17])
    sigma = core.ols_sigma(plain)[idx]
    sigma[1] = -np.eye(sigma.shape[1])  # not positive definite
    got = core.evaluate(sigma, kron, True, "grad", idx)
    want = core.evaluate(sigma, plain.subset(idx), True, "grad")
    assert np.isinf(got.f[1]) and np.isinf(want.f[1])
    np.testing.assert_allclose(got.f[[0, 2]], want.f[[0, 2]], rtol=1e-12)


@pytest.mark.parametrize("reml", [True, False])
def test_compiled_us_optimiser_follows_the_numpy_optimiser(
    batches: tuple[core.Batch, core.Batch], reml: bool
) -> None:
    """Same starting values: the same number of iterations and the same optimum."""
    kron, plain = batches
    structure = Unstructured(kron.y.shape[2])
    theta0 = structure.start(core.ols_sigma(plain))
    got = core.optimize(structure, kron, reml, theta0, fixed_point_start=False)  # compiled
    want = core.optimize(structure, plain, reml, theta0)  # numpy, per subject
    assert got.converged.all() and want.converged.all()
    np.testing.assert_array_equal(got.iterations, want.iterations)
    np.testing.assert_allclose(got.f, want.f, rtol=1e-12)
    np.testing.assert_allclose(got.theta, want.theta, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(got.beta, want.beta, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(got.a, want.a, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(got.grad, want.grad, rtol=0, atol=1e-6)
    assert (got.decrement < 1e-10).all()
    # the final gradient is the exact one at the optimum (to rounding: it is a small
    # difference of terms of order n)
    ev = core.evaluate(structure.sigma(got.theta), plain, reml, "grad")
    assert ev.grad_sigma is not None
    grad = core.theta_gradient(structure, got.theta, ev.grad_sigma)
    np.testing.assert_allclose(got.grad, grad, rtol=0, atol=1e-8)


def test_compiled_us_optimiser_reports_a_start_it_cannot_evaluate(
    batches: tuple[core.Batch, core.Batch],
) -> None:
    kron, plain = batches
    structure = Unstructured(kron.y.shape[2])
    theta0 = structure.start(core.ols_sigma(plain))
    theta0[3, 0] = np.nan
    theta0[4, 0] = 800.0  # exp overflows: Sigma not finite
    got = core.optimize(structure, kron, True, theta0, max_iter=2)
    for k in (3, 4):
        assert not got.converged[k] and "not finite at the starting values" in got.reason[k]
        assert np.isnan(got.beta[k]).all() and np.isnan(got.a[k]).all()
    limited = [k for k in range(theta0.shape[0]) if k not in (3, 4)]
    assert all(got.reason[k] == "iteration limit 2 reached" for k in limited)
    assert (got.iterations[limited] == 2).all()


def test_other_structures_use_the_kernel_evaluation_in_the_numpy_optimiser(
    batches: tuple[core.Batch, core.Batch],
) -> None:
    kron, plain = batches
    structure = make_structure("ar1h", kron.y.shape[2])
    theta0 = structure.start(core.ols_sigma(plain))
    got = core.optimize(structure, kron, True, theta0)
    want = core.optimize(structure, plain, True, theta0)
    np.testing.assert_allclose(got.f, want.f, rtol=1e-12)
    np.testing.assert_allclose(got.theta, want.theta, rtol=1e-7, atol=1e-8)


def test_jacobi_eigen_matches_lapack() -> None:
    rng = np.random.default_rng(5)
    for n in (1, 2, 6, 21):
        a = rng.standard_normal((n, n))
        a = a + a.T  # indefinite
        vals, vecs = np.zeros(n), np.zeros((n, n))
        kernels._jacobi_eigen(a, np.zeros((n, n)), vals, vecs)
        np.testing.assert_allclose(np.sort(vals), np.linalg.eigvalsh(a), atol=1e-12 * n)
        np.testing.assert_allclose(vecs @ np.diag(vals) @ vecs.T, a, atol=1e-12 * n)
        np.testing.assert_allclose(vecs.T @ vecs, np.eye(n), atol=1e-12)


def test_newton_direction_modifies_an_indefinite_hessian() -> None:
    rng = np.random.default_rng(6)
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    vals = np.array([4.0, -2.0, 1.0, 0.5, -0.25])
    h = q @ np.diag(vals) @ q.T
    g = rng.standard_normal(5)
    d = np.zeros(5)
    pd = kernels._newton(h, g, np.zeros((5, 5)), d, np.zeros(5), np.zeros((5, 5)))
    assert not pd
    want = -q @ ((q.T @ g) / np.abs(vals))
    np.testing.assert_allclose(d, want, rtol=1e-10)
    assert g @ d < 0  # a descent direction
    spd = h @ h.T + np.eye(5)
    assert kernels._newton(spd, g, np.zeros((5, 5)), d, np.zeros(5), np.zeros((5, 5)))
    np.testing.assert_allclose(d, -np.linalg.solve(spd, g), rtol=1e-10)


def test_design_rows_built_from_the_separable_factors_equal_formulaic() -> None:
    from formulaic import model_matrix

    data = _trials(3, seed=8)
    frame = build_frame(data, FORMULA, "id", "visit", strict=False)
    assert frame.batch.rows is None  # not built until needed
    for k, d in enumerate(data):
        want = np.asarray(model_matrix(FORMULA, d.dropna()).rhs, dtype=float)
        got = frame.batch.x[k][frame.batch.mask[k]]
        np.testing.assert_array_equal(got, want)


def test_ols_start_from_the_per_pattern_sums_equals_the_per_subject_one(
    batches: tuple[core.Batch, core.Batch],
) -> None:
    kron, plain = batches
    np.testing.assert_allclose(core.ols_sigma(kron), core.ols_sigma(plain), rtol=1e-10)


@pytest.mark.parametrize("reml", [True, False])
def test_compiled_exact_hessian_and_variance_gradient_equal_the_per_subject_ones(
    batches: tuple[core.Batch, core.Batch], reml: bool
) -> None:
    """Satterthwaite's pieces of estimate_many for separable designs (compiled, from the
    per-pattern sums, REML's trace term included) against the per-subject numpy
    evaluation: exact Hessian in Sigma, and the gradient in Sigma of l' Phi l,
    sum_n (Z_n Phi l)(Z_n Phi l)'; then the chain rule to the us parameters."""
    kron, plain = batches
    rng = np.random.default_rng(12)
    sigma = core.ols_sigma(plain) * rng.uniform(0.7, 1.3, (kron.n_sets, 1, 1))
    want = core.evaluate(sigma, plain, reml, "exact")
    phil = rng.standard_normal((kron.n_sets, 2, want.beta.shape[1]))
    got, msum = core.exact_with_variance_gradient(sigma, kron, reml, phil)
    np.testing.assert_allclose(got.f, want.f, rtol=1e-12)
    assert got.hess_sigma is not None and want.hess_sigma is not None
    scale = np.abs(want.hess_sigma).max()
    np.testing.assert_allclose(got.hess_sigma, want.hess_sigma, rtol=0, atol=1e-10 * scale)
    zl = np.einsum("bntp,bkp->bknt", want.z, phil)
    wanted = np.einsum("bkna,bknc->bkac", zl, zl)
    np.testing.assert_allclose(msum, wanted, rtol=0, atol=1e-10 * np.abs(wanted).max())
    structure = Unstructured(kron.y.shape[2])
    theta = structure.start(sigma)
    hess, vgrad = core.variance_chain_rule(structure, theta, got, msum)  # compiled for us
    _, hess_np, jac = core.theta_derivatives(structure, theta, got)
    np.testing.assert_allclose(hess, hess_np, rtol=0, atol=1e-10 * np.abs(hess_np).max())
    vgrad_np = np.einsum("bjac,bkac->bkj", jac, msum)
    np.testing.assert_allclose(vgrad, vgrad_np, rtol=0, atol=1e-10 * np.abs(vgrad_np).max())


def test_compiled_exact_evaluation_flags_a_sigma_it_cannot_evaluate(
    batches: tuple[core.Batch, core.Batch],
) -> None:
    kron, plain = batches
    sigma = core.ols_sigma(plain)[:3]
    sigma[1] = -np.eye(sigma.shape[1])
    got, msum = core.exact_with_variance_gradient(
        sigma, kron.subset(np.arange(3)), True, np.ones((3, 1, kron.kron.ci.size))
    )
    assert np.isinf(got.f[1]) and np.isnan(got.hess_sigma[1]).all() and np.isnan(msum[1]).all()
    assert np.isfinite(got.hess_sigma[[0, 2]]).all()


@pytest.mark.parametrize("reml", [True, False])
def test_compiled_optimiser_ends_with_the_exact_hessian_of_its_optimum(
    batches: tuple[core.Batch, core.Batch], reml: bool
) -> None:
    """``exact_hessian=True``: the optimiser's last evaluation gives the exact Hessian in
    theta (trace term included), equal to a separate exact evaluation at the optimum (the
    per-subject numpy one); the optimum itself does not move."""
    kron, plain = batches
    structure = Unstructured(kron.y.shape[2])
    theta0 = structure.start(core.start_sigma(kron))
    quasi = core.optimize(structure, kron, reml, theta0)
    opt = core.optimize(structure, kron, reml, theta0, exact_hessian=True)
    assert opt.converged.all() and opt.exact.all() and not quasi.exact.any()
    np.testing.assert_array_equal(opt.theta, quasi.theta)
    np.testing.assert_array_equal(opt.beta, quasi.beta)
    want = core.evaluate(structure.sigma(opt.theta), plain, reml, "exact")
    _, hess, _ = core.theta_derivatives(structure, opt.theta, want)
    np.testing.assert_allclose(opt.hess, hess, rtol=0, atol=1e-8 * np.abs(hess).max())
    assert np.abs(quasi.hess - hess).max() > 1e-3 * np.abs(hess).max()  # not the quasi one


def test_compiled_optimiser_gives_no_exact_hessian_where_it_stopped_without_an_optimum(
    batches: tuple[core.Batch, core.Batch],
) -> None:
    kron, _ = batches
    structure = Unstructured(kron.y.shape[2])
    theta0 = structure.start(core.start_sigma(kron))[:3]
    theta0[1] = np.nan  # -2 log L not finite at the start
    sub = kron.subset(np.arange(3))
    opt = core.optimize(structure, sub, True, theta0, exact_hessian=True)
    assert opt.exact.tolist() == [True, False, True]
    pair = sub.subset(np.array([0, 2]))
    limited = core.optimize(structure, pair, True, theta0[[0, 2]], max_iter=1, exact_hessian=True)
    assert not limited.converged.any() and limited.exact.all()  # at the iteration limit
    want = core.exact_with_variance_gradient(
        structure.sigma(limited.theta), pair, True, np.zeros((2, 1, sub.kron.ci.size))
    )[0]
    hess, _ = core.variance_chain_rule(
        structure, limited.theta, want, np.zeros((2, 1, *want.grad_sigma.shape[1:]))
    )
    np.testing.assert_allclose(limited.hess, hess, rtol=0, atol=1e-9 * np.abs(hess).max())


def test_compiled_variance_gradient_alone_equals_the_exact_evaluations(
    batches: tuple[core.Batch, core.Batch],
) -> None:
    kron, plain = batches
    rng = np.random.default_rng(5)
    sigma = core.ols_sigma(plain) * rng.uniform(0.7, 1.3, (kron.n_sets, 1, 1))
    sigma[4] = -np.eye(sigma.shape[1])
    phil = rng.standard_normal((kron.n_sets, 3, kron.kron.ci.size))
    _, want = core.exact_with_variance_gradient(sigma, kron, True, phil)
    got = core.variance_gradient(sigma, kron, phil)
    assert np.isnan(got[4]).all() and np.isnan(want[4]).all()
    ok = np.arange(kron.n_sets) != 4
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-13, atol=0)
    structure = Unstructured(kron.y.shape[2])
    theta = structure.start(sigma[ok])
    np.testing.assert_allclose(
        core.variance_theta_gradient(structure, theta, got[ok]),
        np.einsum("bjac,bkac->bkj", structure.jacobian(theta), got[ok]),
        rtol=1e-12,
        atol=1e-12 * np.abs(got[ok]).max(),
    )


def _fixed_point_step(plain: core.Batch, sigma: np.ndarray, reml: bool) -> np.ndarray:
    """One REML (ML) fixed-point step written per subject with numpy: r_n r_n' (+ X_n A
    X_n') summed over the subjects observed at every visit up to j, visit j regressed on
    the earlier ones, the residual variance divided by their number."""
    ev = core.evaluate(sigma, plain, reml, "none")
    x, mask = plain.x, plain.mask
    r = (plain.y - np.einsum("bntp,bp->bnt", x, ev.beta)) * mask
    extra = np.einsum("bntp,bpq,bnsq->bnts", x, ev.a, x) if reml else 0.0 * r[..., None]
    t = sigma.shape[1]
    out = np.empty_like(sigma)
    for b in range(sigma.shape[0]):
        tm, dvec = np.eye(t), np.zeros(t)
        for j in range(t):
            keep = mask[b, :, : j + 1].all(axis=1)
            rows = r[b, keep, : j + 1]
            sums = rows.T @ rows + extra[b, keep, : j + 1, : j + 1].sum(axis=0)
            coef = np.linalg.solve(sums[:j, :j], sums[:j, j]) if j else np.zeros(0)
            dvec[j] = (sums[j, j] - sums[:j, j] @ coef) / keep.sum()
            tm[j, :j] = -coef
        tinv = np.linalg.inv(tm)
        out[b] = tinv @ np.diag(dvec) @ tinv.T
    return out


def _start_taken(kron: core.Batch, theta0: np.ndarray, reml: bool) -> np.ndarray:
    """Sigma where the compiled optimiser starts from ``theta0`` (no iteration)."""
    structure = Unstructured(kron.y.shape[2])
    opt = core.optimize(structure, kron, reml, theta0, max_iter=0)
    assert (opt.iterations == 0).all()
    return structure.sigma(opt.theta)


@pytest.mark.parametrize("reml", [True, False])
def test_fixed_point_start_equals_the_per_subject_step(
    batches: tuple[core.Batch, core.Batch], reml: bool
) -> None:
    """The optimiser's fixed-point start against the same step per subject (data with
    dropout and holes), where it is at least as good as the given start; and for complete
    data the textbook REML fixed point sum_n (r_n r_n' + X_n A X_n') / N."""
    kron, plain = batches
    structure = Unstructured(kron.y.shape[2])
    sigma0 = core.ols_sigma(plain)
    theta0 = structure.start(sigma0)
    step = _fixed_point_step(plain, structure.sigma(theta0), reml)
    better = (
        core.evaluate(step, plain, reml, "none").f <= core.evaluate(sigma0, plain, reml, "none").f
    )
    assert better.mean() > 0.5  # (from the moment estimate: 32 of 40)
    got = _start_taken(kron, theta0, reml)
    scale = np.abs(step).max()
    np.testing.assert_allclose(got[better], step[better], rtol=1e-9, atol=1e-11 * scale)
    np.testing.assert_allclose(got[~better], structure.sigma(theta0)[~better], rtol=1e-12)
    complete = build_frame(
        [d.fillna({"y": 1.0}) for d in _trials(6, seed=9)], FORMULA, "id", "visit"
    ).batch
    theta0 = structure.start(core.ols_sigma(complete))
    ev = core.evaluate(structure.sigma(theta0), complete, reml, "none")
    r = complete.y - np.einsum("bntp,bp->bnt", complete.x, ev.beta)
    sums = np.einsum("bnt,bns->bts", r, r)
    if reml:
        sums += np.einsum("bntp,bpq,bnsq->bts", complete.x, ev.a, complete.x)
    want = sums / complete.y.shape[1]
    got = _start_taken(complete, theta0, reml)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11 * np.abs(want).max())


def test_fixed_point_start_shortens_the_optimisation_to_the_same_optimum(
    batches: tuple[core.Batch, core.Batch],
) -> None:
    kron, _ = batches
    structure = Unstructured(kron.y.shape[2])
    theta0 = structure.start(core.start_sigma(kron))
    plain_start = core.optimize(structure, kron, True, theta0, fixed_point_start=False)
    refined = core.optimize(structure, kron, True, theta0)
    assert refined.converged.all() and plain_start.converged.all()
    assert refined.iterations.sum() < 0.9 * plain_start.iterations.sum()  # 303 against 353
    np.testing.assert_allclose(refined.f, plain_start.f, rtol=1e-12)
    np.testing.assert_allclose(refined.beta, plain_start.beta, rtol=1e-5, atol=1e-6)


def test_optimiser_falls_back_to_the_start_it_was_given() -> None:
    """Where the fixed-point step is worse than the given start (10 subjects with holes:
    three of these 20 trials), the optimiser starts from the given one: the run is the
    one without the step, iteration for iteration."""
    frame = build_frame(_trials(20, seed=8, n=10), FORMULA, "id", "visit", strict=False)
    kron = frame.batch
    plain = dataclasses.replace(kron, kron=None, rows=kron.x.copy())
    structure = Unstructured(kron.y.shape[2])
    sigma0 = core.start_sigma(kron)
    step = _fixed_point_step(plain, sigma0, True)
    worse = ~(
        core.evaluate(step, plain, True, "none").f <= core.evaluate(sigma0, plain, True, "none").f
    )
    assert worse.sum() == 3
    theta0 = structure.start(sigma0)
    with_step = core.optimize(structure, kron, True, theta0)
    without = core.optimize(structure, kron, True, theta0, fixed_point_start=False)
    np.testing.assert_array_equal(with_step.iterations[worse], without.iterations[worse])
    np.testing.assert_array_equal(with_step.theta[worse], without.theta[worse])
    assert (with_step.iterations[~worse] != without.iterations[~worse]).any()
