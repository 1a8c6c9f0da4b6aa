"""Dashboard, safety lists, data queries and SDV, audit trail, DSMB report, lock, exports."""

from __future__ import annotations

import dataclasses
import io
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from django import forms
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from frailtrial.edc import collection
from frailtrial.edc.models import (
    AdverseEvent,
    Crf,
    DataQuery,
    Membership,
)
from frailtrial.edc.services import (
    corrections,
    oversight,
    prelock,
    safety,
    trials,
    unblinding,
)
from frailtrial.edc.services.common import protocol_of, sees_arm
from frailtrial.edc.services.exports.run import export
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol
from frailtrial.web import access, form_text, overview
from frailtrial.web.templatetags.labels import label
from frailtrial.web.views.forms import TrialDateField, post_form

# the labels of the DSMB report's counts (``oversight.COUNTS``) in the interface language
COUNT_LABELS = {
    "randomized": _("Randomized"),
    "withdrawn": _("Withdrawn"),
    "infusions": _("Infusions"),
    "aes": _("Adverse events"),
    "saes": _("Serious AEs"),
    "te_saes": _("TE-SAEs"),
    "related": _("Related AEs"),
}


def _item_labels(spec: collection.FormSpec | None, ids: tuple[str, ...]) -> list[str]:
    """Item ids as their labels in the form (ids the form does not name stay as stored)."""
    labels = {i.id: i.label for i in spec.items} if spec else {}
    return [labels.get(i, i) for i in ids]


@access.page("dashboard")
def dashboard(request: HttpRequest, member: Membership) -> HttpResponse:
    """Enrollment vs target, screening funnel, visits due and overdue, CRFs, queries, SAEs
    (an SAE not acknowledged in time is escalated once: notices and e-mail)."""
    safety.escalate_overdue(member)
    d = overview.dashboard(member, timezone.localdate())
    protocol = protocol_of(member.trial)
    visit_label = form_text.visit_labels(protocol)
    specs = {
        (v.name, f.name): f for v in protocol.visits for f in form_text.forms_at(protocol, v.name)
    }
    titles = {k: f.title for k, f in specs.items()}
    form_title = {f.form: titles.get((f.visit, f.form), f.title) for f in d["completeness"].forms}
    comp = d["completeness"]
    tables = [
        (gettext("By participant"), gettext("Participant"), sorted(comp.by_participant.items())),
        (
            gettext("By visit"),
            gettext("Visit"),
            [(visit_label.get(k, k), c) for k, c in comp.by_visit.items()],
        ),
        (
            gettext("By form"),
            gettext("Form"),
            [(form_title.get(k, k), c) for k, c in comp.by_form.items()],
        ),
    ]
    d["missing_crfs"] = [
        dataclasses.replace(
            m,
            visit_label=visit_label.get(m.visit, m.visit_label),
            title=titles.get((m.visit, m.form), m.title),
            missing_items=tuple(_item_labels(specs.get((m.visit, m.form)), m.missing_items)),
        )
        for m in d["missing_crfs"]
    ]
    return render(
        request,
        "web/dashboard.html",
        {
            "d": d,
            "completeness_tables": tables,
            "notices": unblinding.notices(member),
            "show_reason": unblinding.reason_visible_to(member),
            "can_report": access.allowed(member, "sae_report"),
            "now": timezone.now(),
        },
    )


@access.page("safety")
def safety_list(request: HttpRequest, member: Membership) -> HttpResponse:
    """Adverse events of the actor's participants and the SAE alerts with their due times."""
    safety.escalate_overdue(member)
    aes = AdverseEvent.objects.filter(
        participant__in=overview.participants(member), voided_at__isnull=True
    )
    now = timezone.now()
    return render(
        request,
        "web/safety.html",
        {
            "aes": aes.select_related("participant").order_by("-onset_on")[:500],
            "alerts": [(a, safety.sae_state(a, now)) for a in overview.open_sae_alerts(member)],
            "can_report": access.allowed(member, "sae_report"),
        },
    )


class QueryForm(forms.Form):
    field = forms.CharField(max_length=80, label=_("Field"))
    text = forms.CharField(
        max_length=1000, label=_("Question"), widget=forms.Textarea(attrs={"rows": 2})
    )


def _query_rows(member: Membership, found: list[DataQuery]) -> list[dict[str, Any]]:
    """Each query with the form's title, the visit's label, the field's label and, for a role
    that may open CRFs, the form's address."""
    protocol = protocol_of(member.trial)
    crfs = Crf.objects.in_bulk([int(q.object_id) for q in found if q.model == "crf"])
    visits = form_text.visit_labels(protocol)
    link = access.allowed(member, "crf_view")
    rows = []
    for q in found:
        c = crfs.get(int(q.object_id)) if q.model == "crf" else None
        row: dict[str, Any] = {"q": q, "form": f"{q.model} {q.object_id}", "visit": "", "url": ""}
        if c is not None:
            spec = form_text.form_at(protocol, c.visit, c.instrument)
            labels = {i.id: i.label for i in spec.items}
            row |= {"form": spec.title, "visit": visits.get(c.visit, c.visit)}
            row["field"] = labels.get(q.field, q.field)
            if link:
                row["url"] = reverse(
                    "web:crf",
                    kwargs={
                        "pid": q.participant.participant_id,
                        "visit": c.visit,
                        "instrument": c.instrument,
                    },
                )
        rows.append(row)
    return rows


@access.page("sdv_overview")
def sdv_overview(request: HttpRequest, member: Membership) -> HttpResponse:
    """Source-data verification per participant and visit: CRFs verified of those entered."""
    rows = overview.sdv_overview(member)
    total = sum(r["entered"] for r in rows), sum(r["verified"] for r in rows)
    return render(
        request, "web/sdv.html", {"rows": rows, "entered": total[0], "verified": total[1]}
    )


@access.page("queries")
def query_list(request: HttpRequest, member: Membership) -> HttpResponse:
    """Data queries of the actor's participants; answer (site) or close (monitor)."""
    return render(
        request,
        "web/queries.html",
        {
            "rows": _query_rows(
                member, list(overview.queries(member).order_by("status", "-raised_at")[:500])
            ),
            "can_answer": access.allowed(member, "query_answer"),
            "can_close": access.allowed(member, "query_close"),
        },
    )


def _back_to(crf: Crf) -> HttpResponse:
    return redirect(
        "web:crf", pid=crf.participant.participant_id, visit=crf.visit, instrument=crf.instrument
    )


def _trial_crf(request: HttpRequest, member: Membership, crf_id: int) -> Crf | HttpResponse:
    """The CRF the route names, or the 403 page when the trial has none."""
    try:
        return oversight.trial_crf(member, crf_id)
    except InputError:
        return access.denied(request, "No such CRF in this trial.")


@access.page("query_raise")
@require_POST
def query_raise(request: HttpRequest, member: Membership, crf_id: int) -> HttpResponse:
    """Raise a query on one field of a CRF."""
    crf = _trial_crf(request, member, crf_id)
    if isinstance(crf, HttpResponse):
        return crf

    def do(d: dict[str, Any]) -> str:
        oversight.raise_query(member, crf.pk, d["field"], d["text"])
        return gettext("Query raised.")

    post_form(request, QueryForm(request.POST), do)
    return _back_to(crf)


@access.page("query_answer")
@require_POST
def query_answer(request: HttpRequest, member: Membership, query_id: int) -> HttpResponse:
    """The site answers an open query."""
    try:
        oversight.answer_query(member, query_id, request.POST.get("answer", ""))
        messages.success(request, gettext("Answer saved."))
    except InputError as exc:
        messages.error(request, str(exc))
    return redirect("web:queries")


@access.page("query_close")
@require_POST
def query_close(request: HttpRequest, member: Membership, query_id: int) -> HttpResponse:
    """The monitor closes a query."""
    try:
        oversight.close_query(member, query_id)
        messages.success(request, gettext("Query closed."))
    except InputError as exc:
        messages.error(request, str(exc))
    return redirect("web:queries")


@access.page("sdv")
@require_POST
def sdv_mark(request: HttpRequest, member: Membership, crf_id: int) -> HttpResponse:
    """The monitor marks a CRF (its current version) as verified against source."""
    crf = _trial_crf(request, member, crf_id)
    if isinstance(crf, HttpResponse):
        return crf
    oversight.mark_sdv(member, crf.pk)
    messages.success(request, gettext("Source data verified."))
    return _back_to(crf)


@access.page("audit")
def audit_trail(
    request: HttpRequest, member: Membership, model: str, object_id: str
) -> HttpResponse:
    """Every change of one record, field by field: old -> new, who, when, why (values that
    would reveal an arm hidden from blinded roles)."""
    try:
        owner = corrections.owner(member, model, object_id)
    except InputError:
        return render(request, "web/denied.html", {"message": "No such record."}, status=404)
    changes = corrections.record_changes(member, model, object_id)
    return render(
        request,
        "web/audit.html",
        {
            "rows": [
                {
                    **c.__dict__,
                    "at": c.at[:19].replace("T", " "),
                    "old": corrections.shown(c.old),
                    "new": corrections.shown(c.new),
                }
                for c in changes
            ],
            "model": model,
            "object_id": object_id,
            "owner": owner,
            "can_correct": access.allowed(member, "correct")
            and model in corrections.WRITERS
            and member.trial.locked_at is None,
        },
    )


def _mean(cell: tuple[float, int] | None) -> str:
    """A report cell: the mean and its count, or a dash when the arm has no value."""
    if cell is None:
        return "—"
    mean, n = cell
    return f"{mean:.2f} (n={n})"


@access.page("dsmb_report")
def dsmb_report(request: HttpRequest, member: Membership) -> HttpResponse:
    """Safety and outcomes by arm, for the DSMB only (an unblinded role)."""
    report = oversight.dsmb_report(member)  # AccessDenied (403) for a blinded role
    arms = report.arm_names
    protocol = protocol_of(member.trial)
    variables = {v.name: form_text.word(v.label) for v in protocol.variables}
    visits = form_text.visit_labels(protocol)
    outcomes = [
        (
            variables.get(row.variable, row.variable),
            visits.get(row.visit, row.visit),
            [_mean(c) for c in row.cells],
        )
        for row in report.outcomes
    ]
    labels = {a.name: form_text.word(a.label) for a in protocol.arms}
    return render(
        request,
        "web/dsmb.html",
        {
            "arms": [form_text.word(a) for a in report.arm_labels],
            "table": [
                (COUNT_LABELS.get(k, label), [report.counts[k][a] for a in arms])
                for k, label in oversight.COUNTS
            ],
            "by_system": list(report.by_system.items()),
            "outcomes": outcomes,
            "arm_names": [labels.get(a, a) for a in arms],
        },
    )


class LockForm(forms.Form):
    reason = forms.CharField(max_length=500, label=_("Reason"))


class LockConfirmForm(LockForm):
    lock_date = TrialDateField(label=_("Lock date (no trial date may lie after it)"))
    confirm = forms.BooleanField(
        label=_("I have reviewed the pre-lock checklist; nothing can change after the lock")
    )


ACCEPT = "accept__"  # prefix of the checklist's reason fields (the item's key follows)


@access.page("lock")
def lock_page(request: HttpRequest, member: Membership) -> HttpResponse:
    """Lock the database after a confirmation step showing the pre-lock checklist (each open
    item settled or accepted with a reason); then unblind the statistician."""
    today = timezone.localdate()
    action = request.POST.get("action") if request.method == "POST" else None
    form = LockConfirmForm(request.POST if action == "lock" else None, initial={"lock_date": today})
    unblind_form = LockForm(request.POST if action == "unblind" else None)
    reasons = {
        k[len(ACCEPT) :]: v for k, v in request.POST.items() if k.startswith(ACCEPT) and v.strip()
    }
    lock_date = today
    try:
        if action == "lock" and form.is_valid():
            lock_date = form.cleaned_data["lock_date"]
            trials.lock(member, form.cleaned_data["reason"], reasons, lock_date)
            messages.success(request, gettext("Database locked."))
            return redirect("web:lock")
        if action == "unblind" and unblind_form.is_valid():
            stat = (
                Membership.objects.filter(trial_id=member.trial_id, role="statistician")
                .order_by("pk")
                .first()
            )
            if stat is None:
                raise InputError("the trial has no statistician")
            trials.unblind_statistician(member, stat, unblind_form.cleaned_data["reason"])
            messages.success(request, gettext("Statistician unblinded for the analysis."))
            return redirect("web:lock")
    except InputError as exc:
        messages.error(request, str(exc))
    if action == "lock" and form.is_valid():
        lock_date = form.cleaned_data["lock_date"]
    member.trial.refresh_from_db()
    stats = Membership.objects.filter(trial_id=member.trial_id, role="statistician")
    done = prelock.accepted(member)
    items = [] if member.trial.locked_at else prelock.blockers(member, lock_date)
    protocol = protocol_of(member.trial)
    checklist = [
        (b, done.get(b.key), f"{ACCEPT}{b.key}", reasons.get(b.key, ""), _blocker(protocol, b))
        for b in items
    ]
    return render(
        request,
        "web/lock.html",
        {
            "form": form,
            "unblind_form": unblind_form,
            "trial": member.trial,
            "statisticians": stats,
            "checklist": checklist,
            "open_items": sum(1 for _, accepted, _, _, _ in checklist if accepted is None),
        },
    )


# the dated records of the pre-lock checklist (prelock.DATED's labels), in words
DATED_WORDS = {
    "screening": _("screening"),
    "consent": _("consent"),
    "randomization": _("randomization"),
    "withdrawal": _("withdrawal"),
    "infusion": _("infusion"),
    "visit": _("visit"),
    "adverse event onset": _("adverse event onset"),
    "adverse event end": _("adverse event end"),
    "adverse event follow-up": _("adverse event follow-up"),
}


def _blocker(protocol: Protocol, b: prelock.Blocker) -> str:
    """A checklist item in the user's language (its stored English ``text`` otherwise)."""
    p = b.parts
    if b.kind == "sae" and p:
        return gettext("SAE not acknowledged: %(pid)s %(term)s (due %(due)s UTC)") % {
            **p,
            "due": f"{p['due']:%Y-%m-%d %H:%M}",
        }
    if b.kind == "query" and p:
        return gettext("Query %(n)s (%(status)s): %(pid)s") % {**p, "status": label(p["status"])}
    if b.kind == "crf" and p:
        state = p["form"]
        try:
            spec = form_text.form_at(protocol, state.visit, state.form)
        except InputError:
            return b.text
        shown = {
            "pid": state.participant_id,
            "visit": form_text.visit_labels(protocol).get(state.visit, state.visit),
            "form": spec.title,
        }
        if state.state != "incomplete":
            return gettext("CRF missing: %(pid)s, %(visit)s, %(form)s") % shown
        empty = form_text.listing(_item_labels(spec, state.missing_items))
        return gettext("CRF incomplete: %(pid)s, %(visit)s, %(form)s (empty: %(items)s)") % {
            **shown,
            "items": empty,
        }
    if b.kind == "date" and p:
        what = DATED_WORDS.get(p["what"], p["what"])
        return gettext("%(what)s of %(who)s dated %(day)s, after the lock date %(lock_date)s") % {
            **p,
            "what": what,
        }
    return b.text


def export_zip(member: Membership) -> bytes:
    """Run the store's export as the actor into a temporary folder and zip it."""
    with tempfile.TemporaryDirectory(prefix="frailtrial-export-") as tmp:
        out = Path(tmp) / "export"
        export(member, out)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(out.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(out).as_posix())
        return buf.getvalue()


def analysis_report(member: Membership) -> bytes:
    """Export as the actor, run ``frailtrial analyze`` on the export, return report.html."""
    from frailtrial.analysis.pipeline import analyze, write_outputs
    from frailtrial.analysis.provenance import provenance
    from frailtrial.dataset import read_dataset

    protocol = protocol_of(member.trial)
    with tempfile.TemporaryDirectory(prefix="frailtrial-analysis-") as tmp:
        data = Path(tmp) / "export"
        export(member, data)
        result = analyze(read_dataset(data, protocol), protocol, provenance(protocol, data))
        write_outputs(result, Path(tmp) / "analysis")
        return (Path(tmp) / "analysis" / "report.html").read_bytes()


@access.page("exports")
def exports_page(request: HttpRequest, member: Membership) -> HttpResponse:
    """The statistician downloads the export (tidy dataset, SPSS, SAS, SDTM) as a zip and,
    once unblinded after lock, the analysis report (``frailtrial analyze`` of the export)."""
    if request.method == "POST" and request.POST.get("kind") == "report":
        if not sees_arm(member):
            messages.error(
                request,
                gettext(
                    "The analysis report needs arms: lock the database and "
                    "unblind the statistician first."
                ),
            )
            return redirect("web:exports")
        try:
            report = analysis_report(member)
        except InputError as exc:
            messages.error(
                request, gettext("The export cannot be analysed: %(error)s") % {"error": exc}
            )
            return redirect("web:exports")
        return FileResponse(
            io.BytesIO(report),
            as_attachment=True,
            filename=f"{member.trial.name}-report.html",
            content_type="text/html",
        )
    if request.method == "POST":
        data = export_zip(member)
        name = f"{member.trial.name}-export{'-blinded' if not sees_arm(member) else ''}.zip"
        return FileResponse(
            io.BytesIO(data), as_attachment=True, filename=name, content_type="application/zip"
        )
    return render(
        request, "web/exports.html", {"blinded": not sees_arm(member), "trial": member.trial}
    )
