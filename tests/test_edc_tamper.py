"""Attacks on the rows themselves: an insider who can write the database (triggers dropped)
edits a CRF, a measurement, an allocation, the list, an unblinding, or truncates the trail;
`audit verify` finds each, naming table, row and field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cli_inprocess import invoke
from edc_support import (
    dose_first,
    enroll,
    lock_accepting_all,
    new_trial,
    report_sae,
    sqlite_url,
    use_store,
)

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store with a realistic history (made once; each test works on a copy)."""
    folder = tmp_path_factory.mktemp("tamper")
    url = sqlite_url(folder)
    use_store(url)
    from frailtrial.edc.services import crf, oversight, safety, unblinding, visits

    t = new_trial()
    coord = t["m"]["coordinator"]
    for i in range(3):
        pid = enroll(t, f"T{i}").participant_id
        dose_first(t, pid)
        visits.attend(coord, pid, "baseline", "2024-03-05")
        crf.enter_crf(coord, pid, "baseline", "tug", {"tug_s": 12.0 + i})
        crf.record_measurements(coord, pid, "baseline", {"grip": 20.0 + i})
    crf.enter_crf(
        coord, pid, "baseline", "tug", {"tug_s": 9.5}, reason="transcription error", version=1
    )
    ae = report_sae(coord, pid, "2024-03-06")
    safety.update(coord, ae.pk, {"outcome": "recovered"}, "follow-up call", version=1)
    unblinding.emergency_unblind(t["m"]["investigator"], pid, "anaphylaxis, arm needed now")
    monitor = t["m"]["monitor"]
    saved = crf.enter_crf(
        coord, pid, "baseline", "tug", {"tug_s": 9.0}, reason="re-timed", version=2
    )
    asked = oversight.raise_query(monitor, saved.pk, "tug_s", "source says 9.5")
    oversight.answer_query(coord, asked.pk, "re-timed on the day")
    oversight.close_query(monitor, asked.pk)
    oversight.raise_query(monitor, saved.pk, "tug_s", "left open")
    oversight.mark_sdv(monitor, saved.pk)
    from frailtrial.edc.models import Participant
    from frailtrial.edc.services import corrections, logs

    med = {"drug": "aspirin", "indication": "prevention", "started_on": "2020-01-01"}
    entry = logs.add(coord, pid, "concomitant_medication", {**med, "ongoing": True})
    fixed = {**med, "ongoing": True, "dose": "100 mg daily"}
    corrections.correct(coord, "logrecord", entry.pk, {"answers": fixed}, "dose left out", 1)
    corrections.correct(coord, "adverseevent", ae.pk, {"term": "Bacterial pneumonia"}, "coded", 2)
    scr = Participant.objects.get(participant_id=pid).screening_id
    corrections.correct(coord, "screening", scr, {"age": 70.0}, "transcription error", 1)
    # a participant session (started, redeemed, one questionnaire answered and sent, ended)
    # and a named member's invitation accepted, through the services
    from frailtrial.edc.services import epro, people

    visits.attend(coord, pid, "week1", "2024-03-12")
    epro.start(coord, pid, "week1", "kiosk", "en")  # left unredeemed
    session, token = epro.start(coord, pid, "week1", "link", "en")
    session = epro.redeem(token)
    epro.choose_language(session, "zh-hans")
    epro.choose_language(session, "en")
    first = session.instruments[0]
    epro.save_answer(session, first, epro.items_of(session, first)[0].id, "", 1)
    epro.submit(session, first)
    epro.end(session)
    _, invited = people.invite(t["m"]["admin"], "newcoord", "coordinator", None, "New", "Coord")
    people.accept(invited, "a long and fresh passphrase 42")
    from django.contrib.auth import password_validation

    # the store's settings hold no password rules (the web's do): forget the empty list
    # Django cached, or a later test file's web pages would accept any password
    password_validation.get_default_password_validators.cache_clear()
    people.invite(t["m"]["admin"], "pending", "monitor", None, "Pen", "Ding")  # not accepted
    people.reinvite(t["m"]["admin"], "pending")  # the first link revoked, a second one live
    people.choose_language(coord, "zh-hans")  # the account's interface language, audited
    from django.db import connections

    connections.close_all()
    return Path(url.removeprefix("sqlite:///"))


@pytest.fixture()
def store(template: Path) -> str:
    """A copy of the template store in the template's folder (same key and anchors folder)."""
    import shutil
    import uuid

    copy = template.with_name(f"copy-{uuid.uuid4().hex[:8]}.sqlite3")
    shutil.copyfile(template, copy)
    url = f"sqlite:///{copy}"
    use_store(url)
    return url


def _raw(sql: str, params: tuple[Any, ...] = ()) -> None:
    """What an intruder with write access does: drop the guard triggers, then change rows."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DROP TRIGGER IF EXISTS edc_audit_no_update")
        cur.execute("DROP TRIGGER IF EXISTS edc_audit_no_delete")
        cur.execute(sql, params)
    connection.close()


def _first(table: str, where: str = "1 = 1") -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f"SELECT min(id) FROM {table} WHERE {where}")
        return int(cur.fetchone()[0])


SWAP = "CASE arm WHEN 'mscs' THEN 'placebo' ELSE 'mscs' END"
ATTACKS = {
    "crf answers": ("edc_crf", "answers", "UPDATE edc_crf SET answers = '{\"tug_s\": 30}'"),
    "crf scores": (
        "edc_crf",
        "scores",
        'UPDATE edc_crf SET scores = \'{"seconds": 30, "fall_risk": true}\'',
    ),
    "measurement": ("edc_measurement", "value", "UPDATE edc_measurement SET value = value + 1"),
    "allocation arm swapped": ("edc_allocation", "arm", f"UPDATE edc_allocation SET arm = {SWAP}"),
    "allocation entry": (
        "edc_allocation",
        "entry_id",
        "UPDATE edc_allocation SET entry_id = entry_id + 50",
    ),
    "unused list entry rewritten": (
        "edc_listentry",
        "arm",
        f"UPDATE edc_listentry SET arm = {SWAP}",
    ),
    "list entry made reusable": ("edc_listentry", "used", "UPDATE edc_listentry SET used = 0"),
    "emergency unblinding undone": (
        "edc_participant",
        "emergency_unblinded",
        "UPDATE edc_participant SET emergency_unblinded = 0",
    ),
    "adverse event": ("edc_adverseevent", "outcome", "UPDATE edc_adverseevent SET outcome = 'x'"),
    "log entry rewritten": ("edc_logrecord", "answers", "UPDATE edc_logrecord SET answers = '{}'"),
    "corrected age put back": ("edc_participant", "age", "UPDATE edc_participant SET age = 65"),
    "staff crf passed off as the participant's": (
        "edc_crf",
        "source",
        "UPDATE edc_crf SET source = 'participant'",
    ),
    "participant session token replaced by a known one": (
        "edc_eprosession",
        "digest",
        "UPDATE edc_eprosession SET digest = '" + "0" * 64 + "', redeemed_at = NULL",
    ),
    "query answer rewritten": (
        "web_dataquery",
        "answer",
        "UPDATE web_dataquery SET answer = 'never asked'",
    ),
    "sdv mark moved to a later version": (
        "web_sdvmark",
        "crf_version",
        "UPDATE web_sdvmark SET crf_version = crf_version + 1",
    ),
    "staff crf passed off as the participant's own answers": (
        "edc_crf",
        "source",
        "UPDATE edc_crf SET source = 'participant'",
    ),
    "adverse event voided to hide it from the DSMB report": (
        "edc_adverseevent",
        "voided_at",
        "UPDATE edc_adverseevent SET voided_at = '2024-03-07 00:00:00', void_reason = 'dup'",
    ),
    "SAE acknowledgement forged": (
        "edc_saealert",
        "acknowledged_at",
        "UPDATE edc_saealert SET acknowledged_at = raised_at, acknowledgement = 'seen'",
    ),
    "lot concentration changed after preparation": (
        "edc_lot",
        "cells_per_ml",
        "UPDATE edc_lot SET cells_per_ml = cells_per_ml * 2",
    ),
    "account language rewritten": (
        "edc_membership",
        "language",
        "UPDATE edc_membership SET language = 'en'",
    ),
    "minimization secret set to a known value": (
        "edc_trial",
        "minimization_secret",
        "UPDATE edc_trial SET minimization_secret = '00000000000000000000000000000000'",
    ),
}
WHERE = {
    "web_dataquery": {"answer": "status = 'closed'"},
    "edc_listentry": {"arm": "used = 0", "used": "used = 1"},
    "edc_participant": {"emergency_unblinded": "emergency_unblinded = 1", "age": "age = 70"},
    "edc_lot": {"cells_per_ml": "cells_per_ml IS NOT NULL"},
    "edc_membership": {"language": "language = 'zh-hans'"},
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_direct_edit_is_found_naming_table_row_and_field(store: str, name: str) -> None:
    from frailtrial.edc.services.integrity import verify_store

    table, column, sql = ATTACKS[name]
    assert verify_store().ok  # the untouched history has no finding (no false alarm)
    row = _first(table, WHERE.get(table, {}).get(column, "1 = 1"))
    _raw(f"{sql} WHERE id = %s", (row,))
    report = verify_store()
    assert not report.ok
    assert (table, str(row), column) in {(f.table, f.row, f.field) for f in report.findings}


def test_a_store_with_queries_and_sdv_marks_verifies_with_no_finding(store: str) -> None:
    """Queries raised, answered and closed, and an SDV mark, all through the oversight
    service: every row matches its last audited value (no false alarm)."""
    from frailtrial.edc.models import DataQuery, SdvMark
    from frailtrial.edc.services.integrity import verify_store

    assert sorted(DataQuery.objects.values_list("status", flat=True)) == ["closed", "open"]
    assert SdvMark.objects.count() == 1
    report = verify_store()
    assert report.ok and report.findings == (), report.problem


def test_rows_deleted_or_inserted_without_audit_are_found(store: str) -> None:
    from frailtrial.edc.services.integrity import verify_store

    unblinding = _first("edc_emergencyunblinding")
    _raw("DELETE FROM edc_notice WHERE unblinding_id IS NOT NULL")  # the notices point to it
    _raw("DELETE FROM edc_emergencyunblinding")
    _raw(
        "INSERT INTO edc_measurement (participant_id, visit, variable, value, unit, below_lloq) "
        "SELECT participant_id, 'week1', variable, 1.0, unit, NULL FROM edc_measurement "
        "WHERE id = (SELECT min(id) FROM edc_measurement)"
    )
    inserted = _first("edc_measurement", "visit = 'week1'")
    found = {(f.table, f.row, f.field): f.problem for f in verify_store().findings}
    assert found[("edc_emergencyunblinding", str(unblinding), "*")] == "audited row is missing"
    assert "never audited" in found[("edc_measurement", str(inserted), "*")]


def test_a_deleted_or_edited_unblinding_notice_is_found(store: str) -> None:
    """The notices that tell the DSMB and sponsor of an emergency unblinding are checked
    rows: an insider who deletes one (to hide the unblinding) or rewrites its text is found."""
    from frailtrial.edc.models import Membership, Participant
    from frailtrial.edc.services import unblinding
    from frailtrial.edc.services.integrity import verify_store

    investigator = Membership.objects.filter(role="investigator").first()
    assert investigator is not None
    pid = Participant.objects.order_by("pk").values_list("participant_id", flat=True).first()
    unblinding.emergency_unblind(investigator, str(pid), "anaphylaxis again, arm needed")
    assert verify_store().ok  # notices written through the service: no false alarm
    deleted, edited = (
        _first("edc_notice"),
        _first("edc_notice", "id > (SELECT min(id) FROM edc_notice)"),
    )
    _raw("DELETE FROM edc_notice WHERE id = %s", (deleted,))
    _raw("UPDATE edc_notice SET text = 'nothing happened' WHERE id = %s", (edited,))
    found = {(f.table, f.row, f.field): f.problem for f in verify_store().findings}
    assert found[("edc_notice", str(deleted), "*")] == "audited row is missing"
    assert ("edc_notice", str(edited), "text") in found


def test_cli_verify_lists_each_finding_without_values_and_exits_1(
    store: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    alloc = _first("edc_allocation")
    _raw(f"UPDATE edc_allocation SET arm = {SWAP} WHERE id = %s", (alloc,))
    code, _, err = invoke(monkeypatch, capsys, "audit", "verify", "--db", store)
    assert code == 1
    assert f"tampered: edc_allocation row {alloc} field arm: differs from its last audited" in err
    assert "mscs" not in err and "placebo" not in err  # a finding never reveals an arm
    code, out, _ = invoke(monkeypatch, capsys, "audit", "verify", "--db", store, "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    assert {"table": "edc_allocation", "row": str(alloc), "field": "arm"}.items() <= report[
        "findings"
    ][0].items()


def test_truncated_tail_with_the_head_moved_back_is_found_against_an_anchor(
    store: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from frailtrial.edc.models import AuditEntry
    from frailtrial.edc.services.audit import verify_chain

    code, out, _ = invoke(monkeypatch, capsys, "audit", "anchor", "--db", store, "--json")
    anchored = json.loads(out)
    assert code == 0 and anchored["seq"] == AuditEntry.objects.count()
    keep = anchored["seq"] - 4
    last = AuditEntry.objects.get(seq=keep)
    _raw("DELETE FROM edc_auditentry WHERE seq > %s", (keep,))
    _raw("UPDATE edc_audithead SET seq = %s, hash = %s WHERE id = 1", (keep, last.hash))
    assert verify_chain().ok  # a clean prefix: the chain alone cannot tell
    code, _, err = invoke(monkeypatch, capsys, "audit", "verify", "--db", store)
    assert code == 1
    assert f"edc_auditentry row {anchored['seq']} field seq: the trail ends at row {keep}" in err


def test_anchor_kept_elsewhere_is_checked_and_a_forged_one_is_refused(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = tmp_path / "elsewhere" / "anchor.json"
    code, _, _ = invoke(monkeypatch, capsys, "audit", "anchor", "--db", store, "--out", str(kept))
    assert code == 0 and oct(kept.stat().st_mode & 0o777) == "0o600"
    from frailtrial.edc.services.anchor import anchors_dir

    for own in anchors_dir().glob("*.json"):  # the intruder also clears the anchors folder
        own.unlink()
    _raw("DELETE FROM edc_auditentry WHERE seq > 3")
    _raw("UPDATE edc_audithead SET seq = 3, hash = (SELECT hash FROM edc_auditentry WHERE seq = 3)")
    code, _, err = invoke(monkeypatch, capsys, "audit", "verify", "--db", store)
    assert code == 1 and "never audited" in err  # rows outlive their removed audit rows
    assert "the trail ends" not in err  # but only an anchor tells how much was cut
    code, _, err = invoke(
        monkeypatch, capsys, "audit", "verify", "--db", store, "--anchor", str(kept)
    )
    assert code == 1 and "the trail ends at row 3" in err

    data = json.loads(kept.read_text())
    data["seq"] = 3  # move the anchor back to match
    kept.write_text(json.dumps(data))
    code, _, err = invoke(
        monkeypatch, capsys, "audit", "verify", "--db", store, "--anchor", str(kept)
    )
    assert code == 2 and "signature does not match" in err
    code, _, err = invoke(
        monkeypatch, capsys, "audit", "verify", "--db", store, "--anchor", str(tmp_path / "no.json")
    )
    assert code == 2 and "cannot read it" in err


def test_cli_verify_exits_2_without_the_key(store: str) -> None:
    src = Path(__file__).parents[1] / "src"
    done = subprocess.run(
        [sys.executable, "-m", "frailtrial", "audit", "verify", "--db", store],
        capture_output=True,
        text=True,
        env={
            "PYTHONPATH": str(src),
            "PATH": "/usr/bin:/bin",
            "FRAILTRIAL_AUDIT_KEY_FILE": str(Path(store.removeprefix("sqlite:///")) / "none"),
        },
        timeout=120,
    )
    assert done.returncode == 2 and "audit key" in done.stderr and "is missing" in done.stderr


def test_a_trail_emptied_with_its_store_id_is_found_against_an_anchor(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = tmp_path / "anchor.json"
    assert invoke(monkeypatch, capsys, "audit", "anchor", "--db", store, "--out", str(kept))[0] == 0
    _raw("DELETE FROM edc_auditentry")
    _raw("UPDATE edc_audithead SET seq = 0, hash = %s, store = ''", ("0" * 64,))
    code, _, err = invoke(
        monkeypatch, capsys, "audit", "verify", "--db", store, "--anchor", str(kept)
    )
    assert code == 1 and "the trail ends at row 0" in err


def test_an_anchor_of_another_store_is_bad_input(
    store: str, template: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    other = template.with_name("other-anchor.json")
    url = f"sqlite:///{template}"
    assert invoke(monkeypatch, capsys, "audit", "anchor", "--db", url, "--out", str(other))[0] == 0
    use_store(store)
    _raw("UPDATE edc_audithead SET store = 'x' || substr(store, 2)")  # another id (hex has no x)
    code, _, err = invoke(
        monkeypatch, capsys, "audit", "verify", "--db", store, "--anchor", str(other)
    )
    assert code == 2 and "not of this store" in err


def test_the_minimization_secret_is_audited_only_as_a_digest(store: str) -> None:
    """The trail is readable by oversight roles: the secret that drives minimization must not
    stand in it in clear (at creation, or in the lock's before/after), only its SHA-256."""
    from frailtrial.edc.models import AuditEntry, Membership, Trial

    trial = Trial.objects.get()
    admin = Membership.objects.get(trial=trial, role="admin")
    lock_accepting_all(admin, "database lock")
    secret = Trial.objects.get().minimization_secret
    assert len(secret) == 32
    texts = [f"{e.old} {e.new}" for e in AuditEntry.objects.filter(model="trial")]
    assert texts and all(secret not in t for t in texts)
    assert any("sha256:" in t for t in texts)


def _copy_with_digest(table: str, where: str, token: str) -> int:
    """Insert a copy of a row with the SHA-256 of a token the intruder chose (what a forged
    session or invitation is); the new row's id."""
    import hashlib

    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY id LIMIT 1")
        names = [c[0] for c in cur.description]
        values = dict(zip(names, cur.fetchone(), strict=True))
    del values["id"]
    values["digest"] = hashlib.sha256(token.encode("utf-8")).hexdigest()
    columns = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    _raw(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(values.values()))
    return _first(table, f"id = (SELECT max(id) FROM {table})")


FUTURE = "2999-01-01 00:00:00"
SESSION_ATTACKS = {
    "used link made usable again": (
        "redeemed_at",
        "UPDATE edc_eprosession SET redeemed_at = NULL, ended_at = NULL, ended_why = ''",
        "redeemed_at IS NOT NULL",
    ),
    "expiry extended": ("expires_at", f"UPDATE edc_eprosession SET expires_at = '{FUTURE}'", ""),
    "another participant's questionnaire added": (
        "instruments",
        'UPDATE edc_eprosession SET instruments = \'["sf36", "eq5d5l", "psqi"]\'',
        "",
    ),
    "sent questionnaire made sendable again": (
        "submitted",
        "UPDATE edc_eprosession SET submitted = '[]'",
        "redeemed_at IS NOT NULL",
    ),
}
INVITATION_ATTACKS = {
    "used invitation made usable again": (
        "used_at",
        "UPDATE edc_invitation SET used_at = NULL",
        "used_at IS NOT NULL",
    ),
    "expiry extended": ("expires_at", f"UPDATE edc_invitation SET expires_at = '{FUTURE}'", ""),
}


@pytest.mark.parametrize("name", list(SESSION_ATTACKS))
def test_a_rewritten_participant_session_is_found(store: str, name: str) -> None:
    """A participant session opens a participant's questionnaires (answers saved as their
    own, source participant): an insider who reopens a used or ended link, extends it, or
    adds questionnaires to it is found."""
    from frailtrial.edc.services.integrity import verify_store

    column, sql, where = SESSION_ATTACKS[name]
    row = _first("edc_eprosession", where or "1 = 1")
    _raw(f"{sql} WHERE id = %s", (row,))
    found = {(f.table, f.row, f.field) for f in verify_store().findings}
    assert ("edc_eprosession", str(row), column) in found


@pytest.mark.parametrize("name", list(INVITATION_ATTACKS))
def test_a_rewritten_invitation_is_found(store: str, name: str) -> None:
    from frailtrial.edc.services.integrity import verify_store

    column, sql, where = INVITATION_ATTACKS[name]
    row = _first("edc_invitation", where or "1 = 1")
    _raw(f"{sql} WHERE id = %s", (row,))
    found = {(f.table, f.row, f.field) for f in verify_store().findings}
    assert ("edc_invitation", str(row), column) in found


def test_forged_session_and_invitation_rows_are_found(store: str) -> None:
    """An insider who inserts a session or an invitation with the SHA-256 of a token of
    their own (to answer as a participant, or to set an account's password) is found."""
    from frailtrial.edc.services.integrity import verify_store

    session = _copy_with_digest("edc_eprosession", "redeemed_at IS NULL", "my own token")
    invitation = _copy_with_digest("edc_invitation", "used_at IS NULL", "fti_my own token")
    found = {(f.table, f.row, f.field): f.problem for f in verify_store().findings}
    assert found[("edc_eprosession", str(session), "*")] == "row exists but was never audited"
    assert found[("edc_invitation", str(invitation), "*")] == "row exists but was never audited"


def test_a_deleted_session_or_invitation_is_found(store: str) -> None:
    from frailtrial.edc.services.integrity import verify_store

    session, invitation = _first("edc_eprosession"), _first("edc_invitation")
    _raw("DELETE FROM edc_eprosession WHERE id = %s", (session,))
    _raw("DELETE FROM edc_invitation WHERE id = %s", (invitation,))
    found = {(f.table, f.row, f.field): f.problem for f in verify_store().findings}
    assert found[("edc_eprosession", str(session), "*")] == "audited row is missing"
    assert found[("edc_invitation", str(invitation), "*")] == "audited row is missing"


def test_a_deleted_or_rewritten_lock_acceptance_is_found(store: str) -> None:
    """The lock's accepted checklist items (each with who accepted it and why): an insider
    who deletes one (to hide that the lock went ahead over it) or rewrites its reason is
    found."""
    from frailtrial.edc.models import Membership
    from frailtrial.edc.services.integrity import verify_store

    admin = Membership.objects.filter(role="admin").first()
    assert admin is not None
    lock_accepting_all(admin, "accepted by the data manager")
    deleted = _first("edc_lockexception")
    rewritten = _first("edc_lockexception", f"id > {deleted}")
    _raw("DELETE FROM edc_lockexception WHERE id = %s", (deleted,))
    _raw("UPDATE edc_lockexception SET reason = 'source verified' WHERE id = %s", (rewritten,))
    found = {(f.table, f.row, f.field): f.problem for f in verify_store().findings}
    assert found[("edc_lockexception", str(deleted), "*")] == "audited row is missing"
    assert ("edc_lockexception", str(rewritten), "reason") in found
