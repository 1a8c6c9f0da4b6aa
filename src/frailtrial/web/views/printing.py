"""Printable pages: blank CRFs of the protocol (per form, for paper source documents) and a
participant's casebook (every form with its values, the adverse events and the logs)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext

from frailtrial.edc import collection
from frailtrial.edc.models import Crf, Membership
from frailtrial.edc.services import logs
from frailtrial.edc.services.common import participant, protocol_of
from frailtrial.errors import InputError
from frailtrial.web import access, form_text


@access.page("blank_crf")
def blank_index(request: HttpRequest, member: Membership) -> HttpResponse:
    """Every form of the protocol, visit by visit, and the logs, each linking its blank CRF."""
    protocol = protocol_of(member.trial)
    visits = [
        (v, form_text.word(v.label), form_text.forms_at(protocol, v.name)) for v in protocol.visits
    ]
    return render(
        request,
        "web/blank_index.html",
        {"visits": visits, "logs": form_text.log_forms()},
    )


@access.page("blank_crf")
def blank_crf(
    request: HttpRequest, member: Membership, visit: str, instrument: str
) -> HttpResponse:
    """One blank form to print: each item with its allowed values and unit, and a box."""
    protocol = protocol_of(member.trial)
    try:
        if visit == "log":
            spec, label = form_text.form(logs.log_form(instrument)), gettext("Participant log")
        else:
            spec = form_text.form_at(protocol, visit, instrument)
            label = form_text.visit_labels(protocol)[visit]
    except (InputError, KeyError):
        msg = {"message": f"{instrument} is not a form of {visit}."}
        return render(request, "web/denied.html", msg, status=404)
    return render(
        request,
        "web/blank_crf.html",
        {
            "spec": spec,
            "visit_label": label,
            "trial": member.trial,
            "items": [(i, form_text.allowed(i)) for i in spec.items],
        },
    )


@access.page("casebook")
def casebook(request: HttpRequest, member: Membership, pid: str) -> HttpResponse:
    """The participant's casebook to print: visits with every form's values and scores (or
    "not entered"), the adverse events (voided ones marked) and the log entries."""
    p = participant(member, pid)
    protocol = protocol_of(member.trial)
    crfs = {(c.visit, c.instrument): c for c in Crf.objects.filter(participant=p)}
    visits = []
    for v in p.visits.order_by("order"):
        spec = next((s for s in protocol.visits if s.name == v.visit), None)
        forms = []
        for f in form_text.forms_at(protocol, v.visit) if spec else []:
            c = crfs.get((v.visit, f.name))
            forms.append(
                {
                    "title": f.title,
                    "crf": c,
                    "answers": form_text.answers(f, c.answers) if c else [],
                    "scores": [
                        (form_text.result_label(protocol, f, k), form_text.shown(x))
                        for k, x in (c.scores.items() if c else [])
                    ],
                    "missing": len(collection.missing(protocol, f, c.answers)) if c else 0,
                }
            )
        visits.append(
            {"v": v, "label": form_text.word(spec.label) if spec else v.visit, "forms": forms}
        )
    log_forms = {f.name: f for f in form_text.log_forms()}
    entries = [
        (log_forms[r.form].title, form_text.answers(log_forms[r.form], r.answers))
        for r in logs.entries(member, pid)
        if r.form in log_forms
    ]
    return render(
        request,
        "web/casebook.html",
        {
            "p": p,
            "visits": visits,
            "aes": p.adverse_events.order_by("onset_on", "pk"),
            "logs": entries,
        },
    )
