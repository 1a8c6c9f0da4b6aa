"""Oversight records: data queries and source-data verification marks.

They were the web app's tables (``web_dataquery``, ``web_sdvmark``); the tables keep their
names, so a store made before the move needs no data migration.
"""

from __future__ import annotations

from django.db import models

from frailtrial.edc.models.enrolment import Participant
from frailtrial.edc.models.trial import Membership, Trial


class DataQuery(models.Model):
    """A question on one field of one record, raised by a monitor or investigator."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="queries")
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="queries")
    model = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    field = models.CharField(max_length=80)
    text = models.TextField()
    status = models.CharField(max_length=16, default="open")  # open, answered, closed
    raised_by = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField()
    answer = models.TextField(blank=True, default="")
    answered_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "web_dataquery"


class SdvMark(models.Model):
    """A monitor's source-data verification of one CRF at its current version."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="+")
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="sdv")
    crf_id = models.BigIntegerField()
    crf_version = models.IntegerField()
    by = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()

    class Meta:
        db_table = "web_sdvmark"
        constraints = [
            models.UniqueConstraint(fields=["crf_id", "crf_version"], name="sdv_unique"),
        ]


class LockException(models.Model):
    """A pre-lock checklist item accepted with a reason, so it no longer blocks the lock."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=160)  # prelock.Blocker.key
    text = models.TextField()  # what blocked, as the checklist said it
    reason = models.TextField()
    by = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trial", "key"], name="lock_exception_unique"),
        ]
