"""The REST API under /api/: token authentication, the pages' permissions, the same services.

A token (``Authorization: Bearer ft_...``) belongs to one membership (trial, role, site) and
expires; requests without a live token get 401. Bad input answers 422 with the service's
message, a refused permission 403, a locked trial or an edit of a version someone else changed
409; no response carries an arm for a blinded role.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import asdict
from typing import Annotated, Any

from django.db import DataError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.utils import timezone
from ninja import NinjaAPI, Path, Schema, Status
from ninja.security import HttpBearer
from pydantic import AfterValidator, Field

from frailtrial.edc import collection
from frailtrial.edc.eligibility import ScreeningInput
from frailtrial.edc.errors import AccessDenied, Conflict, TrialLocked
from frailtrial.edc.models import Membership
from frailtrial.edc.services import (
    completeness,
    corrections,
    crf,
    logs,
    participants,
    prelock,
    randomization,
    safety,
    screening,
    trials,
    visits,
)
from frailtrial.edc.services.common import parse_date, protocol_of
from frailtrial.errors import InputError
from frailtrial.web import access, security
from frailtrial.web.views.oversight import export_zip

# Trial dates lie in the store's range (1900-2100: what the export and pandas can hold).
TrialDate = Annotated[dt.date, AfterValidator(lambda day: parse_date(day, "date"))]


class TokenAuth(HttpBearer):
    """Bearer token → the membership it was issued to (None → 401)."""

    def authenticate(self, request: HttpRequest, token: str) -> Membership | None:
        return security.member_for_token(token)


api = NinjaAPI(
    title="frailtrial EDC API",
    version="1",
    description="Screening, randomization, CRF entry, adverse events and export for trial staff.",
    auth=TokenAuth(),
    docs_url="/docs",
    urls_namespace="api",
)


class Problem(Schema):
    detail: str


@api.exception_handler(TrialLocked)
def _locked(request: HttpRequest, exc: TrialLocked) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=409)


@api.exception_handler(AccessDenied)
def _denied(request: HttpRequest, exc: AccessDenied) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=403)


@api.exception_handler(InputError)
def _bad(request: HttpRequest, exc: InputError) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=422)


@api.exception_handler(Conflict)
def _conflict(request: HttpRequest, exc: Conflict) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=409)


@api.exception_handler(DataError)
def _unstorable(request: HttpRequest, exc: DataError) -> HttpResponse:
    """A value the database cannot hold that no rule caught: still the caller's input."""
    return api.create_response(
        request, {"detail": "a value cannot be stored (out of range or not valid text)"}, status=422
    )


def _member(request: HttpRequest, permission: str) -> Membership:
    member: Membership = request.auth
    access.check(member, permission)
    return member


ERRORS: dict[int, Any] = {401: Problem, 403: Problem, 409: Problem, 422: Problem}


class ParticipantOut(Schema):
    participant_id: str
    site: str
    randomization_number: str
    randomized_on: dt.date
    first_infusion_on: dt.date | None
    withdrawn_on: dt.date | None
    arm: str | None = Field(None, description="Only for roles that may read an arm.")


@api.get("/participants", response={200: list[ParticipantOut], **ERRORS})
def list_participants(request: HttpRequest) -> list[dict[str, Any]]:
    """The caller's participants (site-limited), by id; the arm only for unblinded roles."""
    views = participants.list_participants(_member(request, "participants"))
    return [asdict(v) for v in sorted(views, key=lambda v: v.participant_id)]


class ScreeningOut(Schema):
    screening_id: str
    eligible: bool
    reasons: list[str]


@api.post("/screenings", response={201: ScreeningOut, **ERRORS})
def screen(request: HttpRequest, body: ScreeningInput, site: str | None = None) -> Any:
    """Screen a person; eligibility judged from the protocol's criteria."""
    s = screening.screen(_member(request, "screen"), body, site_code=site)
    return Status(
        201, {"screening_id": s.screening_id, "eligible": s.eligible, "reasons": s.reasons}
    )


class ConsentIn(Schema):
    version: str = Field(min_length=1, max_length=40)
    signed_on: TrialDate


class Done(Schema):
    ok: bool


@api.post("/screenings/{screening_id}/consent", response={201: Done, **ERRORS})
def consent(request: HttpRequest, screening_id: str, body: ConsentIn) -> Any:
    """Record informed consent for an eligible screened person."""
    screening.consent(_member(request, "consent"), screening_id, body.version, body.signed_on)
    return Status(201, {"ok": True})


class RandomizeIn(Schema):
    screening_id: str = Field(min_length=1, max_length=40)


class RandomizedOut(Schema):
    participant_id: str
    randomization_number: str
    randomized_on: dt.date
    arm: str | None = Field(None, description="Only for roles that may read an arm.")


@api.post("/randomizations", response={201: RandomizedOut, **ERRORS})
def randomize(request: HttpRequest, body: RandomizeIn) -> Any:
    """Randomize a consented, eligible person: the next list entry, atomically."""
    got = randomization.randomize(_member(request, "randomize"), body.screening_id)
    return Status(
        201,
        {
            "participant_id": got.participant_id,
            "randomization_number": got.randomization_number,
            "randomized_on": got.randomized_on,
            "arm": got.arm,
        },
    )


class AttendIn(Schema):
    on: TrialDate
    reason: str | None = Field(
        None, max_length=500, description="Deviation reason; needed when outside the window."
    )
    version: int | None = Field(
        None, ge=1, description="To change the date of a visit already held: its version."
    )


@api.post("/participants/{participant_id}/visits/{visit}/attend", response={200: Done, **ERRORS})
def attend(request: HttpRequest, participant_id: str, visit: str, body: AttendIn) -> Any:
    """Record a visit as held on a date (needed before its CRFs)."""
    visits.attend(
        _member(request, "visit"), participant_id, visit, body.on, body.reason, body.version
    )
    return {"ok": True}


class CrfIn(Schema):
    participant_id: str = Field(min_length=1, max_length=40)
    visit: str = Field(min_length=1, max_length=40)
    instrument: str = Field(min_length=1, max_length=40)
    answers: dict[str, Any]
    reason: str | None = Field(None, max_length=500)
    version: int | None = Field(
        None, ge=1, description="To change a saved CRF: the version you read (else 409)."
    )


class CrfOut(Schema):
    id: int
    version: int
    scores: dict[str, Any]
    complete: bool = Field(description="Whether every required item of the form is answered.")
    missing_items: list[str] = Field(description="The required items still empty.")


@api.post("/crfs", response={201: CrfOut, **ERRORS})
def enter_crf(request: HttpRequest, body: CrfIn) -> Any:
    """Save a CRF's answers; returns the scores and whether the form is complete (a partial
    form is saved, and stays on the missing-forms list). A second save needs a reason."""
    member = _member(request, "crf_enter")
    saved = crf.enter_crf(member, **dict(body))
    gaps = completeness.crf_missing(protocol_of(member.trial), saved)
    return Status(
        201,
        {
            "id": saved.pk,
            "version": saved.version,
            "scores": saved.scores,
            "complete": not gaps,
            "missing_items": gaps,
        },
    )


class LogIn(Schema):
    participant_id: str = Field(min_length=1, max_length=40)
    form: str = Field(description="concomitant_medication, protocol_deviation or end_of_study")
    answers: dict[str, Any]


class LogOut(Schema):
    id: int
    version: int
    complete: bool
    missing_items: list[str]


@api.post("/logs", response={201: LogOut, **ERRORS})
def add_log(request: HttpRequest, body: LogIn) -> Any:
    """Add a concomitant medication, protocol deviation or the end of study to a
    participant's log; says which required items are still empty."""
    member = _member(request, "log_enter")
    entry = logs.add(member, body.participant_id, body.form, body.answers)
    gaps = collection.missing(
        protocol_of(member.trial), collection.LOG_FORMS[entry.form], entry.answers
    )
    return Status(
        201,
        {"id": entry.pk, "version": entry.version, "complete": not gaps, "missing_items": gaps},
    )


class CorrectionIn(Schema):
    record: str = Field(
        description="screening, consent, visitoccurrence, infusion, adverseevent, crf or logrecord"
    )
    id: int
    changes: dict[str, Any] = Field(description="Field -> corrected value (crf: answers).")
    reason: str = Field(min_length=1, max_length=500)
    version: int | None = Field(None, ge=1, description="The record version you read.")


@api.post("/corrections", response={200: corrections.Corrected, **ERRORS})
def correct(request: HttpRequest, body: CorrectionIn) -> Any:
    """Correct fields of a record with a reason, on the version read (else 409); audited."""
    return corrections.correct(
        _member(request, "correct"), body.record, body.id, body.changes, body.reason, body.version
    )


@api.get("/audit/{record}/{record_id}", response={200: list[corrections.FieldChange], **ERRORS})
def audit_trail(request: HttpRequest, record: str, record_id: str) -> Any:
    """A record's changes field by field: old -> new, who, when, why (arms hidden when
    blinded)."""
    return corrections.record_changes(_member(request, "audit"), record, record_id)


class AeIn(Schema):
    participant_id: str = Field(min_length=1, max_length=40)
    term: str = Field(min_length=1, max_length=200)
    body_system: str = Field(min_length=1, max_length=200)
    onset_on: TrialDate
    end_on: TrialDate | None = None
    severity: str
    related: bool
    outcome: str
    seriousness: list[str] = Field(default_factory=list)
    causality: str = Field("", description="not_related, unlikely, possible, probable, definite")
    expectedness: str = Field("", description="expected or unexpected")
    soc: str = Field("", max_length=200, description="System organ class (free-text coding).")
    preferred_term: str = Field("", max_length=200, description="Preferred term (coded).")


class AeOut(Schema):
    id: int
    serious: bool
    treatment_emergent: bool
    te_sae: bool
    sae_alert: bool


@api.post("/adverse-events", response={201: AeOut, **ERRORS})
def report_ae(request: HttpRequest, body: AeIn) -> Any:
    """Report an adverse event; a serious one raises an SAE alert."""
    ae = safety.report(_member(request, "ae_report"), **dict(body))
    return Status(
        201,
        {
            "id": ae.pk,
            "serious": ae.serious,
            "treatment_emergent": ae.treatment_emergent,
            "te_sae": ae.te_sae,
            "sae_alert": ae.serious,
        },
    )


ROW_ID = 2**63 - 1  # the largest id a database column holds
AeId = Annotated[int, Path(ge=1, le=ROW_ID, description="The adverse event's id.")]


class FollowUpIn(Schema):
    on: TrialDate
    text: str = Field(min_length=1, max_length=2000)
    outcome: str
    end_on: TrialDate | None = None


class Created(Schema):
    id: int


@api.post("/adverse-events/{ae_id}/follow-ups", response={201: Created, **ERRORS})
def ae_follow_up(request: HttpRequest, ae_id: AeId, body: FollowUpIn) -> Any:
    """Add a follow-up to an adverse event; its outcome (and end date) carry onto the event."""
    row = safety.follow_up(_member(request, "ae_follow_up"), ae_id, **dict(body))
    return Status(201, {"id": row.pk})


class VoidIn(Schema):
    reason: str = Field(min_length=1, max_length=500)
    version: int | None = Field(None, ge=1, le=ROW_ID)


class VoidedOut(Schema):
    voided_at: dt.datetime
    version: int


@api.post("/adverse-events/{ae_id}/void", response={200: VoidedOut, **ERRORS})
def ae_void(request: HttpRequest, ae_id: AeId, body: VoidIn) -> Any:
    """Void an adverse event entered in error, with a reason (audited; no longer counted)."""
    ae = safety.void(_member(request, "ae_void"), ae_id, body.reason, body.version)
    return {"voided_at": ae.voided_at, "version": ae.version}


class AcknowledgeIn(Schema):
    note: str = Field("", max_length=1000)


class AcknowledgedOut(Schema):
    acknowledged_at: dt.datetime
    state: str


@api.post("/adverse-events/{ae_id}/acknowledge", response={200: AcknowledgedOut, **ERRORS})
def sae_acknowledge(request: HttpRequest, ae_id: AeId, body: AcknowledgeIn) -> Any:
    """The medical monitor or sponsor acknowledges an SAE (in time or late)."""
    alert = safety.acknowledge(_member(request, "sae_acknowledge"), ae_id, body.note)
    return {
        "acknowledged_at": alert.acknowledged_at,
        "state": safety.sae_state(alert, alert.acknowledged_at),
    }


class ChecklistItem(Schema):
    key: str
    kind: str
    text: str
    accepted_reason: str | None


@api.get("/lock/checklist", response={200: list[ChecklistItem], **ERRORS})
def lock_checklist(request: HttpRequest, lock_date: TrialDate | None = None) -> Any:
    """The pre-lock checklist: every item, with its reason when accepted."""
    member = _member(request, "lock")
    done = prelock.accepted(member)
    items = prelock.blockers(member, lock_date or timezone.localdate())
    return [
        {
            "key": b.key,
            "kind": b.kind,
            "text": b.text,
            "accepted_reason": done[b.key].reason if b.key in done else None,
        }
        for b in items
    ]


class LockIn(Schema):
    reason: str = Field(min_length=1, max_length=500)
    accept: dict[str, str] = Field(
        default_factory=dict, description="Checklist item key -> reason for accepting it."
    )
    lock_date: TrialDate | None = None


@api.post("/lock", response={200: Done, **ERRORS})
def lock(request: HttpRequest, body: LockIn) -> Any:
    """Lock the database; 422 naming each checklist item not settled nor accepted."""
    trials.lock(_member(request, "lock"), body.reason, body.accept, body.lock_date)
    return {"ok": True}


@api.get(
    "/export",
    response={200: bytes, **ERRORS},
    openapi_extra={"responses": {200: {"content": {"application/zip": {}}}}},
)
def export(request: HttpRequest) -> FileResponse:
    """The export (tidy dataset, SPSS, SAS, SDTM) as a zip; blinded unless the caller sees arms."""
    member = _member(request, "exports")
    return FileResponse(
        io.BytesIO(export_zip(member)),
        as_attachment=True,
        filename=f"{member.trial.name}-export.zip",
        content_type="application/zip",
    )
