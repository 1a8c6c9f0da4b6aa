"""The audit trail: every change leaves a row; an edited or removed row is detected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edc_support import eligible_input, enroll, new_trial, sqlite_url, use_store


@pytest.fixture()
def store(tmp_path: Path) -> tuple[str, dict]:
    url = sqlite_url(tmp_path)
    use_store(url)
    t = new_trial()
    for i in range(3):
        enroll(t, f"A{i}")
    return url, t


def _raw(sql: str, params: tuple = ()) -> None:
    """What an intruder with file access does: drop the guard triggers, then change rows."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DROP TRIGGER IF EXISTS edc_audit_no_update")
        cur.execute("DROP TRIGGER IF EXISTS edc_audit_no_delete")
        cur.execute(sql, params)


def _cli_verify(url: str) -> subprocess.CompletedProcess:
    src = Path(__file__).parents[1] / "src"
    return subprocess.run(
        [sys.executable, "-m", "frailtrial", "audit", "verify", "--db", url],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def test_changes_leave_rows_with_old_and_new_values_and_reason(store: tuple[str, dict]) -> None:
    from frailtrial.edc.models import AuditEntry, Screening
    from frailtrial.edc.services import screening
    from frailtrial.edc.services.audit import verify_chain

    _, t = store
    coord = t["m"]["coordinator"]
    screening.screen(coord, eligible_input(t["protocol"], "Z1"))
    screening.close(coord, "Z1", "declined consent")
    s = Screening.objects.get(trial=t["trial"], screening_id="Z1")
    rows = list(AuditEntry.objects.filter(model="screening", object_id=str(s.pk)).order_by("seq"))
    assert [r.action for r in rows] == ["create", "update"]
    assert rows[1].reason == "declined consent"
    assert '"closed":false' in rows[1].old and '"closed":true' in rows[1].new
    assert rows[1].actor == coord.user.username and rows[1].role == "coordinator"
    assert verify_chain().ok


def test_database_refuses_update_and_delete_of_audit_rows(store: tuple[str, dict]) -> None:
    from django.db import IntegrityError, InternalError, OperationalError, connection

    with pytest.raises((IntegrityError, OperationalError, InternalError)), connection.cursor() as c:
        c.execute("UPDATE edc_auditentry SET reason = 'x' WHERE seq = 2")
    with pytest.raises((IntegrityError, OperationalError, InternalError)), connection.cursor() as c:
        c.execute("DELETE FROM edc_auditentry WHERE seq = 2")


def test_edited_row_is_detected(store: tuple[str, dict]) -> None:
    from frailtrial.edc.services.audit import verify_chain

    url, _ = store
    assert verify_chain().ok and _cli_verify(url).returncode == 0
    _raw(
        "UPDATE edc_auditentry SET new = replace(new, '\"eligible\":true', "
        "'\"eligible\":false') WHERE seq = (SELECT min(seq) FROM edc_auditentry "
        "WHERE model = 'screening')"
    )
    report = verify_chain()
    assert not report.ok and "altered" in (report.problem or "")
    done = _cli_verify(url)
    assert done.returncode == 1
    assert f"broken at row {report.broken_seq}" in done.stderr


def test_edited_row_with_recomputed_hash_breaks_the_next_link(store: tuple[str, dict]) -> None:
    from frailtrial.edc.models import AuditEntry
    from frailtrial.edc.services.audit import verify_chain

    e = AuditEntry.objects.get(seq=5)
    e.reason = "forged"
    forged = _digest(e.prev_hash, _fields(e))
    _raw("UPDATE edc_auditentry SET reason = 'forged', hash = %s WHERE seq = 5", (forged,))
    report = verify_chain()
    assert not report.ok and report.broken_seq == 6 and "does not link" in (report.problem or "")


def test_deleted_row_is_detected_in_the_middle_and_at_the_end(store: tuple[str, dict]) -> None:
    from frailtrial.edc.models import AuditEntry
    from frailtrial.edc.services.audit import verify_chain

    _raw("DELETE FROM edc_auditentry WHERE seq = 7")
    report = verify_chain()
    assert not report.ok and report.broken_seq == 7 and "missing" in (report.problem or "")

    last = AuditEntry.objects.order_by("-seq").values_list("seq", flat=True).first()
    _raw("DELETE FROM edc_auditentry WHERE seq >= 7")
    report = verify_chain()
    assert not report.ok and report.broken_seq == 7
    assert last is not None and str(last) in (report.problem or "")
