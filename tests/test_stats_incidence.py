"""frailtrial.stats.incidence against R 4.2 (fixture tests/reference/incidence.json, made by
tests/reference/incidence.R) and the Newcombe risk difference against its published worked
examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from frailtrial.errors import InputError
from frailtrial.stats import incidence as inc
from frailtrial.stats.effect_sizes import risk_difference

REF: dict[str, Any] = json.loads(
    (Path(__file__).parent / "reference" / "incidence.json").read_text()
)


@pytest.mark.parametrize("case", REF["binom"], ids=lambda c: f"{c['events']}of{c['n']}")
def test_clopper_pearson_matches_binom_test(case: dict[str, Any]) -> None:
    assert inc.clopper_pearson(case["events"], case["n"]) == pytest.approx(case["ci"], rel=1e-9)
    ci90 = inc.clopper_pearson(case["events"], case["n"], conf_level=0.90)
    assert ci90 == pytest.approx(case["ci90"], rel=1e-9)


@pytest.mark.parametrize("case", REF["fisher"], ids=lambda c: "-".join(map(str, c["counts"])))
def test_fisher_and_newcombe_match_r(case: dict[str, Any]) -> None:
    xa, na, xb, nb = case["counts"]
    assert inc.fisher_2x2(xa, na, xb, nb) == pytest.approx(case["p"], rel=1e-9)
    rd = risk_difference(xa, na, xb, nb)
    assert rd.estimate == pytest.approx(case["rd"], abs=1e-14)
    assert [rd.ci_low, rd.ci_high] == pytest.approx(case["newcombe"], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("case", REF["trend"], ids=lambda c: "-".join(map(str, c["events"])))
def test_cochran_armitage_matches_prop_trend_test(case: dict[str, Any]) -> None:
    r = inc.cochran_armitage(case["events"], case["n"], case["scores"])
    assert r.chi_square == pytest.approx(case["chi_square"], rel=1e-9)
    assert r.p == pytest.approx(case["p"], rel=1e-9)
    assert r.z == pytest.approx(case["z"], rel=1e-9)  # the sign: rising incidence is z > 0


# Newcombe RG. Interval estimation for the difference between independent proportions:
# comparison of eleven methods. Stat Med 1998;17:873-890, Table II, method 10 (score
# method, no continuity correction), printed to 4 decimals.
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


@pytest.mark.parametrize(("counts", "printed"), NEWCOMBE_TABLE_II)
def test_newcombe_published_examples(
    counts: tuple[int, int, int, int], printed: tuple[float, float]
) -> None:
    rd = risk_difference(*counts)
    assert (round(rd.ci_low, 4), round(rd.ci_high, 4)) == printed


def test_no_events_anywhere() -> None:
    """R: fisher.test gives p = 1; prop.trend.test gives NaN (zero pooled variance)."""
    assert inc.fisher_2x2(0, 10, 0, 10) == 1.0
    assert inc.fisher_2x2(10, 10, 8, 8) == 1.0
    r = inc.cochran_armitage([0, 0, 0], [10, 10, 10], [0, 1, 2])
    assert r.p != r.p and r.chi_square != r.chi_square


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: inc.clopper_pearson(3, 2), "events <= n"),
        (lambda: inc.clopper_pearson(1, 0), "n >= 1"),
        (lambda: inc.clopper_pearson(1.5, 4), "whole counts"),
        (lambda: inc.clopper_pearson(1, 4, conf_level=1.0), "conf_level"),
        (lambda: inc.fisher_2x2(1, 4, -1, 4), "group b"),
        (lambda: inc.cochran_armitage([1, 2], [5, 5], [1, 1]), "not all equal"),
        (lambda: inc.cochran_armitage([1], [5], [0]), ">= 2 groups"),
        (lambda: inc.cochran_armitage([1, 2], [5, 5, 5], [0, 1, 2]), "same"),
    ],
)
def test_bad_input(call: Any, match: str) -> None:
    with pytest.raises(InputError, match=match):
        call()
