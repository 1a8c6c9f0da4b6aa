"""AE/SAE workflow: causality and expectedness, free-text coding, follow-ups to resolution,
SAE acknowledgement by the medical monitor within 24 h, escalation of an overdue one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from edc_support import dose_first, enroll, new_trial, report_sae, sqlite_url, use_store
from frailtrial.edc.errors import AccessDenied
from frailtrial.errors import InputError

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow

LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture()
def t(tmp_path: Path) -> dict[str, Any]:
    use_store(sqlite_url(tmp_path))
    t = new_trial()
    for role in ("medical_monitor", "admin", "coordinator"):
        user = t["m"][role].user
        user.email = f"{role}@example.org"
        user.save()
    t["pid"] = enroll(t, "A1").participant_id
    dose_first(t, t["pid"])
    return t


def test_assessment_and_coding_are_kept_and_checked(t: dict[str, Any]) -> None:
    from frailtrial.edc.services import safety

    coord, pid = t["m"]["coordinator"], t["pid"]
    ae = safety.report(
        coord,
        pid,
        "Headache",
        "Nervous",
        "2024-03-06",
        "mild",
        True,
        "recovering",
        causality="possible",
        expectedness="expected",
        soc="Nervous system disorders",
        preferred_term="Headache",
    )
    ae.refresh_from_db()
    assert (ae.causality, ae.expectedness, ae.soc, ae.preferred_term) == (
        "possible",
        "expected",
        "Nervous system disorders",
        "Headache",
    )
    with pytest.raises(InputError, match="causality 'probable' means related=True"):
        safety.report(
            coord,
            pid,
            "Rash",
            "Skin",
            "2024-03-06",
            "mild",
            False,
            "recovered",
            causality="probable",
        )
    with pytest.raises(InputError, match="causality 'maybe' is not allowed"):
        safety.report(
            coord, pid, "Rash", "Skin", "2024-03-06", "mild", False, "recovered", causality="maybe"
        )
    with pytest.raises(InputError, match="expectedness 'rare' is not allowed"):
        safety.update(coord, ae.pk, {"expectedness": "rare"}, "recoded", ae.version)
    # a causality change carries relatedness with it
    safety.update(coord, ae.pk, {"causality": "unlikely"}, "reassessed", ae.version)
    ae.refresh_from_db()
    assert ae.causality == "unlikely" and ae.related is False and ae.version == 2
    with pytest.raises(InputError, match="causality 'unlikely' means related=False"):
        safety.update(coord, ae.pk, {"related": True}, "changed my mind", ae.version)


def test_a_change_of_end_date_or_relatedness_of_the_wrong_type_is_bad_input(
    t: dict[str, Any],
) -> None:
    """An empty end date clears it; a 'related' that is not true/false is refused with one
    line (before: Django's ValidationError from the save, a traceback, not bad input)."""
    from frailtrial.edc.services import safety

    coord = t["m"]["coordinator"]
    ae = report_sae(coord, t["pid"], "2024-03-06")
    ae = safety.update(coord, ae.pk, {"end_on": "2024-03-09"}, "resolved", ae.version)
    ae = safety.update(coord, ae.pk, {"end_on": ""}, "not resolved after all", ae.version)
    ae.refresh_from_db()
    assert ae.end_on is None
    with pytest.raises(InputError, match=r"^related must be true or false$"):
        safety.update(coord, ae.pk, {"related": "yes"}, "reassessed", ae.version)


def test_follow_up_carries_outcome_and_resolution_and_is_audited(t: dict[str, Any]) -> None:
    from frailtrial.edc.models import AuditEntry
    from frailtrial.edc.services import safety
    from frailtrial.edc.services.integrity import verify_store

    coord = t["m"]["coordinator"]
    ae = report_sae(coord, t["pid"], "2024-03-20")
    safety.follow_up(coord, ae.pk, "2024-03-22", "still in hospital", "recovering")
    done = safety.follow_up(
        coord, ae.pk, "2024-03-30", "discharged", "recovered", end_on="2024-03-28"
    )
    ae.refresh_from_db()
    assert (ae.outcome, ae.end_on, ae.version) == ("recovered", dt.date(2024, 3, 28), 3)
    assert [f.text for f in ae.follow_ups.order_by("on")] == ["still in hospital", "discharged"]
    assert AuditEntry.objects.filter(model="aefollowup", object_id=str(done.pk)).exists()
    with pytest.raises(InputError, match="follow-up date 2024-03-01 is before the onset"):
        safety.follow_up(coord, ae.pk, "2024-03-01", "too early", "recovering")
    with pytest.raises(AccessDenied):
        safety.follow_up(t["m"]["monitor"], ae.pk, "2024-03-30", "x", "recovered")
    assert verify_store().ok


def test_sae_notifies_and_is_acknowledged_within_the_window(t: dict[str, Any]) -> None:
    from django.core import mail
    from django.test import override_settings

    from frailtrial.edc.models import Notice
    from frailtrial.edc.services import safety

    with override_settings(FRAILTRIAL_EMAIL=True, EMAIL_BACKEND=LOCMEM):
        mail.outbox = []
        ae = report_sae(t["m"]["coordinator"], t["pid"], "2024-03-20")
        sent = list(mail.outbox)
    assert len(sent) == 1 and sent[0].to == ["admin@example.org", "medical_monitor@example.org"]
    assert t["pid"] in sent[0].body and "Pneumonia" in sent[0].body
    for arm in t["protocol"].arms:
        assert arm.name not in sent[0].body.lower()
    kinds = set(Notice.objects.filter(kind="sae").values_list("role", flat=True))
    assert kinds == {"medical_monitor", "admin"}
    with pytest.raises(AccessDenied, match="acknowledging an SAE needs the role"):
        safety.acknowledge(t["m"]["investigator"], ae.pk)
    alert = safety.acknowledge(t["m"]["medical_monitor"], ae.pk, "forwarded to the sponsor")
    assert alert.acknowledged_by_id == t["m"]["medical_monitor"].pk
    assert alert.acknowledged_at is not None and alert.acknowledged_at <= alert.due_by
    assert safety.sae_state(alert, alert.acknowledged_at) == "acknowledged"
    with pytest.raises(InputError, match="was acknowledged on"):
        safety.acknowledge(t["m"]["admin"], ae.pk)
    plain = safety.report(
        t["m"]["coordinator"], t["pid"], "Cough", "Resp", "2024-03-21", "mild", False, "recovered"
    )
    with pytest.raises(InputError, match="is not serious"):
        safety.acknowledge(t["m"]["medical_monitor"], plain.pk)


def test_a_deactivated_account_gets_no_sae_mail(t: dict[str, Any]) -> None:
    """A medical monitor whose account was ended (left the study) is not mailed an SAE with
    the participant's id and event (before: every member of the role, active or not)."""
    from django.core import mail
    from django.test import override_settings

    from frailtrial.edc.services import people

    people.deactivate(t["m"]["admin"], t["m"]["medical_monitor"].user.username, "left the study")
    with override_settings(FRAILTRIAL_EMAIL=True, EMAIL_BACKEND=LOCMEM):
        mail.outbox = []
        report_sae(t["m"]["coordinator"], t["pid"], "2024-03-20")
        sent = list(mail.outbox)
    assert [m.to for m in sent] == [["admin@example.org"]]


def test_an_overdue_sae_is_escalated_once_and_acknowledged_late(
    t: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.core import mail
    from django.test import override_settings
    from django.utils import timezone

    from frailtrial.edc.models import Notice
    from frailtrial.edc.services import safety
    from frailtrial.edc.services.integrity import verify_store

    ae = report_sae(t["m"]["coordinator"], t["pid"], "2024-03-20")
    assert safety.escalate_overdue(t["m"]["coordinator"]) == 0  # not yet due
    later = timezone.now() + dt.timedelta(hours=safety.SAE_REPORT_HOURS, minutes=1)
    monkeypatch.setattr(safety, "now", lambda: later)
    with override_settings(FRAILTRIAL_EMAIL=True, EMAIL_BACKEND=LOCMEM):
        mail.outbox = []
        assert safety.escalate_overdue(t["m"]["coordinator"]) == 1
        assert safety.escalate_overdue(t["m"]["monitor"]) == 0  # once only
        sent = list(mail.outbox)
    assert len(sent) == 1 and "overdue" in sent[0].body
    assert Notice.objects.filter(kind="sae_overdue").count() == 2  # medical monitor, admin
    alert = safety.acknowledge(t["m"]["medical_monitor"], ae.pk)
    assert safety.sae_state(alert, later) == "acknowledged late"
    assert verify_store().ok
