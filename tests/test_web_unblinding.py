"""Emergency unblinding as an insider would abuse it: oversight is alerted (dashboard notice,
e-mail), a loop of unblindings is stopped, and the reason stays hidden from blinded roles."""

from __future__ import annotations

from typing import Any

import pytest

from web_support import client, trial_with_data, web_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow

REASON = "anaphylaxis after infusion, treating physician must know"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from edc_support import enroll

    url = web_store(tmp_path_factory.mktemp("web-unblinding"))
    t = trial_with_data()
    for role in ("dsmb", "admin", "coordinator"):
        user = t["m"][role].user
        user.email = f"{role}@example.org"
        user.save()
    t["more"] = [enroll(t, f"U-{i:02d}").participant_id for i in range(10)]
    t["url"] = url
    # the first unblinding, by the page, with e-mail to a local mailbox
    from django.core import mail
    from django.test import override_settings

    locmem = "django.core.mail.backends.locmem.EmailBackend"
    with override_settings(FRAILTRIAL_EMAIL=True, EMAIL_BACKEND=locmem):
        mail.outbox = []  # the process's mailbox: empty it of other tests' mail
        r = client(t, "investigator").post(f"/participants/{t['pid']}/unblind/", {"reason": REASON})
        assert r.status_code == 200
        t["sent"] = list(mail.outbox)
    return t


def test_unblinding_notifies_dsmb_and_sponsor_by_dashboard_and_mail(
    world: dict[str, Any],
) -> None:
    from frailtrial.edc.models import AuditEntry, Notice

    pid, sent = world["pid"], world["sent"]
    notices = Notice.objects.filter(
        trial=world["trial"], participant__participant_id=pid, kind="emergency_unblinding"
    )
    assert sorted(n.role for n in notices) == ["admin", "dsmb"]
    audited = AuditEntry.objects.filter(model="notice", object_id__in=[str(n.pk) for n in notices])
    assert audited.count() == 2  # a notice deleted later shows in the audit trail
    assert len(sent) == 1 and sorted(sent[0].to) == ["admin@example.org", "dsmb@example.org"]
    assert pid in sent[0].body and REASON not in sent[0].body  # the reason is not mailed out
    for role in ("dsmb", "admin"):
        page = client(world, role).get("/dashboard/")
        assert b'id="notices"' in page.content and f"emergency-unblinded {pid}".encode() in (
            page.content
        )
        assert REASON.encode() in page.content
    coord = client(world, "coordinator").get("/dashboard/")
    assert b'id="notices"' not in coord.content


def test_reason_hidden_from_blinded_roles_in_the_audit_trail(world: dict[str, Any]) -> None:
    from frailtrial.edc.models import Participant

    p = Participant.objects.get(trial=world["trial"], participant_id=world["pid"])
    assert p.emergency_unblinded  # unblinded in the fixture
    url = f"/audit/participant/{p.pk}/"
    for role in ("coordinator", "monitor", "investigator"):
        page = client(world, role).get(url)
        assert page.status_code == 200 and REASON.encode() not in page.content, role
        assert b"not shown to your role" in page.content
    assert REASON.encode() in client(world, "admin").get(url).content


def test_a_loop_of_unblindings_is_stopped_and_alerted(world: dict[str, Any]) -> None:
    from frailtrial.edc.models import EmergencyUnblinding, Notice, Participant
    from frailtrial.edc.services.unblinding import LIMIT

    inv = client(world, "investigator")
    done = LIMIT - EmergencyUnblinding.objects.filter(by=world["m"]["investigator"]).count()
    codes = [
        inv.post(f"/participants/{pid}/unblind/", {"reason": REASON}).status_code
        for pid in world["more"]
    ]
    assert codes == [200] * done + [403] * (10 - done)
    assert (
        Participant.objects.filter(
            participant_id__in=world["more"], emergency_unblinded=True
        ).count()
        == done
    )
    refused = Notice.objects.filter(trial=world["trial"], kind="unblinding_refused")
    assert refused.filter(role="dsmb").count() == 10 - done
    page = inv.post(f"/participants/{world['more'][-1]}/unblind/", {"reason": REASON})
    assert b"limited to 3 per investigator" in page.content
