"""Participants: list, the participant page (visits, infusions, AEs), CRF entry per visit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from frailtrial.dataset.schema import OUTCOME, SEVERITY
from frailtrial.edc import collection
from frailtrial.edc.errors import Conflict
from frailtrial.edc.models import (
    Crf,
    DataQuery,
    LogRecord,
    Membership,
    Participant,
    SdvMark,
    VisitOccurrence,
)
from frailtrial.edc.services import crf as crf_service
from frailtrial.edc.services import (
    epro,
    participants,
    product,
    safety,
    signatures,
    unblinding,
    visits,
)
from frailtrial.edc.services.common import participant, protocol_of
from frailtrial.errors import InputError
from frailtrial.instruments import Item
from frailtrial.web import access, form_text, overview
from frailtrial.web.templatetags.labels import choices
from frailtrial.web.views.forms import (
    Responses,
    TrialDateField,
    crf_answers,
    crf_form,
    posted_version,
    problems,
    response_wording,
)

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class AttendForm(forms.Form):
    on = TrialDateField(label=_("Visit date"), initial=dt.date.today)
    reason = forms.CharField(
        max_length=500, required=False, label=_("Deviation reason (a date outside the window)")
    )


class MissForm(forms.Form):
    reason = forms.CharField(max_length=500, label=_("Reason missed"))


class InfusionForm(forms.Form):
    kit_code = forms.CharField(max_length=40, label=_("Kit code on the bag"))
    started_at = forms.DateTimeField(
        label=_("Start"), widget=DATETIME, input_formats=["%Y-%m-%dT%H:%M"]
    )
    ended_at = forms.DateTimeField(
        label=_("End"), widget=DATETIME, input_formats=["%Y-%m-%dT%H:%M"]
    )
    volume_ml = forms.FloatField(label=_("Volume infused (mL)"), min_value=0.1, max_value=1000)


class WithdrawForm(forms.Form):
    on = TrialDateField(label=_("Withdrawal date"), initial=dt.date.today)
    reason = forms.CharField(max_length=500, label=_("Reason"))


class AeForm(forms.Form):
    term = forms.CharField(max_length=200, label=_("Term"))
    body_system = forms.CharField(max_length=200, label=_("Body system"))
    onset_on = TrialDateField(label=_("Onset date"), initial=dt.date.today)
    end_on = TrialDateField(label=_("End date"), required=False)
    severity = forms.ChoiceField(choices=choices(SEVERITY), label=_("Severity"))
    causality = forms.ChoiceField(
        choices=choices(safety.CAUSALITY),
        label=_("Causality (relation to study product)"),
    )
    expectedness = forms.ChoiceField(
        choices=[("", _("not assessed")), *choices(safety.EXPECTEDNESS)],
        required=False,
        label=_("Expectedness"),
    )
    soc = forms.CharField(max_length=200, required=False, label=_("System organ class (coded)"))
    preferred_term = forms.CharField(
        max_length=200, required=False, label=_("Preferred term (coded)")
    )
    outcome = forms.ChoiceField(choices=choices(OUTCOME), label=_("Outcome"))
    seriousness = forms.MultipleChoiceField(
        choices=[(s, form_text.option_lazy(s)) for s in safety.SERIOUSNESS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label=_("Seriousness criteria (any makes it an SAE)"),
    )


@access.page("participants")
def participant_list(request: HttpRequest, member: Membership) -> HttpResponse:
    """The actor's participants (site-limited), with randomization number and status."""
    return render(request, "web/participants.html", {"rows": overview.participants(member)})


@access.page("calendar")
def visit_calendar(request: HttpRequest, member: Membership) -> HttpResponse:
    """Scheduled visits of the actor's site (or every site) with their windows, overdue and
    due first in their site's list."""
    today = timezone.localdate()
    return render(
        request,
        "web/calendar.html",
        {"rows": overview.calendar(member, today), "today": today, "site": member.site},
    )


def _visit_rows(member: Membership, p: Participant, today: dt.date) -> list[dict[str, Any]]:
    """The store's schedule of the participant, each visit with its label, state and forms
    (each form: not entered, incomplete with its missing items, or complete)."""
    protocol = protocol_of(member.trial)
    planned = {v.name: v for v in protocol.visits}
    crfs = {(c.visit, c.instrument): c for c in Crf.objects.filter(participant=p)}
    pks = dict(VisitOccurrence.objects.filter(participant=p).values_list("visit", "pk"))
    rows = []
    for v in participants.schedule(member, p.participant_id, today):
        state = v.status
        if v.overdue:
            state = "overdue"
        elif v.status == "scheduled" and v.window_from <= today:
            state = "due"
        spec = planned.get(v.visit)
        forms = []
        for f in form_text.forms_at(protocol, v.visit) if spec else []:
            c = crfs.get((v.visit, f.name))
            gaps = collection.missing(protocol, f, c.answers) if c else []
            forms.append(
                {
                    "name": f.name,
                    "title": f.title,
                    "crf": c,
                    "state": "complete" if c and not gaps else "incomplete" if c else "",
                    "missing": gaps,
                }
            )
        rows.append(
            {
                "v": v,
                "pk": pks.get(v.visit),
                "label": form_text.word(spec.label) if spec else v.visit,
                "state": state,
                "crfs": forms,
                "questionnaires": bool(spec and epro.answered_at(spec.instruments)),
            }
        )
    return rows


# action -> (permission, form, service, whether the service takes the POSTed visit); each
# form's fields are the service's keyword arguments.
ACTIONS: dict[str, tuple[str, type[forms.Form], Callable[..., Any], bool]] = {
    "attend": ("visit", AttendForm, visits.attend, True),
    "miss": ("visit", MissForm, visits.miss, True),
    "infusion": ("infusion", InfusionForm, product.infuse, False),
    "withdraw": ("infusion", WithdrawForm, visits.withdraw, False),
}


@access.page("participant")
def participant_page(request: HttpRequest, member: Membership, pid: str) -> HttpResponse:
    """Visit schedule with windows and status, CRFs per visit, infusions, AEs, withdrawal."""
    p = participant(member, pid)
    forms_: dict[str, forms.Form] = {name: spec[1]() for name, spec in ACTIONS.items()}
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action not in ACTIONS or not access.allowed(member, ACTIONS[action][0]):
            return access.denied(request, "Your role may not change this participant.")
        _, form_class, service, takes_visit = ACTIONS[action]
        form = forms_[action] = form_class(request.POST)
        if form.is_valid():
            where = {"visit": request.POST.get("visit", "")} if takes_visit else {}
            try:
                service(member, pid, **where, **form.cleaned_data)
            except (InputError, Conflict) as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, gettext("Saved."))
                return redirect("web:participant", pid=pid)
        else:  # the visit forms are inline in the schedule: say what is wrong in the message
            messages.error(
                request, gettext("Not saved: %(problems)s") % {"problems": problems(form)}
            )
    today = timezone.localdate()
    counts = dict(
        LogRecord.objects.filter(participant=p)
        .values_list("form")
        .annotate(n=Count("pk"))
        .values_list("form", "n")
    )
    return render(
        request,
        "web/participant.html",
        {
            "p": p,
            "visits": _visit_rows(member, p, today),
            "today": today,
            "infusions": p.infusions.order_by("dose_number"),
            "aes": p.adverse_events.order_by("onset_on"),
            "forms": forms_,
            "can_visit": access.allowed(member, "visit"),
            "can_clinical": access.allowed(member, "infusion"),
            "can_ae": access.allowed(member, "ae_report"),
            "can_audit": access.allowed(member, "audit"),
            "can_unblind": access.allowed(member, "emergency_unblind"),
            "can_correct": access.allowed(member, "correct"),
            "logs": [
                (spec.name, spec.title, counts.get(spec.name, 0)) for spec in form_text.log_forms()
            ],
            "locked": member.trial.locked_at is not None,
            "signatures": signatures.signatures(member, pid),
            "can_sign": access.allowed(member, "sign_casebook"),
        },
    )


def _worded(worded: Responses, item: str, shown: str) -> str:
    """An answer as read-only pages show it: "2 — Very good" where the item has wording."""
    wording_of = dict(worded.get(item, ()))
    return f"{shown} — {wording_of[shown]}" if shown in wording_of else shown


def _crf_fields(spec: collection.FormSpec) -> list[Item]:
    """The items a page asks: all but the participant's sex, which screening recorded."""
    return [i for i in spec.items if i.id != "sex"]


def _save_and_next(
    request: HttpRequest, member: Membership, p: Participant, visit: str, done: str, title: str
) -> HttpResponse:
    """After a save: the visit's next form not complete, or the participant page when none."""
    saved = dict(
        Crf.objects.filter(participant=p, visit=visit).values_list("instrument", "answers")
    )
    nxt = collection.next_open(protocol_of(member.trial), visit, done, saved)
    if nxt is None:
        messages.success(
            request,
            gettext("%(form)s saved; every form of this visit is complete.") % {"form": title},
        )
        return redirect("web:participant", pid=p.participant_id)
    messages.success(request, gettext("%(form)s saved; next form of this visit.") % {"form": title})
    return redirect("web:crf", pid=p.participant_id, visit=visit, instrument=nxt)


@access.page("crf_view")
def crf_page(
    request: HttpRequest, member: Membership, pid: str, visit: str, instrument: str
) -> HttpResponse:
    """A CRF generated from the form's items; scores on save, errors next to fields; the
    required items still empty are listed (a partial form is incomplete)."""
    p = participant(member, pid)
    protocol = protocol_of(member.trial)
    vspec = next((v for v in protocol.visits if v.name == visit), None)
    try:
        spec = form_text.form_at(protocol, visit, instrument)
    except InputError:
        spec = None
    if vspec is None or spec is None:
        return render(
            request,
            "web/denied.html",
            {"message": f"{instrument} is not collected at {visit}."},
            status=404,
        )
    items = _crf_fields(spec)
    saved = Crf.objects.filter(participant=p, visit=visit, instrument=instrument).first()
    locked = member.trial.locked_at is not None
    can_enter = access.allowed(member, "crf_enter") and not locked
    status = 200
    worded = response_wording(instrument, spec.items)
    form = crf_form(
        items,
        initial=saved.answers if saved else None,
        with_reason=saved is not None,
        responses=worded,
    )
    if request.method == "POST" and request.POST.get("action") == "save":
        if not can_enter:
            return access.denied(
                request,
                "The database is locked." if locked else "Your role may not enter CRFs.",
            )
        form = crf_form(items, request.POST, with_reason=saved is not None, responses=worded)
        form.is_valid()
        answers = crf_answers(form, items, instrument)
        if not form.errors:
            try:
                crf_service.enter_crf(
                    member,
                    pid,
                    visit,
                    instrument,
                    answers,
                    reason=form.cleaned_data.get("reason"),
                    version=posted_version(request),
                )
            except Conflict as exc:
                form.add_error(None, f"Not saved: {exc}")
                status = 409
                saved = Crf.objects.filter(
                    participant=p, visit=visit, instrument=instrument
                ).first()
            except InputError as exc:
                form.add_error(None, str(exc))
            else:
                if request.POST.get("next"):
                    return _save_and_next(request, member, p, visit, instrument, spec.title)
                messages.success(
                    request, gettext("%(form)s saved; scores below.") % {"form": spec.title}
                )
                return redirect("web:crf", pid=pid, visit=visit, instrument=instrument)
    queries = DataQuery.objects.filter(
        participant=p, model="crf", object_id=str(saved.pk) if saved else "-"
    )
    sdv = (
        SdvMark.objects.filter(crf_id=saved.pk, crf_version=saved.version).first()
        if saved
        else None
    )
    labels = {i.id: i.label for i in spec.items}
    by_id = {i.id: i for i in spec.items}
    gaps = collection.missing(protocol, spec, saved.answers) if saved else []
    return render(
        request,
        "web/crf.html",
        {
            "p": p,
            "visit": visit,
            "visit_label": form_text.word(vspec.label),
            "instrument": instrument,
            "title": spec.title,
            "form": form,
            "saved": saved,
            "can_enter": can_enter,
            "locked": locked,
            "queries": [(labels.get(q.field, q.field), q) for q in queries],
            "fields": [(f"item_{i.id}", i.label) for i in items],
            "missing": [labels.get(i, i) for i in gaps],
            "scores": [
                (form_text.result_label(protocol, spec, k), form_text.shown(v))
                for k, v in (saved.scores.items() if saved else [])
            ],
            "answers": [
                (labels.get(k, k), _worded(worded, k, form_text.shown(v, by_id.get(k))))
                for k, v in (saved.answers.items() if saved else [])
            ],
            "sdv": sdv,
            "can_raise": access.allowed(member, "query_raise") and not locked,
            "can_sdv": access.allowed(member, "sdv") and not locked,
            "can_audit": access.allowed(member, "audit"),
            "can_correct": access.allowed(member, "correct") and not locked,
        },
        status=status,
    )


@access.page("ae_report")
def ae_new(request: HttpRequest, member: Membership, pid: str) -> HttpResponse:
    """Report an adverse event; a serious one raises an SAE alert."""
    p = participant(member, pid)
    form = AeForm(request.POST or None)
    if member.trial.locked_at is not None:
        return render(request, "web/denied.html", {"message": "The database is locked."})
    if request.method == "POST" and form.is_valid():
        try:
            d = form.cleaned_data
            ae = safety.report(member, pid, related=d["causality"] in safety.RELATED, **d)
        except InputError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                (
                    gettext("Adverse event saved: SAE alert raised for expedited reporting.")
                    if ae.serious
                    else gettext("Adverse event saved.")
                ),
            )
            if ae.serious:
                return redirect("web:ae_report", ae_id=ae.pk)
            return redirect("web:participant", pid=pid)
    return render(request, "web/ae_form.html", {"p": p, "form": form})


class UnblindForm(forms.Form):
    reason = forms.CharField(
        min_length=10,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label=_("Medical reason the treatment must be known"),
    )


@access.page("emergency_unblind")
def emergency_unblind(request: HttpRequest, member: Membership, pid: str) -> HttpResponse:
    """Break the blind for one participant in an emergency: reason required, audited, flagged."""
    p = participant(member, pid)
    form = UnblindForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            arm = unblinding.emergency_unblind(member, pid, form.cleaned_data["reason"])
        except InputError as exc:
            form.add_error(None, str(exc))
        else:
            label = form_text.word(protocol_of(member.trial).arm(arm).label)
            return render(request, "web/unblinded.html", {"p": p, "arm": label})
    return render(request, "web/unblind_form.html", {"p": p, "form": form})
