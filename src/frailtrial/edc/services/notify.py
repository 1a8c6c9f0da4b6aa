"""Notices to roles of a trial: a dashboard row per role (audited) and, when a mail backend
is configured (``FRAILTRIAL_EMAIL``), one e-mail to the members of those roles after commit.

Used for emergency unblindings (DSMB and sponsor) and for SAEs (medical monitor and sponsor).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from frailtrial.edc.models import EmergencyUnblinding, Membership, Notice, Participant
from frailtrial.edc.services import audit
from frailtrial.edc.services.common import audited_snapshot, now


def notify(
    actor: Membership,
    roles: Sequence[str],
    kind: str,
    text: str,
    participant: Participant | None = None,
    unblinding: EmergencyUnblinding | None = None,
    mail_note: str = "",
) -> list[Notice]:
    """A notice per role (inside the caller's transaction); e-mail after commit when
    configured, with ``mail_note`` appended to the text. Returns the notices."""
    at = now()
    members = Membership.objects.filter(
        trial_id=actor.trial_id, role__in=roles, user__is_active=True
    )  # an ended account is mailed nothing
    emails = sorted({m.user.email for m in members.select_related("user") if m.user.email})
    send = bool(getattr(settings, "FRAILTRIAL_EMAIL", False)) and bool(emails)
    rows = Notice.objects.bulk_create(
        [
            Notice(
                trial_id=actor.trial_id,
                role=role,
                kind=kind,
                participant=participant,
                unblinding=unblinding,
                text=text,
                at=at,
                emailed_to=emails if send else [],
            )
            for role in roles
        ]
    )
    # audited row by row (integrity.CHECKED): `audit verify` finds a deleted or edited notice
    audit.record_many(actor, [("create", row, None, audited_snapshot(row)) for row in rows])
    if send:
        subject = f"[{actor.trial.name}] {kind.replace('_', ' ')}"
        body = f"{text}\n\n{mail_note}".rstrip()
        transaction.on_commit(lambda: send_mail(subject, body, None, emails))
    return rows
