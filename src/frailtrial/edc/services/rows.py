"""Rows read and written by statements built once per model, not by the ORM's query
compiler on every call: the services' hot paths (a save reads its participant and visit,
stores a few rows and updates a few fields). Each gives the rows, values and Python types
the ORM's ``get``/``filter``/``create``/``save(update_fields=...)`` give (tested against
them on SQLite and PostgreSQL); models watched by save signals are written through
``save``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, models
from django.db.models import signals
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=models.Model)


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
    deferred, as with the ORM's ``only``). The same rows, values and conversions as the
    ORM's ``get``, but the SQL is built once per model and key: the services' hot lookups
    (participant, visit) cost a query, not the building of one (five times as much)."""
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


def save_fields(rows: list[models.Model], names: list[str]) -> None:
    """Store fields of saved rows of one model: one UPDATE by primary key run for every row
    (a statement built once, not Django's CASE per row and field of ``bulk_update``), each
    value prepared as ``save(update_fields=...)`` prepares it. A model whose saves are
    watched by signals (accounts: the password audit) is saved through ``save``."""
    if not rows:
        return
    model = type(rows[0])
    if signals.pre_save.has_listeners(model) or signals.post_save.has_listeners(model):
        for row in rows:
            row.save(update_fields=names)
        return
    meta = model._meta
    db = connections[DEFAULT_DB_ALIAS]
    q = db.ops.quote_name
    fields = [meta.get_field(n) for n in names]
    sets = ", ".join(f"{q(f.column)} = %s" for f in fields)
    sql = f"UPDATE {q(meta.db_table)} SET {sets} WHERE {q(meta.pk.column)} = %s"
    params = [
        [f.get_db_prep_save(f.pre_save(row, False), db) for f in fields]
        + [meta.pk.get_db_prep_value(row.pk, db)]
        for row in rows
    ]
    with db.cursor() as cur:
        cur.executemany(sql, params)
        if cur.rowcount != len(rows):
            raise DatabaseError(f"{meta.label}: {len(rows) - cur.rowcount} row(s) to save are gone")
