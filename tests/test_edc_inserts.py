"""``insert``/``create``, the services' insert with its statement built from the model once:
rows stored exactly as the ORM's ``create``/``bulk_create`` store them (JSON, dates,
datetimes, related ids, defaults), keys read back in order across batches, on SQLite and
PostgreSQL; an unsaved related row or a row already saved refused; a model watched by save
signals saved through ``save`` (receivers run)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from edc_support import dose_first, enroll, new_trial, sqlite_url, use_store

pytestmark = pytest.mark.slow


def _stored(row: Any) -> dict[str, Any]:
    """A row as read back from the database by the ORM, without its key."""
    fresh = type(row).objects.get(pk=row.pk)
    return {
        f.attname: (getattr(fresh, f.attname), type(getattr(fresh, f.attname)))
        for f in type(row)._meta.concrete_fields
        if not f.primary_key
    }


def _check() -> None:
    from django.db.models.signals import post_save

    from frailtrial.edc.models import Measurement, Preparation, Screening, Site
    from frailtrial.edc.services.rows import create, insert

    t = new_trial()
    pid = enroll(t, "S-001").participant_id
    dose_first(t, pid)
    trial, site = t["trial"], Site.objects.filter(trial=t["trial"]).first()
    values: dict[str, Any] = {
        "trial": trial,
        "site": site,
        "screened_on": dt.date(2024, 3, 1),
        "inputs": {"age": 71.5, "labs": {"alt": 20}, "sex": "female", "ok": [True, None]},
        "eligible": False,
        "reasons": ["age above 85"],
        "reason_not_randomized": "age above 85",
        "closed": True,
    }
    ours = create(Screening, screening_id="S-900", **values)
    theirs = Screening.objects.create(screening_id="S-901", **values)
    assert ours.pk is not None and not ours._state.adding and ours._state.db == "default"
    mine, orm = _stored(ours), _stored(theirs)
    assert (mine.pop("screening_id"), orm.pop("screening_id")) == (("S-900", str), ("S-901", str))
    assert mine == orm

    prep = Preparation.objects.get(participant__trial=t["trial"], participant__participant_id=pid)
    copy = {
        f.name: getattr(prep, f.name)
        for f in Preparation._meta.concrete_fields
        if f.name not in ("id", "dose_number", "kit_code")
    }
    ours = create(Preparation, dose_number=7, kit_code="KIT-MINE0001", **copy)
    theirs = Preparation.objects.create(dose_number=8, kit_code="KIT-ORM00001", **copy)
    mine, orm = _stored(ours), _stored(theirs)
    for key in ("dose_number", "kit_code"):
        mine.pop(key), orm.pop(key)
    assert mine == orm and isinstance(mine["prepared_at"][0], dt.datetime)

    p = prep.participant
    rows = [
        Measurement(participant=p, visit=f"v{i // 3}", variable=f"x{i % 3}", value=i / 7, unit="u")
        for i in range(600)  # several batches on SQLite (999 parameters a statement)
    ]
    insert(rows)
    keys = [r.pk for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == 600
    back = {m.pk: (m.visit, m.variable, m.value) for m in Measurement.objects.filter(pk__in=keys)}
    assert [back[r.pk] for r in rows] == [(r.visit, r.variable, r.value) for r in rows]

    with pytest.raises(ValueError, match="unsaved related object"):
        insert([Measurement(participant=type(p)(), visit="v", variable="x", value=1.0)])
    with pytest.raises(ValueError, match="is not a new Measurement"):
        insert([rows[0]])

    seen: list[str] = []

    def watch(sender: Any, instance: Any, created: bool, **_: Any) -> None:
        seen.append(f"{instance.code} {created}")

    post_save.connect(watch, sender=Site, dispatch_uid="test-watch-insert")
    try:
        create(Site, trial=trial, name="Watched Hospital", code="WAT")
    finally:
        post_save.disconnect(sender=Site, dispatch_uid="test-watch-insert")
    assert seen == ["WAT True"]


def test_insert_stores_as_the_orm_on_sqlite(tmp_path: Path) -> None:
    use_store(sqlite_url(tmp_path))
    _check()


@pytest.mark.postgres
def test_insert_stores_as_the_orm_on_postgresql(pg_url: str) -> None:
    use_store(pg_url)
    _check()
