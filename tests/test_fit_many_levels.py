"""fit_many on one long frame keeps the level order rules of each data set (issue 14).

The long frame is coded once for all data sets (levels of the first data set, in a
Categorical's declared order, else natural order). Data sets whose rows list the levels in
another order of appearance, or declare them as a Categorical, must give the fits of each
data set fitted alone (to 1e-8, Satterthwaite test of the last visit included); a data set
missing an arm is flagged, not fitted with other columns; a level the first data set does
not have is refused in one line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from frailtrial.errors import InputError
from frailtrial.stats import mmrm_data
from frailtrial.stats.mmrm import MmrmFit, estimate_many, fit_many, mmrm
from frailtrial.stats.mmrm_core import make_batch

ARGS = {"formula": "y ~ base + arm*visit", "subject": "id", "visit": "visit"}
N = 40
VISITS = ["week2", "week4", "week8", "week12", "week16", "week24"]  # text order differs


def _trial(seed: int) -> pd.DataFrame:
    """A two-arm trial, 40 x 6, AR(1) errors, some dropout after week 8."""
    rng = np.random.default_rng(seed)
    t = len(VISITS)
    lag = np.abs(np.subtract.outer(np.arange(t), np.arange(t)))
    chol = np.linalg.cholesky(np.outer(np.linspace(5, 8, t), np.linspace(5, 8, t)) * 0.6**lag)
    arm = np.repeat(["PBO", "TRT"], N // 2)
    base = rng.normal(50, 10, N)
    y = (
        0.5 * base[:, None]
        + np.linspace(0, 5, t)
        + (arm == "TRT")[:, None] * np.linspace(0, 4, t)
        + rng.standard_normal((N, t)) @ chol.T
    )
    drop = np.where(rng.uniform(size=N) < 0.25, rng.integers(3, t, N), t)
    y[np.arange(t)[None, :] >= drop[:, None]] = np.nan
    return pd.DataFrame(
        {
            "id": np.repeat(np.arange(N), t),
            "visit": np.tile(VISITS, N),
            "arm": np.repeat(arm, t),
            "base": np.repeat(base, t),
            "y": y.ravel(),
        }
    )


def _long(sets: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat([d.assign(trial=f"t{k}") for k, d in enumerate(sets)], ignore_index=True)


def _same_as_alone(got: MmrmFit, data: pd.DataFrame, row: pd.DataFrame, lmat: np.ndarray) -> None:
    one = mmrm(data, **ARGS)
    assert got.converged and one.converged
    assert got.terms == one.terms and got.visits == one.visits
    assert got.levels() == one.levels()
    assert got.neg2loglik == pytest.approx(one.neg2loglik, rel=1e-12, abs=1e-10)
    np.testing.assert_allclose(got.beta, one.beta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(got.sigma, one.sigma, rtol=1e-8, atol=1e-10)
    want = one.estimate(lmat)
    for col in ("estimate", "se", "df"):
        np.testing.assert_allclose(row[col], want[col], rtol=1e-8, atol=1e-10)


def test_levels_in_another_order_of_appearance_give_the_single_fits() -> None:
    """Text levels: natural order (week2 < week12, PBO reference) in every data set,
    whatever order the rows come in; subject ids shared across data sets."""
    plain = _trial(1)
    backwards = _trial(2).iloc[::-1]  # TRT and week24 first
    shuffled = _trial(3).sample(frac=1.0, random_state=4)
    sets = [plain, backwards, shuffled]
    fits = fit_many(_long(sets), dataset="trial", **ARGS)
    assert fits[0].visits == VISITS and fits[0].levels()["arm"] == ["PBO", "TRT"]
    _, lmat = fits[0].treatment_contrast_matrix()
    last = lmat[-2:-1]  # TRT - PBO at week24
    tests = estimate_many(fits, last)
    for k, d in enumerate(sets):
        _same_as_alone(fits[k], d, tests[tests.fit == k].reset_index(drop=True), last)


def test_declared_levels_of_a_long_frame_give_the_single_fits() -> None:
    """Categoricals declared on the long frame (TRT the reference, visits in a declared
    order): each data set fitted alone with the same declaration gives the same fits."""
    long = _long([_trial(5), _trial(6).iloc[::-1], _trial(7)])
    long["arm"] = pd.Categorical(long["arm"], categories=["TRT", "PBO"])
    long["visit"] = pd.Categorical(long["visit"], categories=VISITS)
    fits = fit_many(long, dataset="trial", **ARGS)
    assert fits[0].levels()["arm"] == ["TRT", "PBO"] and fits[0].visits == VISITS
    _, lmat = fits[0].treatment_contrast_matrix()
    tests = estimate_many(fits, lmat[-2:-1])
    for k, (_, d) in enumerate(long.groupby("trial", sort=False)):
        _same_as_alone(fits[k], d, tests[tests.fit == k].reset_index(drop=True), lmat[-2:-1])


def test_a_data_set_missing_an_arm_is_flagged_and_the_others_are_unchanged() -> None:
    sets = [_trial(8), _trial(9), _trial(10)]
    sets[1] = sets[1][sets[1]["arm"] == "PBO"]
    fits = fit_many(_long(sets), dataset="trial", **ARGS)
    assert not fits[1].converged
    assert "singular fixed-effects design in data set 1" in fits[1].reason
    assert "arm[T.TRT]" in fits[1].reason
    _, lmat = fits[0].treatment_contrast_matrix()
    tests = estimate_many(fits, lmat[-2:-1])
    assert tests[tests.fit == 1]["df"].isna().all()
    for k in (0, 2):
        _same_as_alone(fits[k], sets[k], tests[tests.fit == k].reset_index(drop=True), lmat[-2:-1])


def test_a_level_the_first_data_set_lacks_is_refused_in_one_line() -> None:
    other = _trial(12)
    other["arm"] = other["arm"].replace("TRT", "LOW")
    with pytest.raises(InputError) as err:
        fit_many(_long([_trial(11), other]), dataset="trial", **ARGS)
    message = str(err.value)
    assert "\n" not in message
    assert "column arm has value 'LOW' not seen in the first data set" in message
    assert "(levels: PBO, TRT)" in message


def test_subject_ids_unique_across_many_data_sets_give_the_same_fits() -> None:
    """Ids shared by the data sets (numbered from a data set x id table) and ids unique
    to each data set (too many for the table: numbered by sorting) lay out alike."""
    sets = [_trial(20 + k) for k in range(60)]
    shared = _long(sets)
    unique = shared.assign(id=shared["trial"] + "-" + shared["id"].astype(str))
    a = fit_many(shared, dataset="trial", **ARGS)
    b = fit_many(unique, dataset="trial", **ARGS)
    for x, y in zip(a, b, strict=True):
        assert x.converged and y.converged
        np.testing.assert_array_equal(x.beta, y.beta)
        assert x.neg2loglik == y.neg2loglik


@pytest.mark.parametrize("t", [4, 14, 63])  # up to the largest code of 64 bits
def test_missingness_patterns_are_numbered_in_code_order(t: int) -> None:
    """make_batch numbers each data set's patterns by increasing code (visit j observed:
    bit j; a compiled pass), against a direct count; padded patterns are empty."""
    rng = np.random.default_rng(t)
    mask = rng.uniform(size=(5, 30, t)) < 0.7
    mask[1, :, :] = mask[1, 0]  # one data set with a single pattern
    mask[2, 5:] = False  # subjects without observations (padding) share the empty pattern
    batch = make_batch(np.where(mask, 1.0, 0.0), mask)
    for s in range(5):
        codes = [sum(1 << j for j in np.flatnonzero(row)) for row in mask[s]]
        distinct = sorted(set(codes))
        assert batch.pattern_of[s].tolist() == [distinct.index(c) for c in codes]
        k = len(distinct)
        bits = [[(c >> j) & 1 for j in range(t)] for c in distinct]
        np.testing.assert_array_equal(batch.pattern_mask[s, :k], bits)
        assert not batch.pattern_mask[s, k:].any() and not batch.members[s, k:].any()
        np.testing.assert_array_equal(batch.members[s, :k].sum(axis=1), np.bincount(
            batch.pattern_of[s], minlength=k))  # fmt: skip
    assert batch.pattern_mask.shape[1] == max(len(set(map(tuple, m))) for m in mask)


def test_more_visits_than_a_pattern_code_holds_are_refused() -> None:
    mask = np.ones((1, 3, 64), dtype=bool)
    with pytest.raises(InputError, match="64 visits: at most 63 are allowed"):
        make_batch(np.zeros(mask.shape), mask)


def test_coding_in_threads_equals_coding_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Long frames code their factor columns in threads: the same fits and the same
    one-line refusal as coding them one after the other."""
    sets = [_trial(30), _trial(31).iloc[::-1], _trial(32)]
    alone = fit_many(_long(sets), dataset="trial", **ARGS)
    monkeypatch.setattr(mmrm_data, "PARALLEL_ROWS", 0)
    threaded = fit_many(_long(sets), dataset="trial", **ARGS)
    for x, y in zip(alone, threaded, strict=True):
        np.testing.assert_array_equal(x.beta, y.beta)
        assert x.neg2loglik == y.neg2loglik and x.terms == y.terms
    other = _trial(33)
    other["visit"] = other["visit"].replace("week24", "week52")
    with pytest.raises(InputError, match="column visit has value 'week52' not seen in the first"):
        fit_many(_long([*sets, other]), dataset="trial", **ARGS)


@pytest.mark.parametrize(("n_sets", "workers"), [(2000, 2), (129, 2), (5000, 4), (2500, 1)])
def test_chunks_cover_the_data_sets_in_order_large_first(n_sets: int, workers: int) -> None:
    """fit_many's chunks: every data set once, in order, at most CHUNK each, sizes never
    growing, the last ones at most TAIL_CHUNK when several workers share them."""
    from frailtrial.stats import mmrm

    chunks = mmrm._chunks(n_sets, workers)
    np.testing.assert_array_equal(np.concatenate(chunks), np.arange(n_sets))
    sizes = [len(c) for c in chunks]
    assert max(sizes) <= mmrm.CHUNK and sizes == sorted(sizes, reverse=True)
    if workers > 1:
        assert sizes[-1] <= mmrm.TAIL_CHUNK and len(chunks) >= 2 * workers


def test_rank_suspects_of_the_sums_are_the_singular_designs() -> None:
    """The compiled pre-test of rank_problems flags exactly the data sets whose X'X (from
    the per-pattern sums) is singular by its eigenvalues: here those without one arm, or
    with the baseline equal to a multiple of the arm indicator."""
    from frailtrial.stats.mmrm_core import kron_arrays, normal_equations
    from frailtrial.stats.mmrm_data import build_frame
    from frailtrial.stats.mmrm_kernels import rank_suspects

    sets = [_trial(40 + k) for k in range(6)]
    sets[1] = sets[1].assign(arm=sets[1]["arm"].iloc[0])
    sets[4] = sets[4].assign(base=(sets[4]["arm"] == sets[4]["arm"].iloc[-1]) * 3.0)
    frame = build_frame(_long(sets), dataset="trial", strict=False, check_rank=False, **ARGS)
    batch = frame.batch
    assert batch.kron is not None
    flagged = np.zeros(batch.n_sets, dtype=bool)
    rank_suspects(kron_arrays(batch, batch.kron), flagged)
    xtx = normal_equations(batch)[0]
    scale = np.sqrt(np.clip(np.diagonal(xtx, axis1=1, axis2=2), 1e-300, None))
    vals = np.linalg.eigvalsh(xtx / (scale[:, :, None] * scale[:, None, :]))
    singular = vals[:, 0] < 1e-10 * vals[:, -1]
    assert singular.tolist() == [False, True, False, False, True, False]
    np.testing.assert_array_equal(flagged, singular)
