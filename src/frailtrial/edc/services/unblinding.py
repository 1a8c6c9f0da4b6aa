"""Emergency unblinding with oversight: a per-investigator limit, notices to the DSMB and the
sponsor's administrator (dashboard, and e-mail when a mail backend is configured), and the
free-text reason shown only to roles trusted with it.

The store has no separate sponsor role: the trial's ``admin`` acts for the sponsor.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from frailtrial.edc.errors import AccessDenied
from frailtrial.edc.models import EmergencyUnblinding, Membership, Notice
from frailtrial.edc.services import audit
from frailtrial.edc.services.common import (
    now,
    participant,
    protocol_of,
    require,
    write,
)
from frailtrial.edc.services.entry import clean_text
from frailtrial.edc.services.notify import notify
from frailtrial.errors import InputError

NOTIFIED_ROLES = ("dsmb", "admin")
LIMIT = 3  # emergency unblindings per investigator ...
LIMIT_WINDOW = dt.timedelta(hours=24)  # ... within this time; more needs the DSMB or sponsor


def reason_visible_to(member: Membership) -> bool:
    """Whether the role may read an unblinding's reason: unblinded roles and oversight."""
    return member.role in (*protocol_of(member.trial).blinding.unblinded_roles, *NOTIFIED_ROLES)


def _notify(actor: Membership, kind: str, text: str, record: EmergencyUnblinding | None) -> None:
    """Notices to the DSMB and the sponsor (inside the caller's transaction)."""
    notify(
        actor,
        NOTIFIED_ROLES,
        kind,
        text,
        participant=record.participant if record else None,
        unblinding=record,
        mail_note="The reason is shown on the dashboard to the DSMB and the sponsor.",
    )


def _unblind(actor: Membership, participant_id: str, reason: str) -> str:
    """Record the unblinding (flag, record, audit rows) and return the arm. Only
    ``emergency_unblind`` calls it, so no path skips the limit and the notices."""
    with write(actor):
        p = participant(actor, participant_id)
        record = EmergencyUnblinding.objects.create(
            participant=p, by=actor, reason=reason, at=now()
        )
        audit.update(actor, p, {"emergency_unblinded": True}, reason)
        audit.created(actor, record, reason, action="unblind")
        return p.allocation.arm


def emergency_unblind(actor: Membership, participant_id: str, reason: str) -> str:
    """Break the blind for one participant (audited, flagged) and notify oversight; refused
    (and notified) beyond ``LIMIT`` per investigator in ``LIMIT_WINDOW``. Returns the arm."""
    require(actor, ["investigator"], "emergency unblinding")
    clean_text(reason, "unblinding reason")
    if len(reason.strip()) < 10:
        raise InputError("emergency unblinding needs a reason (at least 10 characters)")
    refused = None
    with transaction.atomic():
        Membership.objects.select_for_update().filter(pk=actor.pk).first()  # one at a time
        recent = EmergencyUnblinding.objects.filter(by=actor, at__gte=now() - LIMIT_WINDOW)
        who = f"{actor.user.username} (investigator)"
        if recent.count() >= LIMIT:
            refused = (
                f"{who} tried to emergency-unblind {participant_id} after {LIMIT} unblindings "
                f"within {LIMIT_WINDOW.total_seconds() / 3600:g} hours; refused"
            )
            _notify(actor, "unblinding_refused", refused, None)
        else:
            arm = _unblind(actor, participant_id, reason)
            record = recent.filter(participant__participant_id=participant_id).latest("at")
            _notify(
                actor,
                "emergency_unblinding",
                f"{who} emergency-unblinded {participant_id} at {record.at:%Y-%m-%d %H:%M} UTC",
                record,
            )
    if refused is not None:
        raise AccessDenied(
            f"emergency unblinding is limited to {LIMIT} per investigator in "
            f"{LIMIT_WINDOW.total_seconds() / 3600:g} hours; the DSMB and sponsor were "
            "alerted: ask them to unblind"
        )
    return arm


def notices(member: Membership, limit: int = 20) -> list[Notice]:
    """The newest notices to the member's role (none for roles that are not notified)."""
    rows = Notice.objects.filter(trial_id=member.trial_id, role=member.role)
    return list(rows.select_related("participant", "unblinding").order_by("-at", "-pk")[:limit])


HIDDEN = "(emergency unblinding reason: not shown to your role)"


def redact_reasons(member: Membership, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Audit rows with every emergency-unblinding reason of the trial hidden, unless the
    member's role may read them."""
    if reason_visible_to(member):
        return rows
    secret = set(
        EmergencyUnblinding.objects.filter(participant__trial_id=member.trial_id).values_list(
            "reason", flat=True
        )
    )
    out = []
    for row in rows:
        row = dict(row)
        if row.get("reason") in secret:
            row["reason"] = HIDDEN
        for key in ("old", "new"):
            value = row.get(key)
            if isinstance(value, dict) and value.get("reason") in secret:
                row[key] = {**value, "reason": HIDDEN}
        out.append(row)
    return out
