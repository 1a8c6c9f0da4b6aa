"""Read-side summaries for the pages: the actor's participants, the dashboard's counts.

Everything here is limited to the actor's site and never reads an allocation.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext

from frailtrial.edc.models import (
    Crf,
    DataQuery,
    Membership,
    Participant,
    SaeAlert,
    Screening,
    SdvMark,
    VisitOccurrence,
)
from frailtrial.edc.services.common import protocol_of
from frailtrial.edc.services.completeness import completeness
from frailtrial.web import form_text


def participants(member: Membership) -> QuerySet[Participant]:
    """The participants the actor may see: the trial's, or only its site's."""
    found = Participant.objects.filter(trial_id=member.trial_id).select_related("site")
    if member.site_id is not None:
        found = found.filter(site_id=member.site_id)
    return found.order_by("participant_id")


def screenings(member: Membership) -> QuerySet[Screening]:
    found = Screening.objects.filter(trial_id=member.trial_id).select_related("site")
    if member.site_id is not None:
        found = found.filter(site_id=member.site_id)
    return found.order_by("-screened_on", "-pk")


def visits(member: Membership) -> QuerySet[VisitOccurrence]:
    found = VisitOccurrence.objects.filter(participant__trial_id=member.trial_id)
    if member.site_id is not None:
        found = found.filter(participant__site_id=member.site_id)
    return found.select_related("participant")


def open_sae_alerts(member: Membership) -> QuerySet[SaeAlert]:
    found = SaeAlert.objects.filter(
        adverse_event__participant__trial_id=member.trial_id, adverse_event__voided_at=None
    )
    if member.site_id is not None:
        found = found.filter(adverse_event__participant__site_id=member.site_id)
    return found.select_related("adverse_event__participant").order_by("due_by")


def queries(member: Membership) -> QuerySet[DataQuery]:
    """The data queries on the actor's participants (site-limited)."""
    found = DataQuery.objects.filter(trial_id=member.trial_id)
    if member.site_id is not None:
        found = found.filter(participant__site_id=member.site_id)
    return found.select_related("participant")


def calendar(member: Membership, today: dt.date) -> list[dict[str, Any]]:
    """Every visit still scheduled (site-limited), by site then window: its label, target and
    window dates, and its state on ``today`` (overdue past the window, due inside it,
    upcoming before it)."""
    labels = form_text.visit_labels(protocol_of(member.trial))
    rows = []
    found = visits(member).filter(status="scheduled").select_related("participant__site")
    for v in found.order_by("participant__site__code", "window_from", "participant_id"):
        state = "overdue" if today > v.window_to else "due" if today >= v.window_from else ""
        rows.append(
            {
                "v": v,
                "label": labels.get(v.visit, v.visit),
                "state": state or "upcoming",
                "days": (v.window_to - today).days if state == "due" else None,
            }
        )
    return rows


def sdv_overview(member: Membership) -> list[dict[str, Any]]:
    """Per participant and visit (site-limited, visits in schedule order): CRFs entered and
    CRFs source-data verified at their current version (a later correction needs a new
    verification)."""
    labels = form_text.visit_labels(protocol_of(member.trial))
    parts = participants(member)
    verified = set(
        SdvMark.objects.filter(participant__in=parts).values_list("crf_id", "crf_version")
    )
    counts: dict[tuple[str, str], list[int]] = {}
    for pk, version, pid, visit in Crf.objects.filter(participant__in=parts).values_list(
        "pk", "version", "participant__participant_id", "visit"
    ):
        cell = counts.setdefault((pid, visit), [0, 0])
        cell[0] += 1
        cell[1] += (pk, version) in verified
    order = {v.name: i for i, v in enumerate(protocol_of(member.trial).visits)}
    keys = sorted(counts, key=lambda k: (k[0], order.get(k[1], 0)))
    return [
        {
            "pid": pid,
            "visit": visit,
            "label": labels.get(visit, visit),
            "entered": n,
            "verified": done,
            "todo": n - done,
        }
        for pid, visit in keys
        for n, done in [counts[(pid, visit)]]
    ]


def dashboard(member: Membership, today: dt.date) -> dict[str, Any]:
    """Enrollment vs target, screening funnel, visits due/overdue, missing CRFs, queries, SAEs."""
    protocol = protocol_of(member.trial)
    scr = screenings(member)
    parts = participants(member)
    scheduled = visits(member).filter(status="scheduled")
    randomized = parts.count()
    comp = completeness(member)
    target = protocol.enrollment.target_randomized
    return {
        "target": target,
        "randomized": randomized,
        "percent": round(100 * randomized / target) if target else 0,
        "funnel": [
            (gettext("Screened"), scr.count()),
            (gettext("Eligible"), scr.filter(eligible=True).count()),
            (gettext("Consented"), scr.filter(consents__isnull=False).distinct().count()),
            (gettext("Randomized"), randomized),
            (
                gettext("First infusion given"),
                parts.filter(first_infusion_on__isnull=False).count(),
            ),
            (gettext("Withdrawn"), parts.filter(withdrawn_on__isnull=False).count()),
        ],
        "due": scheduled.filter(window_from__lte=today, window_to__gte=today).order_by("window_to"),
        "overdue": scheduled.filter(window_to__lt=today).order_by("window_to"),
        "upcoming": scheduled.filter(
            window_from__gt=today, window_from__lte=today + dt.timedelta(days=14)
        ).order_by("window_from"),
        "missing_crfs": comp.open[:50],
        "n_open_forms": len(comp.open),
        "completeness": comp,
        "open_queries": queries(member).exclude(status="closed").count(),
        "sae_alerts": open_sae_alerts(member).filter(acknowledged_at__isnull=True),
    }
