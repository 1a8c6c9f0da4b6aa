"""Investigators' electronic signatures of a participant's casebook (21 CFR Part 11).

Signing needs the signer's password again (11.200), shows and stores the meaning of the
signature, the signer's printed name and the time (11.50), and is an audit row (11.10(e)).
The signature holds the SHA-256 of the casebook's content as signed: every row of the
participant's clinical records as it is audited. A later edit through the services leaves an
audit row on one of those records; an edit made directly in the database changes the content
(and is also found by the store's integrity check); either way the signature shows as
invalidated by a later edit. A signature row the trail does not hold as signed, or whose
content hash differs from the signed one (rewritten to match edited data), shows invalid too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, cast

from django.db import models
from django.db.models import Q

from frailtrial.edc.errors import AccessDenied
from frailtrial.edc.models import (
    AuditEntry,
    CasebookSignature,
    Membership,
    Participant,
)
from frailtrial.edc.roles import SIGNER
from frailtrial.edc.services import audit, passwords
from frailtrial.edc.services.common import audited_snapshot, now, participant, require, write

MEANING = (
    "I am the investigator responsible for this participant. I have reviewed this casebook "
    "and attest that its data are complete, accurate and attributable to source."
)
# Rows tied to a participant that are not casebook content: the blinded allocation and its
# emergency unblinding, notices, monitors' queries and SDV marks, the pharmacy's preparations,
# the sponsor's SAE alert handling, the signatures themselves, and participant (ePRO)
# sessions: a way to enter data whose drafts and activity are not audited; what a session
# submits is a CRF, which is content.
NOT_CASEBOOK = {
    "eprosession",
    "allocation",
    "emergencyunblinding",
    "notice",
    "dataquery",
    "sdvmark",
    "preparation",
    "saealert",
    "casebooksignature",
}
NOT_CONTENT = {"participant": ("emergency_unblinded",)}


def casebook_rows(p: Participant) -> list[models.Model]:
    """The participant's casebook: its own row, its screening, and every row of the store's
    tables reached from them by foreign keys (consents, visits, CRFs, measurements, AEs and
    their follow-ups, infusions; a table added later is included), in a fixed order."""
    found: dict[tuple[str, Any], models.Model] = {}
    frontier: dict[type[models.Model], list[models.Model]] = {
        Participant: [p],
        type(p.screening): [p.screening],
    }
    for rows in frontier.values():
        found.update({(r._meta.model_name or "", r.pk): r for r in rows})
    while frontier:
        reached: dict[type[models.Model], list[models.Model]] = {}
        for model, rows in frontier.items():
            for rel in model._meta.related_objects:
                child = cast(type[models.Model], rel.related_model)  # a model, never "self"
                if child._meta.model_name in NOT_CASEBOOK:
                    continue
                for row in child._default_manager.filter(**{f"{rel.field.name}__in": rows}):
                    key = (child._meta.model_name or "", row.pk)
                    if key not in found:
                        found[key] = row
                        reached.setdefault(child, []).append(row)
        frontier = reached
    return [found[k] for k in sorted(found, key=lambda k: (k[0], str(k[1])))]


def _content(row: models.Model) -> dict[str, Any]:
    snap = audited_snapshot(row)
    for name in NOT_CONTENT.get(row._meta.model_name or "", ()):
        snap.pop(name, None)
    return snap


def casebook_sha256(p: Participant) -> str:
    """SHA-256 of the casebook's content (canonical JSON of its rows' audited snapshots)."""
    return _sha256(casebook_rows(p))


def _sha256(rows: list[models.Model]) -> str:
    content = [[row._meta.model_name, _content(row)] for row in rows]
    return hashlib.sha256(audit.canonical(content).encode("utf-8")).hexdigest()


def sign(actor: Membership, participant_id: str, password: str) -> CasebookSignature:
    """Sign the participant's casebook with the meaning ``MEANING`` (password re-entered)."""
    require(actor, SIGNER, "signing a casebook")
    if not passwords.check(actor.user, password):
        raise AccessDenied("the password is wrong: the casebook was not signed")
    with write(actor):
        p = participant(actor, participant_id)
        user = actor.user
        printed = f"{user.first_name} {user.last_name}".strip() or user.get_username()
        sig = CasebookSignature.objects.create(
            participant=p,
            signer=actor,
            printed_name=printed,
            meaning=MEANING,
            signed_at=now(),
            content_sha256=casebook_sha256(p),
        )
        audit.created(actor, sig, action="sign")
    return sig


@dataclass(frozen=True)
class SignatureView:
    """A signature as shown: who, when, what it means, and whether it still holds."""

    printed_name: str
    username: str
    meaning: str
    signed_at: Any
    valid: bool
    invalidated_by: str  # what edit invalidated it ("" while valid)


def _later_edit(signed: AuditEntry, rows: list[models.Model]) -> AuditEntry | None:
    """The first audit row after the signature's (``signed``) on any of the casebook's
    records."""
    ids: dict[str, list[str]] = {}
    for row in rows:
        ids.setdefault(row._meta.model_name or "", []).append(str(row.pk))
    records = Q()  # these rows only (not every later row of their tables, read in Python)
    for model, pks in ids.items():
        records |= Q(model=model, object_id__in=pks)
    return AuditEntry.objects.filter(records, seq__gt=signed.seq).order_by("seq").first()


def signatures(actor: Membership, participant_id: str) -> list[SignatureView]:
    """The participant's signatures, newest first, each checked against the casebook now."""
    p = participant(actor, participant_id)
    rows = casebook_rows(p)
    current = _sha256(rows)
    out = []
    for sig in p.signatures.select_related("signer__user").order_by("-signed_at", "-pk"):
        signed = AuditEntry.objects.filter(
            model="casebooksignature", object_id=str(sig.pk), action="sign"
        ).first()
        edit = _later_edit(signed, rows) if signed is not None else None
        why = ""
        if signed is None:
            why = "this signature is not in the audit trail"
        elif json.loads(signed.new).get("content_sha256") != sig.content_sha256:
            why = "the signed content hash was changed outside the audit trail"
        elif edit is not None:
            when = f"{edit.at:%Y-%m-%d %H:%M} UTC"
            why = f"{edit.model} {edit.object_id} changed by {edit.actor} on {when}"
        elif sig.content_sha256 != current:
            why = "the casebook's content changed outside the audit trail"
        out.append(
            SignatureView(
                printed_name=sig.printed_name,
                username=sig.signer.user.get_username(),
                meaning=sig.meaning,
                signed_at=sig.signed_at,
                valid=not why,
                invalidated_by=why,
            )
        )
    return out
