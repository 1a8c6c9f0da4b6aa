"""Cell product lots with release tests, dose preparations (pharmacy) and infusions."""

from __future__ import annotations

from django.db import models

from frailtrial.edc.models.enrolment import Participant
from frailtrial.edc.models.trial import Membership, Trial


class Lot(models.Model):
    """A product lot (cells or placebo) and its release tests; only a released lot is dosed."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="lots")
    lot_number = models.CharField(max_length=60)
    product = models.CharField(max_length=200)
    is_placebo = models.BooleanField(default=False)
    cells_per_ml = models.FloatField(null=True, blank=True)
    volume_ml = models.FloatField(null=True, blank=True)  # what the lot holds (None: untracked)
    tests = models.JSONField(default=dict)
    released = models.BooleanField()
    failures = models.JSONField(default=list)
    tested_on = models.DateField()
    recorded_by = models.ForeignKey(Membership, on_delete=models.PROTECT)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trial", "lot_number"], name="lot_number_unique"),
        ]


class Preparation(models.Model):
    """The pharmacy's dose for one infusion: lot, weight, cells; seen by unblinded roles only.

    ``kit_code`` is what blinded staff see on the bag, identical in form for both arms.
    """

    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="preparations"
    )
    dose_number = models.IntegerField()
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT)
    weight_kg = models.FloatField()
    cells = models.FloatField()
    cells_per_kg = models.FloatField()
    volume_ml = models.FloatField()  # the protocol's fixed infusion volume (both arms)
    draw_ml = models.FloatField(null=True, blank=True)  # drawn from the lot
    diluent_ml = models.FloatField(null=True, blank=True)  # vehicle added up to volume_ml
    kit_code = models.CharField(max_length=40, unique=True)
    prepared_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "dose_number"], name="preparation_unique"
            ),
        ]


class Infusion(models.Model):
    """An infusion as recorded at the bedside: kit, date, times and volume (no arm, no cells)."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="infusions")
    preparation = models.OneToOneField(Preparation, on_delete=models.PROTECT)
    dose_number = models.IntegerField()
    given_on = models.DateField()
    day = models.IntegerField()
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    volume_ml = models.FloatField()
    version = models.IntegerField(default=1)  # +1 per correction: a stale edit is refused
