"""Adverse events: treatment-emergent and TE-SAE classification, causality, expectedness and
free-text coding (system organ class, preferred term: no licensed dictionary is shipped),
follow-ups to resolution, and SAE alerts acknowledged by the medical monitor or sponsor within
``SAE_REPORT_HOURS`` (notified on the dashboard and by e-mail; overdue ones escalated)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from frailtrial.dataset.schema import OUTCOME, SEVERITY
from frailtrial.edc.models import (
    AdverseEvent,
    AeFollowUp,
    Membership,
    Participant,
    SaeAlert,
    Trial,
)
from frailtrial.edc.roles import SAE_ACK
from frailtrial.edc.services import audit
from frailtrial.edc.services.common import (
    CLINICAL,
    missing,
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
from frailtrial.edc.services.notify import notify
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
CAUSALITY = ("not_related", "unlikely", "possible", "probable", "definite")
RELATED = ("possible", "probable", "definite")  # causality that counts as related
EXPECTEDNESS = ("expected", "unexpected")
CODING_MAX = 200  # the coding fields' column size


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    """Refuse a value not in ``allowed``, naming the field and the allowed values."""
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
    causality: str = "",
    expectedness: str = "",
    soc: str = "",
    preferred_term: str = "",
) -> AdverseEvent:
    """Report an adverse event; a serious one raises an alert for expedited reporting and
    notifies the medical monitor and the sponsor."""
    require(actor, CLINICAL, "reporting an adverse event")
    if not term.strip() or not body_system.strip():
        raise InputError("an adverse event needs its term and body system")
    clean_text(term, "adverse event term")
    clean_text(body_system, "body system")
    check_choice("severity", severity, SEVERITY)
    check_choice("outcome", outcome, OUTCOME)
    check_assessment(
        {
            "causality": causality,
            "expectedness": expectedness,
            "soc": soc,
            "preferred_term": preferred_term,
        },
        related,
    )
    criteria = list(seriousness or [])
    for c in criteria:
        check_choice("seriousness", c, SERIOUSNESS)
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
            causality=causality,
            expectedness=expectedness,
            soc=soc,
            preferred_term=preferred_term,
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
            notify(
                actor,
                SAE_ACK,
                "sae",
                f"SAE reported for {p.participant_id}: {term} (onset {onset}); "
                f"acknowledgement due by {alert.due_by:%Y-%m-%d %H:%M} UTC",
                participant=p,
                mail_note="Acknowledge it on the SAE report page of the EDC.",
            )
    return ae


def check_assessment(values: dict[str, Any], related: bool | None) -> None:
    """Causality and expectedness from their lists (or blank), coding fields as plain text of
    at most ``CODING_MAX`` characters; a causality must agree with ``related`` when given."""
    causality = values.get("causality", "")
    if causality:
        check_choice("causality", causality, CAUSALITY)
        if related is not None and related != (causality in RELATED):
            raise InputError(
                f"causality {causality!r} means related={causality in RELATED}, "
                f"not related={related} (related: {', '.join(RELATED)})"
            )
    if values.get("expectedness"):
        check_choice("expectedness", values["expectedness"], EXPECTEDNESS)
    for name in ("soc", "preferred_term"):
        text = values.get(name, "")
        if not isinstance(text, str) or len(text) > CODING_MAX:
            raise InputError(f"{name} is text of at most {CODING_MAX} characters")
        clean_text(text, name)


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
    allowed = {
        "outcome",
        "end_on",
        "severity",
        "related",
        "causality",
        "expectedness",
        "soc",
        "preferred_term",
    }
    if not reason.strip():
        raise InputError("changing an adverse event needs a reason for change")
    clean_text(reason, "reason for change")
    unknown = set(changes) - allowed
    if unknown:
        raise InputError(
            f"{sorted(unknown)[0]!r} cannot be changed here ({', '.join(sorted(allowed))})"
        )
    if "outcome" in changes:
        check_choice("outcome", changes["outcome"], OUTCOME)
    if "severity" in changes:
        check_choice("severity", changes["severity"], SEVERITY)
    if "related" in changes and not isinstance(changes["related"], bool):
        raise InputError("related must be true or false")
    check_assessment(changes, changes.get("related"))
    values = dict(changes)
    if values.get("causality"):
        values["related"] = values["causality"] in RELATED
    if "end_on" in values:  # empty: not ended
        values["end_on"] = event_date(values["end_on"], "end date") if values["end_on"] else None
    with write(actor):
        ae = _trial_ae(actor, ae_id)
        end = values.get("end_on")
        if end and end < ae.onset_on:
            raise InputError(
                f"adverse event {ae_id}: end date {end} is before its onset {ae.onset_on}"
            )
        if "causality" not in values and ae.causality:
            check_assessment({"causality": ae.causality}, values.get("related"))
        check_version(ae, version, f"adverse event {ae_id}")
        audit.update(actor, ae, {**values, "version": ae.version + 1}, reason)
    return ae


def _trial_ae(actor: Membership, ae_id: int) -> AdverseEvent:
    """The actor's adverse event by id, locked for the change (site rules applied)."""
    ae = (
        AdverseEvent.objects.select_for_update(of=("self",))
        .filter(pk=ae_id, participant__trial_id=actor.trial_id)
        .select_related("participant")
        .first()
    )
    what = f"adverse event {ae_id}"
    if ae is None:  # for a site's member, the same refusal as another site's event: no probing
        raise missing(actor, what, f"no adverse event {ae_id} in this trial")
    require_site(actor, ae.participant.site_id, what)
    return ae


def follow_up(
    actor: Membership,
    ae_id: int,
    on: str | dt.date,
    text: str,
    outcome: str,
    end_on: str | dt.date | None = None,
) -> AeFollowUp:
    """Record a follow-up of an adverse event and carry its outcome (and end date, when it
    resolved) onto the event; both audited."""
    require(actor, CLINICAL, "an adverse event follow-up")
    if not text.strip():
        raise InputError("a follow-up needs its text")
    clean_text(text, "follow-up text")
    check_choice("outcome", outcome, OUTCOME)
    day = event_date(on, "follow-up date")
    end = event_date(end_on, "end date") if end_on else None
    with write(actor):
        ae = _trial_ae(actor, ae_id)
        not_before(day, ae.onset_on, "follow-up date", "the onset")
        if end is not None:
            not_before(end, ae.onset_on, "end date", "the onset")
            not_before(day, end, "follow-up date", "the end date")
        row = AeFollowUp.objects.create(
            adverse_event=ae, on=day, text=text, outcome=outcome, end_on=end, by=actor, at=now()
        )
        audit.created(actor, row)
        changes: dict[str, Any] = {"outcome": outcome, "version": ae.version + 1}
        if end is not None:
            changes["end_on"] = end
        audit.update(actor, ae, changes, f"follow-up {row.pk} of {day}")
    return row


def acknowledge(actor: Membership, ae_id: int, note: str = "") -> SaeAlert:
    """The medical monitor (or the sponsor's admin) acknowledges an SAE report: time, who and
    a note are kept; an acknowledgement after ``due_by`` is recorded as late."""
    require(actor, SAE_ACK, "acknowledging an SAE")
    clean_text(note, "acknowledgement note")
    if len(note) > 1000:
        raise InputError("an acknowledgement note has at most 1000 characters")
    with write(actor):
        ae = _trial_ae(actor, ae_id)
        alert = SaeAlert.objects.select_for_update().filter(adverse_event=ae).first()
        if alert is None:
            raise InputError(f"adverse event {ae_id} is not serious: it has no SAE alert")
        if alert.acknowledged_at is not None:
            raise InputError(
                f"the SAE of adverse event {ae_id} was acknowledged on "
                f"{alert.acknowledged_at:%Y-%m-%d %H:%M} UTC"
            )
        audit.update(
            actor,
            alert,
            {"acknowledged_at": now(), "acknowledged_by": actor, "acknowledgement": note},
            "SAE acknowledged",
        )
    return alert


def escalate_overdue(actor: Membership) -> int:
    """Notify the medical monitor and the sponsor once of every SAE of the trial whose
    acknowledgement is overdue; nothing on a locked trial. Returns how many were escalated."""
    late = SaeAlert.objects.filter(
        adverse_event__participant__trial_id=actor.trial_id,
        adverse_event__voided_at=None,
        acknowledged_at__isnull=True,
        escalated_at__isnull=True,
        due_by__lt=now(),
    )
    locked = Trial.objects.filter(pk=actor.trial_id).values_list("locked_at", flat=True)[0]
    if locked is not None or not late.exists():
        return 0
    with write(actor):
        alerts = list(late.select_for_update().select_related("adverse_event__participant"))
        for alert in alerts:
            ae = alert.adverse_event
            audit.update(actor, alert, {"escalated_at": now()}, "SAE acknowledgement overdue")
            notify(
                actor,
                SAE_ACK,
                "sae_overdue",
                f"SAE of {ae.participant.participant_id} ({ae.term}) not acknowledged: "
                f"due {alert.due_by:%Y-%m-%d %H:%M} UTC, overdue",
                participant=ae.participant,
                mail_note="Acknowledge it on the SAE report page of the EDC.",
            )
    return len(alerts)


def sae_state(alert: SaeAlert, at: dt.datetime) -> str:
    """An alert's state at ``at``: acknowledged (in time or late), overdue or open."""
    if alert.acknowledged_at is not None:
        return "acknowledged" if alert.acknowledged_at <= alert.due_by else "acknowledged late"
    return "overdue" if alert.due_by < at else "open"


def void(actor: Membership, ae_id: int, reason: str, version: int | None = None) -> AdverseEvent:
    """Void an adverse event entered in error (a duplicate, a wrong or future date): it stays
    in the store and its audit trail with the reason, and is left out of the safety counts,
    the DSMB report, the exports and the SAE alerts still to acknowledge."""
    require(actor, CLINICAL, "voiding an adverse event")
    reason = reason.strip()
    if not reason:
        raise InputError("voiding an adverse event needs a reason")
    clean_text(reason, "void reason")
    if len(reason) > 500:
        raise InputError("a void reason has at most 500 characters")
    with write(actor):
        ae = _trial_ae(actor, ae_id)
        if ae.voided_at is not None:
            raise InputError(
                f"adverse event {ae_id} was voided on {ae.voided_at:%Y-%m-%d %H:%M} UTC"
            )
        check_version(ae, version, f"adverse event {ae_id}")
        changes = {"voided_at": now(), "void_reason": reason, "version": ae.version + 1}
        audit.update(actor, ae, changes, f"voided: {reason}")
    return ae
