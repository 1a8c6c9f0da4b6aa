"""Named users: invitations to a role (only their token's SHA-256 is kept) and investigators'
signatures of a participant's casebook."""

from __future__ import annotations

from django.db import models

from frailtrial.edc.models.enrolment import Participant
from frailtrial.edc.models.trial import Membership


class Invitation(models.Model):
    """A one-time, expiring invitation to set the password of a new member's account."""

    member = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="invitations")
    digest = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class CasebookSignature(models.Model):
    """An investigator's electronic signature of a participant's casebook (21 CFR 11.50):
    the signer's printed name, the time, the meaning, and the SHA-256 of the casebook's
    content as signed (a later edit changes it and invalidates the signature)."""

    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="signatures"
    )
    signer = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    printed_name = models.CharField(max_length=300)
    meaning = models.TextField()
    signed_at = models.DateTimeField()
    content_sha256 = models.CharField(max_length=64)
