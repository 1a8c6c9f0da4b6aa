"""frailtrial.stats.shapiro (AS R94) against scipy.stats.shapiro, the reference here (R's
shapiro.test values are checked through selection.shapiro_wilk in test_stats_tests.py):
W and p to 1e-12 over samples of every size 3-60 and some large ones, of normal, skewed,
heavy-tailed, tied and far-from-zero data, and the n = 3 and n <= 11 branches' edges."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from frailtrial.stats.shapiro import shapiro_wilk_w


def _samples() -> list[np.ndarray]:
    rng = np.random.default_rng(14)
    out: list[np.ndarray] = []
    for n in [*range(3, 61), 100, 257, 1000, 5000]:
        out += [
            rng.normal(size=n),
            rng.exponential(size=n),
            rng.standard_t(2, size=n),
            rng.integers(0, 4, size=n).astype(float) + np.arange(n) % 2 * 1e-3,
            1e6 + rng.normal(scale=1e-3, size=n),
            -50 + 3 * rng.uniform(size=n),
        ]
    out += [
        np.array([1.0, 2.0, 3.0]),
        np.array([1.0, 1.0, 2.0]),
        np.array([0.0, 1.0, 1e-9]),
        np.array([1.0, 2.0, 2.0, 2.0, 10.0]),
        np.array([5.0, 1.0, 3.0, 2.0, 4.0, 100.0]),
    ]
    return [s for s in out if np.ptp(s) > 0]


SAMPLES = _samples()


@pytest.mark.parametrize("sample", SAMPLES, ids=[f"n{s.size}_{i}" for i, s in enumerate(SAMPLES)])
def test_w_and_p_as_scipy_stats(sample: np.ndarray) -> None:
    want = sps.shapiro(sample)
    w, p = shapiro_wilk_w(sample)
    assert w == pytest.approx(float(want.statistic), rel=1e-12, abs=0)
    assert p == pytest.approx(float(want.pvalue), rel=1e-12, abs=1e-300)


def test_the_order_of_the_values_does_not_matter_beyond_rounding() -> None:
    x = np.random.default_rng(3).gamma(2.0, size=40)
    w, p = shapiro_wilk_w(x)
    w2, p2 = shapiro_wilk_w(x[::-1].copy())
    assert w2 == pytest.approx(w, rel=1e-14) and p2 == pytest.approx(p, rel=1e-12)
