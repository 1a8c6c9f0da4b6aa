"""Fisher's exact test of 2 x 2 tables (contingency._fisher_2x2, neighbour ratios) against
scipy.stats.fisher_exact, the reference here (R's fisher.test values: test_stats_tests.py):
the two-sided p to 1e-12 on every table with cells 0-4, random tables up to n ~ 8000,
tables far in a tail and tables whose probabilities tie with the observed one."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as sps

from frailtrial.stats.contingency import fisher_exact


def _tables() -> list[np.ndarray]:
    rng = np.random.default_rng(2026)
    out = [np.array(c).reshape(2, 2) for c in itertools.product(range(5), repeat=4)]
    out += [rng.integers(0, k, size=(2, 2)) for k in (10, 40, 200, 2000) for _ in range(60)]
    out += [
        np.array(t)
        for t in (
            [[400, 1], [2, 300]],
            [[10, 10], [10, 10]],
            [[3, 0], [0, 3]],
            [[1, 9], [11, 3]],
            [[0, 4000], [300, 0]],
        )
    ]
    return [t for t in out if (t.sum(0) > 0).all() and (t.sum(1) > 0).all()]


def test_two_sided_p_as_scipy_stats() -> None:
    for t in _tables():
        want = float(sps.fisher_exact(t).pvalue)
        got = fisher_exact(t, odds_ratio=False).p
        assert got == pytest.approx(want, rel=1e-12, abs=1e-300), t.tolist()


def test_odds_ratio_keeps_the_same_p() -> None:
    t = np.array([[3, 12], [8, 7]])
    assert fisher_exact(t).p == fisher_exact(t, odds_ratio=False).p
    assert fisher_exact(t).odds_ratio == pytest.approx(
        sps.contingency.odds_ratio(t, kind="conditional").statistic, rel=1e-12
    )
