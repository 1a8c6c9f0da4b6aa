"""The store's tables, split by area: trial and people, enrolment, product, records, audit."""

from frailtrial.edc.models.audit import AuditEntry, AuditHead
from frailtrial.edc.models.enrolment import (
    Allocation,
    Consent,
    EmergencyUnblinding,
    ListEntry,
    Participant,
    RandomizationList,
    Screening,
)
from frailtrial.edc.models.epro import EproSession
from frailtrial.edc.models.notices import Notice
from frailtrial.edc.models.oversight import DataQuery, LockException, SdvMark
from frailtrial.edc.models.people import CasebookSignature, Invitation
from frailtrial.edc.models.product import Infusion, Lot, Preparation
from frailtrial.edc.models.records import (
    AdverseEvent,
    AeFollowUp,
    Crf,
    LogRecord,
    Measurement,
    SaeAlert,
    VisitOccurrence,
)
from frailtrial.edc.models.trial import ROLES, Membership, Site, Trial

__all__ = [
    "ROLES",
    "AdverseEvent",
    "AeFollowUp",
    "Allocation",
    "AuditEntry",
    "AuditHead",
    "CasebookSignature",
    "Consent",
    "Crf",
    "DataQuery",
    "EmergencyUnblinding",
    "EproSession",
    "Infusion",
    "Invitation",
    "ListEntry",
    "LockException",
    "LogRecord",
    "Lot",
    "Measurement",
    "Membership",
    "Notice",
    "Participant",
    "Preparation",
    "RandomizationList",
    "SaeAlert",
    "Screening",
    "SdvMark",
    "Site",
    "Trial",
    "VisitOccurrence",
]
