"""Completeness of the CRFs: which forms each attended visit needs, which are saved, and
which saved ones still lack required items (each form's own rule, see
:mod:`frailtrial.edc.collection`). A partial form is incomplete, never done.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from frailtrial.edc import collection
from frailtrial.edc.models import Crf, Membership, Trial, VisitOccurrence
from frailtrial.edc.services.common import protocol_of
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol


@dataclass(frozen=True)
class FormState:
    """One expected form of an attended visit: missing (not saved), incomplete or complete."""

    participant_id: str
    visit: str
    form: str
    title: str
    state: str  # "missing", "incomplete", "complete"
    missing_items: tuple[str, ...] = ()
    visit_label: str = ""


@dataclass
class Completeness:
    """Expected forms with their state, and counts per participant, visit and form."""

    forms: list[FormState] = field(default_factory=list)

    def _count(self, key: str) -> dict[str, dict[str, int]]:
        out: dict[str, Counter[str]] = {}
        for f in self.forms:
            out.setdefault(getattr(f, key), Counter())[f.state] += 1
        return {k: {"expected": sum(c.values()), **c} for k, c in out.items()}

    @property
    def by_participant(self) -> dict[str, dict[str, int]]:
        return self._count("participant_id")

    @property
    def by_visit(self) -> dict[str, dict[str, int]]:
        return self._count("visit")

    @property
    def by_form(self) -> dict[str, dict[str, int]]:
        return self._count("form")

    @property
    def open(self) -> list[FormState]:
        """The forms still to do: not saved or incomplete."""
        return [f for f in self.forms if f.state != "complete"]


def crf_missing(protocol: Protocol, crf: Crf) -> list[str]:
    """The required items a saved CRF leaves empty (empty list: complete)."""
    try:
        spec = collection.form_at(protocol, crf.visit, crf.instrument)
    except InputError:
        return []  # a form the protocol no longer plans: nothing is required of it
    return collection.missing(protocol, spec, crf.answers or {})


def completeness(actor: Membership) -> Completeness:
    """Every form the protocol plans at the actor's attended visits (site-limited)."""
    return completeness_of(actor.trial, actor.site_id)


def completeness_of(trial: Trial, site_id: int | None = None) -> Completeness:
    """Every form the trial's protocol plans at its attended visits (of one site if given):
    the one place the dashboard and the pre-lock checklist learn which forms are not done."""
    protocol = protocol_of(trial)
    visits = VisitOccurrence.objects.filter(participant__trial_id=trial.pk, status="attended")
    crfs = Crf.objects.filter(participant__trial_id=trial.pk)
    if site_id is not None:
        visits = visits.filter(participant__site_id=site_id)
        crfs = crfs.filter(participant__site_id=site_id)
    saved = {
        (pk, visit, name): answers
        for pk, visit, name, answers in crfs.values_list(
            "participant_id", "visit", "instrument", "answers"
        )
    }
    forms_of = {v.name: collection.forms_at(protocol, v.name) for v in protocol.visits}
    labels = {v.name: v.label for v in protocol.visits}
    out = Completeness()
    rows = visits.select_related("participant").order_by("participant__participant_id", "order")
    for v in rows:
        pid = v.participant.participant_id
        for spec in forms_of.get(v.visit, []):
            answers = saved.get((v.participant_id, v.visit, spec.name))
            if answers is None:
                out.forms.append(
                    FormState(pid, v.visit, spec.name, spec.title, "missing", (), labels[v.visit])
                )
                continue
            gaps = tuple(collection.missing(protocol, spec, answers))
            state = "incomplete" if gaps else "complete"
            out.forms.append(
                FormState(pid, v.visit, spec.name, spec.title, state, gaps, labels[v.visit])
            )
    return out
