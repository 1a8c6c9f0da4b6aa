"""Pharmacy: the volume drawn from a lot is the dose divided by the lot's concentration, made
up to the protocol's fixed bag volume so both arms look alike; a dose the lot cannot supply
is refused with one line naming the lot, its concentration and volume, and the dose."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edc_support import CELL_TESTS, enroll, new_trial, sqlite_url, use_store
from frailtrial.errors import InputError

PLACEBO_TESTS = {"sterility": "negative", "endotoxin_eu_ml": 0.05}


@pytest.fixture()
def t(tmp_path: Path) -> dict[str, Any]:
    """A trial with two active and one placebo participant enrolled (list order)."""
    use_store(sqlite_url(tmp_path))
    from frailtrial.edc.services import randomization

    t = new_trial()
    pharm = t["m"]["unblinded_pharmacist"]
    placebo = t["protocol"].control_arm.name
    active: list[str] = []
    control: list[str] = []
    i = 0
    while len(active) < 3 or not control:
        pid = enroll(t, f"V{i}").participant_id
        (control if randomization.arm_of(pharm, pid) == placebo else active).append(pid)
        i += 1
    t.update(pharm=pharm, active=active, control=control)
    return t


def test_the_issue_lot_is_refused_instead_of_printing_100_ml(t: dict[str, Any]) -> None:
    """1e6 cells/kg x 72.6 kg = 7.26e7 cells; at 3e5 cells/mL that is 242 mL of concentrate,
    more than the 100 mL bag (hand computation)."""
    from frailtrial.edc.models import Preparation
    from frailtrial.edc.services import product

    product.record_lot(
        t["pharm"], "LOW", "cells", "2024-02-01", CELL_TESTS, cells_per_ml=3e5, volume_ml=500
    )
    with pytest.raises(InputError) as refused:
        product.prepare(t["pharm"], t["active"][0], 1, "LOW", 72.6)
    line = str(refused.value)
    assert "\n" not in line
    assert line == (
        "lot LOW (3e+05 cells/mL, 500 of 500 mL left) cannot supply dose 1 of "
        f"{t['active'][0]} (7.26e+07 cells): it needs 242 mL drawn, more than the 100 mL "
        "infusion volume"
    )
    assert not Preparation.objects.exists()


def test_draw_is_dose_over_concentration_and_both_arms_fill_the_same_bag(
    t: dict[str, Any],
) -> None:
    from frailtrial.edc.services import product

    pharm = t["pharm"]
    product.record_lot(
        pharm, "C2", "cells", "2024-02-01", CELL_TESTS, cells_per_ml=2e6, volume_ml=100
    )
    product.record_lot(pharm, "P2", "saline", "2024-02-01", PLACEBO_TESTS, is_placebo=True)
    a = product.prepare(pharm, t["active"][0], 1, "C2", 61.0)  # 6.1e7 / 2e6 = 30.5 mL
    assert (a.draw_ml, a.diluent_ml, a.volume_ml) == pytest.approx((30.5, 69.5, 100.0))
    p = product.prepare(pharm, t["control"][0], 1, "P2", 80.0)
    assert (p.draw_ml, p.diluent_ml, p.volume_ml) == (100.0, 0.0, 100.0)
    b = product.prepare(pharm, t["active"][1], 1, "C2", 90.0)  # 45 mL: 75.5 of 100 mL used
    assert b.draw_ml == pytest.approx(45.0)
    with pytest.raises(
        InputError,
        match=r"lot C2 \(2e\+06 cells/mL, 24.5 of 100 mL left\) cannot supply dose 1 of "
        r".*: it needs 35 mL drawn, more than is left of the lot",
    ):
        product.prepare(pharm, t["active"][2], 1, "C2", 70.0)


def test_a_cell_lot_needs_its_concentration(t: dict[str, Any]) -> None:
    from frailtrial.edc.services import product

    with pytest.raises(InputError, match="lot C3: a cell lot needs its concentration"):
        product.record_lot(t["pharm"], "C3", "cells", "2024-02-01", CELL_TESTS)
    with pytest.raises(InputError, match="a placebo lot holds no cells"):
        product.record_lot(
            t["pharm"], "P3", "saline", "2024-02-01", PLACEBO_TESTS, True, cells_per_ml=1e6
        )


def test_three_arm_protocol_draws_each_arms_own_dose(tmp_path: Path) -> None:
    """A protocol that is not built in (tests/protocols/three-arm-sex.yaml): 2e8 and 1e8
    fixed cells and placebo. From a lot of 4e6 cells/mL: 2e8 / 4e6 = 50 mL and
    1e8 / 4e6 = 25 mL drawn, made up to the 100 mL bag; placebo 100 mL (hand computation)."""
    use_store(sqlite_url(tmp_path))
    from frailtrial.edc.services import product, randomization

    t = new_trial(str(Path(__file__).parent / "protocols" / "three-arm-sex.yaml"))
    pharm = t["m"]["unblinded_pharmacist"]
    product.record_lot(
        pharm, "MSC", "allogeneic MSCs", "2024-02-01", CELL_TESTS, cells_per_ml=4e6, volume_ml=80
    )
    product.record_lot(pharm, "VEH", "vehicle", "2024-02-01", PLACEBO_TESTS, is_placebo=True)
    bags: dict[str, tuple[float, float, float, float]] = {}
    refused: list[str] = []
    for i in range(12):
        pid = enroll(t, f"A{i}").participant_id
        arm = randomization.arm_of(pharm, pid)
        lot = "VEH" if arm == "placebo" else "MSC"
        try:
            prep = product.prepare(pharm, pid, 1, lot, 70.0)
        except InputError as exc:
            refused.append(str(exc))
            continue
        bags.setdefault(arm, (prep.cells, prep.draw_ml, prep.diluent_ml, prep.volume_ml))
    assert bags == {
        "high_dose": (2e8, 50.0, 50.0, 100.0),
        "low_dose": (1e8, 25.0, 75.0, 100.0),
        "placebo": (0.0, 100.0, 0.0, 100.0),
    }
    # the 80 mL lot runs out: each refusal says what is left of it
    assert refused and all("mL left) cannot supply dose 1" in r for r in refused)
