"""Oversight: data queries on CRF fields, source-data verification, the DSMB report by arm.

A monitor or admin raises a query on one field of a CRF, the site answers it, the monitor or
admin closes it; a monitor marks a CRF's current version as verified against source. Each
write is audited with the row's full snapshot (``audit.created`` / ``audit.update``), so the
integrity check finds a query or mark edited outside these functions. The DSMB report counts
conduct and safety by arm and is refused to every role that may not read an arm.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from frailtrial.edc.errors import AccessDenied
from frailtrial.edc.models import (
    AdverseEvent,
    Crf,
    DataQuery,
    Infusion,
    Measurement,
    Membership,
    Participant,
    SdvMark,
)
from frailtrial.edc.roles import CLINICAL, OVERSIGHT, SDV
from frailtrial.edc.services import audit
from frailtrial.edc.services.common import (
    missing,
    now,
    participant,
    protocol_of,
    require,
    sees_arm,
    write,
)
from frailtrial.edc.services.entry import clean_text
from frailtrial.errors import InputError

FIELD_MAX, TEXT_MAX = 80, 1000  # the columns' sizes (a query's field, its question)


def trial_crf(actor: Membership, crf_id: int) -> Crf:
    """The actor's CRF by id: InputError when the trial has none, AccessDenied when its
    participant is at another site."""
    crf = (
        Crf.objects.select_related("participant")
        .filter(pk=crf_id, participant__trial_id=actor.trial_id)
        .first()
    )
    if crf is None:
        raise missing(actor, f"CRF {crf_id}", f"no CRF {crf_id} in this trial")
    participant(actor, crf.participant.participant_id)
    return crf


def raise_query(actor: Membership, crf_id: int, field: str, text: str) -> DataQuery:
    """Raise an open query on one field of a CRF (oversight roles)."""
    require(actor, OVERSIGHT, "raising a query")
    field, text = field.strip(), text.strip()
    if not field or not text:
        raise InputError("a query needs a field and a question")
    if len(field) > FIELD_MAX or len(text) > TEXT_MAX:
        raise InputError(
            f"a query's field has at most {FIELD_MAX} characters, its question {TEXT_MAX}"
        )
    clean_text(field, "query field")
    clean_text(text, "query question")
    with write(actor) as trial:
        crf = trial_crf(actor, crf_id)
        q = DataQuery.objects.create(
            trial=trial,
            participant=crf.participant,
            model="crf",
            object_id=str(crf.pk),
            field=field,
            text=text,
            raised_by=actor,
            raised_at=now(),
        )
        audit.created(actor, q)
    return q


def _query(actor: Membership, query_id: int) -> DataQuery:
    """The actor's query by id (locked for the change), site rules applied."""
    q = (
        DataQuery.objects.select_for_update(of=("self",))
        .select_related("participant")
        .filter(pk=query_id, trial_id=actor.trial_id)
        .first()
    )
    if q is None:
        raise missing(actor, f"query {query_id}", f"no query {query_id}")
    participant(actor, q.participant.participant_id)
    return q


def answer_query(actor: Membership, query_id: int, answer: str) -> DataQuery:
    """The site's answer to a query not yet closed (clinical roles)."""
    require(actor, CLINICAL, "answering a query")
    answer = answer.strip()
    clean_text(answer, "query answer")
    with write(actor):
        q = _query(actor, query_id)
        if not answer or q.status == "closed":
            raise InputError("an answer needs text, and the query must not be closed")
        values = {
            "answer": answer,
            "status": "answered",
            "answered_by": actor,
            "answered_at": now(),
        }
        audit.update(actor, q, values, "query answered")
    return q


def close_query(actor: Membership, query_id: int) -> DataQuery:
    """Close a query (oversight roles)."""
    require(actor, OVERSIGHT, "closing a query")
    with write(actor):
        q = _query(actor, query_id)
        audit.update(actor, q, {"status": "closed", "closed_at": now()}, "query closed")
    return q


def mark_sdv(actor: Membership, crf_id: int) -> SdvMark:
    """Mark a CRF's current version as verified against source (the monitor); marking the
    same version again returns its first mark and audits nothing."""
    require(actor, SDV, "source data verification")
    with write(actor) as trial:
        crf = trial_crf(actor, crf_id)
        mark, made = SdvMark.objects.get_or_create(
            crf_id=crf.pk,
            crf_version=crf.version,
            defaults={"trial": trial, "participant": crf.participant, "by": actor, "at": now()},
        )
        if made:
            audit.created(actor, mark)
    return mark


COUNTS: tuple[tuple[str, str], ...] = (
    ("randomized", "Randomized"),
    ("withdrawn", "Withdrawn"),
    ("infusions", "Infusions"),
    ("aes", "Adverse events"),
    ("saes", "Serious AEs"),
    ("te_saes", "TE-SAEs"),
    ("related", "Related AEs"),
)
"""The conduct and safety counts of the DSMB report: key and label, in the report's order."""


@dataclass(frozen=True)
class OutcomeRow:
    """The mean and count of one variable at one visit, per arm (None: no value in that arm)."""

    variable: str
    visit: str
    cells: tuple[tuple[float, int] | None, ...]


@dataclass(frozen=True)
class DsmbReport:
    """The DSMB report's data by arm (arms in the protocol's order)."""

    arm_names: tuple[str, ...]
    arm_labels: tuple[str, ...]
    counts: dict[str, dict[str, int]]  # count key -> arm -> n
    by_system: dict[str, dict[str, int]]  # body system -> arm -> adverse events
    outcomes: tuple[OutcomeRow, ...]  # variables x visits with a value in some arm


def dsmb_report(actor: Membership) -> DsmbReport:
    """Conduct, safety and outcome means by arm; AccessDenied for a role that may not read
    an arm (the message names no arm)."""
    if not sees_arm(actor):
        raise AccessDenied("The DSMB report needs an unblinded role.")
    protocol = protocol_of(actor.trial)
    arms = tuple(protocol.arm_names)
    trial_id = actor.trial_id
    parts = Participant.objects.filter(trial_id=trial_id).values(
        "pk", "allocation__arm", "withdrawn_on"
    )
    arm_of: dict[int, str] = {}
    counts = {key: dict.fromkeys(arms, 0) for key, _ in COUNTS}
    for p in parts:
        arm = arm_of[p["pk"]] = p["allocation__arm"]
        counts["randomized"][arm] += 1
        counts["withdrawn"][arm] += p["withdrawn_on"] is not None
    for pid in Infusion.objects.filter(participant__trial_id=trial_id).values_list(
        "participant_id", flat=True
    ):
        counts["infusions"][arm_of[pid]] += 1
    by_system: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(arms, 0))
    for ae in AdverseEvent.objects.filter(
        participant__trial_id=trial_id, voided_at__isnull=True
    ).values("participant_id", "serious", "te_sae", "related", "body_system"):
        arm = arm_of[ae["participant_id"]]
        counts["aes"][arm] += 1
        counts["saes"][arm] += ae["serious"]
        counts["te_saes"][arm] += ae["te_sae"]
        counts["related"][arm] += ae["related"]
        by_system[ae["body_system"]][arm] += 1
    values: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for m in Measurement.objects.filter(participant__trial_id=trial_id).values(
        "participant_id", "visit", "variable", "value"
    ):
        values[(m["variable"], m["visit"], arm_of[m["participant_id"]])].append(m["value"])
    outcomes = []
    for var in protocol.variables:
        for visit in protocol.visits:
            cells = tuple(
                (sum(vals) / len(vals), len(vals))
                if (vals := values.get((var.name, visit.name, a)))
                else None
                for a in arms
            )
            if any(c is not None for c in cells):
                outcomes.append(OutcomeRow(var.name, visit.name, cells))
    return DsmbReport(
        arm_names=arms,
        arm_labels=tuple(a.label for a in protocol.arms),
        counts=counts,
        by_system=dict(sorted(by_system.items())),
        outcomes=tuple(outcomes),
    )
