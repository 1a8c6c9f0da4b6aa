"""frailtrial.stats.distributions against scipy.stats (the independent reference): the same
numbers to 1e-12 (relative) over random arguments and the edges of each support (0, 1,
infinite df, negative x, NaN)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from frailtrial.stats import distributions as dist

RNG = np.random.default_rng(20261205)
N = 3000
X = np.r_[RNG.normal(0, 4, N), -1.0, 0.0, 1e-300, 60.0, -60.0, np.inf, -np.inf, np.nan]
POS = np.abs(X)
DF = np.r_[RNG.uniform(0.3, 300, N), 1.0, 2.0, 3.0, np.inf, 1e7, 5.0, 5.0, 5.0]
DF2 = np.r_[RNG.uniform(0.3, 300, N), 4.0, 1.0, 30.0, 10.0, np.inf, 2.0, 7.0, 9.0]
Q = np.r_[RNG.uniform(0, 1, N), 0.0, 1.0, 1e-300, 1 - 1e-16, 0.5, 0.975, 0.025, np.nan]
SHAPE_A = np.r_[RNG.integers(1, 80, N).astype(float), 1.0, 1.0, 0.5, 2.0, 30.0, 3.0, 4.0, 5.0]
SHAPE_B = np.r_[RNG.integers(1, 80, N).astype(float), 1.0, 2.0, 0.5, 7.0, 1.0, 9.0, 2.0, 5.0]

CASES: list[tuple[str, Callable[..., Any], Callable[..., Any], tuple[Any, ...]]] = [
    ("norm_cdf", dist.norm_cdf, sps.norm.cdf, (X,)),
    ("norm_sf", dist.norm_sf, sps.norm.sf, (X,)),
    ("norm_ppf", dist.norm_ppf, sps.norm.ppf, (Q,)),
    ("t_sf", dist.t_sf, sps.t.sf, (X, DF)),
    ("t_ppf", dist.t_ppf, sps.t.ppf, (Q, DF)),
    ("chi2_sf", dist.chi2_sf, sps.chi2.sf, (X, DF)),
    ("chi2_sf of x >= 0", dist.chi2_sf, sps.chi2.sf, (POS, DF)),
    ("chi2_ppf", dist.chi2_ppf, sps.chi2.ppf, (Q, DF)),
    ("f_sf", dist.f_sf, sps.f.sf, (X, DF, DF2)),
    ("beta_ppf", dist.beta_ppf, sps.beta.ppf, (Q, SHAPE_A, SHAPE_B)),
]


@pytest.mark.parametrize(("ours", "reference", "args"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_same_numbers_as_scipy_stats(
    ours: Callable[..., Any], reference: Callable[..., Any], args: tuple[Any, ...]
) -> None:
    with np.errstate(all="ignore"):
        got, want = np.asarray(ours(*args)), np.asarray(reference(*args))
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got) * np.sign(got), np.isinf(want) * np.sign(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12, atol=0)


@pytest.mark.parametrize(("ours", "reference", "args"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_scalar_arguments_give_a_scalar(
    ours: Callable[..., Any], reference: Callable[..., Any], args: tuple[Any, ...]
) -> None:
    scalar_args = tuple(float(a[1]) for a in args)  # a random, finite argument each
    got = ours(*scalar_args)
    assert np.ndim(got) == 0 and isinstance(float(got), float)
    assert float(got) == pytest.approx(float(reference(*scalar_args)), rel=1e-12, abs=0)
