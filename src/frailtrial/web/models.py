"""What the pages add to the store: API tokens and login throttles (queries and SDV marks
are the EDC's: ``frailtrial.edc.models.oversight``)."""

from __future__ import annotations

from django.db import models

from frailtrial.edc.models import Membership


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
