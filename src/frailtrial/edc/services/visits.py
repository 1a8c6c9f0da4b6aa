"""Visit schedule anchored on the first infusion, attended and missed visits, withdrawal."""

from __future__ import annotations

import datetime as dt
from typing import Any

from frailtrial.edc.models import Membership, Participant, VisitOccurrence
from frailtrial.edc.roles import CLINICAL, ENTRY
from frailtrial.edc.services import audit
from frailtrial.edc.services.common import (
    participant,
    protocol_of,
    require,
    write,
)
from frailtrial.edc.services.entry import (
    check_version,
    clean_text,
    event_date,
    not_before,
)
from frailtrial.edc.services.rows import by_key, insert
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol


def study_day(anchor: dt.date, day: dt.date) -> int:
    """Study day of a date: day 1 is the anchor (first infusion); the day before is -1."""
    delta = (day - anchor).days
    return delta + 1 if delta >= 0 else delta


def _targets(protocol: Protocol, anchor: dt.date) -> dict[str, tuple[dt.date, dt.date, dt.date]]:
    out = {}
    for v in protocol.assessment_visits:
        target = anchor + dt.timedelta(days=v.day - 1)
        out[v.name] = (
            target,
            target - dt.timedelta(days=v.window_before),
            target + dt.timedelta(days=v.window_after),
        )
    return out


def create_schedule(
    actor: Membership, p: Participant, protocol: Protocol, anchor: dt.date
) -> list[VisitOccurrence]:
    """The participant's visits with windows, anchored on the planned day 1 (inside a write)."""
    rows = [
        VisitOccurrence(
            participant=p,
            visit=name,
            order=i,
            target_on=t,
            window_from=lo,
            window_to=hi,
        )
        for i, (name, (t, lo, hi)) in enumerate(_targets(protocol, anchor).items())
    ]
    insert(rows)
    audit.record(
        actor,
        "create",
        ("schedule", str(p.pk)),
        None,
        {
            r.visit: [r.target_on.isoformat(), r.window_from.isoformat(), r.window_to.isoformat()]
            for r in rows
        },
    )
    return rows


def reanchor(actor: Membership, p: Participant, first_infusion: dt.date) -> None:
    """Anchor the schedule on the actual first infusion: visits not yet held move their target
    and window; visits already held (e.g. a baseline before dosing) count their study day
    from it, as visits held later do."""
    targets = _targets(protocol_of(actor.trial), first_infusion)
    fields = ("target_on", "window_from", "window_to")
    moved: list[tuple[VisitOccurrence, dict[str, Any]]] = []
    recounted: list[tuple[VisitOccurrence, dict[str, Any]]] = []
    for v in VisitOccurrence.objects.filter(participant=p, status__in=("scheduled", "attended")):
        if v.status == "scheduled":
            moved.append((v, dict(zip(fields, targets[v.visit], strict=True))))
        elif v.occurred_on is not None and v.day != study_day(first_infusion, v.occurred_on):
            recounted.append((v, {"day": study_day(first_infusion, v.occurred_on)}))
    reason = "schedule anchored on first infusion"
    audit.update_many(actor, moved, reason)
    audit.update_many(actor, recounted, reason)


def anchor_of(p: Participant) -> dt.date:
    """Day 1 of the participant: the first infusion, else the randomization date (planned)."""
    return p.first_infusion_on or p.randomized_on


def occurrence(p: Participant, visit: str, lock: bool = False) -> VisitOccurrence:
    """The participant's visit by name (row-locked for a change when ``lock``)."""
    v = by_key(VisitOccurrence, lock=lock, participant_id=p.pk, visit=visit)
    if v is None:
        names = ", ".join(
            VisitOccurrence.objects.filter(participant=p).values_list("visit", flat=True)
        )
        raise InputError(f"visit {visit!r} is not scheduled for {p.participant_id} ({names})")
    return v


def _check_order(protocol: Protocol, p: Participant, v: VisitOccurrence, day: dt.date) -> None:
    """A visit after day 1 is held after randomization and the first infusion (a baseline
    visit may precede both; its window bounds it)."""
    planned = {s.name: s.day for s in protocol.assessment_visits}
    if planned.get(v.visit, 2) > 1:
        not_before(day, p.randomized_on, "visit date", "the randomization date")
        not_before(day, p.first_infusion_on, "visit date", "the first infusion")


def attend(
    actor: Membership,
    participant_id: str,
    visit: str,
    on: str | dt.date,
    reason: str | None = None,
    version: int | None = None,
    correction: str | None = None,
) -> VisitOccurrence:
    """Record a visit as held on a date; its study day and whether it fell in the window.

    A date outside the window needs the deviation ``reason``; changing the date of a visit
    already held is made on its stored ``version`` (Conflict when it changed in between),
    audited with the ``correction`` reason when one is given."""
    require(actor, ENTRY, "recording a visit")
    day = event_date(on, "visit date")
    reason = (reason or "").strip()
    clean_text(reason, "deviation reason")
    with write(actor):
        p = participant(actor, participant_id)
        v = occurrence(p, visit, lock=True)
        if v.status in ("missed", "withdrawn"):
            raise InputError(f"visit {visit} of {participant_id} is {v.status}")
        if v.status == "attended":
            check_version(v, version, f"visit {visit} of {participant_id}")
        if p.withdrawn_on is not None and day > p.withdrawn_on:
            raise InputError(f"{participant_id} withdrew on {p.withdrawn_on}")
        _check_order(protocol_of(actor.trial), p, v, day)  # p is of the actor's trial
        in_window = v.window_from <= day <= v.window_to
        if not in_window and not reason:
            raise InputError(
                f"visit {visit} on {day} is outside its window {v.window_from} to "
                f"{v.window_to}; give the deviation reason"
            )
        audit.update(
            actor,
            v,
            {
                "status": "attended",
                "occurred_on": day,
                "day": study_day(anchor_of(p), day),
                "in_window": in_window,
                "reason": "" if in_window else reason,
                "version": v.version + 1,
            },
            correction or ("" if in_window else reason),
        )
    return v


def miss(actor: Membership, participant_id: str, visit: str, reason: str) -> VisitOccurrence:
    """Record a visit as missed, with the reason."""
    require(actor, CLINICAL, "recording a missed visit")
    if not reason.strip():
        raise InputError("a missed visit needs a reason")
    clean_text(reason, "reason missed")
    with write(actor):
        p = participant(actor, participant_id)
        v = occurrence(p, visit)
        if v.status != "scheduled":
            raise InputError(f"visit {visit} of {participant_id} is already {v.status}")
        audit.update(
            actor, v, {"status": "missed", "reason": reason, "version": v.version + 1}, reason
        )
    return v


def withdraw(actor: Membership, participant_id: str, on: str | dt.date, reason: str) -> Participant:
    """Withdraw a participant: date and reason; visits not yet held become withdrawn."""
    require(actor, CLINICAL, "withdrawing a participant")
    if not reason.strip():
        raise InputError("withdrawal needs a reason")
    clean_text(reason, "withdrawal reason")
    day = event_date(on, "withdrawal date")
    with write(actor):
        p = participant(actor, participant_id)
        if p.withdrawn_on is not None:
            raise InputError(f"{participant_id} already withdrew on {p.withdrawn_on}")
        if day < p.randomized_on:
            raise InputError("withdrawal date is before randomization")
        audit.update(actor, p, {"withdrawn_on": day, "withdrawal_reason": reason}, reason)
        audit.update_many(
            actor,
            [
                (v, {"status": "withdrawn", "reason": reason, "version": v.version + 1})
                for v in VisitOccurrence.objects.filter(participant=p, status="scheduled")
            ],
            reason,
        )
    return p
