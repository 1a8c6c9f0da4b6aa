"""`frailtrial edc backup` / `restore`: a consistent owner-only copy; a restore that verifies
the copy, never overwrites silently, and flags a copy older than an anchor (an old backup
that would undo the lock and the unblinding)."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from cli_inprocess import invoke
from edc_support import enroll, lock_accepting_all, new_trial, sqlite_url, use_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


def _file(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


@pytest.fixture()
def store(tmp_path: Path) -> tuple[str, dict[str, Any]]:
    url = sqlite_url(tmp_path)
    use_store(url)
    t = new_trial()
    enroll(t, "B1")
    return url, t


def test_backup_is_an_owner_only_copy_that_restores_and_verifies(
    store: tuple[str, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from frailtrial.edc.models import AuditEntry

    url, _ = store
    rows = AuditEntry.objects.count()
    out = tmp_path / "b.sqlite3"
    code, text, _ = invoke(monkeypatch, capsys, "edc", "backup", "--db", url, "--out", str(out))
    assert code == 0 and "back it up separately" in text and "frailtrial-audit-key" in text
    assert out.stat().st_mode & 0o777 == 0o600
    assert out.read_bytes().startswith(b"SQLite format 3\x00")
    before = out.read_bytes()
    code, _, err = invoke(monkeypatch, capsys, "edc", "backup", "--db", url, "--out", str(out))
    assert code == 2 and "never overwrite" in err and out.read_bytes() == before

    target = tmp_path / "restored.sqlite3"
    code, text, _ = invoke(monkeypatch, capsys, "edc", "restore", str(out), "--db", str(target))
    assert code == 0 and f"audit trail of {rows} rows verified" in text
    assert target.stat().st_mode & 0o777 == 0o600
    code, _, _ = invoke(monkeypatch, capsys, "audit", "verify", "--db", str(target))
    assert code == 0


def test_restore_never_overwrites_without_replace_and_keeps_the_replaced_store(
    store: tuple[str, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, t = store
    out = tmp_path / "b.sqlite3"
    assert invoke(monkeypatch, capsys, "edc", "backup", "--db", url, "--out", str(out))[0] == 0
    use_store(url)
    enroll(t, "B2")  # saved after the backup
    from django.db import connections

    connections.close_all()
    current = hashlib.sha256(_file(url).read_bytes()).hexdigest()
    code, _, err = invoke(monkeypatch, capsys, "edc", "restore", str(out), "--db", url)
    assert code == 2 and "give --replace" in err
    assert hashlib.sha256(_file(url).read_bytes()).hexdigest() == current

    code, text, _ = invoke(
        monkeypatch, capsys, "edc", "restore", str(out), "--db", url, "--replace"
    )
    assert code == 0 and "kept in" in text
    kept = next(tmp_path.glob(f"{_file(url).name}.replaced-*"))
    with sqlite3.connect(kept) as db:
        ids = {r[0] for r in db.execute("SELECT screening_id FROM edc_screening")}
    assert {"B1", "B2"} <= ids  # what was saved after the backup is not lost
    with sqlite3.connect(_file(url)) as db:
        ids = {r[0] for r in db.execute("SELECT screening_id FROM edc_screening")}
    assert "B2" not in ids


def test_old_backup_restored_over_a_locked_trial_is_found(
    store: tuple[str, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, t = store
    old = tmp_path / "before-lock.sqlite3"
    assert invoke(monkeypatch, capsys, "edc", "backup", "--db", url, "--out", str(old))[0] == 0
    use_store(url)
    from frailtrial.edc.services import trials

    lock_accepting_all(t["m"]["admin"], "data clean")
    trials.unblind_statistician(t["m"]["admin"], t["m"]["statistician"], "final analysis")
    code, _, err = invoke(monkeypatch, capsys, "edc", "restore", str(old), "--db", url, "--replace")
    assert code == 0 and "warning: the restored store is older than an anchor" in err
    code, _, err = invoke(monkeypatch, capsys, "audit", "verify", "--db", url)
    assert code == 1 and "an older backup was restored" in err


def test_tampered_backup_is_refused_and_nothing_is_replaced(
    store: tuple[str, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = store
    out = tmp_path / "b.sqlite3"
    assert invoke(monkeypatch, capsys, "edc", "backup", "--db", url, "--out", str(out))[0] == 0
    with sqlite3.connect(out) as db:
        db.execute("UPDATE edc_allocation SET arm = 'x'")
    from django.db import connections

    connections.close_all()
    current = hashlib.sha256(_file(url).read_bytes()).hexdigest()
    code, _, err = invoke(monkeypatch, capsys, "edc", "restore", str(out), "--db", url, "--replace")
    assert code == 1 and "fails the audit check" in err and "edc_allocation" in err
    assert hashlib.sha256(_file(url).read_bytes()).hexdigest() == current
    assert not list(tmp_path.glob(".*restoring*")) and not list(tmp_path.glob("*.replaced-*"))
    code, _, err = invoke(
        monkeypatch, capsys, "edc", "restore", str(tmp_path / "none"), "--db", url
    )
    assert code == 2 and "no such file" in err


def _createdb(admin_url: str) -> str:
    import psycopg

    name = f"ft_backup_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return admin_url.rsplit("/", 1)[0] + "/" + name


def test_postgresql_backup_restores_into_an_empty_database_only(
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FRAILTRIAL_DATA_DIR", str(tmp_path / "keys"))
    source = _createdb(pg_url)
    use_store(source)
    t = new_trial()
    enroll(t, "P1")
    from frailtrial.edc.models import AuditEntry

    rows = AuditEntry.objects.count()
    out = tmp_path / "pg.dump"
    code, _, err = invoke(monkeypatch, capsys, "edc", "backup", "--db", source, "--out", str(out))
    assert code == 0, err
    assert out.read_bytes().startswith(b"PGDMP") and out.stat().st_mode & 0o777 == 0o600
    code, _, err = invoke(monkeypatch, capsys, "edc", "restore", str(out), "--db", source)
    assert code == 2 and "not empty" in err

    target = _createdb(pg_url)
    code, text, err = invoke(monkeypatch, capsys, "edc", "restore", str(out), "--db", target)
    assert code == 0 and f"audit trail of {rows} rows verified" in text, err
    code, _, _ = invoke(monkeypatch, capsys, "audit", "verify", "--db", target)
    assert code == 0
    code, _, err = invoke(
        monkeypatch, capsys, "edc", "restore", str(out), "--db", str(tmp_path / "x.sqlite3")
    )
    assert code == 2 and "is a postgresql backup" in err


def test_restore_runs_in_a_fresh_process(
    store: tuple[str, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """In-process tests have Django set up already; the real command starts without it (the
    backup module imported the audit models at import time and `edc restore` crashed)."""
    url, _ = store
    out = tmp_path / "b.sqlite3"
    code, _, _ = invoke(monkeypatch, capsys, "edc", "backup", "--db", url, "--out", str(out))
    assert code == 0
    target = tmp_path / "fresh.sqlite3"
    cli = "from frailtrial.cli.main import run; run()"
    proc = subprocess.run(
        [sys.executable, "-c", cli, "edc", "restore", str(out), "--db", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "audit trail of" in proc.stdout


def test_a_tampered_postgresql_backup_is_refused_and_leaves_the_target_empty(
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """pg_restore writes into the target before the copy can be checked: a copy that fails
    the check must not stay there for the next command to use."""
    monkeypatch.setenv("FRAILTRIAL_DATA_DIR", str(tmp_path / "keys"))
    source = _createdb(pg_url)
    use_store(source)
    t = new_trial()
    enroll(t, "P1")
    from django.db import connection, connections

    with connection.cursor() as cur:  # an insider's edit before the backup is taken
        cur.execute("ALTER TABLE edc_allocation DISABLE TRIGGER ALL")
        cur.execute("UPDATE edc_allocation SET arm = 'x'")
    connections.close_all()
    out = tmp_path / "pg.dump"
    assert invoke(monkeypatch, capsys, "edc", "backup", "--db", source, "--out", str(out))[0] == 0
    target = _createdb(pg_url)
    code, _, err = invoke(monkeypatch, capsys, "edc", "restore", str(out), "--db", target)
    assert code == 1 and "edc_allocation" in err
    import psycopg

    with psycopg.connect(target) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)
