"""Audited updates store their fields with one UPDATE per row built once (not Django's
``bulk_update``): the rows read back as set, other fields untouched, the audit rows hold old
and new values and the chain verifies (SQLite and PostgreSQL); a row that is gone is an
error, not a silent no-op; a model whose saves are watched by signals is saved through
``save`` (receivers run)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError

from edc_support import dose_first, enroll, new_trial, sqlite_url, use_store

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """A fresh SQLite store, or the session's PostgreSQL store."""
    if request.param == "sqlite":
        use_store(sqlite_url(tmp_path))
    else:
        use_store(request.getfixturevalue("pg_url"))


def test_updates_store_the_set_fields_and_audit_them(store: None) -> None:
    from frailtrial.edc.models import AuditEntry, VisitOccurrence
    from frailtrial.edc.services import audit

    t = new_trial()
    pid = enroll(t, "S-001").participant_id
    admin = t["m"]["admin"]
    rows = list(
        VisitOccurrence.objects.filter(
            participant__trial=t["trial"], participant__participant_id=pid
        ).order_by("id")
    )
    before = {v.pk: (v.visit, v.order, v.window_from, v.window_to) for v in rows}
    day = dt.date(2024, 5, 1)
    changes: list[tuple[Any, dict[str, Any]]] = [
        (v, {"target_on": day + dt.timedelta(days=i), "reason": f"moved {i}", "version": 7})
        for i, v in enumerate(rows)
    ]
    last = AuditEntry.objects.order_by("-seq").first()
    assert last is not None
    audit.update_many(admin, changes, "test")
    stored = list(VisitOccurrence.objects.filter(pk__in=before).order_by("id"))
    assert [(v.target_on, v.reason, v.version) for v in stored] == [
        (day + dt.timedelta(days=i), f"moved {i}", 7) for i in range(len(rows))
    ]
    assert {v.pk: (v.visit, v.order, v.window_from, v.window_to) for v in stored} == before
    new = AuditEntry.objects.filter(seq__gt=last.seq).order_by("seq")
    assert [(e.action, e.object_id) for e in new] == [("update", str(v.pk)) for v in rows]
    assert '"reason":"moved 1"' in new[1].new and '"reason":""' in new[1].old
    assert audit.verify_chain().ok

    dose_first(t, pid)  # one row (the participant's first infusion) through the same path
    assert VisitOccurrence.objects.get(pk=rows[0].pk).target_on != day
    assert audit.verify_chain().ok


def test_a_row_that_is_gone_is_an_error(tmp_path: Path) -> None:
    use_store(sqlite_url(tmp_path))
    from frailtrial.edc.models import VisitOccurrence
    from frailtrial.edc.services import audit

    t = new_trial()
    pid = enroll(t, "S-001").participant_id
    v = VisitOccurrence.objects.filter(participant__participant_id=pid).first()
    assert v is not None
    ghost = VisitOccurrence.objects.get(pk=v.pk)
    ghost.pk = 10**9
    with pytest.raises(DatabaseError, match="1 row"):
        audit.updated([(v, {"reason": "x"}), (ghost, {"reason": "y"})])


def test_a_model_watched_by_signals_is_saved_through_save(tmp_path: Path) -> None:
    use_store(sqlite_url(tmp_path))
    from django.db.models.signals import post_save

    from frailtrial.edc.models import Site
    from frailtrial.edc.services import audit

    t = new_trial()
    site = Site.objects.filter(trial=t["trial"]).first()
    assert site is not None
    seen: list[tuple[str, Any]] = []

    def watch(sender: Any, instance: Any, update_fields: Any, **_: Any) -> None:
        seen.append((instance.name, sorted(update_fields)))

    post_save.connect(watch, sender=Site, dispatch_uid="test-watch-site")
    try:
        audit.update(t["m"]["admin"], site, {"name": "Renamed Hospital"}, "test")
    finally:
        post_save.disconnect(sender=Site, dispatch_uid="test-watch-site")
    assert seen == [("Renamed Hospital", ["name"])]
    assert Site.objects.get(pk=site.pk).name == "Renamed Hospital"
