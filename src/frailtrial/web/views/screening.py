"""Screening log, eligibility form with a live criteria check, consent, closing, randomizing."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from pydantic import ValidationError

from frailtrial.edc.eligibility import ScreeningInput, evaluate
from frailtrial.edc.models import Membership, Participant
from frailtrial.edc.services import randomization, screening
from frailtrial.edc.services.common import protocol_of
from frailtrial.errors import InputError
from frailtrial.web import access, overview
from frailtrial.web.views.forms import TrialDateField, screening_form, screening_input


class ConsentForm(forms.Form):
    version = forms.CharField(max_length=40, label=_("Consent form version"))
    signed_on = TrialDateField(label=_("Date signed"), initial=dt.date.today)


class CloseForm(forms.Form):
    reason = forms.CharField(max_length=500, label=_("Reason not randomized"))


@access.page("screening_log")
def screening_log(request: HttpRequest, member: Membership) -> HttpResponse:
    """The screening log of the actor's site, with the reason for every non-randomized person."""
    rows = overview.screenings(member).prefetch_related("consents")[:500]
    randomized = set(
        Participant.objects.filter(trial_id=member.trial_id).values_list("screening_id", flat=True)
    )
    return render(
        request,
        "web/screening_log.html",
        {
            "rows": rows,
            "randomized": randomized,
            "can_screen": access.allowed(member, "screen"),
        },
    )


@access.page("screen")
def screen_new(request: HttpRequest, member: Membership) -> HttpResponse:
    """Screen a person: the criteria are checked live (JS) and again on save by the service."""
    protocol = protocol_of(member.trial)
    form = screening_form(protocol, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            s = screening.screen(member, screening_input(protocol, form.cleaned_data))
        except InputError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                (
                    gettext("Screening %(id)s saved: eligible.")
                    if s.eligible
                    else gettext("Screening %(id)s saved: not eligible.")
                )
                % {"id": s.screening_id},
            )
            return redirect("web:screening_detail", screening_id=s.screening_id)
    return render(request, "web/screen_form.html", {"form": form, "protocol": protocol})


@access.page("screen")
@require_POST
def screen_check(request: HttpRequest, member: Membership) -> JsonResponse:
    """Live criteria check of a partly filled form: the reasons, nothing saved."""
    protocol = protocol_of(member.trial)
    form = screening_form(protocol, request.POST)
    form.is_valid()
    data = screening_input(protocol, {**{k: None for k in form.fields}, **form.cleaned_data})
    data["screening_id"] = data["screening_id"] or "check"
    data["screened_on"] = data["screened_on"] or dt.date.today()
    if data["age"] is None:
        problem = form.errors.get("age")
        said = f"age {request.POST.get('age', '')}: {problem[0]}" if problem else "age not entered"
        return JsonResponse({"eligible": False, "reasons": [said]})
    try:
        reasons = evaluate(protocol, ScreeningInput.model_validate(data))
    except (InputError, ValidationError) as exc:
        text = str(exc).splitlines()[0] if isinstance(exc, ValidationError) else str(exc)
        return JsonResponse({"eligible": False, "reasons": [text]})
    return JsonResponse({"eligible": not reasons, "reasons": reasons})


@access.page("screening_log")
def screening_detail(request: HttpRequest, member: Membership, screening_id: str) -> HttpResponse:
    """One screened person: eligibility reasons, consent, close or randomize."""
    s = screening.get_screening(member, screening_id)
    consent_form, close_form = ConsentForm(), CloseForm()
    can_act = access.allowed(member, "consent") and member.trial.locked_at is None
    if request.method == "POST" and can_act:
        action = request.POST.get("action")
        try:
            if action == "consent":
                consent_form = ConsentForm(request.POST)
                if consent_form.is_valid():
                    screening.consent(member, screening_id, **consent_form.cleaned_data)
                    messages.success(request, gettext("Consent recorded."))
                    return redirect("web:screening_detail", screening_id=screening_id)
            elif action == "close":
                close_form = CloseForm(request.POST)
                if close_form.is_valid():
                    screening.close(member, screening_id, close_form.cleaned_data["reason"])
                    messages.success(request, gettext("Screening closed."))
                    return redirect("web:screening_detail", screening_id=screening_id)
        except InputError as exc:
            messages.error(request, str(exc))
    participant = Participant.objects.filter(screening=s).first()
    consented = s.consents.filter(withdrawn_on__isnull=True).exists()
    return render(
        request,
        "web/screening_detail.html",
        {
            "s": s,
            "participant": participant,
            "consents": s.consents.all(),
            "consented": consented,
            "consent_form": consent_form,
            "close_form": close_form,
            "can_act": can_act,
            "can_audit": access.allowed(member, "audit"),
            "can_correct": access.allowed(member, "correct") and member.trial.locked_at is None,
            "can_randomize": access.allowed(member, "randomize")
            and consented
            and not s.closed
            and participant is None,
        },
    )


@access.page("randomize")
def randomize(request: HttpRequest, member: Membership, screening_id: str) -> HttpResponse:
    """Confirm, then allocate the next list entry; blinded roles see the number only."""
    s = screening.get_screening(member, screening_id)
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            got = randomization.randomize(member, screening_id)
        except InputError as exc:
            messages.error(request, str(exc))
            return redirect("web:screening_detail", screening_id=screening_id)
        return render(request, "web/randomized.html", {"r": got})
    return render(request, "web/randomize_confirm.html", {"s": s})
