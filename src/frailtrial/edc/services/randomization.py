"""Concealed randomization: list import against its commitment, atomic allocation, blinding.

Allocation takes the next unused entry of the participant's stratum in list order. The trial
row is locked first (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the transaction holds
the database write lock from BEGIN IMMEDIATE), so concurrent requests queue and never share
or skip an entry. Before every allocation the stored list is rebuilt into the committed bytes
and hashed: a list edited in the database is refused and raises a tamper alert (an audit
event and an error on the ``frailtrial.edc.alerts`` logger). A live trial refuses a list made
from a weak seed; minimization draws from the trial's secret, never from its name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from django.db import transaction

from frailtrial.edc.errors import AccessDenied
from frailtrial.edc.models import (
    Allocation,
    AuditEntry,
    ListEntry,
    Membership,
    Participant,
    RandomizationList,
    Screening,
    Trial,
)
from frailtrial.edc.services import audit, visits
from frailtrial.edc.services import entry as entry_rules
from frailtrial.edc.services.common import (
    CLINICAL,
    now,
    participant,
    protocol_of,
    require,
    sees_arm,
    snapshot,
    write,
)
from frailtrial.edc.services.rows import by_key, create
from frailtrial.edc.services.screening import get_screening
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol
from frailtrial.randomization import minimization
from frailtrial.randomization.lists import (
    COLUMNS,
    ListHeader,
    list_bytes,
    parse_header,
    parse_list,
    rows_bytes,
    stratum_label,
)

ALERTS = logging.getLogger("frailtrial.edc.alerts")


class ListTampered(InputError):
    """The stored list no longer hashes to its commitment: allocation is refused."""


@dataclass(frozen=True)
class Randomized:
    """What a randomization returns: the arm only for a role allowed to read it."""

    participant_id: str
    randomization_number: str
    randomized_on: dt.date
    arm: str | None


def import_list(
    actor: Membership, source: str | Path | bytes, commitment: str, rehearsal: bool = False
) -> int:
    """Import a list file after checking its SHA-256 against the published commitment.

    The file must be as ``frailtrial randomization generate`` writes it (header with salt,
    then the entries), for this trial's protocol, and not from a weak seed unless
    ``rehearsal`` (a simulated trial loaded into a store; never a live one)."""
    require(actor, ["admin", "unblinded_pharmacist"], "importing the randomization list")
    name = "upload" if isinstance(source, bytes) else str(source)
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as exc:
        raise InputError(
            f"randomization list {name}: cannot read ({exc.strerror or exc})"
        ) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != commitment.strip().lower():
        raise InputError(
            f"randomization list {name}: SHA-256 {actual} does not match the commitment "
            f"{commitment.strip()}; the list was changed after it was committed"
        )
    frame = parse_list(data, f"randomization list {name}")  # the very bytes just hashed
    for c in ("sequence", "block", "block_size"):
        if not pd.api.types.is_integer_dtype(frame[c]):
            raise InputError(
                f"randomization list {name}: column {c} must hold a whole number in every row"
            )
    protocol = protocol_of(actor.trial)
    bad = frame.loc[~frame["arm"].isin(protocol.arm_names), "arm"]
    if len(bad):
        raise InputError(
            f"randomization list {name}: arm {bad.iloc[0]!r} is not an arm of {protocol.name}"
        )
    if frame["sequence"].duplicated().any() or frame["randomization_number"].duplicated().any():
        raise InputError(f"randomization list {name}: duplicate sequence or randomization number")
    header = parse_header(data, f"randomization list {name}")
    if header.protocol != protocol.name:
        raise InputError(
            f"randomization list {name}: made for protocol {header.protocol!r}, "
            f"this trial runs {protocol.name!r}"
        )
    if header.seed == "weak" and not rehearsal:
        raise InputError(
            f"randomization list {name}: made from a weak seed (--weak-seed), for rehearsal "
            "only; a live trial needs a list generated without --seed or with 128 bits or more"
        )
    frame = frame.sort_values("sequence", kind="stable").reset_index(drop=True)
    if list_bytes(frame, header) != data:
        raise InputError(
            f"randomization list {name}: not in the form frailtrial randomization generate "
            "writes (rows in sequence order, no other lines), so it cannot be re-checked"
        )
    with write(actor) as trial:
        if RandomizationList.objects.filter(trial=trial).exists():
            raise InputError("this trial already has a randomization list")
        rlist = RandomizationList.objects.create(
            trial=trial,
            sha256=actual,
            source=name[-255:],
            n_entries=len(frame),
            seed=header.seed,
            salt=header.salt,
        )
        ListEntry.objects.bulk_create(
            ListEntry(
                rlist=rlist,
                trial=trial,
                sequence=int(str(r.sequence)),
                block=int(str(r.block)),
                block_size=int(str(r.block_size)),
                stratum=str(r.stratum),
                arm=str(r.arm),
                randomization_number=str(r.randomization_number),
            )
            for r in frame.astype(object).itertuples(index=False)
        )
        audit.created(actor, rlist)
        entries = ListEntry.objects.filter(rlist=rlist).order_by("sequence")
        audit.record_many(  # row by row, so `audit verify` finds an entry edited in place
            actor, [("create", e, None, snapshot(e)) for e in entries], blinded=True
        )
    return len(frame)


def check_list(trial: Trial) -> None:
    """Rebuild the committed file from the stored list and entries and hash it; raise
    :class:`ListTampered` unless it gives the commitment stored at import, and that
    commitment is the one the audit trail recorded then (in a row whose keyed hash holds)."""
    rlist = RandomizationList.objects.filter(trial=trial).first()
    if rlist is None:
        return
    rows = ListEntry.objects.filter(rlist=rlist).order_by("sequence").values_list(*COLUMNS)
    # a list imported before lists had a header (no salt) is re-checked as it was committed
    header = ListHeader(trial.protocol_name, rlist.seed, rlist.salt) if rlist.salt else None
    data = rows_bytes(rows.iterator(), header)
    actual = hashlib.sha256(data).hexdigest()
    created = AuditEntry.objects.filter(
        model="randomizationlist", object_id=str(rlist.pk), action="create"
    ).first()
    # the row's keyed hash, so an insider who rewrote it (and the list's) is caught here too
    authentic = created is not None and audit.authentic(created)
    audited = json.loads(created.new).get("sha256") if created and authentic else None
    if actual != rlist.sha256 or audited != rlist.sha256:
        raise ListTampered(
            f"the stored randomization list of trial {trial.name} does not match its "
            f"commitment (entries hash to {actual}, stored {rlist.sha256}, audited "
            f"{audited}); allocation refused, the list was changed in the database"
        )


def alert_list_tampered(actor: Membership, trial: Trial, exc: ListTampered) -> None:
    """Raise the alarm about a tampered list: an audit event ``tamper_alert`` (its own
    transaction, kept although the allocation was refused) and an error on the
    ``frailtrial.edc.alerts`` logger; the one place to add further notification."""
    ALERTS.error("%s", exc)
    rlist = RandomizationList.objects.filter(trial=trial).first()
    target = rlist if rlist is not None else ("randomizationlist", "-")
    with transaction.atomic():
        audit.record(actor, "tamper_alert", target, None, None, str(exc))


def stratum_of(protocol: Protocol, site_name: str, screening: Screening) -> str:
    """The participant's stratum label, spelled as the list generator spells it."""
    inputs = screening.inputs
    kinds = {c.name: c.kind for c in protocol.baseline_characteristics}
    values: dict[str, str] = {}
    for factor in protocol.randomization.strata:
        if factor == "site":
            values[factor] = site_name
        elif factor in ("sex", "age"):
            values[factor] = str(inputs[factor])
        else:
            raw = inputs.get("baseline", {}).get(factor)
            if raw is None:
                continue  # stratum_label names the missing factor
            binary = kinds.get(factor) == "binary"
            values[factor] = ("yes" if raw else "no") if binary else str(raw)
    return stratum_label(protocol, values)


def _levels(stratum: str) -> dict[str, str]:
    """The factor levels of a stratum label (``sex=female|site=A`` -> {sex: female, site: A})."""
    return dict(part.split("=", 1) for part in stratum.split("|") if "=" in part)


def _baseline(protocol: Protocol, inputs: dict[str, Any]) -> dict[str, Any]:
    """Baseline covariates from screening, with the frailty score under ``<instrument>_score``."""
    out = dict(inputs.get("baseline", {}))
    key = f"{protocol.eligibility.frailty.instrument}_score"
    if inputs.get("frailty_score") is not None:
        out.setdefault(key, inputs["frailty_score"])
    return out


def _next_entry(trial: Trial, stratum: str) -> ListEntry:
    entries = ListEntry.objects.filter(trial=trial, used=False)
    if ListEntry.objects.filter(trial=trial).values("stratum").distinct().count() > 1:
        entries = entries.filter(stratum=stratum)
    entry = entries.select_for_update().order_by("sequence").first()
    if entry is None:
        if not ListEntry.objects.filter(trial=trial).exists():
            raise InputError("no randomization list imported; import one first")
        raise InputError(f"the randomization list is exhausted for stratum {stratum!r}")
    return entry


def _minimize(trial: Trial, protocol: Protocol, levels: dict[str, str]) -> str:
    done = list(
        Allocation.objects.filter(participant__trial=trial)
        .order_by("pk")
        .values_list("arm", "participant__stratum")
    )
    if not trial.minimization_secret:
        raise InputError(f"trial {trial.name} has no minimization secret; migrate the store")
    return minimization.next_arm(
        protocol,
        [_levels(s) for _, s in done],
        [a for a, _ in done],
        levels,
        int(trial.minimization_secret, 16),
    )


def randomize(
    actor: Membership,
    screening_id: str,
    randomized_on: str | dt.date | None = None,
    participant_id: str | None = None,
) -> Randomized:
    """Randomize an eligible, consented person: next list entry (or minimization), schedule."""
    require(actor, CLINICAL, "randomizing")
    try:
        return _randomize(actor, screening_id, randomized_on, participant_id)
    except ListTampered as exc:
        alert_list_tampered(actor, actor.trial, exc)
        raise


def _randomize(
    actor: Membership,
    screening_id: str,
    randomized_on: str | dt.date | None,
    participant_id: str | None,
) -> Randomized:
    with write(actor) as trial:
        trial = by_key(Trial, lock=True, id=trial.pk) or trial  # write() found the row
        check_list(trial)
        s = get_screening(actor, screening_id)
        if by_key(Participant, screening_id=s.pk) is not None:
            raise InputError(f"screening {screening_id} is already randomized")
        if s.closed or not s.eligible:
            raise InputError(f"screening {screening_id} is not eligible: {s.reason_not_randomized}")
        if not s.consents.filter(withdrawn_on__isnull=True).exists():
            raise InputError(f"screening {screening_id} has no consent; record consent first")
        protocol = protocol_of(trial)
        day = entry_rules.randomization_date(s, randomized_on or now().date())
        stratum = stratum_of(protocol, s.site.name, s)
        n = Participant.objects.filter(trial=trial).count() + 1
        if protocol.randomization.scheme == "minimization":
            entry, arm, number = None, _minimize(trial, protocol, _levels(stratum)), f"M{n:04d}"
        else:
            entry = _next_entry(trial, stratum)
            arm, number = entry.arm, entry.randomization_number
        inputs = s.inputs
        height, weight = inputs.get("height_cm"), inputs.get("weight_kg")
        if height is None or weight is None:
            raise InputError(f"screening {screening_id}: height and weight are needed")
        p = create(
            Participant,
            trial=trial,
            site=s.site,
            screening=s,
            participant_id=participant_id or f"{s.site.code}-{n:03d}",
            randomization_number=number,
            randomized_on=day,
            age=inputs["age"],
            sex=inputs["sex"],
            height_cm=height,
            weight_kg=weight,
            baseline=_baseline(protocol, inputs),
            stratum=stratum,
        )
        alloc = create(
            Allocation, participant=p, entry=entry, arm=arm, allocated_at=now(), allocated_by=actor
        )
        if entry is not None:
            entry.used = True
            entry.save(update_fields=["used"])
        audit.update(actor, s, {"closed": True, "reason_not_randomized": ""})
        audit.created(actor, p)
        audit.created(actor, alloc, blinded=True)
        visits.create_schedule(actor, p, protocol, day)
    return Randomized(p.participant_id, number, day, arm if sees_arm(actor) else None)


def arm_of(actor: Membership, participant_id: str) -> str:
    """The participant's arm, for a role allowed to read it; AccessDenied otherwise."""
    p = participant(actor, participant_id)
    if not sees_arm(actor):
        raise AccessDenied(
            f"your role ({actor.role}) is blinded; use emergency unblinding with a reason"
        )
    return p.allocation.arm
