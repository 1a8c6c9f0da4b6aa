"""Read views for pages and the API: participants, schedules and SAE alerts, blinding applied.

These return plain dataclasses (no model instances), so a view or an API schema can serialise
them directly; an arm appears only for a role allowed to read it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from frailtrial.edc.models import Membership, Participant, SaeAlert, VisitOccurrence
from frailtrial.edc.services.common import participant, sees_arm


@dataclass(frozen=True)
class ParticipantView:
    """A participant as the actor may see it."""

    participant_id: str
    site: str
    randomization_number: str
    randomized_on: dt.date
    first_infusion_on: dt.date | None
    withdrawn_on: dt.date | None
    emergency_unblinded: bool
    arm: str | None


@dataclass(frozen=True)
class VisitView:
    """One scheduled visit with its window and what happened."""

    visit: str
    target_on: dt.date
    window_from: dt.date
    window_to: dt.date
    status: str
    occurred_on: dt.date | None
    day: int | None
    in_window: bool | None
    reason: str
    overdue: bool


@dataclass(frozen=True)
class SaeAlertView:
    """An SAE alert for expedited reporting (no arm)."""

    alert_id: int
    participant_id: str
    term: str
    onset_on: dt.date
    raised_at: dt.datetime
    due_by: dt.datetime
    acknowledged: bool


def _view(p: Participant, show_arm: bool) -> ParticipantView:
    return ParticipantView(
        p.participant_id,
        p.site.code,
        p.randomization_number,
        p.randomized_on,
        p.first_infusion_on,
        p.withdrawn_on,
        p.emergency_unblinded,
        p.allocation.arm if show_arm else None,
    )


def list_participants(actor: Membership) -> list[ParticipantView]:
    """The actor's participants (their site only when limited to one), in randomization order."""
    rows = Participant.objects.filter(trial_id=actor.trial_id).select_related("site", "allocation")
    if actor.site_id is not None:
        rows = rows.filter(site_id=actor.site_id)
    show = sees_arm(actor)
    return [_view(p, show) for p in rows.order_by("randomized_on", "pk")]


def schedule(
    actor: Membership, participant_id: str, today: dt.date | None = None
) -> list[VisitView]:
    """The participant's visits in order; ``overdue`` when still scheduled past the window."""
    p = participant(actor, participant_id)
    day = today or dt.date.today()
    return [
        VisitView(
            v.visit,
            v.target_on,
            v.window_from,
            v.window_to,
            v.status,
            v.occurred_on,
            v.day,
            v.in_window,
            v.reason,
            v.status == "scheduled" and day > v.window_to,
        )
        for v in VisitOccurrence.objects.filter(participant=p).order_by("order")
    ]


def sae_alerts(actor: Membership, open_only: bool = True) -> list[SaeAlertView]:
    """SAE alerts of the actor's participants, newest first."""
    rows = SaeAlert.objects.filter(
        adverse_event__participant__trial_id=actor.trial_id, adverse_event__voided_at=None
    )
    if actor.site_id is not None:
        rows = rows.filter(adverse_event__participant__site_id=actor.site_id)
    if open_only:
        rows = rows.filter(acknowledged_at__isnull=True)
    rows = rows.select_related("adverse_event__participant").order_by("-raised_at")
    return [
        SaeAlertView(
            a.pk,
            a.adverse_event.participant.participant_id,
            a.adverse_event.term,
            a.adverse_event.onset_on,
            a.raised_at,
            a.due_by,
            a.acknowledged_at is not None,
        )
        for a in rows
    ]
