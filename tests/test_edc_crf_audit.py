"""A CRF save appends the audit rows of the form and of its measurements in one go, last in
its transaction, on both databases; the chain still verifies and a failed save leaves none."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from edc_support import dose_first, enroll, new_trial, sqlite_url, use_store
from frailtrial.errors import InputError

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgresql"])
def saved(request: pytest.FixtureRequest, tmp_path: Path) -> dict:
    url = sqlite_url(tmp_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")
    use_store(url)
    from frailtrial.edc.services import visits

    t = new_trial()
    pid = enroll(t, "C-001").participant_id
    dose_first(t, pid)
    visits.attend(t["m"]["coordinator"], pid, "week1", dt.date(2024, 3, 12))
    return {**t, "pid": pid}


def _rows_after(seq: int) -> list:
    from frailtrial.edc.models import AuditEntry

    return list(AuditEntry.objects.filter(seq__gt=seq).order_by("seq"))


def _head() -> int:
    from frailtrial.edc.models import AuditHead

    return AuditHead.objects.get(pk=1).seq


def test_first_save_and_edit_append_form_then_measurements_in_one_run(saved: dict) -> None:
    from frailtrial.edc.services import crf
    from frailtrial.edc.services.audit import verify_chain

    coord, pid = saved["m"]["coordinator"], saved["pid"]
    before = _head()
    form = crf.enter_crf(coord, pid, "week1", "tug", {"tug_s": 11.5})
    first = _rows_after(before)
    assert [(r.action, r.model) for r in first] == [("create", "crf"), ("create", "measurement")]
    assert [r.seq for r in first] == [before + 1, before + 2]
    assert first[1].prev_hash == first[0].hash and len({r.at for r in first}) == 1
    assert json.loads(first[1].new)["value"] == 11.5 and first[0].reason == ""

    crf.enter_crf(coord, pid, "week1", "tug", {"tug_s": 12.0}, "source check", form.version)
    edit = _rows_after(before + 2)
    assert [(r.action, r.model, r.reason) for r in edit] == [
        ("update", "crf", "source check"),
        ("update", "measurement", "source check"),
    ]
    assert json.loads(edit[1].old)["value"] == 11.5 and json.loads(edit[1].new)["value"] == 12.0
    assert _head() == before + 4
    report = verify_chain()
    assert report.ok and report.rows == before + 4


def test_a_refused_edit_appends_nothing(saved: dict) -> None:
    from frailtrial.edc.errors import Conflict
    from frailtrial.edc.services import crf

    coord, pid = saved["m"]["coordinator"], saved["pid"]
    crf.enter_crf(coord, pid, "week1", "tug", {"tug_s": 11.5})
    head = _head()
    with pytest.raises(InputError):  # an edit without a reason
        crf.enter_crf(coord, pid, "week1", "tug", {"tug_s": 13.0}, None, 1)
    with pytest.raises(Conflict):  # an edit of a version that is no longer the stored one
        crf.enter_crf(coord, pid, "week1", "tug", {"tug_s": 13.0}, "why", 7)
    assert _head() == head and _rows_after(head) == []


def test_audit_rows_appended_outside_a_transaction_are_one_atomic_append(saved: dict) -> None:
    """record_many called in autocommit mode opens its own transaction (head read, rows
    inserted, head moved together)."""
    from django.db import connection

    from frailtrial.edc.services import audit
    from frailtrial.edc.services.audit import verify_chain

    assert not connection.in_atomic_block
    head = _head()
    audit.record_many(None, [("event", ("trial", "1"), None, {"n": i}) for i in range(3)])
    assert [r.seq for r in _rows_after(head)] == [head + 1, head + 2, head + 3]
    assert verify_chain().ok
