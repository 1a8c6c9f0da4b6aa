"""Corrections of any record with a reason, and the field-level audit view of a record."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from frailtrial.dataset.schema import OUTCOME, SEVERITY
from frailtrial.edc.errors import Conflict
from frailtrial.edc.models import Membership
from frailtrial.edc.services import corrections
from frailtrial.errors import InputError
from frailtrial.web import access
from frailtrial.web.templatetags.labels import SEXES, choices, yes_no
from frailtrial.web.views.forms import TrialDateField, posted_version

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
TITLES = {
    "screening": _("screening"),
    "consent": _("consent"),
    "visitoccurrence": _("visit"),
    "infusion": _("infusion"),
    "adverseevent": _("adverse event"),
}


def _reason() -> forms.CharField:
    return forms.CharField(max_length=500, label=_("Reason for the correction"))


def _datetime(label: Any) -> forms.DateTimeField:
    return forms.DateTimeField(label=label, widget=DATETIME, input_formats=["%Y-%m-%dT%H:%M"])


FIELDS: dict[str, dict[str, Any]] = {
    "screening": {
        "screened_on": lambda: TrialDateField(label=_("Screening date")),
        "age": lambda: forms.FloatField(label=_("Age (years)"), min_value=0, max_value=130),
        "sex": lambda: forms.ChoiceField(choices=choices(SEXES), label=_("Sex")),
        "height_cm": lambda: forms.FloatField(label=_("Height (cm)"), min_value=50, max_value=250),
        "weight_kg": lambda: forms.FloatField(label=_("Weight (kg)"), min_value=20, max_value=300),
    },
    "consent": {
        "form_version": lambda: forms.CharField(max_length=40, label=_("Consent form version")),
        "signed_on": lambda: TrialDateField(label=_("Signed on")),
    },
    "visitoccurrence": {"occurred_on": lambda: TrialDateField(label=_("Visit date"))},
    "infusion": {
        "started_at": lambda: _datetime(_("Start")),
        "ended_at": lambda: _datetime(_("End")),
        "volume_ml": lambda: forms.FloatField(
            label=_("Volume infused (mL)"), min_value=0.1, max_value=1000
        ),
    },
    "adverseevent": {
        "term": lambda: forms.CharField(max_length=200, label=_("Term")),
        "body_system": lambda: forms.CharField(max_length=200, label=_("Body system")),
        "onset_on": lambda: TrialDateField(label=_("Onset date")),
        "end_on": lambda: TrialDateField(label=_("End date"), required=False),
        "severity": lambda: forms.ChoiceField(choices=choices(SEVERITY), label=_("Severity")),
        "related": lambda: forms.ChoiceField(choices=yes_no(), label=_("Related to study product")),
        "outcome": lambda: forms.ChoiceField(choices=choices(OUTCOME), label=_("Outcome")),
    },
}


def _current(record: str, obj: Any) -> dict[str, Any]:
    """The record's values as the form shows them."""
    out: dict[str, Any] = {}
    for name in FIELDS[record]:
        if record == "screening" and name != "screened_on":
            out[name] = obj.inputs.get(name)
        elif record == "consent" and name == "form_version":
            out[name] = obj.version
        elif name in ("started_at", "ended_at"):
            out[name] = timezone.localtime(getattr(obj, name)).strftime("%Y-%m-%dT%H:%M")
        elif name == "related":
            out[name] = "true" if obj.related else "false"
        else:
            out[name] = getattr(obj, name)
    return out


def _changes(record: str, cleaned: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The fields the person changed, as the service takes them."""
    out: dict[str, Any] = {}
    for name in FIELDS[record]:
        value = cleaned.get(name)
        if name == "related":
            value = value == "true"
            if value == (current[name] == "true"):
                continue
        elif isinstance(value, dt.datetime):
            if value.strftime("%Y-%m-%dT%H:%M") == current[name]:
                continue
        elif value == current[name]:
            continue
        out[name] = value
    return out


def save(
    request: HttpRequest,
    member: Membership,
    form: forms.Form,
    record: str,
    record_id: int,
    changes: dict[str, Any],
) -> int | None:
    """Save a correction posted with its reason and the version read: None when saved (the
    message says so), else the page's status with the refusal on the form (409: the record
    changed since it was read)."""
    try:
        version = posted_version(request)
        corrections.correct(
            member, record, record_id, changes, form.cleaned_data["reason"], version
        )
    except Conflict as exc:
        form.add_error(None, f"Not saved: {exc}")
        return 409
    except InputError as exc:
        form.add_error(None, str(exc))
        return 200
    messages.success(request, gettext("Correction saved; the audit trail shows it."))
    return None


@access.page("correct")
def correct(request: HttpRequest, member: Membership, record: str, record_id: int) -> HttpResponse:
    """Correct one record: its fields with their current values, a reason, the version."""
    object_id = record_id
    if record not in FIELDS:
        return render(
            request, "web/denied.html", {"message": f"{record} is not corrected here."}, status=404
        )
    try:
        own = corrections.owner(member, record, str(object_id))
    except InputError:
        return render(request, "web/denied.html", {"message": "No such record."}, status=404)
    obj = corrections.MODELS[record].objects.get(pk=object_id)
    version_field = corrections.VERSION_FIELD.get(record, "version")
    locked = member.trial.locked_at is not None
    current = _current(record, obj)
    fields = {name: make() for name, make in FIELDS[record].items()}
    fields["reason"] = _reason()
    form_class = type("CorrectionForm", (forms.Form,), fields)
    form = form_class(initial=current)
    status = 200
    if request.method == "POST" and not locked:
        form = form_class(request.POST, initial=current)
        if form.is_valid():
            changes = _changes(record, form.cleaned_data, current)
            refused = save(request, member, form, record, object_id, changes)
            if refused is None:
                return redirect("web:audit", model=record, object_id=str(object_id))
            status = refused
    return render(
        request,
        "web/correct.html",
        {
            "form": form,
            "record": record,
            "title": TITLES[record],
            "object_id": object_id,
            "version": getattr(obj, version_field),
            "owner": own,
            "locked": locked,
        },
        status=status,
    )
