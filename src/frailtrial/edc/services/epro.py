"""Participant (ePRO) sessions: a coordinator opens one participant's pending questionnaires
of one visit, on a site tablet (kiosk) or by a one-time link; the participant answers them.

A session is reached only through its token (256 random bits; only its SHA-256 is stored),
redeemed once. It reaches only its participant, visit and instruments, ends after
``IDLE_MINUTES`` without activity, at its expiry (``KIOSK_HOURS`` / ``LINK_HOURS``), or when
every instrument is submitted. Each answer is stored as it is given (``drafts``; a new
session of the same visit carries over the answers not yet sent); submitting
an instrument saves it through :func:`crf.enter_crf` with source ``participant``, so scores
are computed exactly as for staff entry and a later change needs a reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

from django.db import transaction

from frailtrial.edc.errors import AccessDenied
from frailtrial.edc.models import Crf, EproSession, Membership
from frailtrial.edc.roles import ENTRY
from frailtrial.edc.services import audit, crf
from frailtrial.edc.services.common import now, participant, protocol_of, require, write
from frailtrial.edc.services.visits import occurrence
from frailtrial.errors import InputError
from frailtrial.instruments import Item, get, wording

PATIENT_REPORTED = ("sf36", "eq5d5l", "eq5d3l", "psqi", "sqolf")
"""Instruments the participant answers (the others are measured by staff)."""
IDLE_MINUTES = 15
KIOSK_HOURS = 2
LINK_HOURS = 72


def answered_at(instruments: Sequence[str]) -> list[str]:
    """The instruments of a visit the participant answers, in the visit's order."""
    return [i for i in instruments if i in PATIENT_REPORTED]


def digest(token: str) -> str:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def items_of(s: EproSession, instrument: str) -> tuple[Item, ...]:
    """The instrument's items with the trial protocol's options (e.g. SF-36 version)."""
    protocol = protocol_of(s.participant.trial)
    return tuple(get(instrument, **protocol.conventions.options_for(instrument)).items)


def asked_wording(instrument: str, language: str, items: tuple[Item, ...]) -> wording.Wording:
    """The wording a participant is asked in; InputError when there is none or it is not a
    validated translation (a PRO's scores hold only in a linguistically validated wording;
    staff forms may still show such a wording as a label)."""
    found = wording.load(instrument, language, items)
    if not found.validated:
        raise InputError(
            f"the {language} wording of {instrument} is not a validated translation; "
            "supply the site's validated wording in FRAILTRIAL_WORDING_DIR"
        )
    return found


def wording_of(s: EproSession, instrument: str, language: str | None = None) -> wording.Wording:
    """The instrument's wording in the session's (or the given) language, as asked."""
    return asked_wording(instrument, language or s.language, items_of(s, instrument))


def start(
    actor: Membership, participant_id: str, visit: str, kind: str, language: str
) -> tuple[EproSession, str]:
    """Open a session for the participant's pending patient-reported instruments of a held
    visit that have wording in ``language``; returns (session, token). The token is shown
    once: the kiosk redirects to it at once, a link is handed to the participant."""
    require(actor, ENTRY, "starting a participant session")
    if kind not in ("kiosk", "link"):
        raise InputError(f"session kind {kind!r} is not one of kiosk, link")
    if language not in wording.LANGUAGES:
        raise InputError(f"language {language!r} is not one of {', '.join(wording.LANGUAGES)}")
    protocol = protocol_of(actor.trial)
    planned = {v.name: v for v in protocol.visits}
    if visit not in planned:
        raise InputError(f"{visit!r} is not a visit of {protocol.name}")
    if not answered_at(planned[visit].instruments):
        raise InputError(
            f"{visit} of {protocol.name} has no questionnaire the participant answers (its "
            f"instruments: {', '.join(planned[visit].instruments)}; participant questionnaires: "
            f"{', '.join(PATIENT_REPORTED)})"
        )
    token = secrets.token_urlsafe(32)
    with write(actor):
        p = participant(actor, participant_id)
        if occurrence(p, visit).status != "attended":
            raise InputError(f"visit {visit} of {participant_id} is not recorded as held yet")
        saved = set(
            Crf.objects.filter(participant=p, visit=visit).values_list("instrument", flat=True)
        )
        pending = [i for i in answered_at(planned[visit].instruments) if i not in saved]
        if not pending:
            raise InputError(f"{participant_id} has no questionnaire left to answer at {visit}")
        options = {i: get(i, **protocol.conventions.options_for(i)).items for i in pending}
        usable, why = [], []
        for name in pending:
            try:
                asked_wording(name, language, tuple(options[name]))
                usable.append(name)
            except InputError as exc:
                why.append(str(exc))
        if not usable:
            raise InputError(f"no questionnaire of {visit} can be shown: {'; '.join(why)}")
        at = now()
        hours = KIOSK_HOURS if kind == "kiosk" else LINK_HOURS
        # answers given in an earlier session of this visit and not yet sent carry over
        earlier = EproSession.objects.filter(participant=p, visit=visit).order_by("-pk").first()
        kept = earlier.drafts if earlier else {}
        where = earlier.position if earlier else {}
        s = EproSession.objects.create(
            participant=p,
            visit=visit,
            started_by=actor,
            kind=kind,
            digest=digest(token),
            language=language,
            instruments=usable,
            drafts={i: kept[i] for i in usable if i in kept},
            position={i: where[i] for i in usable if i in where},
            created_at=at,
            expires_at=at + dt.timedelta(hours=hours),
        )
        audit.created(actor, s)
    return s, token


def _end(s: EproSession, why: str) -> None:
    audit.update(s.started_by, s, {"ended_at": now(), "ended_why": why}, action="end")


def redeem(token: str) -> EproSession:
    """The session of a token, redeemed now: a token opens its session once, before expiry."""
    problem = ""
    with transaction.atomic():  # the session's end is saved before the refusal is raised
        s = EproSession.objects.select_for_update().filter(digest=digest(token)).first()
        if s is None or s.ended_at is not None or s.redeemed_at is not None:
            problem = "this questionnaire link is not valid (used, ended or unknown)"
        elif now() >= s.expires_at:
            _end(s, "expired")
            problem = "this questionnaire link has expired"
        else:
            at = now()
            audit.update(s.started_by, s, {"redeemed_at": at, "last_seen_at": at}, action="redeem")
    if problem or s is None:
        raise AccessDenied(problem)
    return s


def current(session_id: int | None) -> EproSession:
    """The live session of a browser: not ended, not expired, active in the last
    ``IDLE_MINUTES``; its activity time is renewed. AccessDenied otherwise (and it ends)."""
    if session_id is None:
        raise AccessDenied("no questionnaire session is open on this device")
    live = False
    with transaction.atomic():  # the session's end is saved before the refusal is raised
        s = (
            EproSession.objects.select_for_update()
            .select_related("participant__trial", "started_by__user", "started_by__trial")
            .filter(pk=session_id)
            .first()
        )
        at = now()
        if s is None or s.ended_at is not None or s.redeemed_at is None:
            pass
        elif at >= s.expires_at:
            _end(s, "expired")
        elif s.last_seen_at and at - s.last_seen_at > dt.timedelta(minutes=IDLE_MINUTES):
            _end(s, "idle")
        else:
            s.last_seen_at = at
            s.save(update_fields=["last_seen_at"])
            live = True
    if not live or s is None:
        raise AccessDenied("this questionnaire session has ended")
    return s


def open_instrument(s: EproSession, instrument: str) -> None:
    """Refuse an instrument this session does not hold or has submitted already."""
    if instrument not in s.instruments:
        raise AccessDenied("this questionnaire is not part of your session")
    if instrument in s.submitted:
        raise AccessDenied("this questionnaire is already submitted")


def typed_value(item: Item, raw: str) -> Any:
    """The answer a form sends for ``item`` (text) as the instrument's value; '' is missing."""
    raw = raw.strip()
    if raw == "":
        return None
    if item.kind == "boolean":
        if raw not in ("true", "false"):
            raise InputError(f"{raw!r} is not an answer to this question")
        return raw == "true"
    if item.kind in ("integer", "number"):
        try:
            number = float(raw)
        except ValueError:
            raise InputError(f"{raw!r} is not a number; {item.allowed()}") from None
        value: Any = int(number) if item.kind == "integer" and number.is_integer() else number
    else:
        value = raw
    try:
        return item.check(value, item.id)
    except InputError:
        raise InputError(f"{raw} is not allowed here; {item.allowed()}") from None


def save_answer(s: EproSession, instrument: str, item_id: str, raw: str, position: int) -> None:
    """Store one answer as given (missing when ``raw`` is empty) and where the participant is."""
    open_instrument(s, instrument)
    items = {i.id: i for i in items_of(s, instrument)}
    if item_id not in items:
        raise InputError(f"{item_id!r} is not a question of this questionnaire")
    value = typed_value(items[item_id], raw)
    with transaction.atomic():
        fresh = EproSession.objects.select_for_update().get(pk=s.pk)
        answers = dict(fresh.drafts.get(instrument, {}))
        answers[item_id] = value
        fresh.drafts = {**fresh.drafts, instrument: answers}
        fresh.position = {**fresh.position, instrument: position}
        fresh.save(update_fields=["drafts", "position"])
    s.drafts, s.position = fresh.drafts, fresh.position


def submit(s: EproSession, instrument: str) -> Crf:
    """Save the instrument's answers as a CRF (source participant); the session ends when
    every instrument is submitted."""
    open_instrument(s, instrument)
    answers = {k: v for k, v in s.drafts.get(instrument, {}).items() if v is not None}
    saved = crf.enter_crf(
        s.started_by,
        s.participant.participant_id,
        s.visit,
        instrument,
        answers,
        source="participant",
    )
    with transaction.atomic():
        audit.update(s.started_by, s, {"submitted": [*s.submitted, instrument]}, action="submit")
        if set(s.submitted) >= set(s.instruments):
            _end(s, "completed")
    return saved


def choose_language(s: EproSession, language: str) -> None:
    """Show the session's questionnaires in ``language`` from now on (audited)."""
    if language not in wording.LANGUAGES:
        raise InputError(f"language {language!r} is not one of {', '.join(wording.LANGUAGES)}")
    audit.update(s.started_by, s, {"language": language}, action="language")


def end(s: EproSession, why: str = "ended by participant") -> None:
    """End a session now (the participant or the coordinator closes it)."""
    _end(s, why)
