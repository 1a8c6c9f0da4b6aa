"""The pre-lock checklist: what must be settled before the database is locked.

The lock is refused while an SAE is not acknowledged, a data query is not closed, a planned
CRF of a held visit is missing or incomplete (``completeness``), or a trial date lies after
the lock date, unless each item is accepted with a reason (a ``LockException``, audited).
The lock (``trials.lock``: the web confirmation step and ``frailtrial edc lock``) accepts
the items given and is refused by what :func:`accept` returns still open.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Model

from frailtrial.edc.models import (
    AdverseEvent,
    AeFollowUp,
    Consent,
    DataQuery,
    Infusion,
    LockException,
    Membership,
    Participant,
    SaeAlert,
    Screening,
    VisitOccurrence,
)
from frailtrial.edc.services import audit
from frailtrial.edc.services.common import audited_snapshot, now
from frailtrial.edc.services.completeness import completeness_of
from frailtrial.edc.services.entry import clean_text
from frailtrial.edc.services.rows import insert
from frailtrial.errors import InputError

REASON_MAX = 500


@dataclass(frozen=True)
class Blocker:
    """One checklist item: a stable key (to accept it by), its kind and what it is."""

    key: str
    kind: str  # sae, query, crf, date
    text: str
    parts: Mapping[str, Any] = dataclasses.field(
        default_factory=dict
    )  # what ``text`` says, for a page
    # to word it in its own language


# (model, date field, path from the row to its participant id or screening id, label)
DATED: tuple[tuple[type[Model], str, str, str], ...] = (
    (Screening, "screened_on", "screening_id", "screening"),
    (Consent, "signed_on", "screening__screening_id", "consent"),
    (Participant, "randomized_on", "participant_id", "randomization"),
    (Participant, "withdrawn_on", "participant_id", "withdrawal"),
    (Infusion, "given_on", "participant__participant_id", "infusion"),
    (VisitOccurrence, "occurred_on", "participant__participant_id", "visit"),
    (AdverseEvent, "onset_on", "participant__participant_id", "adverse event onset"),
    (AdverseEvent, "end_on", "participant__participant_id", "adverse event end"),
    (AeFollowUp, "on", "adverse_event__participant__participant_id", "adverse event follow-up"),
)


def _trial_filter(model: type[Model], trial_id: int) -> dict[str, Any]:
    if model in (Screening, Participant):
        return {"trial_id": trial_id}
    if model is Consent:
        return {"screening__trial_id": trial_id}
    if model is AeFollowUp:
        return {"adverse_event__participant__trial_id": trial_id}
    return {"participant__trial_id": trial_id}


def blockers(actor: Membership, lock_date: dt.date) -> list[Blocker]:
    """Every checklist item of the actor's trial (accepted or not), in a fixed order."""
    trial_id = actor.trial_id
    found: list[Blocker] = []
    alerts = SaeAlert.objects.filter(
        adverse_event__participant__trial_id=trial_id,
        adverse_event__voided_at=None,
        acknowledged_at__isnull=True,
    ).select_related("adverse_event__participant")
    for a in alerts.order_by("pk"):
        ae = a.adverse_event
        found.append(
            Blocker(
                f"sae:{ae.pk}",
                "sae",
                f"SAE not acknowledged: {ae.participant.participant_id} {ae.term} "
                f"(due {a.due_by:%Y-%m-%d %H:%M} UTC)",
                {"pid": ae.participant.participant_id, "term": ae.term, "due": a.due_by},
            )
        )
    queries = DataQuery.objects.filter(trial_id=trial_id).exclude(status="closed")
    for q in queries.select_related("participant").order_by("pk"):
        found.append(
            Blocker(
                f"query:{q.pk}",
                "query",
                f"query {q.pk} {q.status}: {q.participant.participant_id} {q.model} "
                f"{q.object_id} field {q.field}",
                {"n": q.pk, "status": q.status, "pid": q.participant.participant_id},
            )
        )
    for form in completeness_of(actor.trial).open:
        who = f"{form.participant_id}/{form.visit}/{form.form}"
        shown = f"{form.participant_id}, {form.visit_label or form.visit}, {form.title}"
        text = f"CRF missing: {shown}"
        if form.state == "incomplete":
            text = f"CRF incomplete: {shown} (empty: {', '.join(form.missing_items)})"
        found.append(Blocker(f"crf:{who}", "crf", text, {"form": form}))
    for model, field, owner, label in DATED:
        rows = model.objects.filter(
            **_trial_filter(model, trial_id), **{f"{field}__gt": lock_date}
        ).values_list("pk", field, owner)
        for pk, day, who in rows.order_by("pk"):
            found.append(
                Blocker(
                    f"date:{model._meta.model_name}:{pk}:{field}",
                    "date",
                    f"{label} of {who} dated {day}, after the lock date {lock_date}",
                    {"what": label, "who": who, "day": day, "lock_date": lock_date},
                )
            )
    return found


def accepted(actor: Membership) -> dict[str, LockException]:
    """The checklist items of the trial accepted so far, by key."""
    rows = LockException.objects.filter(trial_id=actor.trial_id).select_related("by__user")
    return {row.key: row for row in rows}


def accept(actor: Membership, items: dict[str, str], lock_date: dt.date) -> list[Blocker]:
    """Accept checklist items (key -> reason), each audited; call inside the lock's write
    transaction. A key that is not on the checklist or a blank reason is refused. Returns
    the items still open (the checklist is built once: the CRF completeness is the costly
    part)."""
    listed = blockers(actor, lock_date)
    current = {b.key: b for b in listed}
    done = accepted(actor)
    new = []
    for key, reason in items.items():
        reason = reason.strip()
        if key not in current:
            raise InputError(f"{key!r} is not on the pre-lock checklist")
        if not reason or len(reason) > REASON_MAX:
            raise InputError(f"accepting {key} needs a reason of 1-{REASON_MAX} characters")
        clean_text(reason, f"reason for accepting {key}")
        if key not in done:
            new.append((key, reason))
    at = now()
    rows = insert(
        [
            LockException(
                trial_id=actor.trial_id,
                key=key,
                text=current[key].text,
                reason=reason,
                by=actor,
                at=at,
            )
            for key, reason in new
        ]
    )
    # audited row by row (integrity.CHECKED), each with its own reason: one append of the
    # chain per distinct reason (a lock accepts hundreds of items, mostly for one reason)
    by_reason: dict[str, list[audit.Change]] = {}
    for row in rows:
        change = ("accept", row, None, audited_snapshot(row))
        by_reason.setdefault(row.reason, []).append(change)
    for reason, changes in by_reason.items():
        audit.record_many(actor, changes, reason)
    settled = set(done) | set(items)
    return [b for b in listed if b.key not in settled]


def open_blockers(actor: Membership, lock_date: dt.date) -> list[Blocker]:
    """The checklist items not accepted: the lock is refused while any remains."""
    done = accepted(actor)
    return [b for b in blockers(actor, lock_date) if b.key not in done]


def refusal(items: list[Blocker]) -> str:
    """The one-line refusal naming what blocks the lock."""
    listed = "; ".join(f"{b.key} ({b.text})" for b in items)
    return (
        f"lock refused: {len(items)} pre-lock checklist item(s) not settled nor accepted "
        f"with a reason: {listed}"
    )
