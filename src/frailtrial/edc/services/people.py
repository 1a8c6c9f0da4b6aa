"""Named accounts: the admin adds sites, invites a person to a role (at a site), and
deactivates an account; the invited person sets a password with a one-time link; each user
keeps an interface language on the account.

An invitation's token is shown once and only its SHA-256 is stored; it expires after
``INVITATION_HOURS`` and is spent by its first use. A deactivated user can no longer log in,
keep a session or use an API token (Django refuses inactive users; ``member_for_token`` does
too), and the audit rows written under their name stay as they are.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import transaction

from frailtrial.edc.errors import AccessDenied
from frailtrial.edc.models import Invitation, Membership, Site
from frailtrial.edc.roles import PEOPLE, ROLES, SITE_LIMITED
from frailtrial.edc.services import audit
from frailtrial.edc.services.common import now, require
from frailtrial.errors import InputError

INVITATION_HOURS = 72
TOKEN_PREFIX = "fti_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _user_snapshot(user: object) -> dict[str, object]:
    """What the audit trail keeps of an account (never its password hash)."""
    return {
        name: getattr(user, name)
        for name in ("username", "first_name", "last_name", "email", "is_active")
    }


def add_site(actor: Membership, name: str, code: str) -> Site:
    """A further site of the actor's trial (admin), audited."""
    require(actor, PEOPLE, "adding a site")
    name, code = name.strip(), code.strip().upper()
    if not name or len(name) > 120:
        raise InputError("site name: give 1 to 120 characters")
    if not code.isalnum() or len(code) > 16:
        raise InputError(f"site code {code!r}: give 1 to 16 letters or digits")
    with transaction.atomic():
        if Site.objects.filter(trial_id=actor.trial_id, code=code).exists():
            raise InputError(f"site code {code!r} is taken in this trial")
        site = Site.objects.create(trial_id=actor.trial_id, name=name, code=code)
        audit.created(actor, site)
    return site


def _site_for(actor: Membership, role: str, site_code: str | None) -> Site | None:
    if not site_code:
        return None
    if role not in SITE_LIMITED:
        raise InputError(
            f"the role {role} acts on the whole trial; roles limited to a site: "
            + ", ".join(SITE_LIMITED)
        )
    site = Site.objects.filter(trial_id=actor.trial_id, code=site_code).first()
    if site is None:
        codes = ", ".join(
            Site.objects.filter(trial_id=actor.trial_id).values_list("code", flat=True)
        )
        raise InputError(f"site {site_code!r} is not a site of this trial (sites: {codes})")
    return site


def _new_invitation(actor: Membership, member: Membership, token: str) -> Invitation:
    """Store (the SHA-256 of) ``token`` as the member's invitation, audited."""
    at = now()
    inv = Invitation.objects.create(
        member=member,
        digest=_digest(token),
        invited_by=actor,
        created_at=at,
        expires_at=at + dt.timedelta(hours=INVITATION_HOURS),
    )
    audit.created(actor, inv, action="invite")  # its snapshot: `edc verify` checks the row
    return inv


def invite(
    actor: Membership,
    username: str,
    role: str,
    site_code: str | None = None,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
) -> tuple[Membership, str]:
    """A new named account holding ``role`` (at a site, when given) and its invitation token;
    the token is returned once and never stored."""
    require(actor, PEOPLE, "inviting a member")
    if role not in ROLES:
        raise InputError(f"role {role!r} is not known; roles: {', '.join(ROLES)}")
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError:
        raise InputError(
            f"user name {username!r}: letters, digits and @ . + - _ only, no spaces"
        ) from None
    if not 1 <= len(username) <= 150:
        raise InputError("user name: give 1 to 150 characters")
    if not (first_name.strip() and last_name.strip()):
        raise InputError("a named account needs the person's first and last name")
    site = _site_for(actor, role, site_code)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    user_model = get_user_model()
    with transaction.atomic():
        if user_model.objects.filter(username=username).exists():
            raise InputError(f"user name {username!r} is taken")
        user = user_model(
            username=username,
            first_name=first_name.strip()[:150],
            last_name=last_name.strip()[:150],
            email=email.strip(),
        )
        user.set_unusable_password()
        user.save()
        audit.record(actor, "create", ("user", str(user.pk)), None, _user_snapshot(user))
        member = Membership.objects.create(user=user, trial_id=actor.trial_id, role=role, site=site)
        audit.created(actor, member)
        _new_invitation(actor, member, token)
    return member, token


def reinvite(actor: Membership, username: str) -> str:
    """A new link for an invited account that has not set its password yet (the earlier
    links stop working). Not for an account in use: an admin could otherwise set its
    password and sign as its owner."""
    require(actor, PEOPLE, "inviting a member")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        member = (
            Membership.objects.select_related("user")
            .filter(trial_id=actor.trial_id, user__username=username)
            .order_by("pk")
            .first()
        )
        if member is None:
            raise InputError(f"no member {username!r} in this trial")
        user = member.user
        if not user.is_active:
            raise InputError(f"the account {username!r} is deactivated")
        if user.has_usable_password():
            raise InputError(f"the account {username!r} has set its password: no new link")
        live = Invitation.objects.select_for_update().filter(
            member__user=user, used_at=None, expires_at__gt=now()
        )
        at = now()
        audit.update_many(actor, [(i, {"expires_at": at}) for i in live], action="revoke")
        _new_invitation(actor, member, token)
    return token


def invitation(token: str) -> Invitation:
    """The live invitation of ``token``; InputError when unknown, spent or expired."""
    inv = (
        Invitation.objects.select_related("member__user", "member__trial", "member__site")
        .filter(digest=_digest(token))
        .first()
        if token.startswith(TOKEN_PREFIX)
        else None
    )
    if inv is None:
        raise InputError("this invitation link is not valid")
    if inv.used_at is not None:
        raise InputError("this invitation link was used already; ask the admin for a new one")
    if inv.expires_at <= now():
        raise InputError("this invitation link has expired; ask the admin for a new one")
    if not inv.member.user.is_active:
        raise InputError("this account is deactivated")
    if inv.member.user.has_usable_password():  # only a forged row: reinvite refuses these
        raise InputError("this account has set its password already; log in with it")
    return inv


def accept(token: str, password: str) -> Membership:
    """Set the invited account's password (Django's password validators apply) and spend
    the invitation."""
    with transaction.atomic():
        inv = invitation(token)
        inv = (
            Invitation.objects.select_for_update(of=("self",))
            .select_related("member__user")
            .get(pk=inv.pk)
        )
        if inv.used_at is not None:  # spent by a parallel request since the check above
            raise InputError("this invitation link was used already; ask the admin for a new one")
        user = inv.member.user
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise InputError("password refused: " + " ".join(exc.messages)) from None
        user.set_password(password)
        user.save()
        audit.update(inv.member, inv, {"used_at": now()}, action="accept")
    return inv.member


def deactivate(actor: Membership, username: str, reason: str) -> None:
    """End an account's access (admin of a trial it works on only; not one's own): no
    login, session or API token."""
    require(actor, PEOPLE, "deactivating an account")
    with transaction.atomic():
        user = get_user_model().objects.select_for_update().filter(username=username).first()
        held = Membership.objects.filter(user=user, trial_id=actor.trial_id).exists()
        if user is None or not held:
            raise InputError(f"no member {username!r} in this trial")
        if Membership.objects.filter(user=user).exclude(trial_id=actor.trial_id).exists():
            raise AccessDenied(
                f"{username!r} also works on another trial: the store's operator ends the "
                "account (`frailtrial web deactivate`)"
            )
        if user.pk == actor.user_id:
            raise AccessDenied("you cannot deactivate your own account")
        _end(actor, user, reason)


def deactivate_account(username: str, reason: str) -> None:
    """End an account's access on every trial of the store (the operator, from the command
    line; audited as the system)."""
    with transaction.atomic():
        user = get_user_model().objects.select_for_update().filter(username=username).first()
        if user is None:
            raise InputError(f"no user {username!r} in this store")
        _end(None, user, reason)


def _end(actor: Membership | None, user: Any, reason: str) -> None:
    if not reason.strip():
        raise InputError("deactivating an account needs a reason")
    if not user.is_active:
        raise InputError(f"the account {user.get_username()!r} is deactivated already")
    old = _user_snapshot(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    audit.record(actor, "deactivate", ("user", str(user.pk)), old, _user_snapshot(user), reason)


def members(actor: Membership) -> list[Membership]:
    """The trial's memberships with their users and sites (admin)."""
    require(actor, PEOPLE, "listing the members")
    found = Membership.objects.filter(trial_id=actor.trial_id).select_related("user", "site")
    return list(found.order_by("site__code", "role", "user__username"))


def choose_language(actor: Membership, language: str) -> None:
    """Keep ``language`` (one of the settings' ``LANGUAGES``) as the interface language of
    the actor's account: set on every membership of the user, each change audited as that
    membership's own (so each trial's trail holds only its own rows)."""
    allowed = [code for code, _ in settings.LANGUAGES]
    if language not in allowed:
        raise InputError(f"language {language!r} is not one of {', '.join(allowed)}")
    with transaction.atomic():
        held = (
            Membership.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(user_id=actor.user_id)
            .exclude(language=language)
            .order_by("pk")
        )
        for m in held:
            audit.update(m, m, {"language": language}, action="language")


def account_language(user: Any) -> str:
    """The interface language the user chose ("" when none)."""
    chosen = Membership.objects.filter(user=user).exclude(language="").order_by("-pk")
    return chosen.values_list("language", flat=True).first() or ""
