"""Password hashes under the audit trail.

Every save of an account that changes its password hash is audited (model ``password``)
with the SHA-256 of the hash, never the hash. A hash written directly in the database (an
insider giving an investigator's account a password of their own, to log in or sign as them)
then matches no audited value: :func:`check` refuses that account before its hash is even
tried, and the integrity check names it. The audited row itself is trusted only when its
keyed link (HMAC under the audit key, which the database does not hold) is intact.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from frailtrial.edc.models import AuditEntry
from frailtrial.edc.services import audit

MODEL = "password"  # the audit rows' model name


def fingerprint(password_hash: str) -> str:
    """SHA-256 of a stored password hash (what the trail keeps: it reveals nothing of the
    password, and an equal fingerprint means an equal hash)."""
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()


def _last(user_pk: Any) -> AuditEntry | None:
    return AuditEntry.objects.filter(model=MODEL, object_id=str(user_pk)).order_by("-seq").first()


def _audited_fingerprint(entry: AuditEntry | None) -> str | None:
    new = json.loads(entry.new) if entry is not None else None
    return new.get("sha256") if isinstance(new, dict) else None


def audit_change(
    sender: Any, instance: AbstractBaseUser, update_fields: Any = None, **_: Any
) -> None:
    """post_save of an account: audit its password hash when the save changed it (every
    application path: creation, ``set_password`` on the account page, an invitation accepted,
    ``web set-password``, Django's rehash at login)."""
    if update_fields is not None and "password" not in update_fields:
        return
    last = _audited_fingerprint(_last(instance.pk))
    now = fingerprint(instance.password)
    if last != now:
        old = {"sha256": last} if last is not None else None
        audit.record(None, "password", (MODEL, str(instance.pk)), old, {"sha256": now})


def is_audited(user: AbstractBaseUser) -> bool:
    """Whether the account's stored hash is the one the trail last recorded, in a row whose
    keyed link is intact (a row inserted or edited in the database is not)."""
    entry = _last(user.pk)
    return (
        entry is not None
        and audit.authentic(entry)
        and _audited_fingerprint(entry) == fingerprint(user.password)
    )


def check(user: AbstractBaseUser, password: str) -> bool:
    """Whether ``password`` is the account's own: its hash must be the audited one before the
    password is tried (so a hash written in the database is never used, nor upgraded and
    audited by Django's rehash at login)."""
    if not password or not is_audited(user):
        type(user)().set_password(password or "-")  # the same hashing time as a wrong password
        return False
    return user.check_password(password)


def baseline(accounts: list[tuple[Any, str]]) -> int:
    """Audit the hashes of accounts (id, hash) the trail has none of: a store made before
    hashes were audited (what such an account holds at the upgrade is taken as its own).
    Returns how many were audited."""
    changes: list[audit.Change] = [
        ("password", (MODEL, str(pk)), None, {"sha256": fingerprint(stored)})
        for pk, stored in accounts
        if _last(pk) is None
    ]
    audit.record_many(None, changes, "baseline: an account made before hashes were audited")
    return len(changes)
