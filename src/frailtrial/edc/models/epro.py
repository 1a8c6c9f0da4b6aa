"""Participant (ePRO) sessions: a participant answers their own questionnaires of one visit."""

from __future__ import annotations

from django.db import models

from frailtrial.edc.models.enrolment import Participant
from frailtrial.edc.models.trial import Membership

EPRO_KINDS = ("kiosk", "link")


class EproSession(models.Model):
    """A short-lived session of one participant at one visit, started by a coordinator.

    Only the SHA-256 of its token is stored. ``drafts`` holds each answer as it is given
    ({instrument: {item: value}}) until the instrument is submitted as a CRF (source
    participant); ``position`` is the question each instrument was left at.
    """

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="epro")
    visit = models.CharField(max_length=40)
    started_by = models.ForeignKey(Membership, on_delete=models.PROTECT)
    kind = models.CharField(max_length=8, choices=[(k, k) for k in EPRO_KINDS])
    digest = models.CharField(max_length=64, unique=True)
    language = models.CharField(max_length=16)
    instruments = models.JSONField(default=list)
    drafts = models.JSONField(default=dict)
    position = models.JSONField(default=dict)
    submitted = models.JSONField(default=list)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    redeemed_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_why = models.CharField(max_length=40, blank=True, default="")
