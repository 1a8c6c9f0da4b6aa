"""Designs shared by the sensitivity analyses of the same data (stats/sensitivity/layout.py)
and formulas parsed once (stats/formula_engine.parse_formula): the same numbers as designs
built afresh, never shared between different data, read-only, bounded in number."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pandas as pd
import pytest

from frailtrial.errors import InputError
from frailtrial.stats.formula_engine import parse_formula
from frailtrial.stats.sensitivity import layout as lay
from sensitivity_support import simulated, simulated_args

DESIGNS = ("x_own", "x_ref", "z", "z_level")


def _layout(data: pd.DataFrame, ice: pd.DataFrame, strategy: str) -> lay.Layout:
    return lay.build_layout(data, **simulated_args(ice, strategy))


@pytest.fixture(autouse=True)
def no_kept_designs() -> None:
    lay._designs_kept.clear()


def test_analyses_of_the_same_data_share_designs_equal_to_fresh_ones() -> None:
    data, ice = simulated(3)
    mar = _layout(data, ice, "MAR")
    jr = _layout(data, ice.iloc[: len(ice) // 2], "JR")  # other events, other strategy
    for name in DESIGNS:
        assert getattr(jr, name) is getattr(mar, name)
    assert jr.kron is mar.kron
    assert not np.array_equal(jr.strategy, mar.strategy)  # the rest is the analysis' own
    lay._designs_kept.clear()
    fresh = _layout(data, ice, "JR")
    for name in DESIGNS:
        assert getattr(fresh, name) is not getattr(mar, name)
        np.testing.assert_array_equal(getattr(fresh, name), getattr(mar, name))
    assert mar.kron is not None and fresh.kron is not None
    for a, b in zip(mar.kron, fresh.kron, strict=True):
        np.testing.assert_array_equal(a, b)


def test_other_data_gets_its_own_designs() -> None:
    """One covariate value changed, a level order changed, or the hash made to collide:
    the designs are built for the data given."""
    data, ice = simulated(3)
    first = _layout(data, ice, "MAR")
    changed = data.copy()
    changed.loc[0, "BASVAL"] += 1.0
    other = _layout(changed, ice, "MAR")
    assert other.x_own is not first.x_own
    assert other.x_own[0, 0].tolist() != first.x_own[0, 0].tolist()
    reordered = data.assign(VISIT=pd.Categorical(data["VISIT"], [3, 2, 1]))
    assert _layout(reordered, ice, "MAR").x_own is not first.x_own


def test_a_colliding_hash_does_not_share(monkeypatch: pytest.MonkeyPatch) -> None:
    data, ice = simulated(3)
    monkeypatch.setattr(
        lay.pd.util, "hash_pandas_object", lambda frame, index: pd.Series(np.zeros(len(frame)))
    )
    first = _layout(data, ice, "MAR")
    changed = data.copy()
    changed.loc[0, "BASVAL"] += 1.0
    other = _layout(changed, ice, "MAR")
    assert other.x_own is not first.x_own
    np.testing.assert_array_equal(other.x_own, _fresh_x_own(changed, ice))


def _with_sex(data: pd.DataFrame, levels: list[str]) -> pd.DataFrame:
    sex = np.where(data["PATIENT"] % 3 == 0, "F", "M")
    return data.assign(SEX=pd.Categorical(sex, categories=levels))


@pytest.mark.parametrize("collide", [False, True])
def test_a_factor_with_its_levels_reordered_gets_the_designs_built_afresh(
    collide: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A covariate's declared level order: what is shared for it equals what is built for
    it alone, also when the hashes collide (the layout reads a covariate's values: its
    design, and the imputations, do not depend on the order declared)."""
    if collide:
        monkeypatch.setattr(
            lay.pd.util, "hash_pandas_object", lambda frame, index: pd.Series(np.zeros(len(frame)))
        )
    data, ice = simulated(3)
    args = {**simulated_args(ice), "formula": "CHANGE ~ BASVAL*VISIT + THERAPY*VISIT + SEX"}
    for levels in (["F", "M"], ["M", "F"]):
        shared = lay.build_layout(_with_sex(data, levels), **args)
        kept = dict(lay._designs_kept)
        lay._designs_kept.clear()
        fresh = lay.build_layout(_with_sex(data, levels), **args)
        lay._designs_kept.update(kept)
        np.testing.assert_array_equal(shared.x_own, fresh.x_own)
        np.testing.assert_array_equal(shared.z_level, fresh.z_level)


def _fresh_x_own(data: pd.DataFrame, ice: pd.DataFrame) -> np.ndarray:
    lay._designs_kept.clear()
    return _layout(data, ice, "MAR").x_own


def test_shared_designs_are_read_only_and_bounded() -> None:
    data, ice = simulated(3)
    shared = _layout(data, ice, "MAR")
    for name in DESIGNS:
        with pytest.raises(ValueError, match="read-only"):
            getattr(shared, name)[0, 0, 0] = 1.0
    for seed in range(lay.KEPT_DESIGNS + 3):
        other, other_ice = simulated(100 + seed)
        _layout(other, other_ice, "MAR")
    assert len(lay._designs_kept) == lay.KEPT_DESIGNS


def test_formulas_are_parsed_once_and_bad_ones_refused_each_time() -> None:
    assert parse_formula("y ~ a * b") is parse_formula("y ~ a * b")
    assert sorted(parse_formula("y ~ a * b").required_variables) == ["a", "b", "y"]
    data, ice = simulated(3)
    for _ in range(2):
        with pytest.raises(InputError, match="cannot parse"):
            lay.build_layout(data, **{**simulated_args(ice), "formula": "CHANGE ~ (BASVAL"})


@pytest.mark.slow  # ~10 s: threads switching at every bytecode
def test_threads_sharing_the_kept_designs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Layouts built by several threads at once while the kept designs are evicted (one
    kept): no error, and each thread's designs are those of its own data. (Without the
    lock a thread found its key evicted between reading and reusing it: KeyError in about
    one run in three.)"""
    monkeypatch.setattr(lay, "KEPT_DESIGNS", 1)
    cases = [simulated(seed) for seed in (3, 4, 5)]
    expected = [_layout(d, i, "MAR").x_own.copy() for d, i in cases]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for step in range(40):
                data, ice = cases[(k + step) % len(cases)]
                got = _layout(data, ice, "MAR").x_own
                np.testing.assert_array_equal(got, expected[(k + step) % len(cases)])
        except BaseException as exc:  # reported below, with the thread's failure
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads interleave between almost any two bytecodes
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
    assert errors == []
