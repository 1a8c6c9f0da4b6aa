"""Who may do what: one permission per page and API operation, checked before anything runs.

``PERMISSIONS`` maps each permission to the roles holding it; every view is wrapped by
:func:`page` and every API operation calls :func:`check`, so no route is reachable without an
explicit entry here. The acting membership (user, trial, role, site) is chosen at login and
kept in the session.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _

from frailtrial.edc.errors import AccessDenied
from frailtrial.edc.models import Membership
from frailtrial.edc.roles import (
    CLINICAL,
    ENTRY,
    OVERSIGHT,
    PEOPLE,
    PHARMACY,
    ROLES,
    SAE_ACK,
    SDV,
    SIGNER,
)
from frailtrial.errors import InputError

ALL = ROLES

PERMISSIONS: dict[str, tuple[str, ...]] = {
    "dashboard": ALL,
    "account": ALL,
    "participants": (*ENTRY, *OVERSIGHT, "statistician", "dsmb", *PHARMACY),
    "participant": (*ENTRY, *OVERSIGHT, "statistician", "dsmb"),
    "screening_log": (*CLINICAL, *OVERSIGHT),
    "calendar": (*ENTRY, *OVERSIGHT),
    "screen": CLINICAL,
    "consent": CLINICAL,
    "randomize": CLINICAL,
    "visit": ENTRY,
    "crf_view": (*ENTRY, *OVERSIGHT, "statistician", "dsmb"),
    "crf_enter": ENTRY,
    "blank_crf": (*ENTRY, *OVERSIGHT, "statistician", "dsmb"),
    "casebook": (*ENTRY, *OVERSIGHT, "statistician", "dsmb"),
    "log_view": (*ENTRY, *OVERSIGHT, "statistician", "dsmb"),
    "log_enter": CLINICAL,
    "epro_start": ENTRY,
    "infusion": CLINICAL,
    "emergency_unblind": ("investigator",),
    "ae_report": CLINICAL,
    "safety": (*CLINICAL, *OVERSIGHT, "statistician", "dsmb", "medical_monitor"),
    "sae_report": (*CLINICAL, *OVERSIGHT, "dsmb", "medical_monitor"),
    "ae_follow_up": CLINICAL,
    "ae_void": CLINICAL,
    "sae_acknowledge": SAE_ACK,
    "pharmacy": PHARMACY,
    "queries": (*CLINICAL, *OVERSIGHT),
    "query_raise": OVERSIGHT,
    "query_answer": CLINICAL,
    "query_close": OVERSIGHT,
    "sdv": SDV,
    "sdv_overview": OVERSIGHT,
    "audit": (*CLINICAL, *OVERSIGHT),
    "correct": CLINICAL,
    "dsmb_report": ("dsmb",),
    "lock": ("admin",),
    "exports": ("statistician",),
    "people": PEOPLE,
    "sign_casebook": SIGNER,
}

MENU: tuple[tuple[str, str, Any], ...] = (
    ("dashboard", "web:dashboard", _("Dashboard")),
    ("screening_log", "web:screening", _("Screening")),
    ("participants", "web:participants", _("Participants")),
    ("calendar", "web:calendar", _("Visit calendar")),
    ("blank_crf", "web:blank_crfs", _("Blank CRFs")),
    ("safety", "web:safety", _("Adverse events")),
    ("queries", "web:queries", _("Queries")),
    ("sdv_overview", "web:sdv_overview", _("SDV")),
    ("pharmacy", "web:pharmacy", _("Pharmacy")),
    ("dsmb_report", "web:dsmb", _("DSMB report")),
    ("exports", "web:exports", _("Exports")),
    ("lock", "web:lock", _("Database lock")),
    ("people", "web:people", _("People")),
    ("account", "web:account", _("Account")),
)

SESSION_KEY = "frailtrial_member"


def allowed(member: Membership, permission: str) -> bool:
    """Whether the membership's role holds ``permission`` (unknown permissions deny)."""
    return member.role in PERMISSIONS.get(permission, ())


def check(member: Membership, permission: str) -> None:
    """Refuse with AccessDenied unless the role holds ``permission``."""
    if not allowed(member, permission):
        raise AccessDenied(f"your role ({member.role}) may not use this ({permission})")


def session_member(request: HttpRequest) -> Membership | None:
    """The membership chosen at login, if it still belongs to the logged-in user."""
    if not request.user.is_authenticated:
        return None
    pk = request.session.get(SESSION_KEY)
    if pk is None:
        return None
    return (
        Membership.objects.select_related("user", "trial", "site")
        .filter(pk=pk, user=request.user)
        .first()
    )


def denied(request: HttpRequest, message: str) -> HttpResponse:
    """The 403 page; the message comes from a permission check and never names an arm."""
    return render(request, "web/denied.html", {"message": message}, status=403)


def page(permission: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Wrap a view: login, a chosen membership holding ``permission``, AccessDenied as 403."""
    if permission not in PERMISSIONS:
        raise KeyError(f"permission {permission!r} is not declared")

    def wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            member = session_member(request)
            if member is None:
                return redirect("web:choose")
            if not allowed(member, permission):
                return denied(request, f"Your role ({member.role}) may not open this page.")
            request.member = member
            try:
                return view(request, member, *args, **kwargs)
            except AccessDenied as exc:
                return denied(request, str(exc))
            except InputError as exc:  # the address names no record (forms catch their own)
                return render(request, "web/denied.html", {"message": str(exc)}, status=404)

        inner.permission = permission  # type: ignore[attr-defined]
        return inner

    return wrap


def menu(request: HttpRequest) -> dict[str, Any]:
    """Template context: the menu entries of the acting role, and the membership."""
    member = getattr(request, "member", None)
    if member is None:
        return {"menu": [], "member": None}
    items = [(url, label) for perm, url, label in MENU if allowed(member, perm)]
    return {"menu": items, "member": member}
