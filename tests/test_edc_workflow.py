"""Workflows: eligibility, consent, randomization, lots and doses, visits, CRFs, AEs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from edc_support import (
    CELL_TESTS,
    dose_first,
    eligible_input,
    enroll,
    new_trial,
    report_sae,
    sqlite_url,
    use_store,
)
from frailtrial.errors import InputError

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = sqlite_url(tmp_path_factory.mktemp("wf"))
    use_store(url)
    return url


@pytest.fixture()
def t(store: str) -> dict:
    use_store(store)
    return new_trial()


def test_eligibility_gives_a_reason_for_every_unmet_criterion(t: dict) -> None:
    from frailtrial.edc.services import screening

    coord, p = t["m"]["coordinator"], t["protocol"]
    s = screening.screen(coord, eligible_input(p, "E1"))
    assert s.eligible and s.reasons == []
    bad = eligible_input(p, "E2", age=81.0, frailty_score=0.0)
    bad["exclusions"]["stroke"] = True
    bad["inclusions"]["life_expectancy_12m"] = False
    s = screening.screen(coord, bad)
    assert not s.eligible
    assert s.reasons == [
        "age 81 outside 60-80",
        "fried score 0 outside 1-4",
        "inclusion not met: life_expectancy_12m (Expected to live more than 12 months)",
        "exclusion: stroke (Stroke)",
    ]
    missing = eligible_input(p, "E3")
    del missing["exclusions"]["malignancy"]
    assert screening.screen(coord, missing).reasons == ["exclusion not assessed: malignancy"]


def test_fried_score_from_answers_decides_eligibility(t: dict) -> None:
    from frailtrial.edc.services import screening

    coord, p = t["m"]["coordinator"], t["protocol"]
    # Fried 2001 (CHS), woman 160 cm, BMI 24: 5 kg lost > 10 lb -> shrinking; CES-D 3 ->
    # exhaustion; 1000 kcal >= 270 -> active; 5 s < 7 s -> not slow; 25 kg > 17.3 -> not weak.
    two = {
        "sex": "female",
        "weight_loss_kg": 5,
        "cesd_effort": 3,
        "cesd_going": 0,
        "kcal_week": 1000,
        "walk_time_s": 5,
        "grip_kg": 25,
        "height_cm": 160,
        "bmi": 24,
    }
    s = screening.screen(coord, eligible_input(p, "F1", frailty_score=None, frailty_answers=two))
    assert s.eligible and s.inputs["frailty_score"] == 2
    robust = {**two, "weight_loss_kg": 0, "cesd_effort": 0}
    s = screening.screen(coord, eligible_input(p, "F2", frailty_score=None, frailty_answers=robust))
    assert s.reasons == ["fried score 0 outside 1-4"]


def test_lab_thresholds_relative_to_uln(store: str) -> None:
    from frailtrial.edc.services import screening

    t = new_trial("cratus-2017")
    coord, p = t["m"]["coordinator"], t["protocol"]
    data = eligible_input(p, "L1")
    data["labs"]["ast"], data["uln"]["ast"] = 130.0, 40.0  # 3.25 x ULN > 3
    data["labs"]["hemoglobin"] = 7.9
    s = screening.screen(coord, data)
    assert s.reasons == ["lab hemoglobin 7.9 below 8 g/dL", "lab ast 3.25 above 3 × ULN"]


def test_randomization_needs_eligibility_and_consent(t: dict) -> None:
    from frailtrial.edc.services import randomization, screening

    coord = t["m"]["coordinator"]
    screening.screen(coord, eligible_input(t["protocol"], "R1"))
    with pytest.raises(InputError, match="no consent"):
        randomization.randomize(coord, "R1")
    screening.screen(coord, eligible_input(t["protocol"], "R2", age=90.0))
    with pytest.raises(InputError, match="not eligible: age 90"):
        randomization.randomize(coord, "R2")
    r = enroll(t, "R3")
    assert r.arm is None and r.randomization_number == t["list"]["randomization_number"][0]
    with pytest.raises(InputError, match="already randomized"):
        randomization.randomize(coord, "R3")


def test_failed_lot_is_recorded_but_cannot_be_dosed(t: dict) -> None:
    from frailtrial.edc.services import product, randomization

    pharm = t["m"]["unblinded_pharmacist"]
    failing = {**CELL_TESTS, "endotoxin_eu_ml": 0.6, "cd105": 90.0}
    lot = product.record_lot(pharm, "BAD1", "cells", "2024-02-01", failing, cells_per_ml=1e6)
    assert not lot.released
    assert lot.failures == [
        "endotoxin: 0.6 EU/mL (must be <= 0.5)",
        "identity CD105: 90.0 % (must be >= 95)",
    ]
    ok = product.record_lot(
        pharm,
        "GOOD1",
        "cells",
        "2024-02-01",
        {**CELL_TESTS, "endotoxin_eu_ml": 0.5},
        cells_per_ml=1e6,
    )
    assert ok.released
    pid = next(
        r.participant_id
        for r in (enroll(t, f"D{i}") for i in range(6))
        if randomization.arm_of(pharm, r.participant_id) != "placebo"
    )
    with pytest.raises(InputError, match="BAD1 failed release and cannot be dosed"):
        product.prepare(pharm, pid, 1, "BAD1", 61.0)
    from frailtrial.edc.models import Preparation

    assert not Preparation.objects.filter(
        participant__participant_id=pid, participant__trial=t["trial"]
    ).exists()


def test_dose_follows_the_protocol_rule(store: str) -> None:
    from frailtrial.edc.services import randomization

    t = new_trial()
    pharm = t["m"]["unblinded_pharmacist"]
    for i in range(4):
        r = enroll(t, f"P{i}")
        prep = dose_first(t, r.participant_id, weight=61.5)
        if randomization.arm_of(pharm, r.participant_id) == "mscs":
            assert prep.cells == pytest.approx(1e6 * 61.5) and prep.cells_per_kg == 1e6
        else:
            assert prep.cells == 0 and prep.lot.is_placebo
    c = new_trial("cratus-2017")
    fixed = {"mscs_100m": 1e8, "mscs_200m": 2e8, "placebo": 0.0}
    for i in range(3):
        r = enroll(c, f"Q{i}")
        prep = dose_first(c, r.participant_id, weight=80.0)
        arm = randomization.arm_of(c["m"]["unblinded_pharmacist"], r.participant_id)
        assert prep.cells == fixed[arm]


def test_schedule_anchored_on_first_infusion_with_windows(t: dict) -> None:
    from frailtrial.edc.models import AuditEntry, VisitOccurrence
    from frailtrial.edc.services import visits
    from frailtrial.edc.services.audit import verify_chain

    coord = t["m"]["coordinator"]
    r = enroll(t, "V1", on="2024-03-02")
    dose_first(t, r.participant_id)  # 2024-03-05 is day 1
    rows = {
        v.visit: v
        for v in VisitOccurrence.objects.filter(
            participant__participant_id=r.participant_id, participant__trial=t["trial"]
        )
    }
    assert rows["week1"].target_on == dt.date(2024, 3, 12)  # day 8
    assert (rows["week1"].window_from, rows["week1"].window_to) == (
        dt.date(2024, 3, 10),
        dt.date(2024, 3, 14),
    )
    assert rows["month6"].target_on == dt.date(2024, 3, 5) + dt.timedelta(days=179)
    with pytest.raises(InputError, match="outside its window 2024-03-10 to 2024-03-14; give"):
        visits.attend(coord, r.participant_id, "week1", "2024-03-15")
    v = visits.attend(coord, r.participant_id, "week1", "2024-03-15", "participant unwell")
    assert v.day == 11 and v.in_window is False and v.reason == "participant unwell"
    v = visits.miss(coord, r.participant_id, "month1", "participant in hospital")
    assert v.status == "missed"
    p = visits.withdraw(coord, r.participant_id, "2024-04-20", "moved away")
    assert p.withdrawal_reason == "moved away"
    statuses = dict(VisitOccurrence.objects.filter(participant=p).values_list("visit", "status"))
    assert statuses["month6"] == "withdrawn" and statuses["week1"] == "attended"
    # one audit row, with the reason, per visit the withdrawal closed; the chain still holds
    withdrawn = VisitOccurrence.objects.filter(participant=p, status="withdrawn")
    assert withdrawn.count() == len(statuses) - 2  # all but week1 (held) and month1 (missed)
    rows = AuditEntry.objects.filter(
        model="visitoccurrence", object_id__in=[str(v.pk) for v in withdrawn], reason="moved away"
    )
    assert rows.count() == withdrawn.count()
    assert verify_chain().ok


def test_invalid_crf_answer_is_refused_and_nothing_saved(t: dict) -> None:
    from frailtrial.edc.models import AuditEntry, Crf, Measurement
    from frailtrial.edc.services import crf, visits

    coord = t["m"]["coordinator"]
    r = enroll(t, "Q1")
    dose_first(t, r.participant_id)
    visits.attend(coord, r.participant_id, "baseline", "2024-03-05")
    before = AuditEntry.objects.count()
    with pytest.raises(
        InputError, match=r"tug: item 'tug_s' = -3 is not allowed; expected a number from 1 to 600"
    ):
        crf.enter_crf(coord, r.participant_id, "baseline", "tug", {"tug_s": -3})
    with pytest.raises(InputError, match="unknown item 'speed'"):
        crf.enter_crf(coord, r.participant_id, "baseline", "tug", {"speed": 3})
    assert not Crf.objects.filter(
        participant__participant_id=r.participant_id, participant__trial=t["trial"]
    ).exists()
    assert not Measurement.objects.filter(
        participant__participant_id=r.participant_id, participant__trial=t["trial"]
    ).exists()
    assert AuditEntry.objects.count() == before

    saved = crf.enter_crf(coord, r.participant_id, "baseline", "tug", {"tug_s": 12.4})
    assert saved.scores == {"seconds": 12.4, "fall_risk": False}
    m = Measurement.objects.get(
        participant__participant_id=r.participant_id, participant__trial=t["trial"], variable="tug"
    )
    assert m.value == 12.4 and m.crf_id == saved.pk
    with pytest.raises(InputError, match="an edit needs a reason for change"):
        crf.enter_crf(coord, r.participant_id, "baseline", "tug", {"tug_s": 14.0})
    edited = crf.enter_crf(
        coord, r.participant_id, "baseline", "tug", {"tug_s": 14.0}, "transcription error", 1
    )
    assert edited.version == 2 and edited.scores["fall_risk"] is True
    m.refresh_from_db()
    assert m.value == 14.0
    last = AuditEntry.objects.filter(model="measurement", object_id=str(m.pk)).last()
    assert last is not None and last.reason == "transcription error" and "12.4" in last.old


def test_crf_needs_the_visit_held_and_the_instrument_planned(t: dict) -> None:
    from frailtrial.edc.services import crf

    coord = t["m"]["coordinator"]
    r = enroll(t, "Q2")
    with pytest.raises(InputError, match="record the visit as held first"):
        crf.enter_crf(coord, r.participant_id, "baseline", "tug", {"tug_s": 10})
    with pytest.raises(InputError, match="cfs is not collected at baseline"):
        crf.enter_crf(coord, r.participant_id, "baseline", "cfs", {"cfs": 4})


def test_adverse_events_are_classified_and_saes_alerted(store: str) -> None:
    from frailtrial.edc.models import SaeAlert
    from frailtrial.edc.services import safety

    c = new_trial("cratus-2017")  # TE-SAE window: 30 days after the infusion
    coord = c["m"]["coordinator"]
    r = enroll(c, "S1")
    before = safety.report(
        coord,
        r.participant_id,
        "Headache",
        "Nervous system",
        "2024-03-03",
        "mild",
        False,
        "recovered",
    )
    assert (before.treatment_emergent, before.onset_day) == (False, None)
    dose_first(c, r.participant_id)  # day 1 = 2024-03-05
    early = report_sae(coord, r.participant_id, "2024-03-20")
    late = report_sae(coord, r.participant_id, "2024-05-01", "Fall", "Injury", "moderate")
    mild = safety.report(
        coord, r.participant_id, "Bruise", "Skin", "2024-03-06", "mild", True, "recovered"
    )
    assert (early.onset_day, early.treatment_emergent, early.te_sae) == (16, True, True)
    assert (late.onset_day, late.treatment_emergent, late.te_sae) == (58, True, False)
    assert (mild.treatment_emergent, mild.te_sae, mild.serious) == (True, False, False)
    alerts = SaeAlert.objects.filter(adverse_event__participant__trial=c["trial"])
    assert sorted(a.adverse_event_id for a in alerts) == sorted([early.pk, late.pk])
    a = alerts.get(adverse_event=early)
    assert a.due_by - a.raised_at == dt.timedelta(hours=24)
    with pytest.raises(InputError, match="seriousness 'bad'"):
        safety.report(
            coord, r.participant_id, "X", "Y", "2024-03-06", "mild", False, "recovered", ["bad"]
        )


def test_roles_and_sites_are_enforced(t: dict) -> None:
    from frailtrial.edc.errors import AccessDenied
    from frailtrial.edc.services import product, screening

    with pytest.raises(AccessDenied, match="screening needs the role"):
        screening.screen(t["m"]["monitor"], eligible_input(t["protocol"], "N1"))
    with pytest.raises(AccessDenied, match="lot release needs the role unblinded_pharmacist"):
        product.record_lot(t["m"]["coordinator"], "L", "cells", "2024-01-01", CELL_TESTS)


def test_minimization_scheme_allocates_without_a_list(store: str, tmp_path: Path) -> None:
    from frailtrial.edc.models import Allocation
    from frailtrial.edc.services import audit, randomization, screening, trials
    from frailtrial.protocol import load
    from frailtrial.randomization.minimization import next_arm, rehearsal_secret

    base = load("huc-msc-2024")
    proto = base.model_copy(
        update={
            "randomization": base.randomization.model_copy(
                update={"scheme": "minimization", "block_sizes": [], "strata": ["sex"]}
            )
        }
    )
    trial = trials.create_trial(proto, "minimized-trial")
    # a fixed secret (audited, as a rehearsal sets it) makes the allocations reproducible
    secret = rehearsal_secret(5)
    audit.update(None, trial, {"minimization_secret": f"{secret:032x}"}, "test: fixed secret")
    coord = trials.add_member(trial, "coord-min", "coordinator")
    for i in range(20):
        sex = "female" if i % 3 else "male"
        screening.screen(coord, eligible_input(proto, f"M{i}", sex=sex))
        screening.consent(coord, f"M{i}", "1.0", "2024-03-01")
        randomization.randomize(coord, f"M{i}", "2024-03-02")
    arms = list(
        Allocation.objects.filter(participant__trial=trial)
        .order_by("pk")
        .values_list("arm", "participant__sex")
    )
    # every allocation is the protocol's minimization step replayed from the same secret
    replay: list[str] = []
    for _, sex in arms:
        levels = [{"sex": s} for _, s in arms[: len(replay)]]
        replay.append(next_arm(proto, levels, replay, {"sex": sex}, secret))
    assert [a for a, _ in arms] == replay
    for sex in ("male", "female"):
        by = [a for a, s in arms if s == sex]
        assert abs(by.count("mscs") - by.count("placebo")) <= 2


def test_adverse_event_changes_need_a_reason_and_are_audited(t: dict) -> None:
    from frailtrial.edc.errors import AccessDenied
    from frailtrial.edc.models import AuditEntry, Site
    from frailtrial.edc.services import safety, trials

    coord = t["m"]["coordinator"]
    r = enroll(t, "U1")
    ae = safety.report(
        coord, r.participant_id, "Cough", "Respiratory", "2024-03-04", "mild", False, "recovering"
    )
    with pytest.raises(InputError, match="needs a reason"):
        safety.update(coord, ae.pk, {"outcome": "recovered"}, "")
    with pytest.raises(InputError, match="'term' cannot be changed"):
        safety.update(coord, ae.pk, {"term": "Fever"}, "typo")
    with pytest.raises(InputError, match=r"outcome 'cured' is not allowed \(.*recovered"):
        safety.update(coord, ae.pk, {"outcome": "cured"}, "typo")
    with pytest.raises(InputError, match="end date 2024-03-01 is before its onset 2024-03-04"):
        safety.update(coord, ae.pk, {"end_on": "2024-03-01"}, "typo")
    elsewhere = trials.add_member(
        t["trial"],
        f"other-{t['trial'].name}",
        "coordinator",
        site=Site.objects.create(trial=t["trial"], name="Other Hospital", code="OTH"),
    )
    with pytest.raises(AccessDenied, match=f"adverse event {ae.pk} is not at your site"):
        safety.update(elsewhere, ae.pk, {"outcome": "recovered"}, "follow-up call", 1)
    changed = safety.update(
        coord, ae.pk, {"outcome": "recovered", "end_on": "2024-03-09"}, "follow-up call", 1
    )
    assert changed.outcome == "recovered" and changed.end_on == dt.date(2024, 3, 9)
    row = AuditEntry.objects.filter(model="adverseevent", object_id=str(ae.pk)).last()
    assert row is not None and row.reason == "follow-up call"
    assert '"outcome":"recovering"' in row.old and '"outcome":"recovered"' in row.new


def test_dates_outside_1900_2100_are_refused(store: str) -> None:
    import datetime as dt

    from frailtrial.edc.eligibility import ScreeningInput
    from frailtrial.edc.services.common import parse_date
    from frailtrial.errors import InputError

    with pytest.raises(InputError, match="outside 1900-01-01 to 2100-12-31"):
        parse_date("0467-03-01", "visit date")
    assert parse_date("2020-07-03", "visit date") == dt.date(2020, 7, 3)
    with pytest.raises(ValueError):
        ScreeningInput(screening_id="S1", screened_on=dt.date(467, 3, 1), age=70, sex="male")


def test_a_list_with_a_fractional_sequence_is_refused(store: str) -> None:
    import hashlib

    from frailtrial.edc.services import randomization, trials
    from frailtrial.protocol import load

    trial = trials.create_trial(load("huc-msc-2024"), "fractional-list-trial")
    admin = trials.add_member(trial, "admin-fractional-list", "admin")
    data = (
        b"sequence,stratum,block,block_size,arm,randomization_number\n"
        b"1,all,1,2,mscs,R1\n2.5,all,1,2,placebo,R2\n"
    )
    with pytest.raises(InputError, match="column sequence must hold a whole number"):
        randomization.import_list(admin, data, hashlib.sha256(data).hexdigest())


def test_an_unreadable_or_incomplete_list_is_refused(store: str) -> None:
    import hashlib

    from frailtrial.edc.services import randomization, trials
    from frailtrial.protocol import load

    trial = trials.create_trial(load("huc-msc-2024"), "unreadable-list-trial")
    admin = trials.add_member(trial, "admin-unreadable-list", "admin")
    for data, message in (
        (b"\xff\xfe\x00 not a csv", "randomization list upload: not a readable CSV file"),
        (b"sequence,arm\n1,mscs\n", r"randomization list upload: missing column\(s\) stratum"),
    ):
        with pytest.raises(InputError, match=message):
            randomization.import_list(admin, data, hashlib.sha256(data).hexdigest())


def test_another_instrument_out_of_range_names_its_range(store: str) -> None:
    from frailtrial.edc.eligibility import ScreeningInput, evaluate
    from frailtrial.protocol import load
    from frailtrial.protocol.model import FrailtyCriterion

    base = load("huc-msc-2024")
    mmse = FrailtyCriterion(instrument="mmse", score_min=24, score_max=30)
    proto = base.model_copy(
        update={"eligibility": base.eligibility.model_copy(update={"other_instruments": [mmse]})}
    )
    inp = ScreeningInput.model_validate(eligible_input(proto, "O1", other_scores={"mmse": 20}))
    assert evaluate(proto, inp) == ["mmse score 20 outside 24-30"]


def test_first_infusion_recounts_held_visits_and_reclassifies_earlier_entries(t: dict) -> None:
    from frailtrial.edc.models import AuditEntry, VisitOccurrence
    from frailtrial.edc.services import visits
    from frailtrial.edc.services.audit import verify_chain

    coord = t["m"]["coordinator"]
    r = enroll(t, "R1", on="2024-03-02")
    pid = r.participant_id
    # baseline held before dosing: counted from randomization (day 1 = 2024-03-02) for now
    assert visits.attend(coord, pid, "baseline", "2024-03-04", "waited for dosing").day == 3
    # an SAE entered before the infusion is, with its onset the day after that infusion
    ae = report_sae(coord, pid, "2024-03-06", "Syncope", "Nervous system")
    assert (ae.onset_day, ae.treatment_emergent, ae.te_sae) == (None, False, False)
    dose_first(t, pid)  # day 1 = 2024-03-05
    baseline = VisitOccurrence.objects.get(participant__pk=ae.participant_id, visit="baseline")
    assert baseline.day == -1  # 2024-03-04 is the day before day 1 (no day 0)
    ae.refresh_from_db()
    assert (ae.onset_day, ae.treatment_emergent, ae.te_sae) == (2, True, True)
    row = AuditEntry.objects.filter(model="adverseevent", object_id=str(ae.pk)).last()
    assert row is not None and row.reason == "classified on first infusion"
    assert verify_chain().ok
