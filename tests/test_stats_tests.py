"""The stats test families against R 4.2 (fixtures: tests/reference/stats_tests.json, made by
tests/reference/stats_tests.R), plus properties that must hold for any input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from frailtrial.errors import InputError
from frailtrial.stats import nonparametric
from frailtrial.stats.contingency import chi_square, compare_proportions, fisher_exact
from frailtrial.stats.effect_sizes import (
    hedges_g,
    hodges_lehmann,
    mean_difference,
    risk_difference,
    smd_binary,
    smd_categorical,
    smd_continuous,
)
from frailtrial.stats.multiplicity import adjust_p
from frailtrial.stats.nonparametric import mann_whitney_u, wilcoxon_signed_rank
from frailtrial.stats.parametric import paired_t_test, t_test
from frailtrial.stats.results import TestResult
from frailtrial.stats.selection import compare_to_baseline, compare_two_groups, shapiro_wilk

REF: dict[str, Any] = json.loads(
    (Path(__file__).parent / "reference" / "stats_tests.json").read_text()
)
S: dict[str, list[float]] = REF["samples"]
TIGHT = 1e-9


def close(a: float, b: float, rel: float = TIGHT) -> None:
    assert a == pytest.approx(b, rel=rel, abs=1e-14), (a, b)


def _ids(cases: list[dict[str, Any]], *keys: str) -> list[str]:
    return ["-".join(str(c[k]) for k in keys) for c in cases]


# ---------------------------------------------------------------- two samples


def check_t_test(r: TestResult, ref: dict[str, Any]) -> None:
    """Statistic, df, p, estimate and CI of a t test against R's."""
    close(r.statistic, ref["statistic"])
    close(r.df or 0, ref["df"])
    close(r.p, ref["p"])
    close(r.estimate, ref["estimate"])
    close(r.ci_low, ref["ci"][0])
    close(r.ci_high, ref["ci"][1])


def check_rank_test(r: TestResult, ref: dict[str, Any], steps: Any) -> None:
    """A Wilcoxon test against R's: exact case to rounding; in the normal-approximation
    case R's uniroot(tol = 1e-4) lands within 1e-4 of the exact step, anywhere between the
    candidate values ``steps`` (sorted pairwise differences or Walsh averages) either side
    of our estimate, where the statistic is zero."""
    assert r.method == ref["method"]
    close(r.statistic, ref["statistic"])
    close(r.p, ref["p"])
    if r.exact:
        close(r.estimate, ref["estimate"])
        close(r.ci_low, ref["ci"][0])
        close(r.ci_high, ref["ci"][1])
    else:
        i = int(np.searchsorted(steps, r.estimate))
        lo, hi = steps[max(i - 1, 0)], steps[min(i + 1, steps.size - 1)]
        assert lo - 1e-4 <= ref["estimate"] <= hi + 1e-4
        assert r.ci_low == pytest.approx(ref["ci"][0], abs=2e-4)
        assert r.ci_high == pytest.approx(ref["ci"][1], abs=2e-4)


@pytest.mark.parametrize("case", REF["two_sample"], ids=_ids(REF["two_sample"], "a", "b"))
def test_t_tests(case: dict[str, Any]) -> None:
    a, b = S[case["a"]], S[case["b"]]
    for equal_var, key in ((True, "student"), (False, "welch")):
        check_t_test(t_test(a, b, equal_var=equal_var), case[key])


@pytest.mark.parametrize("case", REF["two_sample"], ids=_ids(REF["two_sample"], "a", "b"))
def test_mann_whitney(case: dict[str, Any]) -> None:
    a, b = S[case["a"]], S[case["b"]]
    diffs = np.unique(np.subtract.outer(np.asarray(a), np.asarray(b)).ravel())
    for key, kwargs in (
        ("wilcox", {}),
        ("wilcox_approx", {"exact": False}),
        ("wilcox_nocorrect", {"exact": False, "correct": False}),
    ):
        r = mann_whitney_u(a, b, **kwargs)  # type: ignore[arg-type]
        check_rank_test(r, case[key], diffs)


@pytest.mark.parametrize("case", REF["paired"], ids=_ids(REF["paired"], "before", "after"))
def test_paired(case: dict[str, Any]) -> None:
    before, after = S[case["before"]], S[case["after"]]
    check_t_test(paired_t_test(before, after), case["t"])
    d = np.asarray(after) - np.asarray(before)
    walsh = np.unique((d[:, None] + d[None, :]) / 2)
    for key, kwargs in (("wilcox", {}), ("wilcox_approx", {"exact": False})):
        w = wilcoxon_signed_rank(before, after, **kwargs)  # type: ignore[arg-type]
        check_rank_test(w, case[key], walsh)


@pytest.mark.parametrize("case", REF["shapiro"], ids=_ids(REF["shapiro"], "sample"))
def test_shapiro(case: dict[str, Any]) -> None:
    r = shapiro_wilk(S[case["sample"]])
    close(r.statistic, case["statistic"], 1e-6)
    close(r.p, case["p"], 1e-5)
    assert r.normal == (case["p"] > 0.05)


# ---------------------------------------------------------------- rules


def test_rule_chooses_by_shapiro() -> None:
    normal = compare_two_groups(S["small_a"], S["small_b"])
    skewed = compare_two_groups(S["skewed"], S["small_b"])
    assert [n.normal for n in normal.normality] == [True, True]
    assert normal.test == "student_t" and "did not reject" in normal.reason
    assert skewed.test == "mann_whitney_u" and "rejected" in skewed.reason
    assert skewed.normality[0].p < 0.05
    welch = compare_two_groups(S["small_a"], S["small_b"], equal_var=False)
    assert welch.test == "welch_t"
    forced = compare_two_groups(S["skewed"], S["small_b"], rule="parametric")
    assert forced.test == "student_t" and forced.normality == ()


def test_baseline_rule_uses_differences() -> None:
    r = compare_to_baseline(S["pre"], S["post"])
    d = np.asarray(S["post"]) - np.asarray(S["pre"])
    assert r.normality[0].p == shapiro_wilk(d).p
    assert r.test == ("paired_t" if r.normality[0].normal else "wilcoxon_signed_rank")
    assert compare_to_baseline(S["pre"], S["post"], rule="nonparametric").test == (
        "wilcoxon_signed_rank"
    )


def test_nan_dropped_and_counted() -> None:
    a = [*S["small_a"], float("nan")]
    b = [float("nan"), float("nan"), *S["small_b"]]
    r = compare_two_groups(a, b, rule="parametric")
    assert r.n == (12, 9) and r.n_dropped == (1, 2)
    assert r.p == t_test(S["small_a"], S["small_b"]).p
    before = [*S["pre"], 1.0]
    after = [*S["post"], float("nan")]
    p = compare_to_baseline(before, after, rule="parametric")
    assert p.n == (14,) and p.n_dropped == (1,)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: t_test([1.0], [2.0]), "at least 3 observations"),
        (lambda: t_test(["a", "b"], [1.0, 2.0]), "must be numbers"),
        (lambda: shapiro_wilk([1.0, 2.0]), "at least 3"),
        (lambda: shapiro_wilk([2.0, 2.0, 2.0]), "identical"),
        (lambda: compare_two_groups([1, 2], [1, 2, 3]), "at least 3"),
        (lambda: compare_two_groups([1, 2, 3], [4, 5, 6], rule="x"), "rule"),  # type: ignore[arg-type]
        (lambda: paired_t_test([1, 2, 3], [1, 2]), "before has 3"),
        (lambda: wilcoxon_signed_rank([1, 2, 3], [1, 2, 3]), "all differences are zero"),
        (lambda: mann_whitney_u([2, 2], [2, 2, 2]), "all values are identical"),
        (lambda: chi_square([[1, 2, 3]]), "at least 2 x 2"),
        (lambda: chi_square([[1, -2], [3, 4]]), "non-negative"),
        (lambda: fisher_exact([[0, 0], [3, 4]]), "empty row"),
        (lambda: adjust_p([0.2, 1.5]), r"\[0, 1\]"),
        (lambda: risk_difference(5, 4, 1, 4), "events <= n"),
        (lambda: t_test([1, 2, float("inf")], [1, 2, 3]), "infinite"),
    ],
)
def test_bad_input(call: Any, match: str) -> None:
    with pytest.raises(InputError, match=match):
        call()


# ---------------------------------------------------------------- tables


@pytest.mark.parametrize("case", REF["contingency"], ids=_ids(REF["contingency"], "name"))
def test_contingency(case: dict[str, Any]) -> None:
    table = case["table"]
    for key, correct in (("chisq_correct", True), ("chisq", False)):
        r = chi_square(table, correct=correct)
        close(r.statistic or 0, case[key]["statistic"])
        assert r.df == case[key]["df"]
        close(r.p, case[key]["p"])
    f = fisher_exact(table)
    close(f.p, case["fisher"]["p"], 1e-7)
    assert fisher_exact(table, odds_ratio=False).p == f.p
    if "odds_ratio" in case["fisher"]:
        # R finds the CI ends with uniroot's default tol (about 1e-4, 1 % for an odds ratio
        # near 1000); ours solve the defining tail equations to machine precision
        close(f.odds_ratio or 0, case["fisher"]["odds_ratio"], 1e-4)
        close(f.ci_low or 0, case["fisher"]["ci"][0], 1e-4)
        high = f.ci_high or 0
        close(high, case["fisher"]["ci"][1], 2e-2 if high > 100 else 1e-4)
        (x, _), (c, _) = table
        m, n, k = sum(map(sum, table)), x + c, sum(table[0])
        assert sps.nchypergeom_fisher.cdf(x, m, n, k, high) == pytest.approx(0.025, rel=1e-9)
        low = f.ci_low or 0
        if low > 0:
            assert sps.nchypergeom_fisher.sf(x - 1, m, n, k, low) == pytest.approx(0.025, rel=1e-9)


def test_proportions_rule() -> None:
    big = compare_proportions([[30, 20], [18, 32]])
    assert big.test == "chi_square" and "Yates" in big.method
    small = compare_proportions([[3, 1], [1, 5]])
    assert small.test == "fisher_exact" and "expected count < 5" in small.reason


def test_fisher_enumeration_limit() -> None:
    with pytest.raises(InputError, match="chi-square"):
        fisher_exact([[20, 20, 20, 20], [20, 20, 20, 20], [20, 20, 20, 20]], max_tables=1000)


# ---------------------------------------------------------------- multiplicity


@pytest.mark.parametrize("case", REF["p_adjust"], ids=lambda c: str(len(c["p"])))
def test_p_adjust(case: dict[str, Any]) -> None:
    p = [np.nan if v is None else v for v in case["p"]]
    for method in ("bonferroni", "holm"):
        want = [np.nan if v is None else v for v in case[method]]
        np.testing.assert_allclose(adjust_p(p, method), want, rtol=1e-12)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=30))
def test_adjustment_properties(p: list[float]) -> None:
    raw = np.asarray(p)
    holm = adjust_p(raw, "holm")
    bonf = adjust_p(raw, "bonferroni")
    assert np.all((holm >= 0) & (holm <= 1) & (bonf <= 1))
    assert np.all(holm >= raw - 1e-15)  # never below the unadjusted p
    assert np.all(holm <= bonf + 1e-15)  # Holm is uniformly more powerful
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(holm[order]) >= -1e-15)  # monotone in p


# ---------------------------------------------------------------- effect sizes


@pytest.mark.parametrize("case", REF["effect"], ids=_ids(REF["effect"], "a", "b"))
def test_hedges_and_smd(case: dict[str, Any]) -> None:
    a, b = S[case["a"]], S[case["b"]]
    g = hedges_g(a, b)
    close(g.estimate, case["hedges"]["g"])
    close(g.ci_low, case["hedges"]["ci"][0], 1e-6)
    close(g.ci_high, case["hedges"]["ci"][1], 1e-6)
    # R effectsize::hedges_g (same noncentral-t method, its own root finder)
    close(g.estimate, case["effectsize"]["g"], 1e-9)
    close(g.ci_low, case["effectsize"]["ci"][0], 1e-5)
    close(g.ci_high, case["effectsize"]["ci"][1], 1e-5)
    close(smd_continuous(a, b), case["smd"])
    md = mean_difference(a, b, equal_var=False)
    two = next(c for c in REF["two_sample"] if c["a"] == case["a"])
    close(md.ci_low, two["welch"]["ci"][0])
    hl = hodges_lehmann(a, b)
    assert hl.estimate == mann_whitney_u(a, b).estimate


@pytest.mark.parametrize("case", REF["risk"], ids=lambda c: "-".join(map(str, c["counts"])))
def test_risk_difference(case: dict[str, Any]) -> None:
    xa, na, xb, nb = case["counts"]
    w = risk_difference(xa, na, xb, nb, method="wald")
    n = risk_difference(xa, na, xb, nb)
    close(w.estimate, case["rd"])
    close(w.ci_low, case["wald"][0])
    close(w.ci_high, case["wald"][1])
    close(n.ci_low, case["newcombe"][0])
    close(n.ci_high, case["newcombe"][1])
    assert smd_binary(xa, na, xb, nb) == pytest.approx(case["smd"], rel=1e-12)


# multiples of 1/8: shifts and differences are exact in floating point, so ties stay ties
@pytest.mark.parametrize("case", REF["categorical"], ids=lambda c: str(c["a"]))
def test_smd_categorical(case: dict[str, Any]) -> None:
    assert smd_categorical(case["a"], case["b"]) == pytest.approx(case["smd"], abs=1e-12)
    if len(case["a"]) == 2:
        a, b = case["a"], case["b"]
        binary = smd_binary(a[1], sum(a), b[1], sum(b))
        assert smd_categorical(a, b) == pytest.approx(abs(binary))


def test_large_samples_skip_shapiro() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.exponential(size=5001), rng.exponential(size=300)
    r = compare_two_groups(a, b)
    assert r.test == "student_t" and "more than 5000" in r.reason and r.normality == ()
    p = compare_to_baseline(a, a + rng.normal(size=a.size))
    assert p.test == "paired_t" and "more than 5000" in p.reason


_samples = st.lists(st.integers(-8000, 8000).map(lambda v: v / 8), min_size=3, max_size=25)


@settings(max_examples=40, deadline=None)
@given(a=_samples, b=_samples, shift=st.integers(-50, 50))
def test_hodges_lehmann_shift_equivariance(a: list[float], b: list[float], shift: int) -> None:
    """Shifting a by c shifts the HL estimate and its CI by c; p stays put."""
    if np.ptp(np.concatenate([a, b])) == 0:
        return
    # normal approximation forced: whether a shift creates ties changes the exact/normal
    # choice, not the equivariance of each method
    r0 = mann_whitney_u(a, b, exact=False)
    r1 = mann_whitney_u(np.asarray(a) + shift, b, exact=False)
    assert r1.estimate == pytest.approx(r0.estimate + shift, abs=1e-9)
    assert r1.ci_low == pytest.approx(r0.ci_low + shift, abs=1e-9)
    assert r1.ci_high == pytest.approx(r0.ci_high + shift, abs=1e-9)
    assert 0 <= r0.p <= 1
    assert r0.ci_low <= r0.estimate <= r0.ci_high


_rough = st.lists(st.integers(-40, 40).map(lambda v: v / 4), min_size=2, max_size=40)


@settings(max_examples=40, deadline=None)
@given(a=_rough, b=_rough)
def test_hl_order_statistics_match_materialized(a: list[float], b: list[float]) -> None:
    """The O(n log n) searches (used beyond 200,000 candidates, forced here) give the same
    estimates and CIs as sorting all pairwise differences / Walsh averages."""
    if np.ptp(np.concatenate([a, b])) == 0:
        return
    n = min(len(a), len(b))
    d = np.asarray(b[:n]) - np.asarray(a[:n])
    saved = nonparametric._MATERIALIZE
    try:
        results = []
        for limit in (saved, 0):
            nonparametric._MATERIALIZE = limit
            r = mann_whitney_u(a, b, exact=False)
            w = wilcoxon_signed_rank(a[:n], b[:n], exact=False) if (d != 0).any() else None
            e = mann_whitney_u(a, b)  # exact when there are no ties
            results.append((r, w, e))
    finally:
        nonparametric._MATERIALIZE = saved
    (r0, w0, e0), (r1, w1, e1) = results
    assert (e1.ci_low, e1.ci_high) == (e0.ci_low, e0.ci_high)
    assert r1.estimate == r0.estimate == np.median(np.subtract.outer(a, b))
    assert (r1.ci_low, r1.ci_high) == (r0.ci_low, r0.ci_high)
    if w0 is not None and w1 is not None:
        nz = d[d != 0]
        iu = np.triu_indices(nz.size)
        assert w1.estimate == w0.estimate == np.median((nz[:, None] + nz[None, :])[iu] / 2)
        assert (w1.ci_low, w1.ci_high) == (w0.ci_low, w0.ci_high)


@pytest.mark.parametrize("case", REF["two_sample"], ids=_ids(REF["two_sample"], "a", "b"))
def test_no_conf_int_keeps_r_p_values_two_sample(case: dict[str, Any]) -> None:
    """conf_int=False (Table 3) leaves W and p as R's, the estimate as with the CI, and
    the CI ends NaN; also through the rule-based compare_two_groups."""
    a, b = S[case["a"]], S[case["b"]]
    for key, kwargs in (("wilcox", {}), ("wilcox_approx", {"exact": False})):
        ref = case[key]
        r = mann_whitney_u(a, b, conf_int=False, **kwargs)  # type: ignore[arg-type]
        close(r.statistic, ref["statistic"])
        close(r.p, ref["p"])
        assert r.estimate == mann_whitney_u(a, b, **kwargs).estimate  # type: ignore[arg-type]
        assert np.isnan(r.ci_low) and np.isnan(r.ci_high)
    for rule in ("auto", "parametric", "nonparametric"):
        full = compare_two_groups(a, b, rule=rule)  # type: ignore[arg-type]
        lean = compare_two_groups(a, b, rule=rule, conf_int=False)  # type: ignore[arg-type]
        assert (lean.test, lean.p, lean.estimate) == (full.test, full.p, full.estimate)
        assert np.isnan(lean.ci_low) and np.isnan(lean.ci_high)


@pytest.mark.parametrize("case", REF["paired"], ids=_ids(REF["paired"], "before", "after"))
def test_no_conf_int_keeps_r_p_values_paired(case: dict[str, Any]) -> None:
    before, after = S[case["before"]], S[case["after"]]
    for key, kwargs in (("wilcox", {}), ("wilcox_approx", {"exact": False})):
        ref = case[key]
        w = wilcoxon_signed_rank(before, after, conf_int=False, **kwargs)  # type: ignore[arg-type]
        close(w.statistic, ref["statistic"])
        close(w.p, ref["p"])
        full = wilcoxon_signed_rank(before, after, **kwargs)  # type: ignore[arg-type]
        assert w.estimate == full.estimate
        assert np.isnan(w.ci_low) and np.isnan(w.ci_high)
    for rule in ("auto", "parametric", "nonparametric"):
        full = compare_to_baseline(before, after, rule=rule)  # type: ignore[arg-type]
        lean = compare_to_baseline(before, after, rule=rule, conf_int=False)  # type: ignore[arg-type]
        assert (lean.test, lean.p, lean.estimate) == (full.test, full.p, full.estimate)
        assert np.isnan(lean.ci_low) and np.isnan(lean.ci_high)


def test_auto_rule_takes_the_rank_test_for_a_constant_sample() -> None:
    from scipy import stats as sps

    a, b = [2.0, 2.0, 2.0, 2.0], [3.1, 4.2, 2.9, 5.0, 3.3]
    res = compare_two_groups(a, b)
    assert res.test == "mann_whitney_u" and "constant sample" in res.reason
    ref = sps.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic")
    assert res.p == pytest.approx(ref.pvalue, rel=1e-9)
    paired = compare_to_baseline([1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0])
    assert paired.test == "wilcoxon_signed_rank" and "constant sample" in paired.reason
