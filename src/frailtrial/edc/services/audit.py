"""The audit trail: append a keyed, chained row per change; verify the chain; read it redacted.

Each row's hash is HMAC-SHA256, under the audit key, of the store's id, the previous row's hash
and the row's canonical JSON. The key is a file outside the database (:func:`key_path`), so
someone who can only write the database cannot recompute the chain after editing a row. The
head (last sequence number and hash) is kept in its own row so that a removed tail is found
too; database triggers refuse UPDATE and DELETE on the audit table.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import (
    DEFAULT_DB_ALIAS,
    connection,
    connections,
    models,
    transaction,
)
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Q

from frailtrial.edc import config
from frailtrial.edc.models import AuditEntry, AuditHead, Membership
from frailtrial.edc.services.common import audited_snapshot, now, plain, sees_arm
from frailtrial.edc.services.rows import by_key, save_fields
from frailtrial.errors import InputError

GENESIS = "0" * 64
REDACTED = '"(blinded)"'
KEY_FILE = "frailtrial-audit-key"
_keys: dict[Path, bytes] = {}


def key_path(url: str | None = None) -> Path:
    """The audit key's file: ``FRAILTRIAL_AUDIT_KEY_FILE``, else ``frailtrial-audit-key`` in
    the data directory (beside the web secret key; see :func:`frailtrial.edc.config.data_dir`)."""
    if os.environ.get("FRAILTRIAL_AUDIT_KEY_FILE"):
        return Path(os.environ["FRAILTRIAL_AUDIT_KEY_FILE"])
    return config.data_dir(url or config.current_url()) / KEY_FILE


def audit_key(create: bool = False) -> bytes:
    """The audit key of the open store; ``create`` makes it (0600) when missing, which only
    the first audit row of a store may do (a lost key is never silently replaced)."""
    path = key_path()
    if path not in _keys or not path.exists():
        if not path.exists() and not create:
            raise InputError(
                f"audit key {path} is missing; the audit trail cannot be checked or extended "
                "without it: restore it from its backup (or set FRAILTRIAL_AUDIT_KEY_FILE)"
            )
        _keys[path] = bytes.fromhex(config.key_file(path, create))
    return _keys[path]


def canonical(value: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, dates as ISO text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=plain)


def sign(key: bytes, text: str) -> str:
    """HMAC-SHA256 of ``text`` under ``key``, as hex."""
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def _digest(key: bytes, store: str, prev_hash: str, fields: dict[str, Any]) -> str:
    return sign(key, store + "\n" + prev_hash + "\n" + canonical(fields))


def _fields(e: AuditEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": plain(e.at),
        "actor": e.actor,
        "role": e.role,
        "trial": e.trial_id_ref,
        "action": e.action,
        "model": e.model,
        "object_id": e.object_id,
        "old": e.old,
        "new": e.new,
        "reason": e.reason,
        "blinded": e.blinded,
    }


Change = tuple[
    str, "models.Model | tuple[str, str]", "dict[str, Any] | None", "dict[str, Any] | None"
]


def record(
    actor: Membership | None,
    action: str,
    obj: models.Model | tuple[str, str],
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    reason: str = "",
    blinded: bool = False,
) -> AuditEntry:
    """Append one audit row (call inside the write transaction of the change it records)."""
    return record_many(actor, [(action, obj, old, new)], reason, blinded)[0]


def record_many(
    actor: Membership | None, changes: list[Change], reason: str = "", blinded: bool = False
) -> list[AuditEntry]:
    """Append one chained row per change (inside the change's transaction).

    The chain's head stays locked until the transaction ends (every writer queues on it), so
    a service calls this as the last step of its write, once all its changes are known.
    """
    who = actor.user.get_username() if actor else "system"
    entries = []
    for action, obj, old, new in changes:
        model, object_id = obj if isinstance(obj, tuple) else (obj._meta.model_name, obj.pk)
        entries.append(
            AuditEntry(
                actor=who,
                role=actor.role if actor else "system",
                trial_id_ref=actor.trial_id if actor else None,
                action=action,
                model=str(model),
                object_id=str(object_id),
                old=canonical(old),
                new=canonical(new),
                reason=reason,
                blinded=blinded,
            )
        )
    _append(entries)
    return entries


_INSERTED = [f for f in AuditEntry._meta.concrete_fields if not f.primary_key]
_CHAINED = frozenset(("seq", "at", "prev_hash", "hash"))  # set only once the head is locked
# a text, whole-number or flag field's database value is the Python value itself when that
# has the field's type (Django's preparation returns it unchanged): no call per value
_OWN_TYPE = {
    models.CharField: str,
    models.TextField: str,
    models.BigIntegerField: int,
    models.BooleanField: bool,
}
_PLAIN = [_OWN_TYPE.get(type(f)) for f in _INSERTED]
_AT = next(i for i, f in enumerate(_INSERTED) if f.attname == "at")


def _db_values(e: AuditEntry, db: BaseDatabaseWrapper) -> list[Any]:
    """The insert's parameters of one entry, field by field (as Django prepares them); None
    in the chained fields' places."""
    values: list[Any] = []
    for f, own in zip(_INSERTED, _PLAIN, strict=True):
        if f.attname in _CHAINED:
            values.append(None)
            continue
        value = getattr(e, f.attname)
        values.append(value if type(value) is own else f.get_db_prep_save(value, db))
    return values


def _append(entries: list[AuditEntry]) -> None:
    """Chain ``entries`` onto the head and store them: lock and read the head, hash, insert,
    move the head. The head stays locked until commit, so its time bounds the store's write
    rate: the key, the statements' text and every value that does not depend on the head
    are made before it is locked; plain SQL, no ORM query building; on PostgreSQL the
    insert and the head's move are one statement."""
    if not entries:
        return
    q = connection.ops.quote_name
    head_table, table = q(AuditHead._meta.db_table), q(AuditEntry._meta.db_table)
    # SQLite has no FOR UPDATE: its write transactions (BEGIN IMMEDIATE) already hold the
    # store's only write lock from their first statement
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    try:
        key = audit_key()
    except InputError:  # no key yet: only the first row of a store may make it, see below
        key = b""
    columns = ", ".join(q(f.column) for f in _INSERTED)
    marks = "(" + ", ".join(["%s"] * len(_INSERTED)) + ")"
    size = connection.ops.bulk_batch_size(_INSERTED, entries) or len(entries)
    batches = [entries[start : start + size] for start in range(0, len(entries), size)]
    inserts = [
        f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([marks] * len(b)) for b in batches
    ]
    # the chained fields' places are filled once the head is read
    db = connections[DEFAULT_DB_ALIAS]  # the connection itself, not its per-thread proxy
    fixed = {id(e): _db_values(e, db) for e in entries}
    chained = [i for i, f in enumerate(_INSERTED) if f.attname in _CHAINED]
    move = f"UPDATE {head_table} SET seq = %s, hash = %s, store = %s WHERE id = 1"
    # the caller's transaction, or one of its own when called outside any
    with transaction.atomic(savepoint=False), connection.cursor() as cur:
        cur.execute(f"SELECT seq, hash, store FROM {head_table} WHERE id = 1{lock}")
        seq, prev, store = cur.fetchone()  # the head row is created by migration 0003
        if not key or seq == 0:
            key = audit_key(create=seq == 0)
        if seq == 0 and not store:
            store = uuid.uuid4().hex
        at = now()
        for entry in entries:
            seq += 1
            entry.seq, entry.at, entry.prev_hash = seq, at, prev
            entry.hash = prev = _digest(key, store, prev, _fields(entry))
            values = fixed[id(entry)]
            for i in chained:
                values[i] = getattr(entry, _INSERTED[i].attname)
        at_value = _INSERTED[_AT].get_db_prep_save(at, db)  # one time for all
        statements = []
        for sql, batch in zip(inserts, batches, strict=True):
            params = []
            for e in batch:
                values = fixed[id(e)]
                values[_AT] = at_value
                params += values
            statements.append((sql, params))
        if connection.vendor == "postgresql" and len(statements) == 1:
            # one round trip while the head is locked: the insert as a data-modifying WITH
            insert, params = statements[0]
            statements = [(f"WITH appended AS ({insert}) {move}", [*params, seq, prev, store])]
        else:
            statements.append((move, [seq, prev, store]))
        for sql, params in statements:
            cur.execute(sql, params)


def created(
    actor: Membership | None,
    obj: models.Model,
    reason: str = "",
    blinded: bool = False,
    action: str = "create",
) -> AuditEntry:
    """Audit a row just created: no old value, its snapshot as the new one."""
    return record(actor, action, obj, None, audited_snapshot(obj), reason, blinded)


def updated(
    changes: list[tuple[models.Model, dict[str, Any]]], action: str = "update"
) -> list[Change]:
    """Set fields of rows of one model and save them in one query; returns the audit changes
    (old and new values) for :func:`record_many`, which the caller appends with the rest of
    its write. Every row changes the same fields (those of the first change)."""
    if not changes:
        return []
    fields = list(changes[0][1])
    rows: list[models.Model] = []
    audited: list[Change] = []
    for obj, values in changes:
        if list(values) != fields:
            raise ValueError(f"update_many: every change must set {fields}, got {list(values)}")
        old = audited_snapshot(obj)
        for name, value in values.items():
            setattr(obj, name, value)
        rows.append(obj)
        audited.append((action, obj, old, audited_snapshot(obj)))
    save_fields(rows, fields)
    return audited


def update_many(
    actor: Membership | None,
    changes: list[tuple[models.Model, dict[str, Any]]],
    reason: str = "",
    action: str = "update",
) -> list[AuditEntry]:
    """Set fields of rows of one model, save them in one query, audit old and new values
    (one chained audit row each; see :func:`updated`)."""
    return record_many(actor, updated(changes, action), reason)


def update(
    actor: Membership | None,
    obj: models.Model,
    values: dict[str, Any],
    reason: str = "",
    action: str = "update",
) -> AuditEntry:
    """Set fields of one row, save only them, and audit its old and new values."""
    return update_many(actor, [(obj, values)], reason, action)[0]


@dataclass(frozen=True)
class Finding:
    """One sign of tampering: the table, row and field concerned, and what is wrong."""

    table: str
    row: str
    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.table} row {self.row} field {self.field}: {self.problem}"


@dataclass(frozen=True)
class ChainReport:
    """Result of a check: ok, rows checked, head hash, the first broken link, every finding."""

    ok: bool
    rows: int
    head: str
    broken_seq: int | None = None
    problem: str | None = None
    findings: tuple[Finding, ...] = field(default=())


def _broken(rows: int, prev: str, seq: int, column: str, problem: str) -> ChainReport:
    finding = Finding(AuditEntry._meta.db_table, str(seq), column, problem)
    return ChainReport(False, rows, prev, seq, problem, (finding,))


def store_id() -> str:
    """The store's random id (empty before its first audit row)."""
    head = by_key(AuditHead, id=1)
    return head.store if head else ""


def verify_chain(
    batch: int = 5000, visit: Callable[[AuditEntry], None] | None = None
) -> ChainReport:
    """Recompute every keyed link; report the first altered, inserted or removed row.

    ``visit`` is called with each row that links (to collect last audited values or the
    hashes an anchor names). An empty trail needs no key.
    """
    head = AuditHead.objects.filter(pk=1).first()
    store = head.store if head else ""
    key = audit_key() if AuditEntry.objects.exists() else b""
    prev, expected, rows = GENESIS, 1, 0
    last_pk = 0
    while True:
        chunk = list(AuditEntry.objects.filter(seq__gt=last_pk).order_by("seq")[:batch])
        if not chunk:
            break
        for e in chunk:
            if e.seq != expected:
                return _broken(rows, prev, expected, "seq", f"row {expected} is missing")
            if e.prev_hash != prev:
                return _broken(rows, prev, e.seq, "prev_hash", f"row {e.seq} does not link")
            if not hmac.compare_digest(_digest(key, store, prev, _fields(e)), e.hash):
                return _broken(
                    rows, prev, e.seq, "hash", f"row {e.seq} was altered (its keyed hash differs)"
                )
            if visit is not None:
                visit(e)
            prev, expected, rows = e.hash, expected + 1, rows + 1
        last_pk = chunk[-1].seq
    if head is None or head.seq != rows or head.hash != prev:
        last = "missing" if head is None else str(head.seq)
        problem = f"rows after {rows} were removed (head is {last})"
        finding = Finding(AuditHead._meta.db_table, "1", "seq", problem)
        return ChainReport(False, rows, prev, rows + 1, problem, (finding,))
    return ChainReport(True, rows, prev)


def authentic(e: AuditEntry) -> bool:
    """Whether one row's keyed hash matches its fields (it was not edited in place); a cheap
    check of a single row, not of the chain around it (:func:`verify_chain` does that)."""
    return hmac.compare_digest(_digest(audit_key(), store_id(), e.prev_hash, _fields(e)), e.hash)


def trail(actor: Membership, model: str, object_id: str) -> list[dict[str, Any]]:
    """The audit rows of one record of the actor's trial (rows of another trial's record are
    not shown, whatever the actor's role there); values that reveal an arm are hidden from
    blinded roles."""
    show = sees_arm(actor)
    rows = AuditEntry.objects.filter(model=model, object_id=str(object_id)).filter(
        Q(trial_id_ref=actor.trial_id) | Q(trial_id_ref__isnull=True)  # null: system at setup
    )
    out = []
    for e in rows.order_by("seq"):
        hidden = e.blinded and not show
        out.append(
            {
                "seq": e.seq,
                "at": plain(e.at),
                "actor": e.actor,
                "role": e.role,
                "action": e.action,
                "old": json.loads(REDACTED if hidden else e.old),
                "new": json.loads(REDACTED if hidden else e.new),
                "reason": e.reason,
            }
        )
    return out
