"""Blinding: no blinded role obtains an arm through a service, an export or the audit trail."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edc_support import dose_first, enroll, new_trial, report_sae, sqlite_url, use_store
from frailtrial.edc.errors import AccessDenied

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> dict:
    use_store(sqlite_url(tmp_path_factory.mktemp("blind")))
    t = new_trial()
    from frailtrial.edc.services import crf, visits

    t["ids"] = []
    for i in range(6):
        r = enroll(t, f"B{i}")
        dose_first(t, r.participant_id, weight=60.0 + i)
        visits.attend(t["m"]["coordinator"], r.participant_id, "baseline", "2024-03-05")
        crf.enter_crf(t["m"]["coordinator"], r.participant_id, "baseline", "tug", {"tug_s": 11.0})
        t["ids"].append(r.participant_id)
    return t


def _arm_words(t: dict) -> re.Pattern[str]:
    words = {a.name for a in t["protocol"].arms} | {a.label for a in t["protocol"].arms}
    products = {a.dose.product for a in t["protocol"].arms} | {"saline", "cells"}
    return re.compile("|".join(re.escape(w) for w in words | products), re.IGNORECASE)


def test_blinded_roles_are_those_of_the_protocol(trial: dict) -> None:
    from frailtrial.edc.services.common import sees_arm

    blinded = set(trial["protocol"].blinding.blinded_roles)
    for role, m in trial["m"].items():
        assert sees_arm(m) == (role not in blinded), role


def test_no_service_gives_a_blinded_role_an_arm(trial: dict) -> None:
    from frailtrial.edc.services import randomization
    from frailtrial.edc.services.common import sees_arm

    pid = trial["ids"][0]
    for m in trial["m"].values():
        if sees_arm(m):
            assert randomization.arm_of(m, pid) in ("mscs", "placebo")
            continue
        with pytest.raises(AccessDenied) as info:
            randomization.arm_of(m, pid)
        assert not _arm_words(trial).search(str(info.value))
    r = enroll(trial, "B-new")
    assert r.arm is None  # the coordinator randomizing sees the number only


def test_blinded_export_holds_no_arm_anywhere(trial: dict, tmp_path: Path) -> None:
    from frailtrial.edc.services.common import sees_arm
    from frailtrial.edc.services.exports import run as export

    pattern = _arm_words(trial)
    for role, m in trial["m"].items():
        if sees_arm(m):
            continue
        out = tmp_path / role
        summary = export.export(m, out)
        assert summary["blinded"]
        for f in out.rglob("*"):
            if f.is_file():
                text = f.read_bytes().decode("latin-1")
                hit = pattern.search(text)
                assert hit is None, f"{role}: {f.name} holds {hit.group(0)!r}"
        header = (out / "participants.csv").read_text().splitlines()[0].split(",")
        assert "arm" not in header and "arm_received" not in header
        dosing = (out / "dosing.csv").read_text().splitlines()[0].split(",")
        assert not {"cells", "cells_per_kg", "lot"} & set(dosing)


def test_unblinded_export_has_arms_and_doses(trial: dict, tmp_path: Path) -> None:
    import pandas as pd

    from frailtrial.dataset import read_dataset
    from frailtrial.edc.services import randomization
    from frailtrial.edc.services.exports import run as export

    pharm = trial["m"]["unblinded_pharmacist"]
    export.export(pharm, tmp_path)
    ds = read_dataset(tmp_path, trial["protocol"])
    arms = {pid: randomization.arm_of(pharm, pid) for pid in trial["ids"]}
    got = ds.participants.set_index("participant_id")["arm"]
    assert all(got[pid] == arm for pid, arm in arms.items())
    d = ds.dosing.set_index("participant_id")
    for i, pid in enumerate(trial["ids"]):
        expected = 1e6 * (60.0 + i) if arms[pid] == "mscs" else 0.0
        assert d.loc[pid, "cells"] == pytest.approx(expected)
    assert isinstance(ds.measurements, pd.DataFrame) and len(ds.measurements) == 6


def test_audit_trail_hides_allocation_values_from_blinded_roles(trial: dict) -> None:
    from frailtrial.edc.models import Allocation
    from frailtrial.edc.services import audit

    alloc = Allocation.objects.filter(participant__trial=trial["trial"]).first()
    assert alloc is not None
    hidden = audit.trail(trial["m"]["monitor"], "allocation", str(alloc.pk))
    assert hidden and hidden[0]["new"] == "(blinded)"
    shown = audit.trail(trial["m"]["dsmb"], "allocation", str(alloc.pk))
    assert shown[0]["new"]["arm"] == alloc.arm
    # an unblinded role of another trial in the same store sees none of this trial's rows
    other = new_trial()
    assert audit.trail(other["m"]["unblinded_pharmacist"], "allocation", str(alloc.pk)) == []


def test_infusions_look_the_same_for_both_arms(trial: dict) -> None:
    from frailtrial.edc.models import Infusion

    rows = list(
        Infusion.objects.filter(participant__trial=trial["trial"]).values(
            "volume_ml", "dose_number"
        )
    )
    assert {(r["volume_ml"], r["dose_number"]) for r in rows} == {(100.0, 1)}


def test_emergency_unblinding_needs_reason_is_audited_and_flagged(trial: dict) -> None:
    from frailtrial.edc.models import AuditEntry, EmergencyUnblinding, Participant
    from frailtrial.edc.services import randomization, unblinding
    from frailtrial.errors import InputError

    inv, pid = trial["m"]["investigator"], trial["ids"][1]
    with pytest.raises(InputError, match="needs a reason"):
        unblinding.emergency_unblind(inv, pid, "")
    with pytest.raises(AccessDenied):
        unblinding.emergency_unblind(trial["m"]["coordinator"], pid, "anaphylaxis, ICU")
    arm = unblinding.emergency_unblind(inv, pid, "anaphylaxis, treating physician in ICU")
    assert arm == randomization.arm_of(trial["m"]["unblinded_pharmacist"], pid)
    p = Participant.objects.get(trial=trial["trial"], participant_id=pid)
    assert p.emergency_unblinded
    rec = EmergencyUnblinding.objects.get(participant=p)
    assert rec.by == inv and "anaphylaxis" in rec.reason
    assert AuditEntry.objects.filter(
        model="emergencyunblinding", object_id=str(rec.pk), action="unblind"
    ).exists()
    from frailtrial.edc.services.exports import tidy

    flags = tidy.build(trial["trial"], with_arm=False).dataset.participants
    assert bool(flags.set_index("participant_id").loc[pid, "emergency_unblinded"])
    assert int(flags["emergency_unblinded"].sum()) == 1


def test_read_views_show_an_arm_only_to_unblinded_roles(trial: dict) -> None:
    import dataclasses
    import datetime as dt

    from frailtrial.edc.services import participants
    from frailtrial.edc.services.common import sees_arm

    pid = trial["ids"][2]
    report_sae(trial["m"]["coordinator"], pid, "2024-03-06", "Syncope", "Nervous system")
    pattern = _arm_words(trial)
    for m in trial["m"].values():
        views = participants.list_participants(m)
        assert {v.participant_id for v in views} >= set(trial["ids"])
        if sees_arm(m):
            assert all(v.arm in ("mscs", "placebo") for v in views)
            continue
        assert all(v.arm is None for v in views)
        text = repr([dataclasses.asdict(v) for v in views])
        text += repr(participants.sae_alerts(m))
        text += repr(participants.schedule(m, pid, today=dt.date(2024, 12, 1)))
        assert pattern.search(text) is None
    sched = participants.schedule(trial["m"]["monitor"], pid, today=dt.date(2024, 12, 1))
    assert [v.visit for v in sched][:2] == ["baseline", "week1"]
    assert sched[0].status == "attended" and sched[1].overdue
    alerts = participants.sae_alerts(trial["m"]["monitor"])
    assert [a.term for a in alerts if a.participant_id == pid] == ["Syncope"]
