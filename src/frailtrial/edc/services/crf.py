"""Case report forms: instrument answers validated and scored on entry, and measurements.

A CRF's answers go through the instrument registry; an invalid answer raises InputError with
the instrument's message and nothing is saved. Scores that are protocol variables become
measurements. Changing a saved CRF or measurement needs a reason for change.
"""

from __future__ import annotations

import math
from typing import Any

from django.db import IntegrityError

from frailtrial.edc import collection
from frailtrial.edc.errors import Conflict
from frailtrial.edc.models import Crf, Measurement, Membership, Participant, VisitOccurrence
from frailtrial.edc.roles import ENTRY
from frailtrial.edc.services import audit
from frailtrial.edc.services.common import (
    now,
    participant,
    protocol_of,
    require,
    require_site,
    snapshot,
    unique_row,
    write,
)
from frailtrial.edc.services.entry import check_version, clean_text, finite
from frailtrial.edc.services.rows import by_key, insert, rows_by
from frailtrial.edc.services.visits import occurrence
from frailtrial.errors import InputError

SOURCES = ("staff", "participant")
"""Who gave a CRF's answers: entered by staff, or by the participant in an ePRO session."""


def _held_visit(actor: Membership, participant_id: str, visit: str) -> Participant:
    """The actor's participant, whose ``visit`` must have been held: the visit and the
    participant read in one query (an entry's hot path); when either is missing, the
    errors of :func:`participant` and :func:`occurrence` say which."""
    v = by_key(
        VisitOccurrence,
        related="participant",
        participant__trial_id=actor.trial_id,
        participant__participant_id=participant_id,
        visit=visit,
    )
    if v is None:
        v = occurrence(participant(actor, participant_id), visit)
    p = v.participant
    require_site(actor, p.site_id, f"participant {participant_id}")
    if v.status != "attended":
        raise InputError(
            f"visit {visit} of {p.participant_id} is {v.status}; record the visit as held first"
        )
    return p


def _store_measurements(
    actor: Membership,
    p: Participant,
    visit: str,
    values: dict[str, float],
    reason: str | None,
    crf: Crf | None = None,
    below_lloq: dict[str, bool] | None = None,
) -> tuple[list[Measurement], list[audit.Change]]:
    """Create or change the measurements of a visit; the rows and their audit changes (which
    the caller appends with the rest of its write, the chain's head locked last)."""
    protocol = protocol_of(actor.trial)
    units = {v.name: v.unit or "" for v in protocol.variables}
    existing = {
        m.variable: m
        for m in rows_by(Measurement, participant_id=p.pk, visit=visit)
        if m.variable in values
    }
    created: list[Measurement] = []
    changed: list[tuple[Measurement, dict[str, Any]]] = []
    for name, value in values.items():
        flag = None if below_lloq is None else below_lloq.get(name)
        m = existing.get(name)
        if m is None:
            created.append(
                Measurement(
                    participant=p,
                    visit=visit,
                    variable=name,
                    value=value,
                    unit=units[name],
                    below_lloq=flag,
                    crf=crf,
                )
            )
        elif m.value != value or m.below_lloq != flag:
            if not reason:
                raise InputError(
                    f"{name} at {visit} is already saved ({m.value:g}); a change needs a reason"
                )
            changed.append((m, {"value": value, "below_lloq": flag, "crf": crf or m.crf}))
    insert(created)
    audited: list[audit.Change] = [("create", m, None, snapshot(m)) for m in created]
    return created + list(existing.values()), audited + audit.updated(changed)


def record_measurements(
    actor: Membership,
    participant_id: str,
    visit: str,
    values: dict[str, float],
    reason: str | None = None,
    below_lloq: dict[str, bool] | None = None,
) -> list[Measurement]:
    """Enter outcome variables measured at a visit (labs, performance tests) in one form."""
    require(actor, ENTRY, "entering measurements")
    protocol = protocol_of(actor.trial)
    known = {v.name for v in protocol.variables}
    for name, value in values.items():
        if name not in known:
            raise InputError(
                f"{name!r} is not a variable of {protocol.name} ({', '.join(sorted(known))})"
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise InputError(f"{name} = {value!r} is not a finite number")
    with write(actor):
        p = _held_visit(actor, participant_id, visit)
        rows, changes = _store_measurements(
            actor, p, visit, {k: float(v) for k, v in values.items()}, reason, None, below_lloq
        )
        audit.record_many(actor, changes, reason or "")
    return rows


def _with_screening_sex(
    actor: Membership, participant_id: str, spec: collection.FormSpec, answers: dict[str, Any]
) -> dict[str, Any]:
    """A form asking the participant's sex (grip, eGFR) takes it from screening: filled in
    when not given, refused when it contradicts the participant's record."""
    if not any(i.id == "sex" for i in spec.items):
        return answers
    sex = participant(actor, participant_id).sex
    given = answers.get("sex")
    if given is not None and given != sex:
        raise InputError(
            f"{spec.name}: sex {given!r} contradicts the participant's record ({sex!r}, "
            "from screening); correct the screening record instead"
        )
    return {**answers, "sex": sex}


def enter_crf(
    actor: Membership,
    participant_id: str,
    visit: str,
    instrument: str,
    answers: dict[str, Any],
    reason: str | None = None,
    version: int | None = None,
    source: str = "staff",
) -> Crf:
    """Save an instrument's answers with their scores; a second save is an edit with a reason,
    made on the stored ``version`` (Conflict when someone saved the CRF in between).

    ``source`` is who gave the answers: ``staff`` or ``participant`` (an ePRO session); it is
    stored on the CRF and so in its audit rows and the exports."""
    require(actor, ENTRY, "entering a CRF")
    if source not in SOURCES:
        raise InputError(f"source {source!r} is not one of {', '.join(SOURCES)}")
    clean_text(answers, f"{instrument} answers")
    finite(answers, f"{instrument} answers")
    if reason is not None:
        clean_text(reason, "reason for change")
    protocol = protocol_of(actor.trial)
    spec = collection.form_at(protocol, visit, instrument)  # the protocol's forms of the visit
    answers = _with_screening_sex(actor, participant_id, spec, answers)
    scored = collection.score(protocol, spec, answers)  # raises before anything is written
    scores, derived = scored.scores, scored.values
    try:
        with write(actor):
            p = _held_visit(actor, participant_id, visit)
            crf = unique_row(
                Crf.objects.select_for_update().filter(
                    participant=p, visit=visit, instrument=instrument
                )
            )
            if crf is None:
                if version is not None:
                    raise InputError(f"{instrument} at {visit} is not saved yet; send no version")
                crf = Crf.objects.create(
                    participant=p,
                    visit=visit,
                    instrument=instrument,
                    answers=answers,
                    scores=scores,
                    entered_at=now(),
                    source=source,
                )
                changes: list[audit.Change] = [("create", crf, None, snapshot(crf))]
            else:
                if not reason or not reason.strip():
                    raise InputError(
                        f"{instrument} at {visit} is already saved; "
                        "an edit needs a reason for change"
                    )
                check_version(crf, version, f"{instrument} at {visit} of {participant_id}")
                values = {
                    "answers": answers,
                    "scores": scores,
                    "version": crf.version + 1,
                    "entered_at": now(),
                    "source": source,
                }
                changes = audit.updated([(crf, values)])
            changes += _store_measurements(
                actor, p, visit, derived, reason, crf, scored.below_lloq
            )[1]
            # one append for the form and its measurements, last: the chain's head is locked
            # from here to the commit
            audit.record_many(actor, changes, reason or "")
    except IntegrityError:  # a concurrent first save of the same CRF won the race
        raise Conflict(
            f"{instrument} at {visit} of {participant_id} was saved by someone else just now; "
            "reload it and enter your change again"
        ) from None
    return crf


def latest_weight(p: Participant) -> tuple[float, str]:
    """The participant's latest weight and where it was read: the vital signs of the latest
    attended visit that recorded one, else the weight recorded at screening."""
    held = {
        v.visit: (v.occurred_on, v.order)
        for v in VisitOccurrence.objects.filter(participant=p, status="attended")
    }
    best: tuple[Any, float, str] | None = None
    for visit, answers in Crf.objects.filter(
        participant=p, instrument=collection.VITAL_SIGNS
    ).values_list("visit", "answers"):
        kg = (answers or {}).get("weight_kg")
        if kg is None or visit not in held:
            continue
        if best is None or held[visit] > best[0]:
            best = (held[visit], float(kg), f"vital signs at {visit} ({held[visit][0]})")
    if best is not None:
        return best[1], best[2]
    return float(p.weight_kg), "screening"
