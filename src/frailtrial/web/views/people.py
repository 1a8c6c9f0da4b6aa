"""People and places: the admin's members page (sites, invitations, deactivation), the
public page where an invited person sets a password, and the investigator's casebook
signature."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from frailtrial.edc.models import Membership, Site
from frailtrial.edc.roles import ROLES
from frailtrial.edc.services import passwords, people, signatures
from frailtrial.edc.services.common import participant
from frailtrial.errors import InputError
from frailtrial.web import access, security
from frailtrial.web.templatetags.labels import choices
from frailtrial.web.views.forms import problems


class InviteForm(forms.Form):
    username = forms.CharField(max_length=150, label=_("User name"))
    first_name = forms.CharField(max_length=150, label=_("First name"))
    last_name = forms.CharField(max_length=150, label=_("Last name"))
    email = forms.EmailField(required=False, label=_("E-mail (optional)"))
    role = forms.ChoiceField(choices=choices(ROLES), label=_("Role"))
    site = forms.ChoiceField(required=False, label=_("Site (roles limited to one site)"))

    def __init__(self, member: Membership, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        sites = Site.objects.filter(trial_id=member.trial_id).order_by("code")
        self.fields["site"].choices = [("", _("all sites"))] + [
            (s.code, f"{s.code} · {s.name}") for s in sites
        ]


class SiteForm(forms.Form):
    name = forms.CharField(max_length=120, label=_("Site name"))
    code = forms.CharField(max_length=16, label=_("Site code"))


class DeactivateForm(forms.Form):
    username = forms.CharField(max_length=150, widget=forms.HiddenInput)
    reason = forms.CharField(max_length=500, label=_("Reason"))


@access.page("people")
def people_page(request: HttpRequest, member: Membership) -> HttpResponse:
    """The trial's members by site and role; invite a named member, add a site, deactivate."""
    invite_form, site_form = InviteForm(member), SiteForm()
    link = ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "invite":
                invite_form = InviteForm(member, request.POST)
                if invite_form.is_valid():
                    d = invite_form.cleaned_data
                    _, token = people.invite(
                        member,
                        d["username"],
                        d["role"],
                        d["site"] or None,
                        d["first_name"],
                        d["last_name"],
                        d["email"],
                    )
                    link = request.build_absolute_uri(f"/invite/{token}/")
                    invite_form = InviteForm(member)
            elif action == "reinvite":
                token = people.reinvite(member, request.POST.get("username", ""))
                link = request.build_absolute_uri(f"/invite/{token}/")
            elif action == "site":
                site_form = SiteForm(request.POST)
                if site_form.is_valid():
                    people.add_site(member, **site_form.cleaned_data)
                    messages.success(request, gettext("Site added."))
                    return redirect("web:people")
            elif action == "deactivate":
                form = DeactivateForm(request.POST)
                if not form.is_valid():
                    raise InputError(f"deactivating an account: {problems(form)}")
                people.deactivate(member, **form.cleaned_data)
                messages.success(
                    request,
                    gettext("Account %(user)s deactivated.")
                    % {"user": form.cleaned_data["username"]},
                )
                return redirect("web:people")
        except InputError as exc:
            messages.error(request, str(exc))
    context = {
        "members": people.members(member),
        "sites": Site.objects.filter(trial_id=member.trial_id).order_by("code"),
        "invite_form": invite_form,
        "site_form": site_form,
        "link": link,
        "hours": people.INVITATION_HOURS,
    }
    return render(request, "web/people.html", context)


class PasswordForm(forms.Form):
    password1 = forms.CharField(widget=forms.PasswordInput, label=_("New password"), strip=False)
    password2 = forms.CharField(widget=forms.PasswordInput, label=_("Again"), strip=False)


@require_http_methods(["GET", "POST"])
def invitation_page(request: HttpRequest, token: str) -> HttpResponse:
    """Public: the invited person sets a password (the link works once, until it expires)."""
    try:
        inv = people.invitation(token)
    except InputError as exc:
        return render(request, "web/denied.html", {"message": str(exc)}, status=404)
    form = PasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        if d["password1"] != d["password2"]:
            form.add_error("password2", "The two passwords differ.")
        else:
            try:
                people.accept(token, d["password1"])
            except InputError as exc:
                form.add_error("password1", str(exc))
            else:
                messages.success(request, gettext("Password set: log in with your user name."))
                return redirect("web:login")
    return render(request, "web/invitation.html", {"inv": inv, "form": form})


class SignForm(forms.Form):
    password = forms.CharField(
        widget=forms.PasswordInput, label=_("Your password (to sign)"), strip=False
    )


@access.page("sign_casebook")
def sign_page(request: HttpRequest, member: Membership, pid: str) -> HttpResponse:
    """The investigator signs the participant's casebook: meaning shown, password re-entered;
    wrong passwords count against the login throttle."""
    p = participant(member, pid)
    form = SignForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        name, addr = member.user.get_username(), security.client_address(request)
        device = security.known_device(request, name)
        wait = security.login_wait(name, addr, device)
        ok = not wait and passwords.check(member.user, form.cleaned_data["password"])
        if not wait:
            security.note_login(name, addr, ok, device)
        if wait:
            form.add_error(None, "Too many wrong passwords; try again later.")
            status = 429
        elif not ok:
            form.add_error("password", "The password is wrong: the casebook was not signed.")
            status = 401
        else:
            signatures.sign(member, pid, form.cleaned_data["password"])
            messages.success(request, gettext("Casebook signed."))
            return redirect("web:participant", pid=pid)
    context = {"p": p, "form": form, "meaning": signatures.MEANING}
    return render(request, "web/sign.html", context, status=status)
