"""The audit trail: append-only, each row chained to the previous by HMAC-SHA256."""

from __future__ import annotations

from django.db import models


class AuditEntry(models.Model):
    """One create, change, delete or event: who, when, what, old and new values, why.

    ``old`` and ``new`` hold canonical JSON text (sorted keys) exactly as hashed; ``blinded``
    marks rows whose values would reveal an allocation (shown redacted to blinded roles).
    """

    seq = models.BigIntegerField(unique=True)
    at = models.DateTimeField()
    actor = models.CharField(max_length=150)
    role = models.CharField(max_length=32)
    trial_id_ref = models.BigIntegerField(null=True)
    action = models.CharField(max_length=16)
    model = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    old = models.TextField()
    new = models.TextField()
    reason = models.TextField(blank=True, default="")
    blinded = models.BooleanField(default=False)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["model", "object_id"], name="audit_object_idx")]


class AuditHead(models.Model):
    """The chain's last sequence number and hash, so a removed tail is detected too, and the
    store's random id (set at the first audit row; keyed into every row and every anchor)."""

    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    store = models.CharField(max_length=32, blank=True, default="")
