"""What the pages add to the store: data queries, SDV marks, API tokens, login attempts."""

from __future__ import annotations

from django.db import models

from frailtrial.edc.models import Membership, Participant, Trial


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


class SdvMark(models.Model):
    """A monitor's source-data verification of one CRF at its current version."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="+")
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="sdv")
    crf_id = models.BigIntegerField()
    crf_version = models.IntegerField()
    by = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()

    class Meta:
        constraints = [  # noqa: RUF012
            models.UniqueConstraint(fields=["crf_id", "crf_version"], name="sdv_unique"),
        ]


class ApiToken(models.Model):
    """An API token of one membership; only its SHA-256 is stored."""

    member = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="tokens")
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)


class LoginAttempt(models.Model):
    """A login attempt, for the rate limit (failures per user name and per address)."""

    username = models.CharField(max_length=150)
    address = models.CharField(max_length=64)
    at = models.DateTimeField(db_index=True)
    ok = models.BooleanField()
