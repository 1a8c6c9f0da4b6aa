"""Login throttling, the client's address, password rules and API tokens (only their SHA-256
is stored).

Logins are throttled, never locked: each user name, each user's known device and each client
address has a few free attempts, then a delay that doubles per further attempt up to a cap.
An attempt is counted *before* the password is checked, under a row lock, so parallel
guesses cannot pass the count. A browser that logged in before carries a signed device cookie:
it is counted on its own key and not on the address's, so an attacker guessing a user's
password (or everyone's from one address) delays neither that user nor the others.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
import re
import secrets
import weakref
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext

from frailtrial.edc.models import Membership, Site, Trial
from frailtrial.edc.services import passwords
from frailtrial.web.config import TOKEN_DAYS
from frailtrial.web.models import ApiToken, LoginAttempt, LoginThrottle

WINDOW = dt.timedelta(minutes=15)  # a key's count is forgotten this long after its last attempt
DEVICE_COOKIE = "ft_device"
DEVICE_DAYS = 180


@dataclass(frozen=True)
class Throttle:
    """Free attempts per key, then ``base`` seconds doubling per attempt up to ``cap``."""

    free: int
    base: float
    cap: float

    def delay(self, attempts: int) -> dt.timedelta:
        """The wait after the ``attempts``-th counted attempt (none while attempts < free)."""
        if attempts < self.free:
            return dt.timedelta(0)
        return dt.timedelta(seconds=min(self.cap, self.base * 2 ** (attempts - self.free)))


USER = Throttle(free=5, base=10, cap=60)  # per user name, from a browser not known for it
DEVICE = Throttle(free=5, base=2, cap=30)  # per user name, from a browser that logged in before
ADDRESS = Throttle(free=20, base=2, cap=30)  # per client address (unknown browsers only)


def now() -> dt.datetime:
    return timezone.now()


def _reserve(key: str, rule: Throttle) -> float:
    """Count one attempt on ``key``; 0 when allowed, else the seconds until the next is."""
    with transaction.atomic():
        LoginThrottle.objects.bulk_create([LoginThrottle(key=key)], ignore_conflicts=True)
        row = LoginThrottle.objects.select_for_update().get(key=key)
        at = now()
        if row.last_at is not None and at - row.last_at > WINDOW:
            row.attempts, row.next_allowed_at = 0, None
        if row.next_allowed_at is not None and at < row.next_allowed_at:
            return (row.next_allowed_at - at).total_seconds()
        row.attempts += 1
        row.last_at = at
        row.next_allowed_at = at + rule.delay(row.attempts)
        row.save()
    return 0.0


def login_wait(username: str, address: str, known_device: bool) -> float:
    """Count a login attempt before its password is checked; seconds to wait (0: go ahead)."""
    if known_device:
        return _reserve(f"device:{username}", DEVICE)
    wait = _reserve(f"address:{address}", ADDRESS)
    return wait or _reserve(f"user:{username}", USER)


def note_login(username: str, address: str, ok: bool, known_device: bool) -> None:
    """Record an attempt; a success clears the count of its user's key (not the address's)."""
    with transaction.atomic():
        if ok:
            key = f"device:{username}" if known_device else f"user:{username}"
            LoginThrottle.objects.filter(key=key).update(attempts=0, next_allowed_at=None)
        LoginAttempt.objects.create(username=username, address=address, at=now(), ok=ok)


def known_device(request: HttpRequest, username: str) -> bool:
    """Whether the request carries this user's signed device cookie (set at a past login)."""
    value = request.get_signed_cookie(
        DEVICE_COOKIE, default=None, salt="frailtrial.device", max_age=DEVICE_DAYS * 86400
    )
    return value == username


def remember_device(response: HttpResponse, username: str) -> None:
    """Mark this browser as one the user logged in from (signed, HttpOnly, 180 days)."""
    response.set_signed_cookie(
        DEVICE_COOKIE,
        username,
        salt="frailtrial.device",
        max_age=DEVICE_DAYS * 86400,
        httponly=True,
        samesite="Lax",
        secure=bool(settings.SESSION_COOKIE_SECURE),
    )


def _networks(entries: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip()]


def _trusted(address: str, networks: list[Any]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or, only when that is a configured trusted proxy
    (``FRAILTRIAL_TRUSTED_PROXIES``), the nearest untrusted hop of X-Forwarded-For."""
    remote = str(request.META.get("REMOTE_ADDR", ""))
    networks = _networks(list(getattr(settings, "FRAILTRIAL_TRUSTED_PROXIES", [])))
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
    if not forwarded or not _trusted(remote, networks):
        return remote[:64]
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop[:64]
    return (hops[0] if hops else remote)[:64]


def _squash(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


class PasswordRules:
    """Refuse passwords of one repeated character, of whitespace only, of fewer than 5
    distinct characters, or containing a trial's name (Django's validators run as well)."""

    MIN_DISTINCT = 5

    def validate(self, password: str, user: Any = None) -> None:
        errors = []
        if not password.strip():
            errors.append(gettext("This password is only whitespace."))
        elif len(set(password)) == 1:
            errors.append(gettext("This password is one character repeated."))
        elif len(set(password)) < self.MIN_DISTINCT:
            errors.append(
                gettext("This password has fewer than %(n)s distinct characters.")
                % {"n": self.MIN_DISTINCT}
            )
        squashed = _squash(password)
        for name in Trial.objects.values_list("name", flat=True):
            if len(_squash(name)) >= 4 and _squash(name) in squashed:
                errors.append(gettext("This password contains the trial's name."))
                break
        if errors:
            raise ValidationError(errors, code="password_rules")

    def get_help_text(self) -> str:
        return gettext(
            "Not one repeated character, not only whitespace, at least %(n)s distinct "
            "characters, not the trial's name."
        ) % {"n": self.MIN_DISTINCT}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_days() -> int:
    """How long a new API token lives (``FRAILTRIAL_TOKEN_DAYS``, default 90)."""
    return int(getattr(settings, "FRAILTRIAL_TOKEN_DAYS", TOKEN_DAYS))


def issue_token(member: Membership) -> str:
    """A new API token for the membership; the plain text is shown once and never stored."""
    token = "ft_" + secrets.token_urlsafe(32)
    created = now()
    with transaction.atomic():
        ApiToken.objects.create(
            member=member,
            digest=digest(token),
            prefix=token[:8],
            created_at=created,
            expires_at=created + dt.timedelta(days=token_days()),
        )
    return token


_Columns = list[tuple[type[models.Model], list["models.Field[Any, Any]"]]]
_converters: weakref.WeakKeyDictionary[BaseDatabaseWrapper, list[list[Any]]] = (
    weakref.WeakKeyDictionary()
)


@functools.cache
def _token_query(vendor: str) -> tuple[str, _Columns]:
    """The live-token lookup as one statement (its text depends only on the database
    vendor): the token's membership with its user, trial and site, every column of each,
    for a digest, a time and ``is_active``."""
    q = connections[DEFAULT_DB_ALIAS].ops.quote_name
    parts: _Columns = [
        (model, list(model._meta.concrete_fields))
        for model in (Membership, get_user_model(), Trial, Site)
    ]
    columns = ", ".join(
        f"j{i}.{q(f.column)}" for i, (_, fields) in enumerate(parts) for f in fields
    )
    token, member = ApiToken._meta, Membership._meta

    def join(i: int, fk: str, kind: str = "JOIN") -> str:
        model = parts[i][0]
        return (
            f" {kind} {q(model._meta.db_table)} j{i} ON j{i}.{q(model._meta.pk.column)} "
            f"= j0.{q(member.get_field(fk).column)}"
        )

    sql = (
        f"SELECT {columns} FROM {q(token.db_table)} k JOIN {q(member.db_table)} j0 "
        f"ON j0.{q(member.pk.column)} = k.{q(token.get_field('member').column)}"
        + join(1, "user")
        + join(2, "trial")
        + join(3, "site", "LEFT JOIN")
        + f" WHERE k.{q(token.get_field('digest').column)} = %s"
        f" AND k.{q(token.get_field('revoked_at').column)} IS NULL"
        f" AND k.{q(token.get_field('expires_at').column)} > %s"
        f" AND j1.{q(get_user_model()._meta.get_field('is_active').column)} = %s"
    )
    return sql, parts


def member_for_token(token: str) -> Membership | None:
    """The membership a live token belongs to (None: unknown, revoked or expired, or its
    user deactivated).

    Every API request runs this, so it is one hand-made statement (the ORM spent more CPU
    building the four-table query than the rest of a CRF save's lookups); its values pass
    through the converters an ORM query applies (dates and booleans on SQLite)."""
    if not token.startswith("ft_"):
        return None
    conn = connections[DEFAULT_DB_ALIAS]
    sql, parts = _token_query(conn.vendor)
    expires = ApiToken._meta.get_field("expires_at").get_db_prep_value(now(), conn)
    with conn.cursor() as cur:
        cur.execute(sql, [digest(token), expires, True])
        row = cur.fetchone()
    if row is None:
        return None
    if conn not in _converters:
        _converters[conn] = [
            [
                (col, conn.ops.get_db_converters(col) + col.get_db_converters(conn))
                for col in (f.get_col(model._meta.db_table) for f in fields)
            ]
            for model, fields in parts
        ]
    objects: list[models.Model | None] = []
    values = iter(row)
    for (model, fields), columns in zip(parts, _converters[conn], strict=True):
        converted = []
        for col, converters in columns:
            value = next(values)
            for convert in converters:
                value = convert(value, col, conn)
            converted.append(value)
        names = [f.attname for f in fields]
        none = converted[names.index(model._meta.pk.attname)] is None  # no site: LEFT JOIN
        objects.append(None if none else model.from_db(conn.alias, names, converted))
    member, user, trial, site = objects
    found = cast(Membership, member)
    found.user, found.trial, found.site = user, trial, site  # what the services read
    return found


def revoke_tokens_of_user(user_id: int) -> int:
    """Revoke every live token of the user's memberships (their password changed)."""
    return ApiToken.objects.filter(member__user_id=user_id, revoked_at__isnull=True).update(
        revoked_at=now()
    )


def revoke_on_password_change(
    sender: Any, instance: Any, update_fields: Any = None, **_: Any
) -> None:
    """pre_save of a user: a new password (set with ``set_password``, which every path that
    changes one uses: the account page, ``web set-password``) revokes the user's API tokens.
    Django's rehash of the same password at login (a hasher upgrade, more iterations) saves
    a new hash too but sets no raw password: it revokes nothing."""
    if instance.pk is None or (update_fields is not None and "password" not in update_fields):
        return
    if getattr(instance, "_password", None) is None:  # a rehash, not a new password
        return
    stored = (
        type(instance).objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    )
    if stored is not None and stored != instance.password:
        revoke_tokens_of_user(instance.pk)


class AuditedPasswordBackend(ModelBackend):
    """Django's model backend, but an account whose password hash is not the audited one
    (written in the database) cannot log in, whatever password is given; see
    ``edc.services.passwords``."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """The account of ``username`` when ``password`` is its own and its hash audited."""
        model = get_user_model()
        try:
            user = model._default_manager.get_by_natural_key(username)
        except model.DoesNotExist:
            model().set_password(password)  # the same time as a wrong password
            return None
        if passwords.check(user, password or "") and self.user_can_authenticate(user):
            return user
        return None
