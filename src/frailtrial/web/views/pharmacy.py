"""Pharmacy (unblinded pharmacist only): lot release, dose calculation, preparation log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from frailtrial.edc.models import Lot, Membership, Preparation
from frailtrial.edc.services import product
from frailtrial.edc.services.common import protocol_of
from frailtrial.errors import InputError
from frailtrial.web import access, overview
from frailtrial.web.views.forms import TrialDateField

RESULT = [
    ("negative", pgettext_lazy("test result", "negative")),
    ("positive", pgettext_lazy("test result", "positive")),
    ("", pgettext_lazy("test result", "not tested")),
]


class LotForm(forms.Form):
    lot_number = forms.CharField(max_length=60, label=_("Lot number"))
    product = forms.CharField(max_length=200, label=_("Product"))
    is_placebo = forms.BooleanField(required=False, label=_("Placebo lot"))
    cells_per_ml = forms.FloatField(
        required=False, min_value=0, label=_("Cells per mL"), help_text=_("Cell lots only.")
    )
    volume_ml = forms.FloatField(
        required=False, min_value=0, label=_("Lot volume (mL)"), help_text=_("Blank: not tracked.")
    )
    tested_on = TrialDateField(label=_("Tested on"), initial=dt.date.today)
    sterility = forms.ChoiceField(choices=RESULT, label=_("Sterility"))
    mycoplasma = forms.ChoiceField(choices=RESULT, label=_("Mycoplasma"), required=False)
    endotoxin_eu_ml = forms.FloatField(min_value=0, label=_("Endotoxin (EU/mL)"))
    viability_pct = forms.FloatField(
        required=False, min_value=0, max_value=100, label=_("Viability (%)")
    )
    cd73 = forms.FloatField(required=False, min_value=0, max_value=100, label=_("CD73 (%)"))
    cd90 = forms.FloatField(required=False, min_value=0, max_value=100, label=_("CD90 (%)"))
    cd105 = forms.FloatField(required=False, min_value=0, max_value=100, label=_("CD105 (%)"))
    cd34 = forms.FloatField(required=False, min_value=0, max_value=100, label=_("CD34 (%)"))
    cd45 = forms.FloatField(required=False, min_value=0, max_value=100, label=_("CD45 (%)"))
    cd14 = forms.FloatField(required=False, min_value=0, max_value=100, label=_("CD14 (%)"))
    cd19 = forms.FloatField(required=False, min_value=0, max_value=100, label=_("CD19 (%)"))
    hla_dr = forms.FloatField(required=False, min_value=0, max_value=100, label=_("HLA-DR (%)"))

    TESTS = (
        "sterility",
        "mycoplasma",
        "endotoxin_eu_ml",
        "viability_pct",
        "cd73",
        "cd90",
        "cd105",
        "cd34",
        "cd45",
        "cd14",
        "cd19",
        "hla_dr",
    )


class PrepareForm(forms.Form):
    participant = forms.ChoiceField(label=_("Participant"))
    dose_number = forms.IntegerField(min_value=1, max_value=20, label=_("Dose number"), initial=1)
    lot = forms.ChoiceField(label=_("Released lot"))
    weight_kg = forms.FloatField(
        min_value=20,
        max_value=300,
        required=False,
        label=_("Weight at this visit (kg)"),
        help_text=_("Empty: the latest recorded weight (vital signs, else screening)."),
    )

    def __init__(self, member: Membership, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["participant"].choices = [
            (p.participant_id, f"{p.participant_id} ({p.randomization_number})")
            for p in overview.participants(member)
        ]
        self.fields["lot"].choices = [
            (lot.lot_number, f"{lot.lot_number} — {lot.product}")
            for lot in Lot.objects.filter(trial_id=member.trial_id, released=True)
        ]


@access.page("pharmacy")
def pharmacy(request: HttpRequest, member: Membership) -> HttpResponse:
    """Lots with release results, the dose rules, dose preparation and the preparation log."""
    lot_form, prep_form = LotForm(), PrepareForm(member)
    action = request.POST.get("action") if request.method == "POST" else None
    try:
        if action == "lot":
            lot_form = LotForm(request.POST)
            if lot_form.is_valid():
                d = lot_form.cleaned_data
                tests = {k: d[k] for k in LotForm.TESTS if d.get(k) not in (None, "")}
                lot = product.record_lot(
                    member,
                    d["lot_number"],
                    d["product"],
                    d["tested_on"],
                    tests,
                    d["is_placebo"],
                    d["cells_per_ml"],
                    d["volume_ml"],
                )
                if lot.released:
                    messages.success(
                        request, gettext("Lot %(lot)s released.") % {"lot": lot.lot_number}
                    )
                else:
                    messages.error(
                        request,
                        gettext("Lot %(lot)s failed release: %(failures)s")
                        % {"lot": lot.lot_number, "failures": "; ".join(lot.failures)},
                    )
                return redirect("web:pharmacy")
        elif action == "prepare":
            prep_form = PrepareForm(member, request.POST)
            if prep_form.is_valid():
                d = prep_form.cleaned_data
                prep = product.prepare(
                    member, d["participant"], d["dose_number"], d["lot"], d["weight_kg"]
                )
                messages.success(
                    request,
                    gettext(
                        "Dose %(dose)s for %(participant)s: %(cells)s cells (%(per_kg)s/kg at "
                        "%(weight)s kg): draw %(draw)s mL of lot %(lot)s, add %(vehicle)s mL "
                        "vehicle, %(volume)s mL in the bag, kit %(kit)s."
                    )
                    % {
                        "dose": prep.dose_number,
                        "participant": d["participant"],
                        "cells": f"{prep.cells:.3g}",
                        "per_kg": f"{prep.cells_per_kg:.3g}",
                        "weight": f"{prep.weight_kg:g}",
                        "draw": f"{prep.draw_ml:.4g}",
                        "lot": prep.lot.lot_number,
                        "vehicle": f"{prep.diluent_ml:.4g}",
                        "volume": f"{prep.volume_ml:g}",
                        "kit": prep.kit_code,
                    },
                )
                return redirect("web:pharmacy")
    except InputError as exc:
        messages.error(request, str(exc))
    protocol = protocol_of(member.trial)
    preps = (
        Preparation.objects.filter(participant__in=overview.participants(member))
        .select_related("participant__allocation", "lot")
        .order_by("-prepared_at")
    )
    infused = set(preps.filter(infusion__isnull=False).values_list("pk", flat=True))
    return render(
        request,
        "web/pharmacy.html",
        {
            "lot_form": lot_form,
            "prep_form": prep_form,
            "lots": Lot.objects.filter(trial_id=member.trial_id).order_by(
                "-tested_on", "lot_number"
            ),
            "arms": protocol.arms,
            "preps": preps[:500],
            "infused": infused,
            "bag_ml": product.infusion_volume(protocol),
        },
    )
