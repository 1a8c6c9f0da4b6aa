"""Built-in protocols name only instruments and results the instrument library really has."""

from __future__ import annotations

import pytest

from frailtrial import instruments
from frailtrial.instruments.base import result_as_dict, result_keys, result_range
from frailtrial.protocol import builtin_names, load


@pytest.mark.parametrize("name", builtin_names())
def test_protocol_instruments_exist(name: str) -> None:
    p = load(name)
    known = set(instruments.names())
    assert p.eligibility.frailty.instrument in known
    for v in p.visits:
        assert set(v.instruments) <= known, (v.name, set(v.instruments) - known)
    for var in p.variables:
        inst = instruments.get(var.instrument)
        assert var.result in result_keys(inst), (var.name, var.result, result_keys(inst))


def test_result_ranges_come_from_the_instrument() -> None:
    assert result_range(instruments.get("sf36"), "PCS_sum") == (0.0, 400.0)
    assert result_range(instruments.get("psqi"), "global") == (0.0, 21.0)
    assert result_range(instruments.get("eq5d5l"), "vas") == (0, 100)  # passes the item through
    tug = instruments.get("tug")
    item = next(i for i in tug.items if i.id == "tug_s")
    assert result_range(tug, "seconds") == (item.minimum, item.maximum)
    assert result_range(instruments.get("cytokine"), "value") == (0, None)
    assert result_range(instruments.get("sf36"), "PCS") == (None, None)


def test_sppb_component_ranges_are_those_of_guralnik_1994() -> None:
    sppb = instruments.get("sppb")
    best = {"side_by_side_s": 10, "semi_tandem_s": 10, "tandem_s": 10}
    best |= {"gait_time_1_s": 3.5, "gait_time_2_s": 4.0, "chair_stands_s": 9.0}
    worst = {"side_by_side_s": 2, "gait_unable": True, "chair_unable": True}
    top, bottom = result_as_dict(sppb.score(best)), result_as_dict(sppb.score(worst))
    for part in ("balance", "gait", "chair"):
        assert result_range(sppb, part) == (0, 4) == (bottom[part], top[part])
    assert result_range(sppb, "total") == (0, 12) == (bottom["total"], top["total"])


@pytest.mark.parametrize("name", builtin_names())
def test_simulator_bounds_are_the_instruments_ranges(name: str) -> None:
    from frailtrial.simulate import variable_bounds

    p = load(name)
    for var in p.variables:
        lo, hi = result_range(instruments.get(var.instrument), var.result)
        b = variable_bounds(p, var.name)
        assert (b.lower, b.upper) == (lo, hi), var.name


@pytest.mark.parametrize("name", instruments.names())
def test_result_dict_has_the_keys_its_type_declares(name: str) -> None:
    inst = instruments.get(name)
    assert list(result_as_dict(inst.score({}))) == result_keys(inst)
