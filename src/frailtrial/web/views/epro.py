"""Participant (ePRO) pages: one question per screen, each answer saved as given, a review
before submitting; and the coordinator's page that opens a session (kiosk or one-time link).

A participant's browser holds no login: only the id of its ePRO session, set when the token
is redeemed (the staff login on a kiosk is ended first). Every participant page checks the
session is live and reaches only its participant, visit and instruments.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from frailtrial.edc.errors import AccessDenied, Conflict, TrialLocked
from frailtrial.edc.models import EproSession, Membership
from frailtrial.edc.services import epro
from frailtrial.edc.services.common import participant, protocol_of
from frailtrial.edc.services.visits import occurrence
from frailtrial.errors import InputError
from frailtrial.instruments import wording
from frailtrial.web import access, form_text, qr

SESSION_KEY = "frailtrial_epro"
LANGUAGE_NAMES = {"en": "English", "zh-hans": "简体中文"}


def _ended(request: HttpRequest, message: str, status: int = 403) -> HttpResponse:
    request.session.pop(SESSION_KEY, None)
    return render(request, "epro/ended.html", {"message": message}, status=status)


def participant_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a participant view: a live ePRO session of this browser, its language active."""

    @wraps(view)
    def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            s = epro.current(request.session.get(SESSION_KEY))
        except AccessDenied:
            return _ended(request, _("This questionnaire session has ended."))
        translation.activate(s.language)
        request.LANGUAGE_CODE = s.language
        try:
            return view(request, s, *args, **kwargs)
        except AccessDenied:
            return render(
                request,
                "epro/ended.html",
                {"message": _("This page is not part of your questionnaires."), "s": s},
                status=403,
            )

    return inner


def redeem(request: HttpRequest, token: str) -> HttpResponse:
    """Open the session of a link or the kiosk: GET shows a start button (link previewers and
    prefetchers only GET, so they cannot use up the single-use token); POST redeems it.
    Both, and the refusal of a used or expired link, are in the session's language."""
    chosen = EproSession.objects.filter(digest=epro.digest(token)).values_list(
        "language", flat=True
    )
    translation.activate(chosen.first() or translation.get_language())
    if request.method != "POST":
        return render(request, "epro/open.html", {})
    try:
        s = epro.redeem(token)
    except AccessDenied:
        return _ended(request, _("This questionnaire link is not valid any more."))
    logout(request)  # flushes the session: nothing of a staff login stays on this device
    request.session[SESSION_KEY] = s.pk
    request.session.set_expiry(epro.IDLE_MINUTES * 60)
    return redirect("epro:home")


def _answered(s: EproSession, instrument: str) -> int:
    """How many questions of the instrument have an answer (skipped ones do not count)."""
    return sum(1 for v in s.drafts.get(instrument, {}).values() if v is not None)


@participant_page
def home(request: HttpRequest, s: EproSession) -> HttpResponse:
    """The participant's questionnaires of this visit, with what is done."""
    forms_ = []
    for name in s.instruments:
        try:
            w = epro.wording_of(s, name)
            title, n = w.title, len(w.questions)
        except InputError:
            title, n = name, 0
        forms_.append(
            {
                "name": name,
                "title": title,
                "n": n,
                "answered": _answered(s, name),
                "submitted": name in s.submitted,
                "available": n > 0,
            }
        )
    visit = occurrence(s.participant, s.visit)
    return render(
        request,
        "epro/home.html",
        {"s": s, "forms": forms_, "visit_date": visit.occurred_on, "languages": _languages()},
    )


def _languages() -> list[tuple[str, str]]:
    return [(code, LANGUAGE_NAMES[code]) for code in wording.LANGUAGES]


@participant_page
def resume(request: HttpRequest, s: EproSession, instrument: str) -> HttpResponse:
    """Continue an instrument where the participant stopped."""
    epro.open_instrument(s, instrument)
    n = int(s.position.get(instrument, 1))
    return redirect("epro:question", instrument=instrument, n=n)


def _wording_or_none(s: EproSession, instrument: str) -> wording.Wording | None:
    try:
        return epro.wording_of(s, instrument)
    except InputError:
        return None


@participant_page
def question(request: HttpRequest, s: EproSession, instrument: str, n: int) -> HttpResponse:
    """Question ``n`` (1-based) of an instrument; POST saves the answer and moves on."""
    epro.open_instrument(s, instrument)
    w = _wording_or_none(s, instrument)
    if w is None:
        return render(
            request,
            "epro/ended.html",
            {"message": _("This questionnaire is not available in your language."), "s": s},
            status=404,
        )
    total = len(w.questions)
    if not 1 <= n <= total:
        return redirect("epro:question", instrument=instrument, n=min(max(n, 1), total))
    q = w.questions[n - 1]
    error = ""
    given = s.drafts.get(instrument, {}).get(q.item.id)
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "next")
        if action not in ("next", "skip", "back"):  # no button posts it: changes nothing
            return HttpResponse(
                f"action: next, skip or back, not {action[:40]!r}",
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        raw = request.POST.get("answer", "")
        if action == "skip":
            raw = ""
        try:
            if action != "back" or raw.strip():
                following = n - 1 if action == "back" else n + 1
                epro.save_answer(s, instrument, q.item.id, raw, max(1, min(following, total)))
        except InputError:
            error = _answer_problem(q)
            status = 400
        else:
            if action == "back":
                return redirect("epro:question", instrument=instrument, n=max(1, n - 1))
            if n == total:
                return redirect("epro:review", instrument=instrument)
            return redirect("epro:question", instrument=instrument, n=n + 1)
    return render(
        request,
        "epro/question.html",
        {
            "s": s,
            "w": w,
            "q": q,
            "n": n,
            "total": total,
            "percent": round(100 * (n - 1) / total),
            "instrument": instrument,
            "given": ""
            if given is None
            else str(given).lower()
            if isinstance(given, bool)
            else str(given),
            "typed": not q.responses,
            "error": error,
            "answered": _answered(s, instrument),
        },
        status=status,
    )


def _answer_problem(q: wording.Question) -> str:
    """What to do instead of an answer the item does not take, in the participant's words."""
    if q.responses:
        return _("Please choose one of the answers shown.")
    if q.item.kind == "time":
        return _("Please enter a time of day, such as 22:30.")
    return _("Please enter a number from %(low)s to %(high)s.") % {
        "low": f"{q.item.minimum:g}",
        "high": f"{q.item.maximum:g}",
    }


@participant_page
def review(request: HttpRequest, s: EproSession, instrument: str) -> HttpResponse:
    """Every answer (or 'not answered') with a link to change it; POST submits."""
    epro.open_instrument(s, instrument)
    w = _wording_or_none(s, instrument)
    if w is None:
        return redirect("epro:home")
    answers = s.drafts.get(instrument, {})
    rows = []
    for i, q in enumerate(w.questions, start=1):
        value = answers.get(q.item.id)
        shown = None
        if value is not None:
            key = str(value).lower() if isinstance(value, bool) else str(value)
            shown = dict(q.responses).get(key, key)
        rows.append({"n": i, "q": q, "shown": shown})
    missing = [r for r in rows if r["shown"] is None]
    error = ""
    if request.method == "POST":  # missing items are scored by the instrument's own rules
        try:
            epro.submit(s, instrument)
        except (InputError, TrialLocked, Conflict) as exc:  # refused whole: nothing is lost
            error = str(exc)
        else:
            if s.ended_at is not None:
                request.session.pop(SESSION_KEY, None)
                return redirect("epro:done")
            return redirect("epro:home")
    return render(
        request,
        "epro/review.html",
        {
            "s": s,
            "w": w,
            "rows": rows,
            "missing": len(missing),
            "instrument": instrument,
            "error": error,
        },
        status=400 if error else 200,
    )


@participant_page
def language(request: HttpRequest, s: EproSession) -> HttpResponse:
    """Switch the session's language (POST)."""
    code = request.POST.get("language", "")
    if request.method == "POST" and code in wording.LANGUAGES:
        epro.choose_language(s, code)
    target = request.POST.get("next_page", "")
    if target.startswith("/p/") and "//" not in target:  # only back to a participant page
        return redirect(target)
    return redirect("epro:home")


@participant_page
def finish(request: HttpRequest, s: EproSession) -> HttpResponse:
    """End the session now (POST); the device shows the closing page."""
    if request.method == "POST":
        epro.end(s)
        request.session.pop(SESSION_KEY, None)
        return redirect("epro:done")
    return redirect("epro:home")


def done(request: HttpRequest) -> HttpResponse:
    """The closing page: thanks, and that the tablet can be handed back."""
    return render(request, "epro/done.html", {})


class StartForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("Where the participant answers"),
        choices=[
            ("kiosk", gettext_lazy("On this tablet now (you are logged out)")),
            ("link", gettext_lazy("One-time link for the participant's own device")),
        ],
        widget=forms.RadioSelect,
        initial="kiosk",
    )
    language = forms.ChoiceField(
        label=gettext_lazy("Language"), choices=list(LANGUAGE_NAMES.items()), initial="en"
    )


@access.page("epro_start")
def start(request: HttpRequest, member: Membership, pid: str, visit: str) -> HttpResponse:
    """Open a questionnaire session for one participant and visit (coordinator)."""
    participant(member, pid)  # site rules
    form = StartForm(request.POST or None)
    error, link, code, expires = "", "", "", ""
    if request.method == "POST" and form.is_valid():
        try:
            s, token = epro.start(
                member, pid, visit, form.cleaned_data["kind"], form.cleaned_data["language"]
            )
        except InputError as exc:
            error = str(exc)
        else:
            url = reverse("epro:redeem", kwargs={"token": token})
            if s.kind == "kiosk":
                logout(request)
                return redirect(url)
            # the token is shown on this page only (printed and as a QR code of the same
            # link; the page is not cached) and never stored, logged or audited
            link = request.build_absolute_uri(url)
            expires = date_format(timezone.localtime(s.expires_at), "DATETIME_FORMAT")
            code = qr.svg(
                link,
                _("QR code of the one-time questionnaire link; it expires on %(when)s.")
                % {"when": expires},
            )
    return render(
        request,
        "epro/start.html",
        {
            "pid": pid,
            "visit": form_text.visit_labels(protocol_of(member.trial)).get(visit, visit),
            "form": form,
            "error": error,
            "link": link,
            "qr": code,
            "expires": expires,
            "hours": epro.LINK_HOURS,
        },
        status=400 if error else 200,
    )
