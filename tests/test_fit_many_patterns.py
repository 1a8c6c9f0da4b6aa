"""fit_many on data sets with many missingness patterns equals single fits (issue 14).

fit_many groups each data set's subjects by missingness pattern and optimises from the
factored-likelihood start (``mmrm_core.start_sigma``); a single ``mmrm`` fit is a batch of
one. Both must give the same estimates, standard errors and Satterthwaite df (to 1e-8)
whatever else is in the batch: monotone dropout at every visit, participants with
non-monotone gaps, a data set whose start falls back to the moment estimate, and data
sets that cannot be fitted (singular design, a visit with one observation) or do not
converge within the iteration limit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from frailtrial.errors import ConvergenceError, InputError
from frailtrial.stats import mmrm_core as core
from frailtrial.stats.mmrm import estimate_many, fit_many, mmrm
from frailtrial.stats.mmrm_data import build_frame

ARGS = {"formula": "y ~ base + arm*visit", "subject": "id", "visit": "visit"}
N, T = 30, 6


def _trial(rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """A two-arm 30 x 6 trial (AR(1) errors, baseline covariate) with monotone dropout at
    every visit from the second on, and its outcome matrix (participants x visits)."""
    sd = np.linspace(5, 8, T)
    lag = np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
    chol = np.linalg.cholesky(np.outer(sd, sd) * 0.6**lag)
    arm = np.repeat(["PBO", "TRT"], N // 2)
    base = rng.normal(50, 10, N)
    y = (
        0.5 * base[:, None]
        + np.linspace(0, 5, T)
        + (arm == "TRT")[:, None] * np.linspace(0, 4, T)
        + rng.standard_normal((N, T)) @ chol.T
    )
    drop = np.full(N, T)
    drop[: 2 * (T - 1)] = np.repeat(np.arange(1, T), 2)  # two dropouts after each visit
    y[np.arange(T)[None, :] >= drop[:, None]] = np.nan
    frame = pd.DataFrame(
        {
            "id": np.repeat(np.arange(N), T),
            "visit": np.tile([f"V{k + 1}" for k in range(T)], N),
            "arm": np.repeat(arm, T),
            "base": np.repeat(base, T),
        }
    )
    return frame, y


def _with(frame: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    return frame.assign(y=y.ravel())


def _data_sets() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(14)
    out = {}
    frame, y = _trial(rng)
    y[20, 2] = np.nan  # non-monotone: a gap at visit 3, seen again later
    y[21, [1, 3]] = np.nan  # two gaps
    y[22, 0] = np.nan  # first visit missed
    out["gaps"] = _with(frame, y)
    frame, y = _trial(rng)
    y[3:27, 0] = np.nan  # 6 at the first visit, 3 of them seen at every visit: the
    # factored start cannot be formed (the moment estimate is used), and the optimiser
    # finds no optimum (the covariances of the first visit are barely determined)
    out["few at first visit"] = _with(frame, y)
    frame, y = _trial(rng)
    out["plain"] = _with(frame, y)
    frame, y = _trial(rng)
    y[N // 2 :, 3] = np.nan  # no treated participant at visit 4: singular design
    out["no treated at V4"] = _with(frame, y)
    frame, y = _trial(rng)
    y[:, 5] = np.nan
    y[29, 5] = 1.0  # one observation at the last visit
    out["one at last visit"] = _with(frame, y)
    frame, y = _trial(rng)
    y[25, [2, 4]] = np.nan
    out["gap, plain"] = _with(frame, y)
    return out


@pytest.fixture(scope="module")
def fitted() -> tuple[list[str], list[pd.DataFrame], list, pd.DataFrame, np.ndarray]:
    sets = _data_sets()
    names, data = list(sets), list(sets.values())
    fits = fit_many(data, **ARGS)
    _, lmat = fits[0].treatment_contrast_matrix()
    return names, data, fits, estimate_many(fits, lmat), lmat


def test_the_batch_has_many_patterns_and_the_start_falls_back_where_it_must() -> None:
    sets = _data_sets()
    frame = build_frame(list(sets.values()), **ARGS, strict=False)
    batch = frame.batch
    n_patterns = (batch.members.sum(axis=2) > 0).sum(axis=1)
    assert n_patterns[0] >= T + 2  # monotone patterns plus three gap patterns
    kr = batch.kron
    assert kr is not None
    sigma = np.zeros((batch.n_sets, T, T))
    ok = np.zeros(batch.n_sets, dtype=bool)
    core.sequential_start(core.kron_arrays(batch, kr), sigma, ok)
    assert not ok[list(sets).index("few at first visit")]
    assert ok[list(sets).index("gaps")] and ok[list(sets).index("plain")]


def test_fit_many_equals_single_fits_to_1e8(
    fitted: tuple[list[str], list[pd.DataFrame], list, pd.DataFrame, np.ndarray],
) -> None:
    names, data, fits, tests, lmat = fitted
    compared = 0
    for i, (name, d, got) in enumerate(zip(names, data, fits, strict=True)):
        if name in ("no treated at V4", "one at last visit", "few at first visit"):
            continue
        one = mmrm(d, **ARGS)
        assert got.converged and one.converged, name
        assert got.neg2loglik == pytest.approx(one.neg2loglik, rel=1e-12, abs=1e-10)
        np.testing.assert_allclose(got.beta, one.beta, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(
            np.sqrt(np.diag(got.vcov)), np.sqrt(np.diag(one.vcov)), rtol=1e-8
        )
        want = one.estimate(lmat)
        row = tests[tests.fit == i].reset_index(drop=True)
        for col in ("estimate", "se", "df"):
            np.testing.assert_allclose(row[col], want[col], rtol=1e-8, atol=1e-10, err_msg=name)
        compared += 1
    assert compared == 3


def test_unfittable_data_sets_say_why_and_are_refused_alone(
    fitted: tuple[list[str], list[pd.DataFrame], list, pd.DataFrame, np.ndarray],
) -> None:
    names, data, fits, tests, _ = fitted
    reasons = {
        "no treated at V4": "singular fixed-effects design",
        "one at last visit": "visit 'V6' in data set 4 has 1 subject(s)",
    }
    for name, reason in reasons.items():
        i = names.index(name)
        assert not fits[i].converged and reason in fits[i].reason
        assert tests[tests.fit == i].df.isna().all()
        with pytest.raises(InputError, match=reason.split(" in data set")[0]):
            mmrm(data[i], **ARGS)


def test_a_fit_that_does_not_converge_fails_alone_too(
    fitted: tuple[list[str], list[pd.DataFrame], list, pd.DataFrame, np.ndarray],
) -> None:
    """The ill-posed data set stops without an optimum in the batch (with its reason) and
    alone (ConvergenceError); where it stops is not compared: on a likelihood without an
    optimum the path amplifies rounding differences of the start."""
    names, data, fits, _, _ = fitted
    i = names.index("few at first visit")
    assert not fits[i].converged and fits[i].reason
    with pytest.raises(ConvergenceError, match="did not converge"):
        mmrm(data[i], **ARGS)


def test_iteration_limit_in_a_batch_equals_single_fits() -> None:
    """A fit stopped by the iteration limit reports it in the batch; alone it raises, and
    the fits that converge within the limit are the same in both."""
    data = [d for name, d in _data_sets().items() if name in ("gaps", "plain", "gap, plain")]
    fits = fit_many(data, max_iter=4, **ARGS)
    assert any(not f.converged for f in fits)
    for d, got in zip(data, fits, strict=True):
        if got.converged:
            one = mmrm(d, max_iter=4, **ARGS)
            np.testing.assert_allclose(got.beta, one.beta, rtol=1e-8, atol=1e-10)
        else:
            assert got.reason == "iteration limit 4 reached"
            with pytest.raises(ConvergenceError, match="iteration limit 4 reached"):
                mmrm(d, max_iter=4, **ARGS)


def _factored_by_subject(d: pd.DataFrame) -> np.ndarray:
    """Anderson's factored estimate from the subjects' rows (per-subject least squares):
    visit j on (1, base, arm) and the earlier visits, over the subjects seen at every
    visit up to j; residual variance over n_j - 3."""
    wide = d.pivot(index="id", columns="visit", values="y").to_numpy()
    subj = d.groupby("id").first()
    c = np.column_stack([np.ones(len(subj)), subj.base, subj.arm == "TRT"])
    unit, dvec = np.eye(T), np.zeros(T)
    for j in range(T):
        seen = ~np.isnan(wide[:, : j + 1]).any(axis=1)
        design = np.column_stack([c[seen], wide[seen, :j]])
        coef, *_ = np.linalg.lstsq(design, wide[seen, j], rcond=None)
        resid = wide[seen, j] - design @ coef
        dvec[j] = resid @ resid / (seen.sum() - c.shape[1])
        unit[j, :j] = -coef[c.shape[1] :]
    inv = np.linalg.inv(unit)
    return inv @ np.diag(dvec) @ inv.T


def test_factored_start_equals_the_per_subject_regressions() -> None:
    """The compiled start from the per-pattern sums against per-subject least squares,
    and for complete data the closed form: residual cross-products over n - 3."""
    sets = _data_sets()
    chosen = [sets["gaps"], sets["plain"]]
    frame = build_frame(chosen, **ARGS)
    got = core.start_sigma(frame.batch)
    for k, d in enumerate(chosen):
        np.testing.assert_allclose(got[k], _factored_by_subject(d), rtol=1e-10)
    complete, y = _trial(np.random.default_rng(3))
    y = np.where(np.isnan(y), 1.0, y) + np.random.default_rng(4).standard_normal(y.shape)
    sigma = core.start_sigma(build_frame([_with(complete, y)], **ARGS).batch)[0]
    subj = complete.groupby("id").first()
    c = np.column_stack([np.ones(N), subj.base, subj.arm == "TRT"])
    resid = y - c @ np.linalg.lstsq(c, y, rcond=None)[0]
    np.testing.assert_allclose(sigma, resid.T @ resid / (N - 3), rtol=1e-10)
