"""frailtrial.stats.multiplicity against R: tests/reference/multiplicity.R wrote
multiplicity.json (p.adjust; Dunnett by multcomp::glht and mvtnorm; pmvt); the fixed
sequence and the gatekeeping by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from frailtrial.errors import InputError
from frailtrial.stats import multiplicity as mult

REF = json.loads((Path(__file__).parent / "reference" / "multiplicity.json").read_text())


def _floats(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@pytest.mark.parametrize("case", REF["p_adjust"], ids=lambda c: str(c["p"]))
@pytest.mark.parametrize("method", ["holm", "hochberg", "bonferroni"])
def test_p_adjust_matches_r(case: dict[str, Any], method: mult.PMethod) -> None:
    got = mult.adjust_p(_floats(case["p"]), method)
    np.testing.assert_allclose(got, _floats(case[method]), rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=20))
def test_hochberg_between_raw_and_holm(p: list[float]) -> None:
    raw = np.asarray(p)
    hoch, holm = mult.adjust_p(raw, "hochberg"), mult.adjust_p(raw, "holm")
    assert np.all(hoch >= raw - 1e-15) and np.all(hoch <= holm + 1e-15)


def test_unknown_method_is_refused() -> None:
    with pytest.raises(InputError, match="holm or hochberg"):
        mult.adjust_p([0.1], "sidak")  # type: ignore[arg-type]


def test_dunnett_of_an_lm_matches_glht() -> None:
    """Two doses vs placebo in lm(change ~ base + sex + arm): adjusted p-values, the
    simultaneous interval and its critical value as multcomp and mvtnorm give them."""
    case = REF["lm_dunnett"]
    got = mult.dunnett(case["estimate"], np.array(case["cov"]), case["df"])
    want = case["precise"]
    np.testing.assert_allclose(got.p_adjusted, want["p_adjusted"], atol=2e-6)
    assert got.critical_value == pytest.approx(want["critical_value"], abs=1e-6)
    np.testing.assert_allclose(got.ci_low, want["ci_low"], atol=1e-5)
    np.testing.assert_allclose(got.ci_high, want["ci_high"], atol=1e-5)
    np.testing.assert_allclose(got.p_adjusted, case["glht"]["p_adjusted"], atol=1e-3)


def test_dunnett_is_between_raw_and_bonferroni() -> None:
    case = REF["lm_dunnett"]
    est, cov, df = np.array(case["estimate"]), np.array(case["cov"]), case["df"]
    raw = 2 * stats.t.sf(np.abs(est / np.sqrt(np.diag(cov))), df)
    got = mult.dunnett(est, cov, df).p_adjusted
    assert np.all(raw < got) and np.all(got < mult.adjust_p(raw, "bonferroni"))


def test_max_t_coverage_of_a_general_correlation_matches_pmvt() -> None:
    """A 4 x 4 correlation without one-factor form goes to quasi-Monte Carlo."""
    case = REF["pmvt_general"]
    corr = np.array(case["corr"])
    assert mult._one_factor(corr) is None
    got = mult.max_t_coverage(case["c"], corr, case["df"])
    np.testing.assert_allclose(got, case["coverage"], atol=3e-5)
    normal = mult.max_t_coverage(case["c"][0], corr, np.inf)[0]
    assert normal == pytest.approx(case["normal"], abs=3e-5)


def test_one_factor_quadrature_equals_quasi_monte_carlo() -> None:
    """Three comparisons whose correlation has one-factor form: quadrature and QMC agree."""
    lam = np.array([0.7, 0.5, -0.4])
    corr = np.outer(lam, lam)
    np.fill_diagonal(corr, 1.0)
    np.testing.assert_allclose(mult._one_factor(corr), lam, atol=1e-12)
    quad = mult.max_t_coverage([2.0, 2.5], corr, 12.0)
    qmc = [mult._coverage_qmc(c, corr, 12.0, True) for c in (2.0, 2.5)]
    np.testing.assert_allclose(quad, qmc, atol=3e-5)


def test_dunnett_refuses_a_covariance_of_the_wrong_shape() -> None:
    with pytest.raises(InputError, match=r"\(2, 2\) covariance"):
        mult.dunnett([1.0, 2.0], np.eye(3), 10)


def test_fixed_sequence_stops_at_the_first_non_significant() -> None:
    """Running maximum: 0.01, 0.03 rejected at 0.05; 0.2 is not, so the later 0.01 is not
    rejected either."""
    got = mult.fixed_sequence([0.01, 0.03, 0.02, 0.2, 0.01])
    np.testing.assert_allclose(got, [0.01, 0.03, 0.03, 0.2, 0.2])
    assert (got <= 0.05).tolist() == [True, True, True, False, False]


def test_serial_gatekeeping_needs_the_whole_family_before() -> None:
    fam1, fam2, fam3 = np.array([0.004, 0.04]), np.array([0.01, 0.001]), np.array([0.3])
    got = mult.serial_gatekeeping([fam1, fam2, fam3])
    np.testing.assert_allclose(got[0], fam1)
    np.testing.assert_allclose(got[1], [0.04, 0.04])
    np.testing.assert_allclose(got[2], [0.3])
    closed = mult.serial_gatekeeping([np.array([np.nan, 0.01]), np.array([0.001])])
    assert np.isnan(closed[1]).all()
