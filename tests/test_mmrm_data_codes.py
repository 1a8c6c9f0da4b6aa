"""Coding of factor columns for the MMRM design: the fast path for text must give what
pd.factorize gives, and never take a value that is not text for a missing one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from frailtrial.errors import InputError
from frailtrial.stats.mmrm import fit_many
from frailtrial.stats.mmrm_data import _factorize


@pytest.mark.parametrize(
    "values",
    [
        ["b", "a", np.nan, None, "b", "é", "", pd.NA, "a"],
        [np.str_("V2"), "V1", "V2", np.str_("V1")],
        ["x"] * 5,
        [np.nan, None],
        ["a", 1, 2.5, "a"],  # not all text: the general way
        [1, 2, 1],
        [True, "True", False],
    ],
)
def test_factorize_equals_pandas(values: list[object]) -> None:
    arr = np.array(values, dtype=object)
    codes, uniques = _factorize(arr, 8)
    want_codes, want_uniques = pd.factorize(arr)
    np.testing.assert_array_equal(codes, want_codes)
    assert list(uniques) == list(want_uniques)


@pytest.mark.parametrize(
    "values",
    [
        np.array([0, 0, 1, 1, 5, 5, 7]),  # sorted: the changes are counted
        np.array([-3, -3, 2, 9, 9]),
        np.array([4, 4, 4], dtype=np.uint8),
        np.array([7]),
        np.array([2, 2, 1, 1, 3]),  # not sorted: a table of the range
        np.repeat(np.arange(30), 6)[np.tile(np.arange(180), 2)],
        np.tile(np.repeat(np.arange(29, -1, -1), 6), 3),  # subjects, last first
        np.array([5, -2, 5, 0, -2], dtype=np.int8),
        np.array([300, -7, 300], dtype=np.int16),
        np.array([9, 1, 9, 4], dtype=np.int32),
        np.array([10**12, 3, 10**12, 3]),  # a range far wider than the values: pandas
    ],
)
def test_factorize_of_integers_equals_pandas(values: np.ndarray) -> None:
    codes, uniques = _factorize(values)
    want_codes, want_uniques = pd.factorize(values)
    np.testing.assert_array_equal(codes, want_codes)
    np.testing.assert_array_equal(uniques, want_uniques)
    assert uniques.dtype == want_uniques.dtype


def _trials(arm_values: list[object]) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    rows = []
    for trial, arms in enumerate([["PBO", "TRT"] * 4, arm_values]):
        for i, arm in enumerate(arms):
            for v in ("V1", "V2", "V3"):
                rows.append((trial, f"S{i}", v, arm, rng.normal()))
    return pd.DataFrame(rows, columns=["trial", "id", "visit", "arm", "y"])


def test_a_number_in_a_text_column_is_refused_not_dropped() -> None:
    """A value the text table cannot hash (the number 1 among the arms' names) would be
    taken for missing and its rows silently left out; it is named instead."""
    data = _trials(["PBO", "TRT", "PBO", "TRT", "PBO", 1, "PBO", "TRT"])
    assert data["arm"].dtype == object
    with pytest.raises(InputError, match=r"column arm has value 1 not seen in the first data set"):
        fit_many(data, "y ~ arm*visit", "id", "visit", dataset="trial")


def test_missing_text_values_leave_their_rows_out_as_before() -> None:
    data = _trials(["PBO", "TRT", "PBO", "TRT", "PBO", None, "PBO", "TRT"])
    fits = fit_many(data, "y ~ arm*visit", "id", "visit", dataset="trial")
    assert [f.n_obs for f in fits] == [24, 21]


def test_text_and_numeric_keys_give_the_same_fits() -> None:
    """Data sets and subjects named by text (the string table) or by numbers (pandas)."""
    data = _trials(["PBO", "TRT"] * 4)
    named = data.assign(trial=data["trial"].map({0: "first", 1: "second"}))
    numbered = data.assign(id=data["id"].str[1:].astype(int))
    fits = [
        fit_many(d, "y ~ arm*visit", "id", "visit", dataset="trial")
        for d in (data, named, numbered)
    ]
    for other in fits[1:]:
        for a, b in zip(fits[0], other, strict=True):
            np.testing.assert_array_equal(a.beta, b.beta)
            assert a.neg2loglik == b.neg2loglik


def test_a_categorical_long_frame_fits_as_a_text_one() -> None:
    """fit_many of a long frame whose arm and visit are Categorical (their values are the
    categories' objects repeated) equals the same frame with text columns."""
    from frailtrial.simulate.outcomes import simulate_outcomes

    sim = simulate_outcomes(
        150, [15, 15], ["w4", "w12", "w24"], [[0, 0, 0], [1, 2, 3]], sd=5.0, rho=0.5,
        dropout=0.1, arms=("ctl", "drug"), baseline_mean=50.0, rng=5,
    )  # fmt: skip
    coded = sim.to_long_frame(categorical=True)
    text = coded.assign(arm=coded["arm"].astype(str), visit=coded["visit"].astype(str))
    args = {"formula": "change ~ baseline + arm * visit", "subject": "participant_id"}
    a = fit_many(coded, visit="visit", dataset="trial", **args)
    b = fit_many(text, visit="visit", dataset="trial", **args)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.beta, y.beta)
        assert x.terms == y.terms


@pytest.mark.parametrize(
    "outcome",
    [
        ["a"] * 24,  # one text value: formulaic's one dummy column of ones, fitted before
        pd.Categorical(["a"] * 24),
        pd.Categorical(np.linspace(1.0, 3.0, 24)),  # numbers kept as categories
        [True, False] * 12,
    ],
)
def test_an_outcome_that_is_not_numbers_is_refused_by_name(outcome: object) -> None:
    data = _trials(["PBO", "TRT"] * 4).query("trial == 0").assign(y=outcome)
    with pytest.raises(InputError, match=r"one numeric column: column y holds text, categories"):
        fit_many([data], "y ~ arm*visit", "id", "visit")
