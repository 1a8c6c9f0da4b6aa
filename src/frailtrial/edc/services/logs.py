"""Participants' running logs: concomitant medications, protocol deviations, end of study.

Each entry is checked against its form's items (:data:`frailtrial.edc.collection.LOG_FORMS`);
its dates are trial event dates (2000 to today) and not before randomization, except a
medication's start, which may precede the trial. A correction goes through
:func:`frailtrial.edc.services.corrections.correct` (record ``logrecord``) with a reason.
"""

from __future__ import annotations

from typing import Any

from frailtrial.edc import collection
from frailtrial.edc.models import LogRecord, Membership, Participant
from frailtrial.edc.roles import CLINICAL
from frailtrial.edc.services import audit
from frailtrial.edc.services.common import now, participant, require, write
from frailtrial.edc.services.entry import check_version, clean_text, event_date, not_before
from frailtrial.errors import InputError

MAY_PRECEDE = {("concomitant_medication", "started_on")}


def log_form(name: str) -> collection.FormSpec:
    """The log form ``name`` (InputError naming the forms otherwise)."""
    if name not in collection.LOG_FORMS:
        raise InputError(f"{name!r} is not a log form ({', '.join(collection.LOG_FORMS)})")
    return collection.LOG_FORMS[name]


def _check(spec: collection.FormSpec, p: Participant, answers: dict[str, Any]) -> dict[str, Any]:
    clean_text(answers, f"{spec.name} answers")
    checked = collection.check_items(spec, answers)
    for item in spec.items:
        value = checked.get(item.id)
        if item.kind != "date" or value is None:
            continue
        day = event_date(value, f"{spec.name} {item.id}")
        if (spec.name, item.id) not in MAY_PRECEDE:
            not_before(day, p.randomized_on, f"{spec.name} {item.id}", "randomization on")
    start, end = checked.get("started_on"), checked.get("ended_on")
    if start and end and end < start:
        raise InputError(f"{spec.name}: ended_on {end} is before started_on {start}")
    return {k: v for k, v in checked.items() if v is not None}


def add(actor: Membership, participant_id: str, form: str, answers: dict[str, Any]) -> LogRecord:
    """Add an entry to a participant's log (one end of study per participant)."""
    require(actor, CLINICAL, f"adding a {form.replace('_', ' ')}")
    spec = log_form(form)
    with write(actor):
        p = participant(actor, participant_id)
        clean = _check(spec, p, answers)
        if form in collection.ONCE and LogRecord.objects.filter(participant=p, form=form).exists():
            raise InputError(
                f"{participant_id} already has an {spec.title.lower()}; correct it instead"
            )
        record = LogRecord.objects.create(participant=p, form=form, answers=clean, entered_at=now())
        audit.created(actor, record)
    return record


def correct(
    actor: Membership, record: LogRecord, answers: dict[str, Any], reason: str, version: int | None
) -> list[str]:
    """Replace a log entry's answers (inside the correction's write); the items changed."""
    spec = log_form(record.form)
    p = participant(actor, record.participant.participant_id)
    clean = _check(spec, p, answers)
    check_version(record, version, f"{spec.title.lower()} {record.pk}")
    keys = set(clean) | set(record.answers)
    changed = sorted(k for k in keys if clean.get(k) != record.answers.get(k))
    if not changed:
        raise InputError(f"{spec.title.lower()} {record.pk}: nothing differs from the record")
    audit.update(
        actor,
        record,
        {"answers": clean, "version": record.version + 1, "entered_at": now()},
        reason,
    )
    return changed


def entries(actor: Membership, participant_id: str, form: str | None = None) -> list[LogRecord]:
    """A participant's log entries (of one form when named), oldest first."""
    rows = LogRecord.objects.filter(participant=participant(actor, participant_id))
    if form is not None:
        rows = rows.filter(form=log_form(form).name)
    return list(rows.order_by("form", "pk"))
