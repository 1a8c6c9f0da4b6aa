"""Creating a trial from a protocol, its sites and its members; locking and analysis unblinding."""

from __future__ import annotations

import datetime as dt
import re
import secrets

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from frailtrial.edc.errors import AccessDenied
from frailtrial.edc.models import ROLES, Membership, Site, Trial
from frailtrial.edc.services import audit, people, prelock
from frailtrial.edc.services.anchor import write_anchor
from frailtrial.edc.services.common import audited_snapshot, now, require, write
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol
from frailtrial.protocol.canonical import canonical_text, text_hash


def _site_code(name: str, taken: set[str]) -> str:
    base = "".join(w[0] for w in re.findall(r"[A-Za-z]+", name)).upper()[:6] or "S"
    code, i = base, 1
    while code in taken:
        i += 1
        code = f"{base}{i}"
    return code


def create_trial(protocol: Protocol, name: str | None = None) -> Trial:
    """A trial running ``protocol`` (snapshot + SHA-256), with the protocol's sites."""
    trial_name = name or protocol.name
    text = canonical_text(protocol)
    with transaction.atomic():
        if Trial.objects.filter(name=trial_name).exists():
            raise InputError(f"trial {trial_name!r} already exists in this store")
        trial = Trial.objects.create(
            name=trial_name,
            protocol_name=protocol.name,
            protocol_yaml=text,
            protocol_sha256=text_hash(text),
            minimization_secret=secrets.token_hex(16),
        )
        audit.record(
            None,
            "create",
            trial,
            None,
            audited_snapshot(trial) | {"protocol_yaml": "..."},
        )
        taken: set[str] = set()
        for site_name in protocol.identity.sites:
            code = _site_code(site_name, taken)
            taken.add(code)
            site = Site.objects.create(trial=trial, name=site_name, code=code)
            audit.created(None, site)
    return trial


def get_trial(name: str | None = None) -> Trial:
    """The trial called ``name``, or the only trial of the store."""
    if name:
        try:
            return Trial.objects.get(name=name)
        except Trial.DoesNotExist:
            known = ", ".join(Trial.objects.values_list("name", flat=True)) or "none"
            raise InputError(f"no trial {name!r} in this store (trials: {known})") from None
    trials = list(Trial.objects.all()[:2])
    if len(trials) != 1:
        raise InputError(
            "the store holds no trial; run `frailtrial edc init --protocol NAME` first"
            if not trials
            else "the store holds several trials; name one with --trial"
        )
    return trials[0]


def find_member(trial_name: str | None, username: str | None, role: str) -> Membership:
    """The acting membership: by user name, else the first member holding ``role``."""
    trial = get_trial(trial_name)
    found = Membership.objects.filter(trial=trial).select_related("user", "trial", "site")
    found = found.filter(user__username=username) if username else found.filter(role=role)
    m = found.order_by("pk").first()
    if m is None:
        who = f"user {username!r}" if username else f"a member with role {role}"
        raise InputError(f"trial {trial.name} has no {who}")
    return m


def add_member(
    trial: Trial,
    username: str,
    role: str,
    site: Site | None = None,
    password: str | None = None,
    actor: Membership | None = None,
) -> Membership:
    """Give a user (created if new) a role on the trial; by an admin, or the system at setup."""
    if role not in ROLES:
        raise InputError(f"role {role!r} is not known; roles: {', '.join(ROLES)}")
    if actor is not None and actor.role != "admin":
        raise AccessDenied("adding members needs the role admin")
    user_model = get_user_model()
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(username=username)
        if created:
            if password:
                user.set_password(password)
            else:
                user.set_unusable_password()
            user.save()
        member, made = Membership.objects.get_or_create(
            user=user,
            trial=trial,
            role=role,
            defaults={"site": site, "language": people.account_language(user)},
        )
        if made:
            audit.created(actor, member)
    return member


def lock(
    actor: Membership,
    reason: str,
    accept: dict[str, str] | None = None,
    lock_date: dt.date | None = None,
) -> Trial:
    """Lock the database: from now on every write service refuses.

    Refused (InputError, one line naming each item) while the pre-lock checklist
    (``prelock``) has items not accepted; ``accept`` maps item keys to reasons, kept and
    audited. ``lock_date`` (default today) is the date no trial date may lie after."""
    require(actor, ["admin"], "locking the database")
    if not reason.strip():
        raise InputError("locking needs a reason")
    day = lock_date or timezone.localdate()
    with write(actor) as trial:
        blocking = prelock.accept(actor, accept or {}, day)
        if blocking:
            raise InputError(prelock.refusal(blocking))
        old = audited_snapshot(trial)
        trial.locked_at, trial.lock_reason = now(), reason
        trial.save(update_fields=["locked_at", "lock_reason"])
        new = audited_snapshot(trial)
        old.pop("protocol_yaml"), new.pop("protocol_yaml")
        audit.record(actor, "lock", trial, old, new, reason)
    write_anchor()  # kept in the anchors folder: a store restored from before the lock is found
    return trial


def unblind_statistician(actor: Membership, statistician: Membership, reason: str) -> Membership:
    """After lock, let the statistician read arms for the analysis (an audited step)."""
    require(actor, ["admin"], "unblinding the statistician")
    if statistician.role != "statistician" or statistician.trial_id != actor.trial_id:
        raise InputError("only a statistician of this trial is unblinded for analysis")
    if not reason.strip():
        raise InputError("unblinding for analysis needs a reason")
    with transaction.atomic():
        trial = Trial.objects.get(pk=actor.trial_id)
        if trial.locked_at is None:
            raise AccessDenied("the statistician is unblinded only after the database lock")
        audit.update(
            actor, statistician, {"unblinded_for_analysis_at": now()}, reason, action="unblind"
        )
    write_anchor()  # as at the lock: undoing the unblinding by a restore is found
    return statistician
