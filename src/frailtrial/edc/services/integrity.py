"""The whole integrity check of a store: the keyed audit chain, the anchors, and the current
rows against their last audited values.

Every write of the tables below goes through the audit service with a full snapshot of the
row, so the last audited ``new`` value of a row is what the row holds now. A row edited,
inserted or deleted directly in the database (a CRF, a measurement, an allocation, a list
entry, the lock, an unblinding or its notice, a participant session, an invitation) no longer
matches, and the finding names table, row and field.
Values are not printed (an allocation's would reveal an arm).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model

from frailtrial.edc.models import Allocation, AuditEntry, ListEntry, Trial
from frailtrial.edc.services import anchor as anchors
from frailtrial.edc.services.audit import ChainReport, Finding, canonical, store_id, verify_chain
from frailtrial.edc.services.common import audited_snapshot
from frailtrial.edc.services.passwords import MODEL as PASSWORD
from frailtrial.edc.services.passwords import fingerprint
from frailtrial.protocol.canonical import text_hash

# Tables whose every write is audited with the row's full snapshot. Visits are left out: a
# schedule is audited as one "schedule" row, not row by row.
CHECKED = (
    "trial",
    "site",
    "membership",
    "screening",
    "consent",
    "participant",
    "randomizationlist",
    "listentry",
    "allocation",
    "emergencyunblinding",
    "notice",
    "lot",
    "preparation",
    "infusion",
    "crf",
    "logrecord",
    "measurement",
    "adverseevent",
    "aefollowup",
    "saealert",
    "dataquery",
    "sdvmark",
    "lockexception",
    "casebooksignature",
    "eprosession",
    "invitation",
)
OMITTED = "..."  # an audited value left out of the snapshot (the trial's protocol text)
UNAUDITED = {
    "listentry": {"used"},  # set on allocation; checked against the allocations
    # a session's answers in progress and activity time change with every step (the sent
    # answers are audited as CRFs); its redemption, submissions and end are audited
    "eprosession": {"drafts", "position", "last_seen_at"},
}


def _differs(current: Any, audited: Any) -> bool:
    return json.loads(canonical(current)) != audited


def check_rows(last: dict[tuple[str, str], str | None], passwords: dict[str, str]) -> list[Finding]:
    """Findings of rows that differ from, lack, or outlive their last audited values, and of
    accounts whose password hash is not the audited one (``passwords``: user id -> SHA-256)."""
    findings: list[Finding] = []
    for name in CHECKED:
        model = apps.get_model("edc", name)
        table = model._meta.db_table
        skip = UNAUDITED.get(name, set())
        seen: set[str] = set()
        for obj in model.objects.order_by("pk").iterator(chunk_size=2000):
            pk = str(obj.pk)
            seen.add(pk)
            audited_text = last.get((name, pk))
            if audited_text is None:
                why = "deleted in the trail" if (name, pk) in last else "never audited"
                findings.append(Finding(table, pk, "*", f"row exists but was {why}"))
                continue
            audited = json.loads(audited_text)
            for column, value in audited_snapshot(obj).items():
                if column in skip or column not in audited or audited[column] == OMITTED:
                    continue
                if _differs(value, audited[column]):
                    findings.append(
                        Finding(table, pk, column, "differs from its last audited value")
                    )
        for (kind, pk), text in last.items():
            if kind == name and text is not None and pk not in seen:
                findings.append(Finding(table, pk, "*", "audited row is missing"))
    findings.extend(_derived())
    findings.extend(_passwords(passwords))
    return findings


def _passwords(audited: dict[str, str]) -> list[Finding]:
    """Accounts whose password hash is not the one last audited: written in the database."""
    user = get_user_model()
    table = user._meta.db_table
    findings = []
    for pk, stored in user.objects.order_by("pk").values_list("pk", "password"):
        known = audited.get(str(pk))
        if known is None:
            findings.append(Finding(table, str(pk), "password", "hash was never audited"))
        elif known != fingerprint(stored):
            findings.append(
                Finding(table, str(pk), "password", "differs from its last audited value")
            )
    return findings


def _derived() -> list[Finding]:
    """Checks of values not audited row by row: the protocol text against its SHA-256, and
    each list entry's used flag against the allocations."""
    findings = []
    for pk, text, sha in Trial.objects.values_list("pk", "protocol_yaml", "protocol_sha256"):
        if text_hash(text) != sha:
            findings.append(
                Finding(
                    Trial._meta.db_table, str(pk), "protocol_yaml", "does not match its SHA-256"
                )
            )
    allocated = set(Allocation.objects.exclude(entry=None).values_list("entry_id", flat=True))
    for pk, used in ListEntry.objects.values_list("pk", "used"):
        if used != (pk in allocated):
            state = "used without an allocation" if used else "unused but allocated"
            findings.append(Finding(ListEntry._meta.db_table, str(pk), "used", state))
    return findings


def verify_store(anchor_files: list[Path] | None = None) -> ChainReport:
    """Check the chain, the anchors (this store's in the anchors folder and ``anchor_files``)
    and the current rows; ``ok`` only when nothing is found."""
    store = store_id()
    known = anchors.known_anchors(store)
    given = [anchors.read_anchor(p) for p in anchor_files or []]
    wanted = {a.seq for a in known + given}
    hashes: dict[int, str] = {}
    last: dict[tuple[str, str], str | None] = {}
    passwords: dict[str, str] = {}

    def visit(e: AuditEntry) -> None:
        if e.seq in wanted:
            hashes[e.seq] = e.hash
        if e.model == PASSWORD:
            passwords[e.object_id] = json.loads(e.new)["sha256"]
        if e.model in CHECKED:
            new = json.loads(e.new)
            if new is None:  # deleted
                last[(e.model, e.object_id)] = None
            elif isinstance(new, dict) and str(new.get("id")) == e.object_id:
                last[(e.model, e.object_id)] = e.new  # a snapshot (not an event, e.g. export)

    anchors.require_store(given, store)
    report = verify_chain(visit=visit)
    if not report.ok:
        return report
    found = anchors.check(known + given, store, report.rows, hashes) + check_rows(last, passwords)
    if not found:
        return report
    first = found[0]
    return replace(report, ok=False, broken_seq=None, problem=str(first), findings=tuple(found))
