"""What every workflow shares: role checks, the write transaction, snapshots, the protocol."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.models import signals
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from frailtrial.edc.errors import AccessDenied, TrialLocked
from frailtrial.edc.models import Membership, Participant, Trial
from frailtrial.edc.roles import CLINICAL as CLINICAL  # the services' role checks import it here
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol, parse

M = TypeVar("M", bound=models.Model)


def require(actor: Membership, roles: Iterable[str], what: str) -> None:
    """Refuse unless the actor holds one of ``roles``."""
    allowed = tuple(roles)
    if actor.role not in allowed:
        raise AccessDenied(f"{what} needs the role {' or '.join(allowed)}; you are {actor.role}")


def require_site(actor: Membership, site_id: int, what: str) -> None:
    """Refuse when the actor is limited to a site other than ``site_id`` (``what`` is there)."""
    if actor.site_id is not None and actor.site_id != site_id:
        raise AccessDenied(f"{what} is not at your site")


def missing(actor: Membership, what: str, message: str) -> Exception:
    """The error for a record the actor looked up and the trial lacks: ``message`` as bad
    input, but for a member limited to a site the same refusal as for another site's record,
    so a site's member cannot probe which ids exist at other sites."""
    if actor.site_id is not None:
        return AccessDenied(f"{what} is not at your site")
    return InputError(message)


# libyaml's safe loader when PyYAML has it (ten times faster; same documents, same types)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=32)
def _parse(sha: str, text: str) -> Protocol:
    return parse(yaml.load(text, Loader=_SAFE_LOADER), f"trial snapshot {sha[:12]}")


def protocol_of(trial: Trial) -> Protocol:
    """The protocol snapshot stored with the trial."""
    return _parse(trial.protocol_sha256, trial.protocol_yaml)


def sees_arm(actor: Membership) -> bool:
    """Whether the actor may read an arm: an unblinded role, or the statistician once unblinded."""
    protocol = protocol_of(actor.trial)
    if actor.role in protocol.blinding.unblinded_roles:
        return True
    return actor.role == "statistician" and actor.unblinded_for_analysis_at is not None


def now() -> dt.datetime:
    return timezone.now()


@contextmanager
def write(actor: Membership) -> Iterator[Trial]:
    """One write transaction on the actor's trial; refused once the trial is locked.

    On SQLite the transaction begins IMMEDIATE (write lock taken at BEGIN); on PostgreSQL the
    audit head row is locked FOR UPDATE when the audit row is appended, which orders writers.
    """
    with transaction.atomic():
        trial = actor.trial
        stored = by_key(Trial, only=("locked_at",), id=actor.trial_id)  # as stored now
        if stored is None:
            raise InputError(f"trial {trial.name} is not in this store")
        if stored.locked_at is not None:
            raise TrialLocked(f"trial {trial.name} is locked since {stored.locked_at:%Y-%m-%d}")
        yield trial


def plain(value: Any) -> Any:
    """A JSON-ready form of a field value (dates as ISO text)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def snapshot(obj: models.Model) -> dict[str, Any]:
    """Every concrete field of a row, foreign keys by id, as JSON-ready values."""
    out: dict[str, Any] = {}
    for f in obj._meta.concrete_fields:
        out[f.attname] = plain(getattr(obj, f.attname))
    return out


# Fields audited as a SHA-256 digest, never in clear: the audit trail is readable by
# oversight roles, and the minimization secret would let a reader predict allocations.
SECRET_FIELDS = {"trial": ("minimization_secret",)}


def audited_snapshot(obj: models.Model) -> dict[str, Any]:
    """``snapshot`` with each secret field replaced by ``sha256:<hex>`` of its value, so the
    integrity check can still tell a rewritten secret from the audited one."""
    out = snapshot(obj)
    for name in SECRET_FIELDS.get(obj._meta.model_name or "", ()):
        out[name] = secret_digest(out[name])
    return out


def secret_digest(value: Any) -> str:
    """The audited form of a secret field."""
    return "sha256:" + hashlib.sha256(str(value).encode("utf-8")).hexdigest()


def parse_date(value: str | dt.date, what: str) -> dt.date:
    """A date from ISO text or a date, within 1900-2100 (what exports and pandas can hold);
    InputError naming the field otherwise."""
    if isinstance(value, dt.datetime):
        day = value.date()
    elif isinstance(value, dt.date):
        day = value
    else:
        try:
            day = dt.date.fromisoformat(str(value))
        except ValueError:
            raise InputError(f"{what}: {value!r} is not a date YYYY-MM-DD") from None
    if not dt.date(1900, 1, 1) <= day <= dt.date(2100, 12, 31):
        raise InputError(f"{what}: {day.isoformat()} is outside 1900-01-01 to 2100-12-31")
    return day


@dataclass(frozen=True)
class _KeyedSelect:
    """The SELECT of :func:`by_key` for one model, key and database kind: its SQL text, the
    key fields, each model read (the row's, then the joined one's) with its columns, and
    the (position, column, converters) of the columns whose values Django converts (dates
    on SQLite, JSON)."""

    sql: str
    keys: tuple[Any, ...]
    models: tuple[tuple[type[models.Model], tuple[str, ...]], ...]
    converted: tuple[tuple[int, Any, tuple[Any, ...]], ...]


_keyed_selects: dict[tuple[Any, ...], _KeyedSelect] = {}


def _keyed_select(
    model: type[models.Model],
    keys: tuple[str, ...],
    related: str | None,
    lock: bool,
    one: bool,
    only: tuple[str, ...] | None,
) -> _KeyedSelect:
    """The :class:`_KeyedSelect` of a lookup (of one row: LIMIT 2; of the key and the
    ``only`` fields of the row when given), made once per process."""
    cache_key = (model, keys, related, connection.vendor, lock, one, only)
    if cache_key in _keyed_selects:
        return _keyed_selects[cache_key]
    q = connection.ops.quote_name
    tables = [(model, model._meta.db_table)]
    joins = ""
    if related is not None:
        fk = model._meta.get_field(related)
        other = fk.related_model
        tables.append((other, other._meta.db_table))
        joins = (
            f" INNER JOIN {q(other._meta.db_table)} ON {q(model._meta.db_table)}."
            f"{q(fk.column)} = {q(other._meta.db_table)}.{q(other._meta.pk.column)}"
        )
    key_fields, where = [], []
    for key in keys:
        name, _, sub = key.partition("__")
        m, table = tables[1] if sub else tables[0]
        field = m._meta.get_field(sub or name)
        key_fields.append(field)
        where.append(f"{q(table)}.{q(field.column)} = %s")
    read = {
        m: [
            f
            for f in m._meta.concrete_fields
            if m is not model or only is None or f.primary_key or f.name in only
        ]
        for m, _ in tables
    }
    columns = [(f, table) for m, table in tables for f in read[m]]
    sql = (
        f"SELECT {', '.join(f'{q(table)}.{q(f.column)}' for f, table in columns)} "
        f"FROM {q(model._meta.db_table)}{joins} WHERE {' AND '.join(where)}"
        + (" LIMIT 2" if one else "")
        + (" FOR UPDATE" if lock else "")
    )
    converted = []
    for i, (f, table) in enumerate(columns):
        col = f.get_col(table)
        converters = connection.ops.get_db_converters(col) + f.get_db_converters(connection)
        if converters:
            converted.append((i, col, tuple(converters)))
    made = _KeyedSelect(
        sql,
        tuple(key_fields),
        tuple((m, tuple(f.attname for f in read[m])) for m, _ in tables),
        tuple(converted),
    )
    _keyed_selects[cache_key] = made
    return made


def _read(
    model: type[M],
    lock: bool,
    related: str | None,
    one: bool,
    equals: dict[str, Any],
    only: tuple[str, ...] | None = None,
) -> list[M]:
    """The rows of :func:`by_key` and :func:`rows_by`."""
    lock = lock and connection.features.has_select_for_update
    if lock and connection.get_autocommit():
        raise TransactionManagementError("a locking read outside a transaction")
    plan = _keyed_select(model, tuple(equals), related, lock, one, only)
    params = [
        f.get_db_prep_value(v, connection) for f, v in zip(plan.keys, equals.values(), strict=True)
    ]
    with connection.cursor() as cur:
        cur.execute(plan.sql, params)
        fetched = cur.fetchall()
    out: list[M] = []
    for row in fetched:
        values = list(row)
        for i, col, converters in plan.converted:
            for convert in converters:
                values[i] = convert(values[i], col, connection)
        found, start = [], 0
        for m, attnames in plan.models:
            end = start + len(attnames)
            found.append(m.from_db(connection.alias, attnames, values[start:end]))
            start = end
        if related is not None:
            setattr(found[0], related, found[1])
        out.append(found[0])
    return out


def by_key(
    model: type[M],
    lock: bool = False,
    related: str | None = None,
    only: tuple[str, ...] | None = None,
    **equals: Any,
) -> M | None:
    """The row of ``model`` whose fields equal ``equals`` (a unique key; foreign keys by
    id), or None. ``related`` names a foreign key whose row is read in the same query (as
    ``select_related``), and ``related__field`` keys are that row's fields; ``lock`` locks
    the row for the write transaction (FOR UPDATE where the database has it, as
    ``select_for_update``); ``only`` reads just those fields (and the key; the others are
    deferred, as with ``only``). The same rows, values and conversions as the ORM's ``get``, but
    the SQL is built once per model and key: the services' hot lookups (participant,
    visit) cost a query, not the building of one (five times as much)."""
    rows = _read(model, lock, related, True, equals, only)
    if len(rows) > 1:
        raise ValueError(f"{model.__name__} by {', '.join(equals)}: not a unique key")
    return rows[0] if rows else None


def rows_by(model: type[M], **equals: Any) -> list[M]:
    """Every row of ``model`` whose fields equal ``equals``, in the database's order (as
    ``filter(**equals)`` of a model without a default ordering); see :func:`by_key`."""
    if model._meta.ordering:
        raise ValueError(f"rows_by: {model.__name__} has a default ordering; use the ORM")
    return _read(model, False, None, False, equals)


def insert(rows: list[M]) -> list[M]:
    """Store new rows of one model, as ``bulk_create`` (or ``save`` of each) stores them:
    each value prepared by its field as Django's insert prepares it (related rows' ids,
    defaults, ``auto_now_add``, JSON), the primary keys read back (RETURNING) and set; but
    one INSERT statement built from the model's fields, not by the ORM's query compiler per
    call. A model watched by save signals, or a database that cannot return the keys of a
    multi-row insert, is saved through ``save``. Returns ``rows``."""
    if not rows:
        return rows
    model = type(rows[0])
    db = connections[DEFAULT_DB_ALIAS]
    if (
        signals.pre_save.has_listeners(model)
        or signals.post_save.has_listeners(model)
        or not db.features.can_return_rows_from_bulk_insert
    ):
        for row in rows:
            row.save(force_insert=True)
        return rows
    meta = model._meta
    pk = meta.pk
    fields = [f for f in meta.concrete_fields if f is not pk]
    q = db.ops.quote_name
    marks = "(" + ", ".join(["%s"] * len(fields)) + ")"
    head = f"INSERT INTO {q(meta.db_table)} ({', '.join(q(f.column) for f in fields)}) VALUES "
    size = db.ops.bulk_batch_size(fields, rows) or len(rows)
    for start in range(0, len(rows), size):
        batch = rows[start : start + size]
        params = []
        for row in batch:
            if row.pk is not None or type(row) is not model:
                raise ValueError(f"insert: {row!r} is not a new {model.__name__}")
            row._prepare_related_fields_for_save(operation_name="insert")
            params += [f.get_db_prep_save(f.pre_save(row, True), db) for f in fields]
        sql = f"{head}{', '.join([marks] * len(batch))} RETURNING {q(pk.column)}"
        with db.cursor() as cur:
            cur.execute(sql, params)
            keys = cur.fetchall()
        for row, (key,) in zip(batch, keys, strict=True):
            row.pk = key
            row._state.adding, row._state.db = False, db.alias
    return rows


def create(model: type[M], **values: Any) -> M:
    """One new row stored by :func:`insert` (as ``model.objects.create(**values)``)."""
    return insert([model(**values)])[0]


def unique_row(rows: models.QuerySet[M]) -> M | None:
    """The row of a query on a unique key, or None: a slice, without the ORDER BY that
    ``first()`` adds (building and running it cost a hot path's time for nothing)."""
    return next(iter(rows[:1]), None)


def participant(actor: Membership, participant_id: str) -> Participant:
    """The actor's participant by id (site rules applied)."""
    p = by_key(Participant, trial_id=actor.trial_id, participant_id=participant_id)
    if p is None:
        what, message = f"participant {participant_id}", f"no participant {participant_id!r}"
        raise missing(actor, what, message + " in this trial")
    require_site(actor, p.site_id, f"participant {participant_id}")
    return p
