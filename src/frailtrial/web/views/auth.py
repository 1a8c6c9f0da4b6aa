"""Login (throttled), logout, choosing the role to act in, the account page, and the
interface language (kept on the account, applied at login)."""

from __future__ import annotations

import math

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST
from django.views.i18n import set_language

from frailtrial.edc.models import Membership
from frailtrial.edc.services import people
from frailtrial.web import access, security


class LoginForm(forms.Form):
    username = forms.CharField(max_length=150, label=_("User name"))
    password = forms.CharField(widget=forms.PasswordInput, label=_("Password"))


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    """Public: the login form, throttled (progressive delays per user, device and address)."""
    form = LoginForm(request.POST or None)
    status, retry = 200, 0
    if request.method == "POST" and form.is_valid():
        name, addr = form.cleaned_data["username"], security.client_address(request)
        device = security.known_device(request, name)
        wait = security.login_wait(name, addr, device)
        if wait:
            retry = max(1, math.ceil(wait))
            form.add_error(None, f"Too many failed logins; try again in {retry} seconds.")
            status = 429
        else:
            user = authenticate(request, username=name, password=form.cleaned_data["password"])
            security.note_login(name, addr, user is not None, device)
            if user is None:
                form.add_error(None, "User name or password is wrong.")
                status = 401
            else:
                login(request, user)
                nxt = request.POST.get("next", "")
                request.session["next"] = (
                    nxt if url_has_allowed_host_and_scheme(nxt, {request.get_host()}) else ""
                )
                response = redirect("web:choose")
                security.remember_device(response, name)
                chosen = people.account_language(user)
                if chosen:  # the account's language on this device too, from now on
                    _language_cookie(response, chosen)
                return response
    nxt = request.GET.get("next", "")
    response = render(request, "web/login.html", {"form": form, "next": nxt}, status=status)
    if retry:
        response["Retry-After"] = str(retry)
    return response


def _language_cookie(response: HttpResponse, code: str) -> None:
    """Set the cookie LocaleMiddleware reads (as Django's ``set_language`` sets it)."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        code,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


@require_POST
def language_view(request: HttpRequest) -> HttpResponse:
    """Public: the interface language of this browser (a cookie, then back to ``next`` on
    this site); when logged in, also kept on the account and so applied at login on any
    device. A code that is not an interface language is refused and nothing is kept."""
    code = request.POST.get("language", "")
    allowed = dict(settings.LANGUAGES)
    if code not in allowed:
        message = gettext("Language %(code)s is not one of %(allowed)s; nothing was changed.")
        return render(
            request,
            "web/denied.html",
            {"message": message % {"code": repr(code[:40]), "allowed": ", ".join(allowed)}},
            status=400,
        )
    member = access.session_member(request)
    if member is None and request.user.is_authenticated:  # logged in, no role chosen yet
        member = Membership.objects.filter(user=request.user).order_by("pk").first()
    if member is not None:
        people.choose_language(member, code)
        translation.activate(code)
        messages.success(
            request, gettext("Language saved on your account: it applies at login on any device.")
        )
    return set_language(request)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    """Public: end the session."""
    logout(request)
    return redirect("web:login")


@require_http_methods(["GET", "POST"])
def choose_view(request: HttpRequest) -> HttpResponse:
    """Logged in: pick the trial and role to act in (skipped when there is only one)."""
    if not request.user.is_authenticated:
        return redirect("web:login")
    members = list(
        Membership.objects.select_related("trial", "site").filter(user=request.user).order_by("pk")
    )
    chosen = None
    if len(members) == 1:
        chosen = members[0]
    elif request.method == "POST":
        chosen = next((m for m in members if str(m.pk) == request.POST.get("member")), None)
    if chosen is not None:
        request.session[access.SESSION_KEY] = chosen.pk
        nxt = request.session.pop("next", "")
        return redirect(nxt or "web:dashboard")
    return render(request, "web/choose.html", {"members": members})


@access.page("account")
def account_view(request: HttpRequest, member: Membership) -> HttpResponse:
    """Change one's password (password rules apply); issue or revoke API tokens of this role."""
    form = PasswordChangeForm(request.user)
    token = None
    if request.method == "POST" and request.POST.get("action") == "password":
        form = PasswordChangeForm(request.user, request.POST)
        if form.is_valid():
            user = form.save()
            update_session_auth_hash(request, user)
            messages.success(request, gettext("Password changed; your API tokens were revoked."))
            return redirect("web:account")
    elif request.method == "POST" and request.POST.get("action") == "token":
        token = security.issue_token(member)
    elif request.method == "POST" and request.POST.get("action") == "revoke":
        pk = request.POST.get("token", "")
        live = member.tokens.filter(pk=int(pk) if pk.isdigit() else None, revoked_at__isnull=True)
        if live.update(revoked_at=timezone.now()):
            messages.success(request, gettext("Token revoked: requests with it now get 401."))
        else:
            messages.error(request, gettext("No such live token of this role."))
        return redirect("web:account")
    tokens = member.tokens.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())
    tokens = tokens.order_by("-created_at")
    context = {
        "form": form,
        "token": token,
        "tokens": tokens,
        "token_days": security.token_days(),
        "kept_language": people.account_language(request.user),
    }
    return render(request, "web/account.html", context)
