"""``by_key`` and ``rows_by``, the services' keyed lookups with their SQL built once: the
same rows, values and Python types as the ORM's ``get``/``filter`` for every model read
(dates, datetimes, JSON, booleans, nulls), on SQLite and PostgreSQL; None when missing; a
key that is not unique refused; the joined row set as with ``select_related``; a lock only
inside a transaction (FOR UPDATE where the database has it); ``only`` fields read, the
others deferred; ``rows_by`` refuses a model with a default ordering (its order would
differ from the ORM's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from web_support import trial_with_data, web_store

pytestmark = pytest.mark.slow


def _same(a: Any, b: Any) -> None:
    """Every concrete field equal and of the same type; both read from the same database."""
    assert type(a) is type(b)
    for f in type(a)._meta.concrete_fields:
        x, y = getattr(a, f.attname), getattr(b, f.attname)
        assert (x, type(x)) == (y, type(y)), f.attname
    assert (b._state.adding, b._state.db) == (a._state.adding, a._state.db) == (False, "default")


def _check(world: dict[str, Any]) -> None:
    from django.db import connection, transaction
    from django.db.transaction import TransactionManagementError
    from django.test.utils import CaptureQueriesContext

    from frailtrial.edc.models import (
        AuditEntry,
        Crf,
        Measurement,
        Participant,
        Screening,
        Trial,
        VisitOccurrence,
    )
    from frailtrial.edc.services.rows import by_key, rows_by

    trial = world["trial"]
    p = Participant.objects.get(trial=trial, participant_id=world["pid"])
    assert p.baseline and p.first_infusion_on is not None  # JSON and dates to convert
    _same(
        Participant.objects.get(pk=p.pk),
        by_key(Participant, trial_id=trial.pk, participant_id=p.participant_id),
    )
    _same(Trial.objects.get(pk=trial.pk), by_key(Trial, id=trial.pk))
    part = by_key(Trial, only=("locked_at",), id=trial.pk)
    assert part is not None and (part.pk, part.locked_at) == (trial.pk, trial.locked_at)
    assert part.get_deferred_fields() == {
        f.attname for f in Trial._meta.concrete_fields if f.name not in ("id", "locked_at")
    }
    assert part.name == trial.name  # a deferred field is read when asked for, as with only()
    s = Screening.objects.get(trial=trial, screening_id="S-002")
    _same(s, by_key(Screening, trial_id=trial.pk, screening_id="S-002"))
    _same(Crf.objects.get(pk=world["crf"].pk), by_key(Crf, id=world["crf"].pk))
    held = VisitOccurrence.objects.select_related("participant").get(participant=p, visit="week1")
    got = by_key(
        VisitOccurrence,
        related="participant",
        participant__trial_id=trial.pk,
        participant__participant_id=p.participant_id,
        visit="week1",
    )
    assert got is not None and held.occurred_on is not None
    _same(held, got)
    with CaptureQueriesContext(connection) as queries:
        _same(held.participant, got.participant)  # read with the visit, no query of its own
    assert not queries.captured_queries

    orm = list(Measurement.objects.filter(participant=p, visit="week1"))
    ours = rows_by(Measurement, participant_id=p.pk, visit="week1")
    assert len(orm) == len(ours) > 0
    for a, b in zip(orm, ours, strict=True):
        _same(a, b)
    assert rows_by(Measurement, participant_id=p.pk, visit="no-such-visit") == []
    with pytest.raises(ValueError, match="default ordering"):
        rows_by(AuditEntry, seq=1)

    assert by_key(Participant, trial_id=trial.pk, participant_id="ZZZ-999") is None
    assert by_key(VisitOccurrence, participant_id=p.pk, visit="no-such-visit") is None
    with pytest.raises(ValueError, match="not a unique key"):
        by_key(VisitOccurrence, participant_id=p.pk)

    if connection.features.has_select_for_update:
        with pytest.raises(TransactionManagementError):
            by_key(VisitOccurrence, lock=True, participant_id=p.pk, visit="week1")
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        _same(held, by_key(VisitOccurrence, lock=True, participant_id=p.pk, visit="week1"))
    locks = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    assert len(locks) == (1 if connection.features.has_select_for_update else 0)


def test_by_key_reads_as_the_orm_on_sqlite(tmp_path: Path) -> None:
    web_store(tmp_path)
    _check(trial_with_data())


@pytest.mark.postgres
def test_by_key_reads_as_the_orm_on_postgresql(pg_url: str) -> None:
    from frailtrial.web.config import setup

    setup(pg_url)
    _check(trial_with_data())
