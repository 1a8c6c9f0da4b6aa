"""Concealed randomization: list import against its commitment, atomic allocation, blinding.

Allocation takes the next unused entry of the participant's stratum in list order. The trial
row is locked first (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the transaction holds
the database write lock from BEGIN IMMEDIATE), so concurrent requests queue and never share
or skip an entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from frailtrial.edc.errors import AccessDenied
from frailtrial.edc.models import (
    Allocation,
    EmergencyUnblinding,
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
    write,
)
from frailtrial.edc.services.screening import get_screening
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol
from frailtrial.randomization import minimization
from frailtrial.randomization.lists import UNSTRATIFIED, parse_list, stratum_levels


@dataclass(frozen=True)
class Randomized:
    """What a randomization returns: the arm only for a role allowed to read it."""

    participant_id: str
    randomization_number: str
    randomized_on: dt.date
    arm: str | None


def import_list(actor: Membership, source: str | Path | bytes, commitment: str) -> int:
    """Import a list file after checking its SHA-256 against the published commitment."""
    require(actor, ["admin", "unblinded_pharmacist"], "importing the randomization list")
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    name = "upload" if isinstance(source, bytes) else str(source)
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
    frame["stratum"] = frame["stratum"].fillna(UNSTRATIFIED)
    with write(actor) as trial:
        if RandomizationList.objects.filter(trial=trial).exists():
            raise InputError("this trial already has a randomization list")
        rlist = RandomizationList.objects.create(
            trial=trial, sha256=actual, source=name[-255:], n_entries=len(frame)
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
            for r in frame.sort_values("sequence").astype(object).itertuples(index=False)
        )
        audit.created(actor, rlist)
    return len(frame)


def stratum_of(protocol: Protocol, site_name: str, screening: Screening) -> str:
    """The participant's stratum label, spelled as the list generator spells it."""
    levels = stratum_levels(protocol)
    if not levels:
        return UNSTRATIFIED
    inputs = screening.inputs
    parts = []
    for factor in levels:
        if factor == "site":
            value = site_name
        elif factor in ("sex", "age"):
            value = str(inputs[factor])
        else:
            raw = inputs.get("baseline", {}).get(factor)
            if raw is None:
                raise InputError(f"stratification factor {factor!r} was not recorded at screening")
            value = ("yes" if raw else "no") if isinstance(raw, (bool, int)) else str(raw)
        parts.append(f"{factor}={value}")
    return "|".join(parts)


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
    history = [_levels(s) for _, s in done]
    rng = np.random.default_rng([trial.minimization_seed, len(done)])
    return minimization.assign(
        history,
        [a for a, _ in done],
        levels,
        protocol.arm_names,
        rng,
        ratios=[a.ratio for a in protocol.arms],
    )


def randomize(
    actor: Membership,
    screening_id: str,
    randomized_on: str | dt.date | None = None,
    participant_id: str | None = None,
) -> Randomized:
    """Randomize an eligible, consented person: next list entry (or minimization), schedule."""
    require(actor, CLINICAL, "randomizing")
    with write(actor) as trial:
        trial = Trial.objects.select_for_update().get(pk=trial.pk)
        s = get_screening(actor, screening_id)
        if Participant.objects.filter(screening=s).exists():
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
        p = Participant.objects.create(
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
        alloc = Allocation.objects.create(
            participant=p, entry=entry, arm=arm, allocated_at=now(), allocated_by=actor
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


def emergency_unblind(actor: Membership, participant_id: str, reason: str) -> str:
    """Break the blind for one participant in an emergency: reason required, audited, flagged."""
    require(actor, ["investigator"], "emergency unblinding")
    if len(reason.strip()) < 10:
        raise InputError("emergency unblinding needs a reason (at least 10 characters)")
    with write(actor):
        p = participant(actor, participant_id)
        record = EmergencyUnblinding.objects.create(
            participant=p, by=actor, reason=reason, at=now()
        )
        audit.update(actor, p, {"emergency_unblinded": True}, reason)
        audit.created(actor, record, reason, action="unblind")
        return p.allocation.arm
