"""Audited corrections of any record: screening, consent, visit, infusion, adverse event, CRF,
log entry (concomitant medication, protocol deviation, end of study).

A correction names the record, the fields to change, the reason, and the record version it
was made on (Conflict when someone changed it since). The same date rules as on entry apply;
what depends on a corrected field is derived again (eligibility from screening inputs, study
day and window from a visit date, the schedule and AE classes from the first infusion), and
every row that changes gets its own audit row with old and new values and the reason. A CRF
is corrected through :func:`frailtrial.edc.services.crf.enter_crf` (its answers rescored).

:func:`field_changes` turns one record's audit rows into field-level changes (old -> new,
who, when, why) for the audit view and the API.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from frailtrial.dataset.schema import OUTCOME, SEVERITY
from frailtrial.edc.eligibility import evaluate
from frailtrial.edc.models import (
    AdverseEvent,
    Consent,
    Crf,
    Infusion,
    LogRecord,
    Membership,
    Participant,
    Screening,
    VisitOccurrence,
)
from frailtrial.edc.roles import CLINICAL, ENTRY
from frailtrial.edc.services import (
    audit,
    crf,
    logs,
    product,
    safety,
    screening,
    unblinding,
    visits,
)
from frailtrial.edc.services.common import (
    missing,
    participant,
    protocol_of,
    require,
    require_site,
    write,
)
from frailtrial.edc.services.entry import (
    check_version,
    clean_text,
    consent_date,
    event_date,
    event_time,
    finite,
    not_before,
)
from frailtrial.errors import InputError

SCREENING_FIELDS = ("screened_on", "age", "sex", "height_cm", "weight_kg")
DEMOGRAPHIC = ("age", "sex", "height_cm", "weight_kg")


@dataclass(frozen=True)
class Corrected:
    """What a correction changed: the record, its new version and the fields changed."""

    record: str
    id: int
    version: int
    changed: tuple[str, ...]


# record -> (fields a correction may change, roles allowed)
CORRECTABLE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "screening": (SCREENING_FIELDS, CLINICAL),
    "consent": (("form_version", "signed_on"), CLINICAL),
    "visitoccurrence": (("occurred_on",), ENTRY),
    "infusion": (("started_at", "ended_at", "volume_ml"), CLINICAL),
    "adverseevent": (
        ("term", "body_system", "onset_on", "end_on", "severity", "related", "outcome"),
        CLINICAL,
    ),
    "crf": (("answers",), ENTRY),
    "logrecord": (("answers",), CLINICAL),
}


def _changed(obj: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The values that differ from the row's."""
    return {k: v for k, v in values.items() if getattr(obj, k) != v}


# record -> (its trial, its site) as lookups from its row
_SCOPE: dict[str, tuple[str, str]] = {
    "screening": ("trial_id", "site_id"),
    "consent": ("screening__trial_id", "screening__site_id"),
}
_PARTICIPANT_SCOPE = ("participant__trial_id", "participant__site_id")


def _row(actor: Membership, record: str, pk: int) -> Any:
    """The record's row of the actor's trial, locked for the correction; for a member limited
    to a site an unknown id gets the same refusal as another site's, so ids cannot be probed."""
    trial, site = _SCOPE.get(record, _PARTICIPANT_SCOPE)
    row = (
        MODELS[record]
        .objects.select_for_update(of=("self",))
        .filter(pk=pk, **{trial: actor.trial_id})
        .annotate(site_of=F(site))
        .first()
    )
    what = f"{record} {pk}"
    if row is None:
        raise missing(actor, what, f"no {record} {pk} in this trial")
    require_site(actor, row.site_of, what)
    return row


def _parse_time(value: Any, what: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        out = value
    else:
        try:
            out = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise InputError(f"{what}: {value!r} is not a date and time YYYY-MM-DDTHH:MM") from None
    if out.tzinfo is None:
        out = timezone.make_aware(out)
    return event_time(out, what)


def _screening(actor: Membership, pk: int, changes: dict[str, Any], reason: str) -> list[str]:
    s = _row(actor, "screening", pk)
    inputs = dict(s.inputs)
    for name in DEMOGRAPHIC:
        if name in changes:
            inputs[name] = changes[name]
    screened_on = s.screened_on
    if "screened_on" in changes:
        screened_on = event_date(changes["screened_on"], "screening date")
        first = s.consents.order_by("signed_on").values_list("signed_on", flat=True).first()
        if first is not None and screened_on > first:
            raise InputError(f"screening date {screened_on} is after consent on {first}")
        inputs["screened_on"] = screened_on.isoformat()
    checked = screening.parse_input(
        {**inputs, "frailty_answers": None, "screening_id": s.screening_id}
    )
    check_version(s, changes.get("_version"), f"screening {s.screening_id}")
    reasons = evaluate(protocol_of(actor.trial), checked)
    values: dict[str, Any] = {"screened_on": screened_on, "inputs": inputs}
    p = Participant.objects.filter(screening=s).first()
    if reasons != s.reasons:
        values |= {"eligible": not reasons, "reasons": reasons}
        if p is None and s.reason_not_randomized == "; ".join(s.reasons):
            # open or closed by eligibility alone (not by close()): follows the new judgement
            values |= {"closed": bool(reasons), "reason_not_randomized": "; ".join(reasons)}
    changed = _changed(s, values)
    if not changed:
        raise InputError(f"screening {s.screening_id}: nothing differs from the record")
    audit.update(actor, s, {**changed, "version": s.version + 1}, reason)
    if p is not None:
        demo = _changed(p, {k: checked.model_dump()[k] for k in DEMOGRAPHIC})
        if demo:
            audit.update(actor, p, demo, reason)
    return sorted(changed)


def _consent(actor: Membership, pk: int, changes: dict[str, Any], reason: str) -> list[str]:
    c = _row(actor, "consent", pk)
    values: dict[str, Any] = {}
    if "form_version" in changes:
        text = str(changes["form_version"]).strip()
        if not text or len(text) > 40:
            raise InputError("consent form version: 1-40 characters")
        values["version"] = text
    if "signed_on" in changes:
        day = event_date(changes["signed_on"], "consent date")
        not_before(day, c.screening.screened_on, "consent date", "the screening date")
        p = Participant.objects.filter(screening=c.screening).first()
        if p is not None and day > p.randomized_on:
            raise InputError(f"consent date {day} is after randomization on {p.randomized_on}")
        values["signed_on"] = day
    check_version(c, changes.get("_version"), f"consent {pk}", "record_version")
    changed = _changed(c, values)
    if not changed:
        raise InputError(f"consent {pk}: nothing differs from the record")
    audit.update(actor, c, {**changed, "record_version": c.record_version + 1}, reason)
    return sorted("form_version" if k == "version" else k for k in changed)


def _visit(actor: Membership, pk: int, changes: dict[str, Any], reason: str) -> list[str]:
    v = _row(actor, "visitoccurrence", pk)
    p = participant(actor, v.participant.participant_id)
    if v.status != "attended":
        raise InputError(f"visit {v.visit} of {p.participant_id} is {v.status}; nothing to correct")
    visits.attend(
        actor,
        p.participant_id,
        v.visit,
        changes["occurred_on"],
        reason,
        changes.get("_version"),
        correction=reason,
    )
    return ["occurred_on"]


def _infusion(actor: Membership, pk: int, changes: dict[str, Any], reason: str) -> list[str]:
    i = _row(actor, "infusion", pk)
    p = participant(actor, i.participant.participant_id)
    start = _parse_time(changes.get("started_at", i.started_at), "infusion start")
    end = _parse_time(changes.get("ended_at", i.ended_at), "infusion end")
    volume = product.check_infusion(start, end, changes.get("volume_ml", i.volume_ml))
    given_on = start.date()
    not_before(given_on, p.randomized_on, "infusion date", "the randomization date")
    check_version(i, changes.get("_version"), f"infusion {i.dose_number} of {p.participant_id}")
    values: dict[str, Any] = {
        "started_at": start,
        "ended_at": end,
        "volume_ml": volume,
        "given_on": given_on,
    }
    if i.dose_number == 1 and given_on != p.first_infusion_on:
        later = Infusion.objects.filter(participant=p, dose_number__gt=1, given_on__lt=given_on)
        if later.exists():
            raise InputError(f"the first infusion cannot move after a later one ({given_on})")
        audit.update(actor, p, {"first_infusion_on": given_on}, reason)
        visits.reanchor(actor, p, given_on)
        safety.reclassify(actor, p)
    elif i.dose_number > 1:
        not_before(given_on, p.first_infusion_on, "infusion date", "the first infusion")
    values["day"] = visits.study_day(visits.anchor_of(p), given_on)
    changed = _changed(i, values)
    if not changed:
        raise InputError(f"infusion {pk}: nothing differs from the record")
    audit.update(actor, i, {**changed, "version": i.version + 1}, reason)
    for other in Infusion.objects.filter(participant=p).exclude(pk=i.pk):
        day = visits.study_day(visits.anchor_of(p), other.given_on)
        if other.day != day:
            audit.update(actor, other, {"day": day}, reason)
    return sorted(changed)


def _log_record(actor: Membership, pk: int, changes: dict[str, Any], reason: str) -> list[str]:
    record = _row(actor, "logrecord", pk)
    if not isinstance(changes["answers"], dict):
        raise InputError("answers must be a mapping of item to value")
    changed = logs.correct(actor, record, changes["answers"], reason, changes.get("_version"))
    return [f"answers.{k}" for k in changed]


def _adverse_event(actor: Membership, pk: int, changes: dict[str, Any], reason: str) -> list[str]:
    ae = _row(actor, "adverseevent", pk)
    p = participant(actor, ae.participant.participant_id)
    values: dict[str, Any] = {}
    for name in ("term", "body_system"):
        if name in changes:
            text = str(changes[name]).strip()
            if not text or len(text) > 200:
                raise InputError(f"adverse event {name}: 1-200 characters")
            values[name] = text
    for name, allowed in (("severity", SEVERITY), ("outcome", OUTCOME)):
        if name in changes:
            safety.check_choice(name, changes[name], allowed)
            values[name] = changes[name]
    if "related" in changes:
        if not isinstance(changes["related"], bool):
            raise InputError("related must be true or false")
        # the stored causality must still agree (as on a change through safety.update)
        safety.check_assessment({"causality": ae.causality}, changes["related"])
        values["related"] = changes["related"]
    onset = event_date(changes["onset_on"], "onset date") if "onset_on" in changes else ae.onset_on
    not_before(onset, consent_date(p), "onset date", "consent on")
    end = ae.end_on
    if "end_on" in changes:
        end = event_date(changes["end_on"], "end date") if changes["end_on"] else None
    if end is not None and end < onset:
        raise InputError(f"adverse event {pk}: end date {end} is before its onset {onset}")
    values |= {"onset_on": onset, "end_on": end}
    day, te, te_sae = safety.classify(p, onset, ae.serious)
    values |= {"onset_day": day, "treatment_emergent": te, "te_sae": te_sae}
    check_version(ae, changes.get("_version"), f"adverse event {pk}")
    changed = _changed(ae, values)
    if not changed:
        raise InputError(f"adverse event {pk}: nothing differs from the record")
    audit.update(actor, ae, {**changed, "version": ae.version + 1}, reason)
    return sorted(changed)


WRITERS: dict[str, Callable[[Membership, int, dict[str, Any], str], list[str]]] = {
    "screening": _screening,
    "consent": _consent,
    "visitoccurrence": _visit,
    "infusion": _infusion,
    "adverseevent": _adverse_event,
    "logrecord": _log_record,
}
VERSION_FIELD = {"consent": "record_version"}
MODELS: dict[str, Any] = {
    "screening": Screening,
    "consent": Consent,
    "visitoccurrence": VisitOccurrence,
    "infusion": Infusion,
    "adverseevent": AdverseEvent,
    "crf": Crf,
    "logrecord": LogRecord,
}


def correct(
    actor: Membership,
    record: str,
    record_id: int,
    changes: dict[str, Any],
    reason: str,
    version: int | None = None,
) -> Corrected:
    """Correct fields of one record with a reason, on the stored ``version``; every changed
    row is audited (old and new values, who, when, the reason)."""
    if record not in CORRECTABLE:
        raise InputError(f"{record!r} cannot be corrected ({', '.join(CORRECTABLE)})")
    fields, roles = CORRECTABLE[record]
    require(actor, roles, f"correcting a {record}")
    if not isinstance(reason, str) or not reason.strip():
        raise InputError("a correction needs its reason")
    clean_text(reason, "reason for correction")
    clean_text(changes, "correction")
    finite(changes, "correction")
    unknown = sorted(set(changes) - set(fields))
    if unknown:
        raise InputError(f"{unknown[0]!r} cannot be corrected here ({', '.join(fields)})")
    if not changes:
        raise InputError(f"a correction names at least one field ({', '.join(fields)})")
    if record == "crf":
        with transaction.atomic():
            saved = _row(actor, "crf", record_id)
        pid = saved.participant.participant_id
        if not isinstance(changes["answers"], dict):
            raise InputError("answers must be a mapping of item to value")
        out = crf.enter_crf(
            actor, pid, saved.visit, saved.instrument, changes["answers"], reason, version
        )
        return Corrected(record, out.pk, out.version, ("answers",))
    with write(actor):
        changed = WRITERS[record](actor, record_id, {**changes, "_version": version}, reason)
        obj = MODELS[record].objects.get(pk=record_id)
    new_version = int(getattr(obj, VERSION_FIELD.get(record, "version")))
    return Corrected(record, record_id, new_version, tuple(changed))


@dataclass(frozen=True)
class FieldChange:
    """One field's change in one audit row: old -> new, who, when, why."""

    seq: int
    at: str
    actor: str
    role: str
    action: str
    field: str
    old: Any
    new: Any
    reason: str


IGNORED = {"version", "record_version", "entered_at"}  # bookkeeping, not data


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings (a CRF's answers and scores) as dotted fields."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out |= _flatten(v, f"{prefix}{k}.")
        return out
    return {prefix[:-1]: value}


def field_changes(rows: list[dict[str, Any]]) -> list[FieldChange]:
    """Field-level changes of a record from its audit rows (as :func:`audit.trail` gives
    them): a creation lists every field set, a change the fields that differ."""
    out: list[FieldChange] = []
    for r in rows:
        old, new = r["old"], r["new"]
        if not isinstance(new, dict) or not isinstance(old, (dict, type(None))):
            out.append(
                FieldChange(
                    r["seq"], r["at"], r["actor"], r["role"], r["action"], "(value)",
                    old, new, r["reason"],
                )
            )  # fmt: skip
            continue
        before, after = (_flatten(old) if old else {}), (_flatten(new) if new else {})
        for name in sorted(set(before) | set(after)):
            if name.split(".")[0] in IGNORED:
                continue
            a, b = before.get(name), after.get(name)
            if a == b:
                continue
            out.append(
                FieldChange(
                    r["seq"], r["at"], r["actor"], r["role"], r["action"], name, a, b, r["reason"]
                )
            )
    return out


def shown(value: Any) -> str:
    """An audited value as text (JSON for anything but plain text)."""
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Owner:
    """Whose a record is: the participant (None for a screening not randomized) and the
    screening id, after the trial and site checks."""

    participant_id: str | None
    screening_id: str | None


_PARTICIPANT_OF: dict[str, str] = {
    "participant": "pk",
    "crf": "crfs__pk",
    "visitoccurrence": "visits__pk",
    "adverseevent": "adverse_events__pk",
    "measurement": "measurements__pk",
    "infusion": "infusions__pk",
    "dataquery": "queries__pk",
    "logrecord": "log_records__pk",
}


def owner(actor: Membership, record: str, record_id: str) -> Owner:
    """The owner of a record of the actor's trial; InputError when there is no such record
    here, AccessDenied when it is at another site (and, for a member limited to a site, when
    there is no such record: the same refusal, so ids cannot be probed)."""
    what = f"{record} {record_id}"
    if not str(record_id).isdigit():
        raise missing(actor, what, f"no {record} {record_id!r} in this trial")
    if record in ("screening", "consent"):
        where = {"pk": record_id} if record == "screening" else {"consents__pk": record_id}
        s = Screening.objects.filter(trial_id=actor.trial_id, **where).first()
        if s is None:
            raise missing(actor, what, f"no {record} {record_id} in this trial")
        require_site(actor, s.site_id, what)
        p = Participant.objects.filter(screening=s).first()
        return Owner(p.participant_id if p else None, s.screening_id)
    lookup = _PARTICIPANT_OF.get(record)
    if lookup is None:
        raise InputError(f"the audit view shows participant and screening records, not {record}")
    p = Participant.objects.filter(trial_id=actor.trial_id, **{lookup: record_id}).first()
    if p is None:
        raise missing(actor, what, f"no {record} {record_id} in this trial")
    require_site(actor, p.site_id, what)
    return Owner(p.participant_id, None)


def record_changes(actor: Membership, record: str, record_id: str) -> list[FieldChange]:
    """The field-level audit of one record of the actor's trial (values hidden from blinded
    roles where the row would reveal an arm)."""
    owner(actor, record, record_id)
    rows = unblinding.redact_reasons(actor, audit.trail(actor, record, record_id))
    return field_changes(rows)
