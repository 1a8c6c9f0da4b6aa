"""Printable pages: blank CRFs of the protocol (per form, for paper source documents) and a
participant's casebook (every form with its values, the adverse events and the logs)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from frailtrial.edc import collection
from frailtrial.edc.models import Crf, Membership
from frailtrial.edc.services import logs
from frailtrial.edc.services.common import participant, protocol_of
from frailtrial.errors import InputError
from frailtrial.web import access


@access.page("blank_crf")
def blank_index(request: HttpRequest, member: Membership) -> HttpResponse:
    """Every form of the protocol, visit by visit, and the logs, each linking its blank CRF."""
    protocol = protocol_of(member.trial)
    visits = [(v, collection.forms_at(protocol, v.name)) for v in protocol.visits]
    return render(
        request,
        "web/blank_index.html",
        {"visits": visits, "logs": list(collection.LOG_FORMS.values())},
    )


@access.page("blank_crf")
def blank_crf(
    request: HttpRequest, member: Membership, visit: str, instrument: str
) -> HttpResponse:
    """One blank form to print: each item with its allowed values and unit, and a box."""
    protocol = protocol_of(member.trial)
    try:
        if visit == "log":
            spec, label = logs.log_form(instrument), "Participant log"
        else:
            spec = collection.form_at(protocol, visit, instrument)
            label = next(v.label for v in protocol.visits if v.name == visit)
    except (InputError, StopIteration):
        msg = {"message": f"{instrument} is not a form of {visit}."}
        return render(request, "web/denied.html", msg, status=404)
    return render(
        request,
        "web/blank_crf.html",
        {"spec": spec, "visit_label": label, "trial": member.trial, "items": spec.items},
    )


def _answers(spec: collection.FormSpec, answers: dict[str, Any]) -> list[tuple[str, str]]:
    labels = {i.id: i.label for i in spec.items}
    return [(labels.get(k, k), collection.shown(v)) for k, v in answers.items()]


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
        for f in collection.forms_at(protocol, v.visit) if spec else []:
            c = crfs.get((v.visit, f.name))
            forms.append(
                {
                    "title": f.title,
                    "crf": c,
                    "answers": _answers(f, c.answers) if c else [],
                    "scores": [
                        (collection.result_label(protocol, f, k), collection.shown(x))
                        for k, x in (c.scores.items() if c else [])
                    ],
                    "missing": len(collection.missing(protocol, f, c.answers)) if c else 0,
                }
            )
        visits.append({"v": v, "label": spec.label if spec else v.visit, "forms": forms})
    entries = [
        (collection.LOG_FORMS[r.form].title, _answers(collection.LOG_FORMS[r.form], r.answers))
        for r in logs.entries(member, pid)
        if r.form in collection.LOG_FORMS
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
