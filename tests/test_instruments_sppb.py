"""SPPB against the published cut points (Guralnik et al. 1994), exactly at each boundary."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frailtrial.errors import InputError
from frailtrial.instruments import get
from frailtrial.instruments.base import missing_items

FULL: dict[str, Any] = {
    "side_by_side_s": 10,
    "semi_tandem_s": 10,
    "tandem_s": 10,
    "gait_time_1_s": 4.0,
    "gait_time_2_s": 4.5,
    "chair_stands_s": 10.0,
}


def sppb(**answers: Any) -> Any:
    return get("sppb").score({**FULL, **answers})


# Guralnik 1994: < 4.82 -> 4; 4.82-6.20 -> 3; 6.21-8.70 -> 2; > 8.70 -> 1
GAIT = [(4.81, 4), (4.82, 3), (6.20, 3), (6.21, 2), (8.70, 2), (8.71, 1), (30.0, 1)]
# <= 11.19 -> 4; 11.20-13.69 -> 3; 13.70-16.69 -> 2; 16.70-60 -> 1; > 60 -> 0
CHAIR = [(11.19, 4), (11.20, 3), (13.69, 3), (13.70, 2), (16.69, 2), (16.70, 1), (60.0, 1),
         (60.01, 0)]  # fmt: skip


@pytest.mark.parametrize(("time", "points"), GAIT)
def test_gait_boundaries(time: float, points: int) -> None:
    assert sppb(gait_time_1_s=time, gait_time_2_s=None).gait == points


@pytest.mark.parametrize(("time", "points"), CHAIR)
def test_chair_boundaries(time: float, points: int) -> None:
    assert sppb(chair_stands_s=time).chair == points


@pytest.mark.parametrize(
    ("side", "semi", "tandem", "points"),
    [(10, 10, 10, 4), (10, 10, 9.99, 3), (10, 10, 3.0, 3), (10, 10, 2.99, 2), (10, 10, 0, 2),
     (10, 9.99, None, 1), (10, 5, 10, 1), (9.99, None, None, 0), (0, 10, 10, 0)],
)  # fmt: skip
def test_balance_with_stop_at_first_failure(
    side: float, semi: float | None, tandem: float | None, points: int
) -> None:
    assert sppb(side_by_side_s=side, semi_tandem_s=semi, tandem_s=tandem).balance == points


def test_faster_of_two_walks_and_unable() -> None:
    r = sppb(gait_time_1_s=6.5, gait_time_2_s=6.1)
    assert (r.gait, r.gait_time_s) == (3, 6.1)
    assert r.gait_speed_m_s == pytest.approx(4 / 6.1)
    assert sppb(gait_unable=True).gait == 0
    assert sppb(chair_unable=True, chair_stands_s=None).chair == 0


def test_total_and_missing_rule() -> None:
    assert sppb().total == 12
    assert sppb(tandem_s=5, gait_time_1_s=7, gait_time_2_s=None, chair_stands_s=15).total == 7
    assert sppb(side_by_side_s=None).total is None
    assert sppb(side_by_side_s=10, semi_tandem_s=10, tandem_s=None).balance is None
    assert sppb(gait_time_1_s=None, gait_time_2_s=None).gait is None
    assert sppb(chair_stands_s=None).total is None


def test_invalid_answers() -> None:
    with pytest.raises(InputError, match=r"'tandem_s' = 12 .*0 to 10"):
        sppb(tandem_s=12)
    with pytest.raises(InputError, match="'gait_unable'"):
        sppb(gait_unable="yes")


balance_s = st.one_of(st.none(), st.floats(0, 10))
times = st.one_of(st.none(), st.floats(1, 120))


@settings(max_examples=200, deadline=None)
@given(balance_s, balance_s, balance_s, times, times, st.one_of(st.none(), st.floats(1, 600)))
def test_range(a: Any, b: Any, c: Any, g1: Any, g2: Any, ch: Any) -> None:
    answers = dict(zip(FULL, (a, b, c, g1, g2, ch), strict=True))
    r = get("sppb").score(answers)
    parts = (r.balance, r.gait, r.chair)
    assert r.balance is None or 0 <= r.balance <= 4
    assert r.gait is None or 1 <= r.gait <= 4
    assert r.chair is None or 0 <= r.chair <= 4
    assert (r.total is None) == any(p is None for p in parts)
    assert r.total is None or r.total == sum(p for p in parts if p is not None)


@settings(max_examples=200, deadline=None)
@given(st.floats(1, 120), st.floats(1, 120), st.floats(1, 600), st.floats(1, 600),
       st.floats(0, 10), st.floats(0, 10))  # fmt: skip
def test_slower_never_scores_higher(
    g1: float, g2: float, c1: float, c2: float, t1: float, t2: float
) -> None:
    fast, slow = sorted((g1, g2))
    assert (
        sppb(gait_time_1_s=slow, gait_time_2_s=None).gait
        <= sppb(gait_time_1_s=fast, gait_time_2_s=None).gait
    )
    quick, sluggish = sorted((c1, c2))
    assert sppb(chair_stands_s=sluggish).chair <= sppb(chair_stands_s=quick).chair
    short, long = sorted((t1, t2))
    assert sppb(tandem_s=short).balance <= sppb(tandem_s=long).balance


@pytest.mark.parametrize(
    ("answers", "missing"),
    [
        # failed side-by-side: the test stops, no later stand is asked; both unable
        ({"side_by_side_s": 4.0, "gait_unable": True, "chair_unable": True}, []),
        (
            {
                "side_by_side_s": 10,
                "semi_tandem_s": 6.5,
                "gait_time_1_s": 5.0,
                "chair_stands_s": 12.0,
            },
            [],
        ),
        (
            {"side_by_side_s": 10, "gait_time_1_s": 5.0, "chair_stands_s": 12.0},
            ["semi_tandem_s"],
        ),
        (
            {"side_by_side_s": 10, "semi_tandem_s": 10, "gait_unable": True},
            ["tandem_s", "chair_stands_s"],
        ),
        (
            {"side_by_side_s": 10, "semi_tandem_s": 10, "tandem_s": 2.0},
            ["gait_time_1_s", "chair_stands_s"],
        ),
    ],
)
def test_a_form_is_complete_exactly_when_the_total_can_be_scored(
    answers: dict[str, Any], missing: list[str]
) -> None:
    """Completeness follows the published stop-at-first-failure balance rule and the
    'unable' answers: nothing the protocol never asks is required, nothing the total needs
    is left out."""
    full = {i.id: answers.get(i.id) for i in get("sppb").items}
    assert missing_items(get("sppb"), full) == missing
    assert (get("sppb").score(full).total is None) == bool(missing)
