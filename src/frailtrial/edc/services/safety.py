"""Adverse events: treatment-emergent and TE-SAE classification, SAE alerts for reporting."""

from __future__ import annotations

import datetime as dt
from typing import Any

from frailtrial.dataset.schema import OUTCOME, SEVERITY
from frailtrial.edc.models import AdverseEvent, Membership, Participant, SaeAlert
from frailtrial.edc.services import audit
from frailtrial.edc.services.common import (
    CLINICAL,
    now,
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
    not_before,
)
from frailtrial.edc.services.visits import study_day
from frailtrial.errors import InputError

SERIOUSNESS = (
    "death",
    "life_threatening",
    "hospitalization",
    "disability",
    "congenital_anomaly",
    "important_medical_event",
)
SAE_REPORT_HOURS = 24


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InputError(f"{name} {value!r} is not allowed ({', '.join(allowed)})")


def classify(p: Participant, onset: dt.date, serious: bool) -> tuple[int | None, bool, bool]:
    """(onset study day, treatment-emergent, TE-SAE) from the protocol's windows.

    Treatment-emergent: onset on or after the first infusion and within the AE collection
    period; TE-SAE: a serious TE event within ``te_sae_window_days`` when the protocol sets it.
    """
    if p.first_infusion_on is None:
        return None, False, False
    analysis = protocol_of(p.trial).analysis
    day = study_day(p.first_infusion_on, onset)
    te = 1 <= day <= analysis.ae_collection_days
    window = analysis.te_sae_window_days or analysis.ae_collection_days
    return day, te, bool(serious and te and day <= window)


def reclassify(actor: Membership, p: Participant) -> None:
    """Re-derive onset day, TE and TE-SAE of the participant's adverse events from the first
    infusion (called when it is recorded: an event may be entered before the infusion is)."""
    changes = []
    for ae in AdverseEvent.objects.filter(participant=p):
        day, te, te_sae = classify(p, ae.onset_on, ae.serious)
        if (day, te, te_sae) != (ae.onset_day, ae.treatment_emergent, ae.te_sae):
            changes.append((ae, {"onset_day": day, "treatment_emergent": te, "te_sae": te_sae}))
    audit.update_many(actor, changes, "classified on first infusion")


def report(
    actor: Membership,
    participant_id: str,
    term: str,
    body_system: str,
    onset_on: str | dt.date,
    severity: str,
    related: bool,
    outcome: str,
    seriousness: list[str] | None = None,
    end_on: str | dt.date | None = None,
) -> AdverseEvent:
    """Report an adverse event; a serious one raises an alert for expedited reporting."""
    require(actor, CLINICAL, "reporting an adverse event")
    if not term.strip() or not body_system.strip():
        raise InputError("an adverse event needs its term and body system")
    clean_text(term, "adverse event term")
    clean_text(body_system, "body system")
    _check_choice("severity", severity, SEVERITY)
    _check_choice("outcome", outcome, OUTCOME)
    criteria = list(seriousness or [])
    for c in criteria:
        _check_choice("seriousness", c, SERIOUSNESS)
    onset = event_date(onset_on, "onset date")
    end = event_date(end_on, "end date") if end_on else None
    if end is not None and end < onset:
        raise InputError("an adverse event cannot end before its onset")
    with write(actor):
        p = participant(actor, participant_id)
        not_before(onset, consent_date(p), "onset date", "consent on")
        day, te, te_sae = classify(p, onset, bool(criteria))
        ae = AdverseEvent.objects.create(
            participant=p,
            term=term,
            body_system=body_system,
            onset_on=onset,
            onset_day=day,
            end_on=end,
            severity=severity,
            serious=bool(criteria),
            seriousness=criteria,
            related=related,
            outcome=outcome,
            treatment_emergent=te,
            te_sae=te_sae,
        )
        audit.created(actor, ae)
        if ae.serious:
            raised = now()
            alert = SaeAlert.objects.create(
                adverse_event=ae,
                raised_at=raised,
                due_by=raised + dt.timedelta(hours=SAE_REPORT_HOURS),
            )
            audit.created(actor, alert)
    return ae


def update(
    actor: Membership,
    ae_id: int,
    changes: dict[str, Any],
    reason: str,
    version: int | None = None,
) -> AdverseEvent:
    """Change an adverse event's outcome, end date, severity or relatedness, with a reason,
    made on its stored ``version`` (Conflict when someone changed it in between)."""
    require(actor, CLINICAL, "changing an adverse event")
    allowed = {"outcome", "end_on", "severity", "related"}
    if not reason.strip():
        raise InputError("changing an adverse event needs a reason for change")
    clean_text(reason, "reason for change")
    unknown = set(changes) - allowed
    if unknown:
        raise InputError(
            f"{sorted(unknown)[0]!r} cannot be changed here ({', '.join(sorted(allowed))})"
        )
    if "outcome" in changes:
        _check_choice("outcome", changes["outcome"], OUTCOME)
    if "severity" in changes:
        _check_choice("severity", changes["severity"], SEVERITY)
    values = dict(changes)
    if values.get("end_on"):
        values["end_on"] = event_date(values["end_on"], "end date")
    with write(actor):
        ae = (
            AdverseEvent.objects.select_for_update(of=("self",))
            .filter(pk=ae_id, participant__trial_id=actor.trial_id)
            .select_related("participant")
            .first()
        )
        if ae is None:
            raise InputError(f"no adverse event {ae_id} in this trial")
        require_site(actor, ae.participant.site_id, f"adverse event {ae_id}")
        end = values.get("end_on")
        if end and end < ae.onset_on:
            raise InputError(
                f"adverse event {ae_id}: end date {end} is before its onset {ae.onset_on}"
            )
        check_version(ae, version, f"adverse event {ae_id}")
        audit.update(actor, ae, {**values, "version": ae.version + 1}, reason)
    return ae
