"""What the pages add to the store: data queries, SDV marks, API tokens, login throttles."""

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
    expires_at = models.DateTimeField(null=True, blank=True)  # None only before the migration
    revoked_at = models.DateTimeField(null=True, blank=True)


class LoginAttempt(models.Model):
    """A login attempt, kept as a record (the throttle itself is ``LoginThrottle``)."""

    username = models.CharField(max_length=150)
    address = models.CharField(max_length=64)
    at = models.DateTimeField(db_index=True)
    ok = models.BooleanField()


class LoginThrottle(models.Model):
    """Attempts counted per key (a user name, a user's known device, or a client address).

    One row per key, changed only under a row lock, so parallel guesses are counted exactly;
    past the key's free attempts, the next is allowed only from ``next_allowed_at``.
    """

    key = models.CharField(max_length=200, unique=True)
    attempts = models.IntegerField(default=0)
    last_at = models.DateTimeField(null=True, blank=True)
    next_allowed_at = models.DateTimeField(null=True, blank=True)
