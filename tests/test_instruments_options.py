"""Instrument options accept the strings a command line passes, and reject the rest with an
error naming instrument, option, value and what is allowed."""

from __future__ import annotations

import pytest

from frailtrial.errors import InputError
from frailtrial.instruments import get


def test_string_options_are_converted() -> None:
    fried = get("fried", criteria="jchs", male_grip_bmi_26_28="31", allow_missing="true")
    assert (fried.criteria, fried.male_grip_bmi_26_28, fried.allow_missing) == ("jchs", 31, True)
    assert get("walk4m", course_m="6").course_m == 6.0
    assert get("sqolf", max_missing="3").max_missing == 3


@pytest.mark.parametrize(
    ("name", "options", "pattern"),
    [
        ("fried", {"allow_missing": "maybe"}, r"fried: option allow_missing='maybe'"),
        ("fried", {"male_grip_bmi_26_28": "30.5"}, r"male_grip_bmi_26_28='30.5'"),
        ("walk4m", {"course_m": "far"}, r"walk4m: option course_m='far'"),
        ("walk4m", {"trials": "best"}, r"trials='best'.*fastest, mean"),
        ("grip", {"hand": "right"}, r"grip: option hand='right'"),
        ("sqolf", {"max_missing": "2.5"}, r"max_missing='2.5'"),
        ("sqolf", {"reversed_items": "1,x"}, r"reversed_items='1,x'"),
        ("sqolf", {"reversed_items": 19}, r"reversed_items=19"),
        ("egfr", {"unit": "mmol/L"}, r"egfr: option unit='mmol/L'"),
        ("cytokine", {"substitution": "lod"}, r"substitution='lod'"),
        ("cfs", {"version": "1.2"}, r"cfs: option version='1.2'"),
        ("sf36", {"norms": "uk1992"}, r"sf36: option norms='uk1992'.*us1990, us1998"),
        ("sf36", {"scoring": "sf12"}, r"sf36: option scoring='sf12'.*sf36, rand36"),
        ("eq5d3l", {"value_set": "US"}, r"eq5d3l: option value_set='US'.*CN, UK"),
    ],
)
def test_bad_options(name: str, options: dict[str, object], pattern: str) -> None:
    with pytest.raises(InputError, match=pattern):
        get(name, **options)
