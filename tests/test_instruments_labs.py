"""Labs: CKD-EPI 2021 eGFR against an independent R implementation and a published calculator
example; unit conversions; cytokine below-LLOQ substitution.

tests/reference/ckd_epi_2021.R regenerates tests/reference/ckd_epi_2021.csv.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frailtrial.errors import InputError
from frailtrial.instruments import get
from frailtrial.instruments.labs import ckd_epi_2021, convert, substitute_below_lloq

REF = Path(__file__).parent / "reference" / "ckd_epi_2021.csv"


def test_egfr_matches_independent_r_implementation() -> None:
    with REF.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 132
    scr = np.array([float(r["creatinine_mg_dl"]) for r in rows])
    age = np.array([float(r["age"]) for r in rows])
    sex = np.array([r["sex"] for r in rows])
    expected = np.array([float(r["egfr"]) for r in rows])
    np.testing.assert_allclose(ckd_epi_2021(scr, age, sex), expected, rtol=1e-12)


def test_egfr_published_calculator_example() -> None:
    # NKF CKD-EPI 2021 calculator: creatinine 1.2 mg/dL, 55-year-old man -> 71 mL/min/1.73 m2
    r = get("egfr").score({"creatinine": 1.2, "age": 55, "sex": "male"})
    assert round(r.egfr) == 71
    assert r.gfr_category == "G2"
    # the same in umol/L (1.2 * 88.4 = 106.08)
    r2 = get("egfr").score({"creatinine": 106.08, "creatinine_unit": "umol/L", "age": 55,
                            "sex": "male"})  # fmt: skip
    assert r2.egfr == pytest.approx(r.egfr)
    assert get("egfr", unit="umol/L").score({"creatinine": 106.08, "age": 55, "sex": "male"}
                                            ).egfr == pytest.approx(r.egfr)  # fmt: skip


def test_egfr_missing_and_invalid() -> None:
    assert get("egfr").score({"creatinine": 1.0}).egfr is None
    implausible = r"'creatinine' = 90.0 mg/dL .*at most 30 mg/dL .*creatinine_unit 'umol/L'"
    with pytest.raises(InputError, match=implausible):
        get("egfr").score({"creatinine": 90, "age": 50, "sex": "male"})
    with pytest.raises(InputError, match="'creatinine' = 90"):
        get("egfr").score({"creatinine": 90, "age": 50, "sex": "male"})  # umol/L typed as mg/dL
    with pytest.raises(InputError, match="'sex' = 'M'"):
        get("egfr").score({"creatinine": 1.0, "age": 50, "sex": "M"})


def test_conversions() -> None:
    assert convert(88.4, "creatinine", "umol/L", "mg/dL") == pytest.approx(1.0)
    assert convert(5.0, "glucose", "mmol/L", "mg/dL") == pytest.approx(90.078)
    assert convert(130.0, "hemoglobin", "g/L", "g/dL") == pytest.approx(13.0)
    np.testing.assert_allclose(convert([13.0, 9.5], "hemoglobin", "g/dL", "g/L"), [130, 95])
    with pytest.raises(InputError, match="glucose"):
        convert(1.0, "glucose", "mg/dL", "g/L")
    with pytest.raises(InputError, match="unknown analyte"):
        convert(1.0, "sodium", "mmol/L", "mg/dL")


def test_substitution_rules() -> None:
    values = np.array([0.5, 2.0, np.nan, 3.0, np.nan])
    below = np.array([False, False, True, False, False])
    expected = {
        "lloq": [1.0, 2.0, 1.0, 3.0, np.nan],
        "lloq/2": [0.5, 2.0, 0.5, 3.0, np.nan],
        "lloq/sqrt2": [1 / math.sqrt(2), 2.0, 1 / math.sqrt(2), 3.0, np.nan],
        "zero": [0.0, 2.0, 0.0, 3.0, np.nan],
        "missing": [np.nan, 2.0, np.nan, 3.0, np.nan],
    }
    for rule, want in expected.items():
        out, flags = substitute_below_lloq(values, 1.0, rule, below)
        np.testing.assert_allclose(out, want)
        assert flags.tolist() == [True, False, True, False, False]
    with pytest.raises(InputError, match="substitution"):
        substitute_below_lloq(values, 1.0, "half")


def test_cytokine_instrument() -> None:
    r = get("cytokine", substitution="lloq/sqrt2").score({"value": 0.3, "lloq": 1.0})
    assert (r.value, r.below_lloq) == (pytest.approx(1 / math.sqrt(2)), True)
    r = get("cytokine", substitution="missing").score({"below_lloq": True, "lloq": 1.0})
    assert (r.value, r.below_lloq) == (None, True)
    assert get("cytokine").score({"value": 4.0, "lloq": 1.0}).as_dict() == {
        "value": 4.0, "below_lloq": False, "substitution": "lloq/2"}  # fmt: skip
    with pytest.raises(InputError, match="substitution"):
        get("cytokine", substitution="lod")


@settings(max_examples=200, deadline=None)
@given(st.floats(0.1, 20), st.floats(0.1, 20), st.floats(18, 100), st.floats(18, 100),
       st.sampled_from(["male", "female"]))  # fmt: skip
def test_egfr_monotone(c1: float, c2: float, a1: float, a2: float, sex: str) -> None:
    lo, hi = sorted((c1, c2))
    young, old = sorted((a1, a2))
    assert ckd_epi_2021(hi, young, sex) <= ckd_epi_2021(lo, young, sex)
    assert ckd_epi_2021(lo, old, sex) <= ckd_epi_2021(lo, young, sex)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 100), min_size=1, max_size=20), st.floats(0.01, 50),
       st.sampled_from(["lloq", "lloq/2", "lloq/sqrt2", "zero"]))  # fmt: skip
def test_substituted_values_stay_at_or_below_lloq(xs: list[float], lloq: float, rule: str) -> None:
    out, below = substitute_below_lloq(xs, lloq, rule)
    x = np.array(xs)
    assert np.all(out[below] <= lloq)
    np.testing.assert_array_equal(out[~below], x[~below])
    assert np.all(below == (x < lloq))
