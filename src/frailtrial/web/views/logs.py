"""A participant's running logs: concomitant medications, protocol deviations, end of study."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext

from frailtrial.edc import collection
from frailtrial.edc.models import LogRecord, Membership
from frailtrial.edc.services import logs
from frailtrial.edc.services.common import participant, protocol_of
from frailtrial.errors import InputError
from frailtrial.web import access, form_text
from frailtrial.web.views.corrections import save
from frailtrial.web.views.forms import crf_answers, crf_form


def _spec_or_404(request: HttpRequest, form: str) -> collection.FormSpec | HttpResponse:
    try:
        return form_text.form(logs.log_form(form))
    except InputError as exc:
        return render(request, "web/denied.html", {"message": str(exc)}, status=404)


@access.page("log_view")
def log_page(request: HttpRequest, member: Membership, pid: str, form: str) -> HttpResponse:
    """The entries of one log of a participant, and a form to add one."""
    p = participant(member, pid)
    spec = _spec_or_404(request, form)
    if isinstance(spec, HttpResponse):
        return spec
    items = list(spec.items)
    locked = member.trial.locked_at is not None
    can_add = access.allowed(member, "log_enter") and not locked
    entry_form = crf_form(items)
    if request.method == "POST":
        if not can_add:
            return access.denied(request, "You may not add to this log now.")
        entry_form = crf_form(items, request.POST)
        entry_form.is_valid()
        answers = crf_answers(entry_form, items, form)
        if not entry_form.errors:
            try:
                logs.add(member, pid, form, answers)
            except InputError as exc:
                entry_form.add_error(None, str(exc))
            else:
                messages.success(request, gettext("%(form)s saved.") % {"form": spec.title})
                return redirect("web:log", pid=pid, form=form)
    labels = {i.id: i.label for i in items}
    protocol = protocol_of(member.trial)
    rows = [
        {
            "entry": e,
            "answers": form_text.answers(spec, e.answers),
            "missing": [labels[i] for i in collection.missing(protocol, spec, e.answers)],
        }
        for e in logs.entries(member, pid, form)
    ]
    once_done = form in collection.ONCE and bool(rows)
    return render(
        request,
        "web/log.html",
        {
            "p": p,
            "spec": spec,
            "rows": rows,
            "form": entry_form,
            "can_add": can_add and not once_done,
            "can_correct": access.allowed(member, "correct") and not locked,
            "can_audit": access.allowed(member, "audit"),
        },
    )


@access.page("correct")
def log_entry(
    request: HttpRequest, member: Membership, pid: str, form: str, entry_id: int
) -> HttpResponse:
    """Correct one log entry with a reason, on the version read."""
    p = participant(member, pid)
    entry = LogRecord.objects.filter(pk=entry_id, participant=p, form=form).first()
    spec = _spec_or_404(request, form)
    if isinstance(spec, HttpResponse):
        return spec
    if entry is None:
        return render(request, "web/denied.html", {"message": "No such entry."}, status=404)
    items = list(spec.items)
    locked = member.trial.locked_at is not None
    entry_form = crf_form(items, initial=entry.answers, with_reason=True)
    status = 200
    if request.method == "POST" and not locked:
        entry_form = crf_form(items, request.POST, with_reason=True)
        entry_form.is_valid()
        answers = crf_answers(entry_form, items, form)
        if not entry_form.errors:
            changes = {"answers": answers}
            refused = save(request, member, entry_form, "logrecord", entry.pk, changes)
            if refused is None:
                return redirect("web:log", pid=pid, form=form)
            status = refused
    return render(
        request,
        "web/log_entry.html",
        {"p": p, "spec": spec, "entry": entry, "form": entry_form, "locked": locked},
        status=status,
    )
