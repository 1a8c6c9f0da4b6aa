"""Adverse events one by one: the printable AE/SAE report with its follow-ups, follow-up and
assessment entry (site), and the SAE acknowledgement (medical monitor or sponsor)."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from frailtrial.dataset.schema import OUTCOME
from frailtrial.edc.errors import Conflict
from frailtrial.edc.models import AdverseEvent, Membership, SaeAlert
from frailtrial.edc.services import safety
from frailtrial.edc.services.common import participant
from frailtrial.errors import InputError
from frailtrial.web import access
from frailtrial.web.templatetags.labels import choices
from frailtrial.web.views.forms import TrialDateField


class FollowUpForm(forms.Form):
    on = TrialDateField(label=_("Follow-up date"), initial=dt.date.today)
    text = forms.CharField(
        max_length=2000, label=_("Follow-up information"), widget=forms.Textarea(attrs={"rows": 3})
    )
    outcome = forms.ChoiceField(choices=choices(OUTCOME), label=_("Outcome now"))
    end_on = TrialDateField(label=_("Resolved on (end date)"), required=False)


class AssessForm(forms.Form):
    causality = forms.ChoiceField(choices=choices(safety.CAUSALITY), label=_("Causality"))
    expectedness = forms.ChoiceField(
        choices=[("", _("not assessed")), *choices(safety.EXPECTEDNESS)],
        required=False,
        label=_("Expectedness"),
    )
    soc = forms.CharField(
        max_length=safety.CODING_MAX, required=False, label=_("System organ class (coded)")
    )
    preferred_term = forms.CharField(
        max_length=safety.CODING_MAX, required=False, label=_("Preferred term (coded)")
    )
    reason = forms.CharField(max_length=500, label=_("Reason for change"))
    version = forms.IntegerField(widget=forms.HiddenInput)


class VoidForm(forms.Form):
    reason = forms.CharField(
        max_length=500, label=_("Why this event was entered in error (a duplicate, a wrong date)")
    )
    version = forms.IntegerField(widget=forms.HiddenInput)


class AcknowledgeForm(forms.Form):
    note = forms.CharField(max_length=1000, required=False, label=_("Acknowledgement note"))


def _ae(member: Membership, ae_id: int) -> AdverseEvent | None:
    """The trial's adverse event by id, after the site check (None: no such event)."""
    ae = (
        AdverseEvent.objects.select_related("participant")
        .filter(pk=ae_id, participant__trial_id=member.trial_id)
        .first()
    )
    if ae is not None:
        participant(member, ae.participant.participant_id)  # AccessDenied at another site
    return ae


@access.page("sae_report")
def ae_report(request: HttpRequest, member: Membership, ae_id: int) -> HttpResponse:
    """The printable report of one adverse event (an SAE report when serious): its
    assessment and coding, the alert and its acknowledgement, and every follow-up."""
    ae = _ae(member, ae_id)
    if ae is None:
        return render(request, "web/denied.html", {"message": "No such event."}, status=404)
    alert = SaeAlert.objects.filter(adverse_event=ae).select_related("acknowledged_by__user")
    found = alert.first()
    now = timezone.now()
    return render(
        request,
        "web/ae_report.html",
        {
            "ae": ae,
            "alert": found,
            "state": safety.sae_state(found, now) if found else "",
            "follow_ups": ae.follow_ups.select_related("by__user").order_by("on", "pk"),
            "follow_form": FollowUpForm() if access.allowed(member, "ae_follow_up") else None,
            "assess_form": AssessForm(
                initial={
                    "causality": ae.causality,
                    "expectedness": ae.expectedness,
                    "soc": ae.soc,
                    "preferred_term": ae.preferred_term,
                    "version": ae.version,
                }
            )
            if access.allowed(member, "ae_follow_up")
            else None,
            "void_form": VoidForm(initial={"version": ae.version})
            if ae.voided_at is None
            and access.allowed(member, "ae_void")
            and member.trial.locked_at is None
            else None,
            "ack_form": AcknowledgeForm()
            if found and not found.acknowledged_at and access.allowed(member, "sae_acknowledge")
            else None,
        },
    )


def _back(ae_id: int) -> HttpResponse:
    return redirect("web:ae_report", ae_id=ae_id)


@access.page("ae_follow_up")
@require_POST
def ae_follow_up(request: HttpRequest, member: Membership, ae_id: int) -> HttpResponse:
    """Add a follow-up to an adverse event (outcome, resolution date)."""
    form = FollowUpForm(request.POST)
    if not form.is_valid():
        messages.error(request, gettext("A follow-up needs its date, text and outcome."))
        return _back(ae_id)
    try:
        safety.follow_up(member, ae_id, **form.cleaned_data)
        messages.success(request, gettext("Follow-up saved."))
    except InputError as exc:
        messages.error(request, str(exc))
    return _back(ae_id)


@access.page("ae_follow_up")
@require_POST
def ae_assess(request: HttpRequest, member: Membership, ae_id: int) -> HttpResponse:
    """Change causality, expectedness and the coding of an adverse event, with a reason."""
    form = AssessForm(request.POST)
    if not form.is_valid():
        messages.error(
            request, gettext("The assessment needs a causality and a reason for change.")
        )
        return _back(ae_id)
    d = dict(form.cleaned_data)
    reason, version = d.pop("reason"), d.pop("version")
    try:
        safety.update(member, ae_id, d, reason, version)
        messages.success(request, gettext("Assessment saved."))
    except (InputError, Conflict) as exc:
        messages.error(request, str(exc))
    return _back(ae_id)


@access.page("sae_acknowledge")
@require_POST
def sae_acknowledge(request: HttpRequest, member: Membership, ae_id: int) -> HttpResponse:
    """The medical monitor (or the sponsor's admin) acknowledges an SAE report."""
    form = AcknowledgeForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        alert = safety.acknowledge(member, ae_id, note)
        state = safety.sae_state(alert, timezone.now())
        messages.success(request, f"SAE {state}.")
    except InputError as exc:
        messages.error(request, str(exc))
    return _back(ae_id)


@access.page("ae_void")
@require_POST
def ae_void(request: HttpRequest, member: Membership, ae_id: int) -> HttpResponse:
    """Void an adverse event entered in error, with a reason (kept in the audit trail)."""
    form = VoidForm(request.POST)
    if not form.is_valid():
        if form.has_error("reason", "required"):
            messages.error(request, gettext("Voiding an adverse event needs a reason."))
        else:  # a reason too long, a version that is not a number: say which and why
            messages.error(
                request,
                "; ".join(
                    f"{form.fields[name].label or name}: {' '.join(errors)}"
                    for name, errors in form.errors.items()
                ),
            )
        return _back(ae_id)
    try:
        safety.void(member, ae_id, **form.cleaned_data)
        messages.success(request, gettext("Adverse event voided: it no longer counts anywhere."))
    except (InputError, Conflict) as exc:
        messages.error(request, str(exc))
    return _back(ae_id)
