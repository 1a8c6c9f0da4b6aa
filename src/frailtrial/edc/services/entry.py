"""Rules every entry obeys, shared by pages, API and command line: dates in their order,
safe IDs, no control characters, and no edit that overwrites a change the editor never saw.

Trial events are dated from 2000-01-01 to today, and in order: screening ≤ consent ≤
randomization ≤ infusions ≤ visits after day 1; an adverse event starts on or after consent.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from django.db import models
from django.utils import timezone

from frailtrial.edc.errors import Conflict
from frailtrial.edc.models import AuditEntry, Consent, Participant, Screening
from frailtrial.edc.services.common import parse_date
from frailtrial.errors import InputError

EARLIEST = dt.date(2000, 1, 1)
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab, newline and CR are text


def event_date(value: str | dt.date, what: str) -> dt.date:
    """A trial event's date: a real date from 2000-01-01 to today (InputError otherwise)."""
    day = parse_date(value, what)
    today = timezone.localdate()
    if day < EARLIEST:
        raise InputError(f"{what}: {day} is before {EARLIEST}; trial events are dated from then")
    if day > today:
        raise InputError(f"{what}: {day} is in the future (today is {today})")
    return day


def event_time(value: dt.datetime, what: str) -> dt.datetime:
    """A trial event's time: its date from 2000-01-01 to today, not after now."""
    event_date(value.date(), what)
    if value > timezone.now():
        raise InputError(f"{what}: {value:%Y-%m-%d %H:%M} is in the future")
    return value


def not_before(day: dt.date, earlier: dt.date | None, what: str, earlier_what: str) -> None:
    """Refuse ``day`` when it precedes the event it must follow."""
    if earlier is not None and day < earlier:
        raise InputError(f"{what} {day} is before {earlier_what} {earlier}")


def consent_date(p: Participant) -> dt.date | None:
    """The date the participant first signed consent (None if none is recorded)."""
    return (
        Consent.objects.filter(screening_id=p.screening_id)
        .order_by("signed_on")
        .values_list("signed_on", flat=True)
        .first()
    )


def randomization_date(screening: Screening, value: str | dt.date) -> dt.date:
    """The randomization date: a trial event date, not before screening or consent."""
    day = event_date(value, "randomization date")
    not_before(day, screening.screened_on, "randomization date", "the screening date")
    signed = (
        screening.consents.filter(withdrawn_on__isnull=True)
        .order_by("signed_on")
        .values_list("signed_on", flat=True)
        .first()
    )
    not_before(day, signed, "randomization date", "consent on")
    return day


def safe_id(value: str, what: str) -> str:
    """An identifier of 1-40 letters, digits, '.', '_' or '-', starting with a letter or digit
    (it appears in URLs, file names and exports)."""
    if not isinstance(value, str) or not SAFE_ID.fullmatch(value):
        raise InputError(
            f"{what} {value!r} is not allowed: 1-40 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def control_character(value: Any) -> str | None:
    """The first control character (as U+XXXX) in any text inside ``value``; None if clean."""
    if isinstance(value, str):
        found = CONTROL.search(value)
        return f"U+{ord(found.group()):04X}" if found else None
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, (list, tuple)):
        for item in value:
            hit = control_character(item)
            if hit:
                return hit
    return None


def clean_text(value: Any, what: str) -> None:
    """Refuse text (or texts nested in lists and dicts) holding a control character."""
    hit = control_character(value)
    if hit:
        raise InputError(f"{what} contains a control character ({hit}); it is not allowed")


def finite(value: Any, what: str) -> None:
    """Refuse NaN or infinity anywhere in ``value`` (numbers nested in lists and dicts)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{what} holds {value!r}; only finite numbers are allowed")
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for item in value:
            finite(item, what)


def check_version(
    obj: models.Model, expected: int | None, what: str, field: str = "version"
) -> None:
    """Refuse an edit made on a version other than the stored one (the record's ``field``),
    naming who changed it."""
    current = int(getattr(obj, field, 1))
    if expected == current:
        return
    last = (
        AuditEntry.objects.filter(model=obj._meta.model_name, object_id=str(obj.pk))
        .order_by("-seq")
        .first()
    )
    who = f"{last.actor} ({last.role}) at {last.at:%Y-%m-%d %H:%M} UTC" if last else "someone"
    if expected is None:
        raise Conflict(
            f"{what} is already saved (version {current}, last changed by {who}); "
            f"send the version you are changing"
        )
    raise Conflict(
        f"{what} was changed by {who} since you read it (you had version {expected}, "
        f"it is now {current}); reload it and enter your change again"
    )
