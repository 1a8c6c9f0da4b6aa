"""A trial (its protocol snapshot), its sites, and who works on it in which role."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from frailtrial.edc.roles import ROLES


class Trial(models.Model):
    """One trial: the protocol YAML as run (with its SHA-256) and the lock state."""

    name = models.CharField(max_length=80, unique=True)
    protocol_name = models.CharField(max_length=80)
    protocol_yaml = models.TextField()
    protocol_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    locked_at = models.DateTimeField(null=True, blank=True)
    lock_reason = models.TextField(blank=True, default="")
    minimization_secret = models.CharField(max_length=64, default="")  # 128 random bits, hex

    def __str__(self) -> str:
        return self.name


class Site(models.Model):
    """A centre of a trial; staff with a site see only its participants."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="sites")
    name = models.CharField(max_length=120)
    code = models.CharField(max_length=16)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trial", "code"], name="site_code_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role on a trial (and site, when limited to one): the actor of every service."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="members")
    role = models.CharField(max_length=32, choices=[(r, r) for r in ROLES])
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True)
    unblinded_for_analysis_at = models.DateTimeField(null=True, blank=True)
    # the interface language the user chose (a Django code, e.g. "zh-hans"; "" = none yet):
    # kept alike on every membership of the user and applied at login on any device
    language = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "trial", "role"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.role} on {self.trial}"
