"""The conditional-mean jackknife from per-pattern sums (fits and ANCOVA) against the same
analysis of its n + 1 completed data sets laid out in full, on designs off the rbmi
example: three arms, intermittent missing visits, mixed strategies, large outcomes, a
design that is not separable; and its memory, linear in the trial."""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
import pandas as pd
import pytest

from frailtrial.stats.sensitivity import prepare_imputations
from frailtrial.stats.sensitivity.analysis import AncovaParts, ancova_parts, jackknife_parts
from frailtrial.stats.sensitivity.fitting import fit_jackknife, fit_samples
from frailtrial.stats.sensitivity.imputation import impute
from frailtrial.stats.sensitivity.layout import Layout, build_layout

FORMULA = "Y ~ BASE*WEEK + ARM*WEEK"
ANALYSIS = "Y ~ ARM + BASE"


def three_arms(seed: int, n: int = 45, offset: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three arms (reference "ctl"), visits "w2" < "w4" < "w8" < "w12", dropout and
    intermittent missing visits; ICEs at the first missing visit with strategies cycling
    through JR, CIR, LMCF, CR and MAR. Every subject has a row at every visit."""
    rng = np.random.default_rng(seed)
    weeks = ["w2", "w4", "w8", "w12"]
    arm = np.array(["ctl", "low", "high"])[np.arange(n) % 3]
    base = rng.normal(50, 8, n)
    lag = np.abs(np.subtract.outer(np.arange(4), np.arange(4)))
    y = (
        offset
        + 0.4 * base[:, None]
        + np.array([1.0, 2.0, 2.5, 3.0])
        + (arm == "high")[:, None] * np.array([0.5, 1.5, 2.5, 3.5])
        + rng.standard_normal((n, 4)) @ np.linalg.cholesky(16.0 * 0.5**lag).T
    )
    drop = np.where(rng.uniform(size=n) < 0.4, rng.integers(1, 4, n), 4)
    missing = (np.arange(4)[None, :] >= drop[:, None]) | (rng.uniform(size=(n, 4)) < 0.08)
    missing[:, 0] &= rng.uniform(size=n) < 0.5  # some first visits missing, not all
    y[missing] = np.nan
    ids = np.repeat(np.arange(n), 4)
    data = pd.DataFrame(
        {
            "SUBJ": [f"s{i:03d}" for i in ids],
            "WEEK": pd.Categorical(np.tile(weeks, n), weeks, ordered=True),
            "ARM": pd.Categorical(arm[ids], ["ctl", "low", "high"]),
            "BASE": base[ids],
            "Y": y.ravel(),
        }
    )
    first = np.argmax(missing, axis=1)
    with_ice = np.flatnonzero(missing.any(axis=1) & (first > 0))
    strategies = np.array(["JR", "CIR", "LMCF", "CR", "MAR"])[np.arange(with_ice.size) % 5]
    ice = pd.DataFrame(
        {
            "SUBJ": [f"s{i:03d}" for i in with_ice],
            "WEEK": [weeks[k] for k in first[with_ice]],
            "strategy": strategies,
        }
    )
    return data, ice


def _layout(data: pd.DataFrame, ice: pd.DataFrame, formula: str = FORMULA) -> Layout:
    return build_layout(data, formula, "SUBJ", "WEEK", "ARM", "ctl", ANALYSIS, ice, "JR")


def _in_full(layout: Layout, shift: np.ndarray) -> AncovaParts:
    """The ANCOVA of the jackknife's n + 1 completed data sets, laid out in full."""
    n = layout.n
    fits = fit_jackknife(layout)
    counts = np.ones((n + 1, n))
    counts[np.arange(1, n + 1), np.arange(n)] = 0.0
    return ancova_parts(layout, impute(layout, fits.beta, fits.sigma), shift, counts)


@pytest.mark.parametrize(("seed", "offset"), [(1, 0.0), (2, 0.0), (3, 1e6)])
def test_jackknife_from_sums_equals_the_analysis_of_the_completed_data(
    seed: int, offset: float
) -> None:
    data, ice = three_arms(seed, offset=offset)
    layout = _layout(data, ice)
    assert layout.kron is not None and len(layout.levels) == 3
    assert set(ice["strategy"]) == {"JR", "CIR", "LMCF", "CR", "MAR"}
    intermittent = layout.missing[:, :-1] & ~layout.missing[:, 1:]
    assert intermittent.any()
    shift = layout.shift
    fits = fit_jackknife(layout)
    sums = jackknife_parts(layout, fits.beta, fits.sigma, shift)
    full = _in_full(layout, shift)
    tol = 1e-9 + 1e-14 * offset  # both round at the outcomes' scale
    for delta in (0.0, -3.5, 12.0):
        a, b = sums.at(delta), full.at(delta)
        for name in ("lsmean", "effect", "df"):
            assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-9, abs=tol)
        for name in ("lsmean_se", "effect_se"):
            assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-7)


def test_a_delta_equals_analysing_the_shifted_data() -> None:
    """The analysis at delta d (from the parts) = the analysis of the completed data plus
    d at the imputed visits of the non-reference arms, done afresh."""
    data, ice = three_arms(4)
    layout = _layout(data, ice)
    shift = layout.shift
    fits = fit_jackknife(layout)
    y = impute(layout, fits.beta[:5], fits.sigma[:5])
    counts = np.ones((5, layout.n))
    counts[np.arange(1, 5), np.arange(4)] = 0.0
    parts = ancova_parts(layout, y, shift, counts)
    moved = ancova_parts(layout, y + 7.25 * shift, np.zeros_like(shift), counts).at(0.0)
    at = parts.at(7.25)
    assert at.effect == pytest.approx(moved.effect, rel=1e-10, abs=1e-10)
    assert at.effect_se == pytest.approx(moved.effect_se, rel=1e-9)
    assert not np.allclose(at.effect, parts.at(0.0).effect)


def test_a_design_that_is_not_separable_is_fitted_from_the_subject_arrays() -> None:
    """sqrt(TIME + BASE) is no product of a subject and a visit column: the jackknife
    refits chunk the subject x visit arrays, and equal fits of every sample made alone."""
    data, ice = three_arms(5, n=30)
    data["TIME"] = data["WEEK"].cat.codes.astype(float) * 2.0 + 2.0
    layout = _layout(data, ice, FORMULA + " + np.sqrt(TIME + BASE)")
    assert layout.kron is None
    fits = fit_jackknife(layout)
    n = layout.n
    for k in (0, 7, n):
        idx = np.arange(n)[None]
        present = (np.arange(n) != k - 1)[None]
        alone = fit_samples(layout, idx, present)
        assert fits.beta[k] == pytest.approx(alone.beta[0], rel=1e-9, abs=1e-10)
    shift = layout.shift
    sums = jackknife_parts(layout, fits.beta, fits.sigma, shift).at(2.0)
    full = _in_full(layout, shift).at(2.0)
    assert sums.effect == pytest.approx(full.effect, rel=1e-9, abs=1e-9)


def _peak_bytes(n: int) -> float:
    data, ice = three_arms(6, n=n)
    kwargs: dict[str, Any] = {
        "formula": FORMULA, "subject": "SUBJ", "visit": "WEEK", "group": "ARM",
        "reference": "ctl", "analysis": ANALYSIS, "ice": ice, "strategy": "JR",
    }  # fmt: skip
    prepare_imputations(data, **kwargs)  # the designs kept, the kernels loaded
    tracemalloc.start()
    try:
        imp = prepare_imputations(data, **kwargs)
        imp.result(1.0)
        assert imp.n_samples == n
        return float(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


def test_jackknife_memory_grows_with_the_trial_not_its_square() -> None:
    """800 and 2,000 subjects (2.5 times as many): the n + 1 completed data sets would be
    6.25 times as large (2,001 x 2,000 x 4 floats, 128 MB per array, several arrays); the
    jackknife from sums grows about linearly and stays far below."""
    small, large = _peak_bytes(800), _peak_bytes(2000)
    assert large / small < 3.5, f"{small / 1e6:.0f} MB -> {large / 1e6:.0f} MB"
    assert large < 100e6, f"peak {large / 1e6:.0f} MB"


def test_a_batch_of_sums_starts_where_its_subjects_do() -> None:
    """The starting covariances (factored likelihood, and the moment estimate it falls
    back on) of a batch known by its per-pattern sums equal those of its subject arrays."""
    from frailtrial.stats import mmrm_core as core

    data, ice = three_arms(7)
    layout = _layout(data, ice)
    assert layout.kron is not None
    c, v, ci, vi = layout.kron
    y = np.where(layout.fit_mask, np.nan_to_num(layout.y), 0.0)
    rows = core.make_kron(c[None], v, ci, vi, core.make_batch(y[None], layout.fit_mask[None]))
    kr = rows.kron
    assert kr is not None
    sums = core.sums_batch(rows.pattern_mask, v, ci, vi, (kr.cc, kr.cy, kr.yy, kr.count))
    assert sums.y.shape[1] == 0 and sums.kron is not None
    assert sums.kron.n_obs == pytest.approx(kr.n_obs)
    assert core.start_sigma(sums) == pytest.approx(core.start_sigma(rows), rel=1e-12)
    assert core.ols_sigma(sums) == pytest.approx(core.ols_sigma(rows), rel=1e-12)


def test_either_way_of_analysing_a_jackknife_gives_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """800 subjects are analysed from sums (their 801 completed data sets would be 2.6
    million values); laid out instead, a chunk of samples at a time, the pooled result is
    the same."""
    from frailtrial.stats.sensitivity import run

    data, ice = three_arms(8, n=800)
    kwargs: dict[str, Any] = {
        "formula": FORMULA, "subject": "SUBJ", "visit": "WEEK", "group": "ARM",
        "reference": "ctl", "analysis": ANALYSIS, "ice": ice, "strategy": "JR",
    }  # fmt: skip
    assert run._from_sums(_layout(data, ice))
    sums = prepare_imputations(data, **kwargs).result(2.5)
    monkeypatch.setattr(run, "_from_sums", lambda layout: False)
    laid = prepare_imputations(data, **kwargs).result(2.5)
    for col in ("estimate", "se", "p_value"):
        want = laid.effects[col].to_numpy()
        assert sums.effects[col].to_numpy() == pytest.approx(want, rel=1e-9)


def test_a_pattern_per_subject_is_laid_out() -> None:
    """Scattered missing visits over 12 visits give nearly a pattern per subject: the
    per-pattern sums would cost more than the completed data sets."""
    from types import SimpleNamespace

    from frailtrial.stats.sensitivity import run

    rng = np.random.default_rng(2)
    dropout = np.arange(12)[None, :] >= rng.integers(2, 13, 1000)[:, None]
    scattered = rng.uniform(size=(1000, 12)) < 0.4
    for missing, sums in ((dropout, True), (scattered, False)):
        layout = SimpleNamespace(n=1000, visits=list(range(12)), missing=missing)
        assert run._from_sums(layout) is sums  # type: ignore[arg-type]


def test_many_visits_and_a_covariate_from_sums() -> None:
    """8 visits, an age covariate and scattered missing visits (dozens of patterns): each
    pattern's strategy designs span a few directions of their 8 x 33 entries (the sums
    keep only those), and the result equals the completed data sets'."""
    rng = np.random.default_rng(9)
    n, t = 240, 8
    weeks = [f"w{k}" for k in range(t)]
    arm = np.array(["ctl", "low", "high"])[np.arange(n) % 3]
    base, age = rng.normal(50, 8, n), rng.normal(75, 5, n)
    lag = np.abs(np.subtract.outer(np.arange(t), np.arange(t)))
    y = (
        0.4 * base[:, None] + 0.1 * age[:, None] + np.linspace(1, 3, t)
        + (arm == "high")[:, None] * np.linspace(0.5, 3.5, t)
        + rng.standard_normal((n, t)) @ np.linalg.cholesky(16.0 * 0.5**lag).T
    )  # fmt: skip
    drop = np.where(rng.uniform(size=n) < 0.4, rng.integers(1, t, n), t)
    missing = (np.arange(t)[None, :] >= drop[:, None]) | (rng.uniform(size=(n, t)) < 0.05)
    missing[:, 0] = False
    y[missing] = np.nan
    ids = np.repeat(np.arange(n), t)
    data = pd.DataFrame(
        {
            "SUBJ": ids,
            "WEEK": pd.Categorical(np.tile(weeks, n), weeks, ordered=True),
            "ARM": pd.Categorical(arm[ids], ["ctl", "low", "high"]),
            "BASE": base[ids],
            "AGE": age[ids],
            "Y": y.ravel(),
        }
    )
    first = np.argmax(missing, axis=1)
    hit = np.flatnonzero(missing.any(axis=1))
    ice = pd.DataFrame({"SUBJ": hit, "WEEK": [weeks[k] for k in first[hit]],
                        "strategy": np.array(["JR", "CIR", "MAR"])[hit % 3]})  # fmt: skip
    layout = build_layout(
        data, "Y ~ BASE*WEEK + AGE + ARM*WEEK", "SUBJ", "WEEK", "ARM", "ctl",
        "Y ~ ARM + BASE + AGE", ice, "JR",
    )  # fmt: skip
    assert len({tuple(r) for r in layout.missing}) > 20 and layout.x_own.shape[2] == 33
    shift = layout.shift
    fits = fit_jackknife(layout)
    sums = jackknife_parts(layout, fits.beta, fits.sigma, shift).at(-4.0)
    full = _in_full(layout, shift).at(-4.0)
    assert sums.effect == pytest.approx(full.effect, rel=1e-9, abs=1e-9)
    assert sums.effect_se == pytest.approx(full.effect_se, rel=1e-9)
    assert sums.lsmean == pytest.approx(full.lsmean, rel=1e-9)
