"""Fried phenotype against the published cut-offs (Fried 2001 Table 1; AWGS 2019; J-CHS)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frailtrial.errors import InputError
from frailtrial.instruments import get
from frailtrial.instruments.base import missing_items
from frailtrial.instruments.fried import category_of

ROBUST_MAN: dict[str, Any] = {
    "sex": "male", "height_cm": 175.0, "weight_kg": 80.0, "bmi": 25.0, "weight_loss_kg": 0.0,
    "cesd_effort": 0, "cesd_going": 0, "kcal_week": 1000.0, "walk_time_s": 4.0, "grip_kg": 40.0,
}  # fmt: skip

# Fried et al. 2001, Table 1 (weakness): BMI band upper edge -> grip cut-off (kg, "<=").
MEN_GRIP = [(22.0, 29.0), (24.0, 29.0), (25.0, 30.0), (26.0, 30.0), (27.0, 30.0), (28.0, 30.0),
            (30.0, 32.0)]  # fmt: skip
WOMEN_GRIP = [(20.0, 17.0), (23.0, 17.0), (25.0, 17.3), (26.0, 17.3), (27.0, 18.0), (29.0, 18.0),
              (33.0, 21.0)]  # fmt: skip


def score(criteria: str = "chs", **answers: Any) -> Any:
    return get("fried", criteria=criteria).score({**ROBUST_MAN, **answers})


def test_robust_has_no_point() -> None:
    r = score()
    assert (r.score, r.category) == (0, "robust")


@pytest.mark.parametrize(("bmi", "cut"), MEN_GRIP)
def test_chs_grip_cells_men(bmi: float, cut: float) -> None:
    assert score(bmi=bmi, grip_kg=cut).weakness is True
    assert score(bmi=bmi, grip_kg=cut + 0.1).weakness is False


@pytest.mark.parametrize(("bmi", "cut"), WOMEN_GRIP)
def test_chs_grip_cells_women(bmi: float, cut: float) -> None:
    woman = {"sex": "female", "bmi": bmi, "height_cm": 160.0}
    assert score(**woman, grip_kg=cut).weakness is True
    assert score(**woman, grip_kg=round(cut + 0.1, 1)).weakness is False


def test_unverified_men_26_28_band_is_an_option() -> None:
    fried31 = get("fried", male_grip_bmi_26_28=31)
    assert fried31.score({**ROBUST_MAN, "bmi": 27.0, "grip_kg": 30.5}).weakness is True
    assert score(bmi=27.0, grip_kg=30.5).weakness is False
    with pytest.raises(InputError, match="male_grip_bmi_26_28"):
        get("fried", male_grip_bmi_26_28=29)


@pytest.mark.parametrize(
    ("sex", "height", "time", "slow"),
    [
        ("male", 173.0, 7.0, True), ("male", 173.0, 6.99, False), ("male", 173.1, 6.0, True),
        ("male", 173.1, 5.99, False), ("female", 159.0, 7.0, True),
        ("female", 159.0, 6.99, False), ("female", 159.1, 6.0, True),
        ("female", 159.1, 5.99, False),
    ],
)  # fmt: skip
def test_chs_walk_time_cells(sex: str, height: float, time: float, slow: bool) -> None:
    assert score(sex=sex, height_cm=height, walk_time_s=time).slowness is slow


def test_chs_walk_from_gait_speed_over_15_ft() -> None:
    assert score(walk_time_s=None, gait_speed_m_s=4.572 / 6.0).slowness is True
    assert score(walk_time_s=None, gait_speed_m_s=4.572 / 5.9).slowness is False


@pytest.mark.parametrize(
    ("sex", "kcal", "low"),
    [("male", 382.9, True), ("male", 383.0, False), ("female", 269.9, True),
     ("female", 270.0, False)],
)  # fmt: skip
def test_chs_activity(sex: str, kcal: float, low: bool) -> None:
    assert score(sex=sex, kcal_week=kcal).low_activity is low


def test_chs_shrinking_ten_pounds_or_five_percent() -> None:
    assert score(weight_kg=200.0, weight_loss_kg=4.54).shrinking is True  # > 10 lb = 4.536 kg
    assert score(weight_kg=200.0, weight_loss_kg=4.53).shrinking is False
    # 5 % of the previous weight (80 + 4.22 = 84.22 kg -> 4.211 kg)
    assert score(weight_kg=80.0, weight_loss_kg=4.22).shrinking is True
    assert score(weight_kg=80.0, weight_loss_kg=4.2).shrinking is False


def test_exhaustion_either_cesd_item_at_two() -> None:
    assert score(cesd_effort=2).exhaustion is True
    assert score(cesd_going=3).exhaustion is True
    assert score(cesd_effort=1, cesd_going=1).exhaustion is False
    assert score(cesd_effort=1, cesd_going=None).exhaustion is None
    assert score(cesd_effort=None, cesd_going=None, exhausted=True).exhaustion is True


def test_awgs2019_and_jchs_cutoffs() -> None:
    for criteria in ("awgs2019", "jchs"):
        assert score(criteria, grip_kg=27.9).weakness is True
        assert score(criteria, grip_kg=28.0).weakness is False
        assert score(criteria, sex="female", grip_kg=17.9).weakness is True
        assert score(criteria, sex="female", grip_kg=18.0).weakness is False
        assert score(criteria, walk_time_s=None, gait_speed_m_s=0.99).slowness is True
        assert score(criteria, walk_time_s=None, gait_speed_m_s=1.0).slowness is False
    assert score("jchs", weight_loss_kg=2.0).shrinking is True
    assert score("jchs", weight_loss_kg=1.9).shrinking is False


def test_categories() -> None:
    r = score(grip_kg=20.0, walk_time_s=9.0, kcal_week=100.0)
    assert (r.score, r.category) == (3, "frail")
    r = score(grip_kg=20.0)
    assert (r.score, r.category) == (1, "pre-frail")


def test_missing_rule() -> None:
    r = score(grip_kg=None)
    assert (r.score, r.category, r.n_missing) == (None, None, 1)
    lenient = get("fried", allow_missing=True)
    r = lenient.score({**ROBUST_MAN, "grip_kg": None, "walk_time_s": 9.0, "kcal_week": 10.0,
                       "cesd_effort": 3})  # fmt: skip
    assert (r.score, r.category) == (None, "frail")
    r = lenient.score({**ROBUST_MAN, "grip_kg": None})
    assert r.category is None  # 0 known points: robust or pre-frail


def test_invalid_answers_name_item_and_value() -> None:
    with pytest.raises(InputError, match=r"'cesd_effort' = 4 .*0 to 3"):
        score(cesd_effort=4)
    with pytest.raises(InputError, match="'sex'"):
        score(sex="m")
    r = score(sex=None, grip_kg=10.0, cesd_effort=3)
    assert (r.weakness, r.low_activity, r.exhaustion, r.score) == (None, None, True, None)
    with pytest.raises(InputError, match="unknown item 'gripp'"):
        score(gripp=3)
    with pytest.raises(InputError, match="criteria"):
        get("fried", criteria="ewgsop")


opt_float = st.one_of(st.none(), st.floats(0, 60))
answers = st.fixed_dictionaries(
    {
        "sex": st.sampled_from(["male", "female", None]),
        "height_cm": st.one_of(st.none(), st.floats(140, 200)),
        "bmi": st.one_of(st.none(), st.floats(15, 45)),
        "weight_kg": st.one_of(st.none(), st.floats(35, 150)),
        "weight_loss_kg": st.one_of(st.none(), st.floats(0, 15)),
        "cesd_effort": st.one_of(st.none(), st.integers(0, 3)),
        "cesd_going": st.one_of(st.none(), st.integers(0, 3)),
        "kcal_week": st.one_of(st.none(), st.floats(0, 3000)),
        "walk_time_s": st.one_of(st.none(), st.floats(2, 30)),
        "grip_kg": opt_float,
    }
)


@settings(max_examples=150, deadline=None)
@given(answers, st.sampled_from(["chs", "awgs2019", "jchs"]))
def test_score_range_and_decided_category_is_final(a: dict[str, Any], criteria: str) -> None:
    r = get("fried", criteria=criteria, allow_missing=True).score(a)
    assert 0 <= r.known_points <= 5 - r.n_missing
    if r.score is not None:
        assert r.category == category_of(r.score, 0)
    if r.category is not None:
        # every completion of the missing criteria gives the same category
        for extra in range(r.n_missing + 1):
            assert category_of(r.known_points + extra, 0) == r.category


@settings(max_examples=100, deadline=None)
@given(st.floats(0, 60), st.floats(0, 60), st.floats(2, 20), st.floats(2, 20))
def test_monotone_grip_and_walk(g1: float, g2: float, t1: float, t2: float) -> None:
    lo_g, hi_g = sorted((g1, g2))
    fast, slow = sorted((t1, t2))
    assert score(grip_kg=hi_g).known_points <= score(grip_kg=lo_g).known_points
    assert score(walk_time_s=fast).known_points <= score(walk_time_s=slow).known_points


@pytest.mark.parametrize(
    ("criteria", "answers", "missing"),
    [
        # the direct answers and gait speed stand for CES-D, kcal/week and the walk time
        ("chs", {"sex": "female", "height_cm": 160, "weight_kg": 60, "weight_loss_kg": 0,
                 "exhausted": False, "low_activity": True, "gait_speed_m_s": 0.9,
                 "grip_kg": 20}, []),
        ("chs", {"sex": "male", "height_cm": 175, "bmi": 25, "weight_loss_kg": 1,
                 "cesd_effort": 1, "cesd_going": 0, "kcal_week": 500, "walk_time_s": 5,
                 "grip_kg": 35}, []),
        ("awgs2019", {"sex": "male", "weight_kg": 70, "weight_loss_kg": 1, "exhausted": True,
                      "kcal_week": 500, "gait_speed_m_s": 1.2, "grip_kg": 35}, []),
        ("jchs", {"sex": "male", "weight_loss_kg": 1, "exhausted": True,
                  "low_activity": False, "walk_time_s": 4, "grip_kg": 35}, []),
        ("chs", {"sex": "male", "height_cm": 175, "weight_kg": 70, "weight_loss_kg": 1,
                 "cesd_effort": 1, "exhausted": False, "low_activity": True,
                 "walk_time_s": 5, "grip_kg": 35}, ["cesd_going"]),
        ("chs", {"sex": "male", "weight_kg": 70, "weight_loss_kg": 1, "exhausted": False,
                 "low_activity": True, "gait_speed_m_s": 1.0}, ["height_cm", "grip_kg"]),
        ("awgs2019", {"sex": "male", "weight_loss_kg": 1, "exhausted": False,
                      "low_activity": True, "grip_kg": 30}, ["weight_kg", "gait_speed_m_s"]),
    ],
)  # fmt: skip
def test_a_form_is_complete_exactly_when_every_criterion_is_known(
    criteria: str, answers: dict[str, Any], missing: list[str]
) -> None:
    """Completeness follows the module's missing rule: one of each pair of alternative
    inputs (CES-D or the direct answer, kcal/week or the direct answer, walk time or speed,
    BMI or weight and height), not every item of the form."""
    fried = get("fried", criteria=criteria)
    full = {i.id: answers.get(i.id) for i in fried.items}
    assert missing_items(fried, full) == missing
    assert (fried.score(full).score is None) == bool(missing)
