"""The one derivation of the population flags (dataset/populations.py), by hand."""

from __future__ import annotations

import numpy as np
import pytest

from frailtrial.dataset.populations import population_flags, scheduled_doses
from frailtrial.protocol import load


def test_each_flag_by_hand() -> None:
    # P1 full course, last visit in window; P2 one of two doses; P3 no dose; P4 full course
    # but last visit missed or out of window; P5 full course, withdrawn; P6 placebo once of once
    flags = population_flags(
        doses_given=[2, 1, 0, 2, 2, 1],
        doses_scheduled=[2, 2, 2, 2, 2, 1],
        last_visit_in_window=[True, True, False, False, True, True],
        withdrawn=[False, False, True, False, True, False],
    )
    assert flags["itt"].tolist() == [True] * 6
    assert flags["safety"].tolist() == [True, True, False, True, True, True]
    assert flags["per_protocol"].tolist() == [True, False, False, False, False, True]


@pytest.mark.parametrize(("name", "doses"), [("huc-msc-2024", 2), ("cratus-2017", 1)])
def test_scheduled_doses_are_those_of_each_assigned_arm(name: str, doses: int) -> None:
    protocol = load(name)
    arms = [a.name for a in protocol.arms] * 2
    assert np.array_equal(scheduled_doses(protocol, arms), np.full(len(arms), doses))
    with pytest.raises(KeyError):
        scheduled_doses(protocol, ["no-such-arm"])
