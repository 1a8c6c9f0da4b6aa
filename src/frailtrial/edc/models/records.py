"""Visits, case report forms, measurements and adverse events."""

from __future__ import annotations

from django.db import models

from frailtrial.edc.models.enrolment import Participant
from frailtrial.edc.models.trial import Membership

VISIT_STATUS = ("scheduled", "attended", "missed", "withdrawn")


class VisitOccurrence(models.Model):
    """A participant's scheduled visit: target date and window, and what happened."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="visits")
    visit = models.CharField(max_length=40)
    order = models.IntegerField()
    target_on = models.DateField()
    window_from = models.DateField()
    window_to = models.DateField()
    status = models.CharField(max_length=16, default="scheduled")
    occurred_on = models.DateField(null=True, blank=True)
    day = models.IntegerField(null=True, blank=True)
    in_window = models.BooleanField(null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    version = models.IntegerField(default=1)  # +1 per change: a stale edit is refused

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["participant", "visit"], name="visit_unique"),
        ]


class Crf(models.Model):
    """An instrument's answers at a visit, with the scores computed on entry; ``source`` says
    who gave the answers: staff entry, or the participant in an ePRO session."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="crfs")
    visit = models.CharField(max_length=40)
    instrument = models.CharField(max_length=40)
    answers = models.JSONField()
    scores = models.JSONField()
    version = models.IntegerField(default=1)
    entered_at = models.DateTimeField()
    source = models.CharField(max_length=16, default="staff")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "visit", "instrument"], name="crf_unique"
            ),
        ]


class Measurement(models.Model):
    """One outcome variable at a visit (from a scored CRF or entered directly, e.g. labs)."""

    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="measurements"
    )
    visit = models.CharField(max_length=40)
    variable = models.CharField(max_length=40)
    value = models.FloatField()
    unit = models.CharField(max_length=40, blank=True, default="")
    below_lloq = models.BooleanField(null=True, blank=True)
    crf = models.ForeignKey(Crf, on_delete=models.PROTECT, null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "visit", "variable"], name="measurement_unique"
            ),
        ]


class AdverseEvent(models.Model):
    """An adverse event with its treatment-emergent and TE-SAE classification."""

    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="adverse_events"
    )
    term = models.CharField(max_length=200)
    body_system = models.CharField(max_length=200)
    onset_on = models.DateField()
    onset_day = models.IntegerField(null=True, blank=True)
    end_on = models.DateField(null=True, blank=True)
    severity = models.CharField(max_length=20)
    serious = models.BooleanField()
    seriousness = models.JSONField(default=list)
    related = models.BooleanField()
    outcome = models.CharField(max_length=30)
    treatment_emergent = models.BooleanField()
    te_sae = models.BooleanField()
    causality = models.CharField(max_length=20, blank=True, default="")  # safety.CAUSALITY
    expectedness = models.CharField(max_length=12, blank=True, default="")  # safety.EXPECTEDNESS
    soc = models.CharField(max_length=200, blank=True, default="")  # coded system organ class
    preferred_term = models.CharField(max_length=200, blank=True, default="")  # coded term
    version = models.IntegerField(default=1)  # +1 per change: a stale edit is refused
    # entered in error (a duplicate, a wrong date): kept and audited, left out of every count
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=500, blank=True, default="")


class AeFollowUp(models.Model):
    """A follow-up of an adverse event: what is known on a date, and the outcome then."""

    adverse_event = models.ForeignKey(
        AdverseEvent, on_delete=models.PROTECT, related_name="follow_ups"
    )
    on = models.DateField()
    text = models.TextField()
    outcome = models.CharField(max_length=30)
    end_on = models.DateField(null=True, blank=True)
    by = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()


class SaeAlert(models.Model):
    """An expedited-reporting alert raised by a serious adverse event (due in 24 h)."""

    adverse_event = models.OneToOneField(AdverseEvent, on_delete=models.PROTECT)
    raised_at = models.DateTimeField()
    due_by = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledgement = models.TextField(blank=True, default="")
    escalated_at = models.DateTimeField(null=True, blank=True)  # overdue notice sent


class LogRecord(models.Model):
    """An entry of a participant's running log, not tied to a visit: a concomitant
    medication, a protocol deviation, the end of study (forms in ``edc/collection.py``)."""

    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="log_records"
    )
    form = models.CharField(max_length=40)
    answers = models.JSONField()
    version = models.IntegerField(default=1)  # +1 per correction: a stale edit is refused
    entered_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["participant", "form"], name="log_form_idx")]
