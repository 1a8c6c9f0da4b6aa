"""What every workflow shares: role checks, the write transaction, snapshots, the protocol."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import yaml
from django.db import models, transaction
from django.utils import timezone

from frailtrial.edc.errors import AccessDenied, TrialLocked
from frailtrial.edc.models import Membership, Participant, Trial
from frailtrial.edc.roles import CLINICAL as CLINICAL  # the services' role checks import it here
from frailtrial.edc.services.rows import by_key
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol, parse

M = TypeVar("M", bound=models.Model)


def require(actor: Membership, roles: Iterable[str], what: str) -> None:
    """Refuse unless the actor holds one of ``roles``."""
    allowed = tuple(roles)
    if actor.role not in allowed:
        raise AccessDenied(f"{what} needs the role {' or '.join(allowed)}; you are {actor.role}")


def require_site(actor: Membership, site_id: int, what: str) -> None:
    """Refuse when the actor is limited to a site other than ``site_id`` (``what`` is there)."""
    if actor.site_id is not None and actor.site_id != site_id:
        raise AccessDenied(f"{what} is not at your site")


def missing(actor: Membership, what: str, message: str) -> Exception:
    """The error for a record the actor looked up and the trial lacks: ``message`` as bad
    input, but for a member limited to a site the same refusal as for another site's record,
    so a site's member cannot probe which ids exist at other sites."""
    if actor.site_id is not None:
        return AccessDenied(f"{what} is not at your site")
    return InputError(message)


# libyaml's safe loader when PyYAML has it (ten times faster; same documents, same types)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=32)
def _parse(sha: str, text: str) -> Protocol:
    return parse(yaml.load(text, Loader=_SAFE_LOADER), f"trial snapshot {sha[:12]}")


def protocol_of(trial: Trial) -> Protocol:
    """The protocol snapshot stored with the trial."""
    return _parse(trial.protocol_sha256, trial.protocol_yaml)


def sees_arm(actor: Membership) -> bool:
    """Whether the actor may read an arm: an unblinded role, or the statistician once unblinded."""
    protocol = protocol_of(actor.trial)
    if actor.role in protocol.blinding.unblinded_roles:
        return True
    return actor.role == "statistician" and actor.unblinded_for_analysis_at is not None


def now() -> dt.datetime:
    return timezone.now()


@contextmanager
def write(actor: Membership) -> Iterator[Trial]:
    """One write transaction on the actor's trial; refused once the trial is locked.

    On SQLite the transaction begins IMMEDIATE (write lock taken at BEGIN); on PostgreSQL the
    audit head row is locked FOR UPDATE when the audit row is appended, which orders writers.
    """
    with transaction.atomic():
        trial = actor.trial
        stored = by_key(Trial, only=("locked_at",), id=actor.trial_id)  # as stored now
        if stored is None:
            raise InputError(f"trial {trial.name} is not in this store")
        if stored.locked_at is not None:
            raise TrialLocked(f"trial {trial.name} is locked since {stored.locked_at:%Y-%m-%d}")
        yield trial


def plain(value: Any) -> Any:
    """A JSON-ready form of a field value (dates as ISO text)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def snapshot(obj: models.Model) -> dict[str, Any]:
    """Every concrete field of a row, foreign keys by id, as JSON-ready values."""
    out: dict[str, Any] = {}
    for f in obj._meta.concrete_fields:
        out[f.attname] = plain(getattr(obj, f.attname))
    return out


# Fields audited as a SHA-256 digest, never in clear: the audit trail is readable by
# oversight roles, and the minimization secret would let a reader predict allocations.
SECRET_FIELDS = {"trial": ("minimization_secret",)}


def audited_snapshot(obj: models.Model) -> dict[str, Any]:
    """``snapshot`` with each secret field replaced by ``sha256:<hex>`` of its value, so the
    integrity check can still tell a rewritten secret from the audited one."""
    out = snapshot(obj)
    for name in SECRET_FIELDS.get(obj._meta.model_name or "", ()):
        out[name] = secret_digest(out[name])
    return out


def secret_digest(value: Any) -> str:
    """The audited form of a secret field."""
    return "sha256:" + hashlib.sha256(str(value).encode("utf-8")).hexdigest()


def parse_date(value: str | dt.date, what: str) -> dt.date:
    """A date from ISO text or a date, within 1900-2100 (what exports and pandas can hold);
    InputError naming the field otherwise."""
    if isinstance(value, dt.datetime):
        day = value.date()
    elif isinstance(value, dt.date):
        day = value
    else:
        try:
            day = dt.date.fromisoformat(str(value))
        except ValueError:
            raise InputError(f"{what}: {value!r} is not a date YYYY-MM-DD") from None
    if not dt.date(1900, 1, 1) <= day <= dt.date(2100, 12, 31):
        raise InputError(f"{what}: {day.isoformat()} is outside 1900-01-01 to 2100-12-31")
    return day


def unique_row(rows: models.QuerySet[M]) -> M | None:
    """The row of a query on a unique key, or None: a slice, without the ORDER BY that
    ``first()`` adds (building and running it cost a hot path's time for nothing)."""
    return next(iter(rows[:1]), None)


def participant(actor: Membership, participant_id: str) -> Participant:
    """The actor's participant by id (site rules applied)."""
    p = by_key(Participant, trial_id=actor.trial_id, participant_id=participant_id)
    if p is None:
        what, message = f"participant {participant_id}", f"no participant {participant_id!r}"
        raise missing(actor, what, message + " in this trial")
    require_site(actor, p.site_id, f"participant {participant_id}")
    return p
