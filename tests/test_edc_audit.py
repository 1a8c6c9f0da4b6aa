"""The audit trail: every change leaves a row; an edited or removed row is detected."""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edc_support import eligible_input, enroll, new_trial, sqlite_url, use_store
from frailtrial.errors import InputError

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


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
    connection.close()  # the next check reads what a fresh process would


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


@pytest.mark.slow  # two `audit verify` processes in a clean environment
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


def _recompute_from(seq: int, key: bytes | None) -> None:
    """Rewrite every link from ``seq`` on and move the head, as an intruder who knows the
    algorithm does: with the real key (which they should not hold) or plain SHA-256."""
    import hashlib

    from frailtrial.edc.models import AuditEntry, AuditHead
    from frailtrial.edc.services.audit import _digest, _fields

    store = AuditHead.objects.get(pk=1).store
    prev = AuditEntry.objects.get(seq=seq - 1).hash
    for e in AuditEntry.objects.filter(seq__gte=seq).order_by("seq"):
        e.prev_hash = prev
        if key is None:
            text = prev + "\n" + json.dumps(_fields(e), sort_keys=True, separators=(",", ":"))
            prev = hashlib.sha256(text.encode()).hexdigest()
        else:
            prev = _digest(key, store, prev, _fields(e))
        _raw(
            "UPDATE edc_auditentry SET prev_hash = %s, hash = %s WHERE seq = %s",
            (e.prev_hash, prev, e.seq),
        )
    _raw("UPDATE edc_audithead SET hash = %s WHERE id = 1", (prev,))


def test_edited_row_with_recomputed_hash_breaks_the_next_link(store: tuple[str, dict]) -> None:
    from frailtrial.edc.models import AuditEntry
    from frailtrial.edc.services.audit import verify_chain

    e = AuditEntry.objects.get(seq=5)
    forged = hashlib.sha256(b"forged").hexdigest()
    _raw("UPDATE edc_auditentry SET reason = 'forged', hash = %s WHERE seq = 5", (forged,))
    report = verify_chain()
    assert not report.ok and report.broken_seq == 5 and e.hash != forged


@pytest.mark.parametrize(
    "guess",
    [
        None,
        pytest.param(b"frailtrial-edc-local-only", marks=pytest.mark.slow),
        pytest.param(bytes(32), marks=pytest.mark.slow),
    ],
)
def test_chain_recomputed_without_the_key_is_detected(
    store: tuple[str, dict], guess: bytes | None
) -> None:
    """The whole tail re-hashed and the head moved: only the holder of the key can do it."""
    from frailtrial.edc.services.audit import audit_key, verify_chain

    url, _ = store
    _raw("UPDATE edc_auditentry SET reason = 'forged' WHERE seq = 5")
    _recompute_from(5, guess)
    report = verify_chain()
    assert not report.ok and report.broken_seq == 5 and "altered" in (report.problem or "")
    done = _cli_verify(url)
    assert done.returncode == 1 and "broken at row 5" in done.stderr
    assert "tampered: edc_auditentry row 5 field hash" in done.stderr

    _recompute_from(5, audit_key())  # the same forgery with the key passes: the key is the secret
    assert verify_chain().ok


def test_audit_key_is_an_owner_only_file_outside_the_database(store: tuple[str, dict]) -> None:
    from frailtrial.edc.services.audit import audit_key, key_path, verify_chain

    url, _ = store
    path = key_path()
    assert path.parent == Path(url.removeprefix("sqlite:///")).parent
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(audit_key()) == 32
    assert audit_key().hex() not in Path(url.removeprefix("sqlite:///")).read_bytes().decode(
        "latin-1"
    )
    path.rename(path.with_name("key-elsewhere"))
    try:
        with pytest.raises(InputError, match=r"audit key .* is missing"):
            verify_chain()
        done = _cli_verify(url)
        assert (
            done.returncode == 2 and "audit key" in done.stderr and "Traceback" not in done.stderr
        )
        with pytest.raises(InputError, match="restore it from its backup"):
            enroll(store[1], "A9")  # a lost key is never replaced by a new one
    finally:
        path.with_name("key-elsewhere").rename(path)
    assert verify_chain().ok


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
