"""Screening, consent, participants, the randomization list and allocations."""

from __future__ import annotations

from django.db import models

from frailtrial.edc.models.trial import Membership, Site, Trial


class Screening(models.Model):
    """A person screened: the criteria's inputs, the result, and why not randomized."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="screenings")
    site = models.ForeignKey(Site, on_delete=models.PROTECT)
    screening_id = models.CharField(max_length=40)
    screened_on = models.DateField()
    inputs = models.JSONField(default=dict)
    eligible = models.BooleanField()
    reasons = models.JSONField(default=list)
    reason_not_randomized = models.TextField(blank=True, default="")
    closed = models.BooleanField(default=False)
    version = models.IntegerField(default=1)  # +1 per correction: a stale edit is refused

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trial", "screening_id"], name="screening_id_unique"),
        ]


class Consent(models.Model):
    """Informed consent (form version, date) given before randomization."""

    screening = models.ForeignKey(Screening, on_delete=models.PROTECT, related_name="consents")
    version = models.CharField(max_length=40)
    signed_on = models.DateField()
    withdrawn_on = models.DateField(null=True, blank=True)
    record_version = models.IntegerField(default=1)  # +1 per correction (``version``: the form's)


class Participant(models.Model):
    """A randomized person; demographics and baseline covariates come from screening."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="participants")
    site = models.ForeignKey(Site, on_delete=models.PROTECT)
    screening = models.OneToOneField(Screening, on_delete=models.PROTECT)
    participant_id = models.CharField(max_length=40)
    randomization_number = models.CharField(max_length=40)
    randomized_on = models.DateField()
    age = models.FloatField()
    sex = models.CharField(max_length=8)
    height_cm = models.FloatField()
    weight_kg = models.FloatField()
    baseline = models.JSONField(default=dict)
    stratum = models.CharField(max_length=200, blank=True, default="")
    first_infusion_on = models.DateField(null=True, blank=True)
    withdrawn_on = models.DateField(null=True, blank=True)
    withdrawal_reason = models.TextField(blank=True, default="")
    emergency_unblinded = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["trial", "participant_id"], name="participant_id_unique"
            ),
        ]


class RandomizationList(models.Model):
    """An imported list file and the SHA-256 commitment it was checked against; with the
    header's seed kind and salt, the stored entries rebuild the committed bytes exactly."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="lists")
    sha256 = models.CharField(max_length=64)
    seed = models.CharField(max_length=8, blank=True, default="")
    salt = models.CharField(max_length=128, blank=True, default="")
    source = models.CharField(max_length=255)
    n_entries = models.IntegerField()
    imported_at = models.DateTimeField(auto_now_add=True)


class ListEntry(models.Model):
    """One row of a randomization list; ``used`` once allocated (never reused)."""

    rlist = models.ForeignKey(RandomizationList, on_delete=models.PROTECT, related_name="entries")
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT)
    sequence = models.IntegerField()
    block = models.IntegerField()
    block_size = models.IntegerField()
    stratum = models.CharField(max_length=200, blank=True, default="")
    arm = models.CharField(max_length=40)
    randomization_number = models.CharField(max_length=40)
    used = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trial", "sequence"], name="entry_sequence_unique"),
            models.UniqueConstraint(
                fields=["trial", "randomization_number"], name="entry_number_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["trial", "stratum", "used", "sequence"], name="entry_next_idx")
        ]


class Allocation(models.Model):
    """Which arm a participant was allocated (from a list entry or by minimization)."""

    participant = models.OneToOneField(
        Participant, on_delete=models.PROTECT, related_name="allocation"
    )
    entry = models.OneToOneField(ListEntry, on_delete=models.PROTECT, null=True, blank=True)
    arm = models.CharField(max_length=40)
    allocated_at = models.DateTimeField()
    allocated_by = models.ForeignKey(Membership, on_delete=models.PROTECT)


class EmergencyUnblinding(models.Model):
    """An emergency break of the blind for one participant: who, when and why."""

    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="unblindings"
    )
    by = models.ForeignKey(Membership, on_delete=models.PROTECT)
    reason = models.TextField()
    at = models.DateTimeField()
