"""Notices to roles: raised by events others must know of (e.g. an emergency unblinding)."""

from __future__ import annotations

from django.db import models

from frailtrial.edc.models.enrolment import EmergencyUnblinding, Participant
from frailtrial.edc.models.trial import Trial


class Notice(models.Model):
    """A message to every member of one role of a trial, shown on their dashboard."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="notices")
    role = models.CharField(max_length=32)
    kind = models.CharField(max_length=32)
    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    unblinding = models.ForeignKey(
        EmergencyUnblinding, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    text = models.TextField()
    at = models.DateTimeField()
    emailed_to = models.JSONField(default=list)

    class Meta:
        indexes = [models.Index(fields=["trial", "role", "at"], name="notice_role_idx")]
