"""Named accounts, sites and casebook signatures: the services and pages, and the attacks
they must stop (a spent or guessed invitation, a deactivated user's session and token, a
site-B member reaching site-A participants, a signature surviving an edit)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from web_support import PASSWORD, trial_with_data, web_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow

NEW_PASSWORD = "violet-harbour-engine-42"


@pytest.fixture()
def world(tmp_path: Any) -> dict[str, Any]:
    web_store(tmp_path)
    return trial_with_data()


def _login(username: str, password: str = PASSWORD) -> Any:
    from django.test import Client

    c = Client()
    r = c.post("/login/", {"username": username, "password": password})
    assert r.status_code == 302, (username, r.status_code)
    c.get("/choose/")
    return c


def _site_b(t: dict[str, Any]) -> Any:
    from frailtrial.edc.models import Site

    return Site.objects.get(trial=t["trial"], code="OTH")


# --- invitations -------------------------------------------------------------------------


def test_invited_user_sets_a_password_once_and_logs_in(world: dict[str, Any]) -> None:
    from django.test import Client

    from frailtrial.edc.models import AuditEntry, Invitation
    from frailtrial.edc.services import people

    admin = world["m"]["admin"]
    member, token = people.invite(admin, "jdoe", "coordinator", "OTH", "Jane", "Doe")
    assert member.site is not None and member.site.code == "OTH"
    inv = Invitation.objects.get(member=member)
    assert token not in inv.digest and len(inv.digest) == 64  # only the SHA-256 is kept
    assert not AuditEntry.objects.filter(new__contains=token).exists()
    c = Client()
    assert c.post("/login/", {"username": "jdoe", "password": ""}).status_code == 200
    page = c.get(f"/invite/{token}/")
    assert page.status_code == 200 and "jdoe" in page.content.decode()
    r = c.post(f"/invite/{token}/", {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert r.status_code == 302
    _login("jdoe", NEW_PASSWORD)
    # the link is spent: neither the page nor a second password works
    assert c.get(f"/invite/{token}/").status_code == 404
    with pytest.raises(Exception, match="used already"):
        people.accept(token, "another-fine-password-9")


def test_an_invitation_written_into_the_database_fails_integrity(world: dict[str, Any]) -> None:
    """Attack: an insider who can write the database adds an invitation with a token they
    know to the admin's membership (the link would set the admin's password), or keeps a
    replaced link alive; 'edc verify' names the row. Invitations made, replaced and accepted
    through the service verify clean (before, invitations were not checked at all)."""
    from frailtrial.edc.models import Invitation
    from frailtrial.edc.services import people
    from frailtrial.edc.services.integrity import verify_store

    admin = world["m"]["admin"]
    member, _ = people.invite(admin, "late-joiner", "coordinator", None, "Lena", "Late")
    token = people.reinvite(admin, "late-joiner")  # the first link expires
    people.accept(token, NEW_PASSWORD)
    assert verify_store().ok
    replaced = Invitation.objects.filter(member=member).order_by("pk").first()
    Invitation.objects.filter(pk=replaced.pk).update(
        expires_at=dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    )
    forged = Invitation.objects.create(
        member=admin,
        digest=people._digest(people.TOKEN_PREFIX + "known"),
        invited_by=admin,
        created_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        expires_at=dt.datetime(2099, 1, 1, tzinfo=dt.UTC),
    )
    found = {(f.table, f.row, f.field): f.problem for f in verify_store().findings}
    table = Invitation._meta.db_table
    assert "never audited" in found[(table, str(forged.pk), "*")]
    assert found[(table, str(replaced.pk), "expires_at")] == "differs from its last audited value"


def test_invitation_refuses_weak_passwords_guessed_and_expired_links(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.test import Client

    from frailtrial.edc.services import people
    from frailtrial.errors import InputError

    admin = world["m"]["admin"]
    _, token = people.invite(admin, "weak", "monitor", None, "Wes", "Weak")
    c = Client()
    r = c.post(f"/invite/{token}/", {"password1": "password", "password2": "password"})
    assert r.status_code == 200 and "password refused" in r.content.decode()
    assert c.get("/invite/fti_" + "A" * 43 + "/").status_code == 404  # a guessed token
    assert c.get("/invite/nonsense/").status_code == 404
    later = people.now() + dt.timedelta(hours=people.INVITATION_HOURS, seconds=1)
    monkeypatch.setattr(people, "now", lambda: later)
    assert c.get(f"/invite/{token}/").status_code == 404
    with pytest.raises(InputError, match="expired"):
        people.accept(token, NEW_PASSWORD)


def test_a_forged_invitation_cannot_reset_an_account_in_use(world: dict[str, Any]) -> None:
    """An insider inserts an invitation for the investigator (whose account is in use) with
    the SHA-256 of a token of their own, to set the password and sign as them: refused (an
    account that has set its password takes no invitation), and the integrity check finds
    the row."""
    import hashlib

    from frailtrial.edc.models import Invitation
    from frailtrial.edc.services import people
    from frailtrial.edc.services.integrity import verify_store
    from frailtrial.errors import InputError

    investigator = world["m"]["investigator"]
    token = people.TOKEN_PREFIX + "chosen-by-the-insider"
    forged = Invitation.objects.create(
        member=investigator,
        digest=hashlib.sha256(token.encode("utf-8")).hexdigest(),
        invited_by=world["m"]["admin"],
        created_at=people.now(),
        expires_at=people.now() + dt.timedelta(hours=1),
    )
    with pytest.raises(InputError, match="has set its password"):
        people.accept(token, NEW_PASSWORD)
    investigator.user.refresh_from_db()
    assert investigator.user.check_password(PASSWORD)
    found = {(f.table, f.row, f.field) for f in verify_store().findings}
    assert ("edc_invitation", str(forged.pk), "*") in found


def test_invite_checks_role_site_name_and_who_invites(world: dict[str, Any]) -> None:
    from frailtrial.edc.errors import AccessDenied
    from frailtrial.edc.services import people
    from frailtrial.errors import InputError

    admin = world["m"]["admin"]
    with pytest.raises(AccessDenied):
        people.invite(world["m"]["investigator"], "x1", "coordinator", None, "A", "B")
    with pytest.raises(InputError, match="role 'chief' is not known"):
        people.invite(admin, "x2", "chief", None, "A", "B")
    with pytest.raises(InputError, match="acts on the whole trial"):
        people.invite(admin, "x3", "statistician", "OTH", "A", "B")
    with pytest.raises(InputError, match="is not a site of this trial"):
        people.invite(admin, "x4", "coordinator", "NOPE", "A", "B")
    with pytest.raises(InputError, match="first and last name"):
        people.invite(admin, "x5", "coordinator", None, "", "B")
    with pytest.raises(InputError, match="no spaces"):
        people.invite(admin, "x y", "coordinator", None, "A", "B")
    with pytest.raises(InputError, match="is taken"):
        people.invite(admin, admin.user.username, "coordinator", None, "A", "B")


def test_admin_adds_a_site_and_invites_through_the_page(world: dict[str, Any]) -> None:
    import re

    from frailtrial.edc.models import Membership, Site

    c = _login(world["m"]["admin"].user.username)
    r = c.post("/people/", {"action": "site", "name": "North Clinic", "code": "nc"})
    assert r.status_code == 302
    assert Site.objects.filter(trial=world["trial"], code="NC").exists()
    r = c.post(
        "/people/",
        {
            "action": "invite",
            "username": "north-coord",
            "first_name": "Nora",
            "last_name": "North",
            "role": "coordinator",
            "site": "NC",
        },
    )
    link = re.search(r'id="invite-link">([^<]+)<', r.content.decode())
    assert link and "/invite/fti_" in link.group(1)
    m = Membership.objects.get(user__username="north-coord")
    assert (m.role, m.site.code if m.site else None) == ("coordinator", "NC")
    assert c.post("/people/", {"action": "site", "name": "Dup", "code": "NC"}).status_code == 200


# --- deactivation ------------------------------------------------------------------------


def test_deactivated_user_loses_session_token_and_login_but_not_audit(
    world: dict[str, Any],
) -> None:
    from django.test import Client

    from frailtrial.edc.errors import AccessDenied
    from frailtrial.edc.models import AuditEntry
    from frailtrial.edc.services import people
    from frailtrial.web.security import issue_token

    coord = world["m"]["coordinator"]
    name = coord.user.username
    c = _login(name)
    token = issue_token(coord)
    api = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert c.get("/participants/").status_code == 200
    assert Client().get("/api/participants", **api).status_code == 200
    past = AuditEntry.objects.filter(actor=name).count()
    assert past > 0
    with pytest.raises(AccessDenied, match="your own"):
        people.deactivate(world["m"]["admin"], world["m"]["admin"].user.username, "test")
    admin = _login(world["m"]["admin"].user.username)
    r = admin.post("/people/", {"action": "deactivate", "username": name, "reason": "left"})
    assert r.status_code == 302
    # the open session, the token and a new login are all refused
    assert c.get("/participants/").status_code == 302  # back to the login page
    assert Client().get("/api/participants", **api).status_code == 401
    assert Client().post("/login/", {"username": name, "password": PASSWORD}).status_code == 401
    assert AuditEntry.objects.filter(actor=name).count() == past  # history kept
    row = AuditEntry.objects.filter(action="deactivate").last()
    assert row is not None and row.reason == "left" and row.actor != name


def test_only_admin_deactivates_and_only_members_of_the_trial(world: dict[str, Any]) -> None:
    from frailtrial.edc.errors import AccessDenied
    from frailtrial.edc.services import people
    from frailtrial.errors import InputError

    with pytest.raises(AccessDenied):
        people.deactivate(world["m"]["monitor"], world["m"]["coordinator"].user.username, "x")
    with pytest.raises(InputError, match="no member"):
        people.deactivate(world["m"]["admin"], "nobody-here", "x")
    with pytest.raises(InputError, match="needs a reason"):
        people.deactivate(world["m"]["admin"], world["m"]["coordinator"].user.username, " ")


# --- site limits -------------------------------------------------------------------------


def test_site_b_member_cannot_reach_site_a_participant(world: dict[str, Any]) -> None:
    """A site-B coordinator guesses site A's participant id, CRF, AE and record ids."""
    from django.test import Client

    from frailtrial.web.security import issue_token

    t = world
    pid, crf, ae = t["pid"], t["crf"], t["ae"]
    c = _login(t["m"]["other_site"].user.username)
    for url in [
        f"/participants/{pid}/",
        f"/participants/{pid}/visits/week1/crf/tug/",
        f"/participants/{pid}/ae/",
        f"/participants/{pid}/sign/",
        f"/audit/crf/{crf.pk}/",
        f"/audit/participant/{crf.participant_id}/",
        f"/audit/adverseevent/{ae.pk}/",
    ]:
        assert c.get(url).status_code in (403, 404), url
    for page in ("/participants/", "/safety/", "/queries/", "/dashboard/"):
        assert pid not in c.get(page).content.decode(), page
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {issue_token(t['m']['other_site'])}"}
    api = Client()
    assert api.get("/api/participants", **bearer).json() == []
    body = {"participant_id": pid, "visit": "week1", "instrument": "tug", "answers": {}}
    r = api.post("/api/crfs", {**body, "reason": "x"}, content_type="application/json", **bearer)
    assert r.status_code == 403
    r = api.post(
        f"/api/participants/{pid}/visits/month1/attend",
        {"on": "2024-04-03"},
        content_type="application/json",
        **bearer,
    )
    assert r.status_code == 403


def test_site_limited_monitor_and_investigator_by_invitation(world: dict[str, Any]) -> None:
    """Members invited at site B see site B's participants only; a trial-wide monitor sees
    site A's."""
    from frailtrial.edc.services import participants, people

    admin = world["m"]["admin"]
    mon_b, _ = people.invite(admin, "mon-b", "monitor", "OTH", "Mo", "Bee")
    inv_b, _ = people.invite(admin, "inv-b", "investigator", "OTH", "Ina", "Bee")
    for m in (mon_b, inv_b):
        assert participants.list_participants(m) == []
    seen = [v.participant_id for v in participants.list_participants(world["m"]["monitor"])]
    assert world["pid"] in seen


# --- signatures --------------------------------------------------------------------------


def _sign(t: dict[str, Any]) -> Any:
    from frailtrial.edc.services import signatures

    user = t["m"]["investigator"].user
    user.first_name, user.last_name = "Ivan", "Vestigator"
    user.save(update_fields=["first_name", "last_name"])
    return signatures.sign(t["m"]["investigator"], t["pid"], PASSWORD)


def test_signature_records_meaning_name_time_and_audit(world: dict[str, Any]) -> None:
    from frailtrial.edc.errors import AccessDenied
    from frailtrial.edc.models import AuditEntry, CasebookSignature
    from frailtrial.edc.services import signatures

    inv = world["m"]["investigator"]
    with pytest.raises(AccessDenied, match="password is wrong"):
        signatures.sign(inv, world["pid"], "not-the-password")
    with pytest.raises(AccessDenied, match="investigator"):
        signatures.sign(world["m"]["coordinator"], world["pid"], PASSWORD)
    assert not CasebookSignature.objects.exists()
    sig = _sign(world)
    assert sig.printed_name == "Ivan Vestigator" and sig.meaning == signatures.MEANING
    row = AuditEntry.objects.get(model="casebooksignature", object_id=str(sig.pk))
    assert row.action == "sign" and row.actor == inv.user.username
    [view] = signatures.signatures(inv, world["pid"])
    assert view.valid and view.printed_name == "Ivan Vestigator"


def test_site_b_investigator_cannot_sign_site_a(world: dict[str, Any]) -> None:
    from frailtrial.edc.errors import AccessDenied
    from frailtrial.edc.services import people, signatures

    inv_b, _ = people.invite(world["m"]["admin"], "inv-b2", "investigator", "OTH", "I", "B")
    inv_b.user.set_password(PASSWORD)
    inv_b.user.save()
    with pytest.raises(AccessDenied, match="not at your site"):
        signatures.sign(inv_b, world["pid"], PASSWORD)


def test_an_edit_after_signing_invalidates_the_signature(world: dict[str, Any]) -> None:
    from frailtrial.edc.services import crf, signatures

    _sign(world)
    coord, pid = world["m"]["coordinator"], world["pid"]
    crf.enter_crf(coord, pid, "week1", "tug", {"tug_s": 12.5}, "transcription error", 1)
    [view] = signatures.signatures(coord, pid)
    assert (
        not view.valid
        and "crf" in view.invalidated_by
        and coord.user.username in (view.invalidated_by)
    )
    page = _login(coord.user.username).get(f"/participants/{pid}/").content.decode()
    assert "Signature invalidated by a later edit" in page
    # signing again gives a valid signature next to the invalidated one
    _sign(world)
    assert [v.valid for v in signatures.signatures(coord, pid)] == [True, False]


def test_an_edit_of_another_participant_leaves_the_signature_valid(
    world: dict[str, Any],
) -> None:
    from edc_support import enroll
    from frailtrial.edc.services import signatures, visits

    _sign(world)
    other = enroll(world, "S-003", on="2024-03-05")
    visits.withdraw(world["m"]["coordinator"], other.participant_id, dt.date(2024, 3, 6), "moved")
    [view] = signatures.signatures(world["m"]["coordinator"], world["pid"])
    assert view.valid


def test_a_participant_session_after_signing_leaves_the_signature_valid(
    world: dict[str, Any],
) -> None:
    """A questionnaire session opened and answered (not yet submitted) after the signature
    is no casebook content: its drafts and activity times are not audited, and before they
    made the signature read 'changed outside the audit trail'. A submitted questionnaire is
    a CRF and does invalidate it."""
    from frailtrial.edc.services import epro, signatures

    _sign(world)
    _, token = epro.start(world["m"]["coordinator"], world["pid"], "week1", "kiosk", "en")
    live = epro.redeem(token)
    form = live.instruments[0]
    epro.save_answer(live, form, epro.items_of(live, form)[0].id, "1", 1)
    [view] = signatures.signatures(world["m"]["investigator"], world["pid"])
    assert view.valid, view.invalidated_by
    epro.submit(epro.current(live.pk), form)
    [view] = signatures.signatures(world["m"]["investigator"], world["pid"])
    assert not view.valid and view.invalidated_by.startswith("crf ")


def test_a_direct_database_edit_invalidates_the_signature_and_fails_integrity(
    world: dict[str, Any],
) -> None:
    """An insider changes a CRF's value in the database, bypassing the services."""
    from frailtrial.edc.models import Crf
    from frailtrial.edc.services import signatures
    from frailtrial.edc.services.integrity import verify_store

    _sign(world)
    assert verify_store().ok
    Crf.objects.filter(pk=world["crf"].pk).update(answers={"tug_s": 9.0})
    [view] = signatures.signatures(world["m"]["investigator"], world["pid"])
    assert not view.valid and "outside the audit trail" in view.invalidated_by
    assert not verify_store().ok


def test_a_forged_signature_row_fails_integrity(world: dict[str, Any]) -> None:
    """An insider rewrites the signed content hash to match edited data."""
    from frailtrial.edc.models import CasebookSignature
    from frailtrial.edc.services.integrity import verify_store

    sig = _sign(world)
    CasebookSignature.objects.filter(pk=sig.pk).update(content_sha256="0" * 64)
    report = verify_store()
    assert not report.ok and "casebooksignature" in report.problem


def test_a_signature_rehashed_or_forged_in_the_database_shows_invalid(
    world: dict[str, Any],
) -> None:
    """An insider edits a CRF in the database and rewrites the signature's content hash to
    the edited casebook's (so it matches again), or inserts a signature row of their own:
    the signature page shows neither as valid, and the integrity check finds both."""
    from frailtrial.edc.models import CasebookSignature, Crf, Participant
    from frailtrial.edc.services import signatures
    from frailtrial.edc.services.integrity import verify_store

    sig = _sign(world)
    inv, pid = world["m"]["investigator"], world["pid"]
    Crf.objects.filter(pk=world["crf"].pk).update(answers={"tug_s": 9.0})
    rehashed = signatures.casebook_sha256(Participant.objects.get(pk=sig.participant_id))
    CasebookSignature.objects.filter(pk=sig.pk).update(content_sha256=rehashed)
    [view] = signatures.signatures(inv, pid)
    assert not view.valid and "outside the audit trail" in view.invalidated_by
    forged = CasebookSignature.objects.create(
        participant_id=sig.participant_id,
        signer=inv,
        printed_name=sig.printed_name,
        meaning=sig.meaning,
        signed_at=signatures.now(),
        content_sha256=rehashed,
    )
    newest = signatures.signatures(inv, pid)[0]
    assert not newest.valid and "not in the audit trail" in newest.invalidated_by
    found = {(f.table, f.row, f.field) for f in verify_store().findings}
    assert {
        ("edc_casebooksignature", str(sig.pk), "content_sha256"),
        ("edc_casebooksignature", str(forged.pk), "*"),
    } <= found


def test_sign_page_asks_the_password_and_shows_the_meaning(world: dict[str, Any]) -> None:
    from frailtrial.edc.models import CasebookSignature
    from frailtrial.edc.services import signatures

    c = _login(world["m"]["investigator"].user.username)
    url = f"/participants/{world['pid']}/sign/"
    assert signatures.MEANING in c.get(url).content.decode()
    assert c.post(url, {"password": "wrong-one-here"}).status_code == 401
    assert not CasebookSignature.objects.exists()
    assert c.post(url, {"password": PASSWORD}).status_code == 302
    page = c.get(f"/participants/{world['pid']}/").content.decode()
    assert "<strong>Signed</strong>" in page and signatures.MEANING in page


def _unmasked(html: str) -> str:
    """A page without its CSRF token (masked anew in every response)."""
    import re

    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def test_site_b_cannot_tell_site_a_ids_from_unknown_ids(world: dict[str, Any]) -> None:
    """Probing ids: an existing site-A id and an id nobody has get the same answer, on the
    pages and the API; a trial-wide member asking for an unknown id gets 404, not a 500."""
    from django.test import Client

    from frailtrial.web.security import issue_token

    t, real, fake = world, world["pid"], "ZZZ-999"
    c = _login(t["m"]["other_site"].user.username)
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {issue_token(t['m']['other_site'])}"}
    for pattern in ("/participants/{}/", "/participants/{}/visits/week1/crf/tug/"):
        a, b = c.get(pattern.format(real)), c.get(pattern.format(fake))
        assert a.status_code == b.status_code == 403
        assert _unmasked(a.content.decode().replace(real, fake)) == _unmasked(b.content.decode())
    assert c.get("/screening/S-002/").status_code == c.get("/screening/S-404/").status_code
    assert c.get(f"/audit/crf/{t['crf'].pk}/").status_code in (403, 404)
    answers = []
    for pid in (real, fake):
        r = Client().post(
            f"/api/participants/{pid}/visits/month1/attend",
            {"on": "2024-04-03"},
            content_type="application/json",
            **bearer,
        )
        answers.append((r.status_code, r.json()["detail"].replace(pid, "PID")))
    assert answers[0] == answers[1] and answers[0][0] == 403
    wide = _login(t["m"]["coordinator"].user.username)
    r = wide.get(f"/participants/{fake}/")
    assert r.status_code == 404 and "no participant" in r.content.decode()


def test_a_new_link_replaces_the_old_one_only_for_unused_accounts(world: dict[str, Any]) -> None:
    import re

    from frailtrial.edc.services import people
    from frailtrial.errors import InputError

    admin = world["m"]["admin"]
    _, old = people.invite(admin, "late", "coordinator", "OTH", "Lee", "Late")
    c = _login(admin.user.username)
    r = c.post("/people/", {"action": "reinvite", "username": "late"})
    link = re.search(r'id="invite-link">[^<]*(/invite/fti_[^<]+/)<', r.content.decode())
    assert link
    with pytest.raises(InputError, match="expired"):
        people.invitation(old)  # the earlier link stops working
    people.accept(link.group(1).split("/")[2], NEW_PASSWORD)
    # an account in use gets no link: the admin cannot take over the investigator's account
    with pytest.raises(InputError, match="has set its password"):
        people.reinvite(admin, world["m"]["investigator"].user.username)
    with pytest.raises(InputError, match="has set its password"):
        people.reinvite(admin, "late")


def test_monitoring_leaves_the_signature_valid_an_ae_change_does_not(
    world: dict[str, Any],
) -> None:
    """Queries and SDV marks are the monitor's, not the casebook: they leave the signature;
    a change of the participant's adverse event invalidates it."""
    from frailtrial.edc.services import oversight, safety, signatures

    _sign(world)
    mon, crf_id = world["m"]["monitor"], world["crf"].pk
    oversight.raise_query(mon, crf_id, "tug_s", "please check")
    oversight.mark_sdv(mon, crf_id)
    [view] = signatures.signatures(mon, world["pid"])
    assert view.valid
    ae = world["ae"]
    safety.update(world["m"]["coordinator"], ae.pk, {"severity": "moderate"}, "re-graded", 1)
    [view] = signatures.signatures(mon, world["pid"])
    assert not view.valid and view.invalidated_by.startswith(f"adverseevent {ae.pk} changed")


def test_an_admin_cannot_end_an_account_another_trial_uses(world: dict[str, Any]) -> None:
    from edc_support import new_trial
    from frailtrial.edc.errors import AccessDenied
    from frailtrial.edc.services import people, trials

    shared = world["m"]["monitor"].user.username
    other = new_trial()
    trials.add_member(other["trial"], shared, "monitor")
    with pytest.raises(AccessDenied, match="another trial"):
        people.deactivate(world["m"]["admin"], shared, "left")
    with pytest.raises(AccessDenied, match="another trial"):
        people.deactivate(other["m"]["admin"], shared, "left")


def test_the_operator_ends_an_account_from_the_command_line(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from cli_inprocess import invoke
    from frailtrial.edc.models import AuditEntry

    url = "sqlite:///" + str(settings.DATABASES["default"]["NAME"])
    name = world["m"]["monitor"].user.username
    code, _, err = invoke(
        monkeypatch, capsys, "web", "deactivate", "ghost", "--reason", "x", "--db", url
    )
    assert (
        code == 2 and "no user 'ghost' in this store" in err and len(err.strip().splitlines()) == 1
    )
    code, out, _ = invoke(
        monkeypatch, capsys, "web", "deactivate", name, "--reason", "left", "--db", url
    )
    assert (code, out.strip()) == (0, f"account {name} deactivated")
    assert not get_user_model().objects.get(username=name).is_active
    row = AuditEntry.objects.filter(action="deactivate").last()
    assert row is not None and (row.actor, row.reason) == ("system", "left")
    code, _, err = invoke(
        monkeypatch, capsys, "web", "deactivate", name, "--reason", "again", "--db", url
    )
    assert code == 2 and "deactivated already" in err


def test_site_b_cannot_tell_a_site_a_adverse_event_from_an_unknown_one(
    world: dict[str, Any],
) -> None:
    """Changing or following up an adverse event by id: site A's and an id nobody has get the
    same refusal for a site-B member (it used to say 'no adverse event' for the unknown one)."""
    from frailtrial.edc.errors import AccessDenied
    from frailtrial.edc.services import safety

    t, real = world, world["ae"].pk
    fake = real + 100_000
    said = []
    for ae_id in (real, fake):
        with pytest.raises(AccessDenied) as refused:
            safety.update(t["m"]["other_site"], ae_id, {"outcome": "recovered"}, "probe")
        said.append(str(refused.value).replace(str(ae_id), "ID"))
        with pytest.raises(AccessDenied):
            safety.follow_up(t["m"]["other_site"], ae_id, "2024-03-20", "probe", "recovered")
    assert said[0] == said[1] == "adverse event ID is not at your site"
