"""Password hashes under the audit trail: an insider who writes an account's password hash in
the database (to log in or sign a casebook as the investigator) is refused at login and at
signing, and `edc verify` names the account; a forged audit row does not vouch for the hash."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from web_support import PASSWORD, trial_with_data, web_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow

INSIDER = "the insider knows this one 9"


@pytest.fixture()
def world(tmp_path: Any) -> dict[str, Any]:
    web_store(tmp_path)
    return trial_with_data()


def _sql(sql: str, params: tuple[Any, ...] = ()) -> None:
    """What an intruder with write access does: drop the guard triggers, then change rows."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DROP TRIGGER IF EXISTS edc_audit_no_update")
        cur.execute("DROP TRIGGER IF EXISTS edc_audit_no_delete")
        cur.execute(sql, params)


def _write_hash(user: Any, password: str) -> str:
    from django.contrib.auth.hashers import make_password

    forged = make_password(password)
    _sql("UPDATE auth_user SET password = %s WHERE id = %s", (forged, user.pk))
    return forged


def _findings() -> dict[tuple[str, str, str], str]:
    from frailtrial.edc.services.integrity import verify_store

    return {(f.table, f.row, f.field): f.problem for f in verify_store().findings}


def _logs_in(username: str, password: str) -> bool:
    from frailtrial.web.security import AuditedPasswordBackend

    return AuditedPasswordBackend().authenticate(None, username, password) is not None


def test_application_password_changes_are_audited_as_digests_and_verify_clean(
    world: dict[str, Any],
) -> None:
    from django.contrib.auth import get_user_model

    from frailtrial.edc.models import AuditEntry
    from frailtrial.edc.services import passwords
    from frailtrial.edc.services.integrity import verify_store

    user = world["m"]["investigator"].user
    assert _logs_in(user.username, PASSWORD)
    user.set_password("a second long passphrase 77")  # the account page's and CLI's path
    user.save()
    user = get_user_model().objects.get(pk=user.pk)
    assert _logs_in(user.username, "a second long passphrase 77")
    assert not _logs_in(user.username, PASSWORD)
    rows = AuditEntry.objects.filter(model="password", object_id=str(user.pk)).order_by("seq")
    assert [r.action for r in rows][-1] == "password"
    last = rows.last()
    assert last is not None and user.password not in last.new  # the hash itself is never kept
    assert hashlib.sha256(user.password.encode()).hexdigest() in last.new
    assert passwords.is_audited(user)
    assert verify_store().ok


def test_a_hash_written_in_the_database_cannot_log_in_or_sign_and_is_found(
    world: dict[str, Any],
) -> None:
    from django.contrib.auth import get_user_model

    from frailtrial.edc.errors import AccessDenied
    from frailtrial.edc.models import CasebookSignature
    from frailtrial.edc.services import signatures

    member = world["m"]["investigator"]
    _write_hash(member.user, INSIDER)
    member.user = get_user_model().objects.get(pk=member.user.pk)
    assert member.user.check_password(INSIDER)  # Django alone would take it
    assert not _logs_in(member.user.username, INSIDER)
    with pytest.raises(AccessDenied, match="password is wrong"):
        signatures.sign(member, world["pid"], INSIDER)
    assert not CasebookSignature.objects.exists()
    found = _findings()
    assert found[("auth_user", str(member.user.pk), "password")] == (
        "differs from its last audited value"
    )


def test_a_forged_or_edited_audit_row_does_not_vouch_for_a_written_hash(
    world: dict[str, Any],
) -> None:
    from django.contrib.auth import get_user_model

    from frailtrial.edc.models import AuditEntry

    user = world["m"]["investigator"].user
    forged = _write_hash(user, INSIDER)
    digest = hashlib.sha256(forged.encode()).hexdigest()
    last = AuditEntry.objects.filter(model="password", object_id=str(user.pk)).last()
    assert last is not None
    # the insider rewrites the account's last audited digest to the one of the written hash
    _sql(
        "UPDATE edc_auditentry SET new = %s WHERE seq = %s",
        ('{"sha256":"' + digest + '"}', last.seq),
    )
    assert not _logs_in(user.username, INSIDER)
    # ... or appends a row of their own after it (they have no audit key to sign it)
    _sql(
        "INSERT INTO edc_auditentry (seq, at, actor, role, trial_id_ref, action, model, "
        "object_id, old, new, reason, blinded, prev_hash, hash) SELECT "
        "(SELECT max(seq) FROM edc_auditentry) + 1, at, actor, "
        "role, trial_id_ref, action, model, object_id, old, new, reason, blinded, hash, %s "
        "FROM edc_auditentry WHERE seq = %s",
        ("0" * 64, last.seq),
    )
    user = get_user_model().objects.get(pk=user.pk)
    assert not _logs_in(user.username, INSIDER)
    from frailtrial.edc.services.integrity import verify_store

    assert not verify_store().ok


def test_accounts_made_before_hashes_were_audited_get_a_baseline(world: dict[str, Any]) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from frailtrial.edc.services import passwords

    model = get_user_model()
    # bulk_create sends no post_save: an account as a store made before this change holds it
    [old] = model.objects.bulk_create(
        [model(username="old-account", password=make_password("an old long passphrase 3"))]
    )
    assert not _logs_in("old-account", "an old long passphrase 3")
    assert _findings()[("auth_user", str(old.pk), "password")] == "hash was never audited"
    accounts = list(model.objects.values_list("pk", "password"))
    assert passwords.baseline(accounts) == 1  # only the account without an audited hash
    assert passwords.baseline(accounts) == 0
    assert _logs_in("old-account", "an old long passphrase 3")
    assert ("auth_user", str(old.pk), "password") not in _findings()
