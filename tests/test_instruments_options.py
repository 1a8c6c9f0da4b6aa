"""Instrument options accept the strings a command line passes, and reject the rest with an
error naming instrument, option, value and what is allowed; the protocol's conventions set
options from the one registry (instruments.options)."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from frailtrial.cli.score import option_specs
from frailtrial.edc.eligibility import score_answers
from frailtrial.errors import InputError
from frailtrial.instruments import REGISTRY, get
from frailtrial.instruments.base import result_as_dict
from frailtrial.instruments.options import CONVENTIONS
from frailtrial.protocol import load
from frailtrial.protocol.model import InstrumentConventions
from protocol_support import assert_problem


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


# The option registry: the protocol's conventions set instrument options ------------------


def test_each_convention_takes_exactly_the_values_its_instrument_option_allows() -> None:
    """A protocol field that sets an instrument option allows what the instrument allows:
    same values, read from the one registry (the instrument's factory annotation)."""
    fields = InstrumentConventions.model_fields
    assert set(CONVENTIONS) == set(fields) - {"sf36_summary"}  # the one field not an option
    for field, convention in CONVENTIONS.items():
        specs = {s.name: s for s in option_specs(REGISTRY.factory(convention.instrument))}
        assert convention.option in specs, (field, convention)
        allowed = get_args(fields[field].annotation)
        assert allowed == specs[convention.option].choices, field
        for value in allowed:  # and the instrument takes each of them
            get(convention.instrument, **{convention.option: value})


def test_the_protocol_conventions_reach_the_scorers() -> None:
    p = load("huc-msc-2024")  # SF-36 v1 with the 1990 norms, EQ-5D-5L China value set
    assert p.conventions.options_for("sf36") == {"version": "v1", "norms": "us1990"}
    assert p.conventions.options_for("sppb") == {}
    state = {"mobility": 2, "self_care": 1, "usual_activities": 1}
    state |= {"pain_discomfort": 1, "anxiety_depression": 1, "vas": 80}
    scored = score_answers(p, "eq5d5l", state)
    assert scored["value_set"] == "CN"
    assert scored["index"] == result_as_dict(get("eq5d5l", value_set="CN").score(state))["index"]
    assert scored["index"] != result_as_dict(get("eq5d5l", value_set="UK").score(state))["index"]


def test_a_protocol_convention_outside_the_instrument_options_is_refused() -> None:
    def edit(data: dict[str, Any]) -> None:
        data["conventions"]["eq5d_value_set"] = "JP"

    assert_problem(edit, "conventions.eq5d_value_set", "'CN', 'UK' or 'US'")
