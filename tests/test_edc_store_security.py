"""The store at rest: owner-only SQLite files, folders, keys and anchors; on PostgreSQL an app
role that can read and write rows but cannot alter tables or disable the audit triggers."""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edc_support import enroll, lock_accepting_all, new_trial, use_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture()
def umask_022() -> Iterator[None]:
    """The usual umask, under which files were world-readable (0644) before."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_sqlite_store_its_wal_folder_key_and_anchors_are_owner_only(
    tmp_path: Path, umask_022: None
) -> None:
    db = tmp_path / "trials" / "site-a" / "store.sqlite3"
    use_store(f"sqlite:///{db}")
    t = new_trial()
    enroll(t, "M1")

    lock_accepting_all(t["m"]["admin"], "done")  # writes an anchor
    assert Path(f"{db}-wal").exists() and Path(f"{db}-shm").exists()
    for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), db.parent / "frailtrial-audit-key"):
        assert _mode(f) == 0o600, f
    for folder in (tmp_path / "trials", db.parent, db.parent / "frailtrial-anchors"):
        assert _mode(folder) == 0o700, folder
    anchors = list((db.parent / "frailtrial-anchors").glob("*.json"))
    assert anchors and all(_mode(a) == 0o600 for a in anchors)


def test_an_existing_world_readable_store_is_made_owner_only(
    tmp_path: Path, umask_022: None
) -> None:
    import sqlite3

    db = tmp_path / "old.sqlite3"
    sqlite3.connect(db).close()
    os.chmod(db, 0o644)
    use_store(f"sqlite:///{db}")
    assert _mode(db) == 0o600


# The setup of docs/edc.md ("PostgreSQL roles"), run as the owner role after the migrations.
GRANTS = """
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app};
REVOKE UPDATE, DELETE, TRUNCATE ON edc_auditentry FROM {app};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app};
"""


def test_postgresql_app_role_cannot_alter_tables_or_disable_triggers(
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import psycopg

    monkeypatch.setenv("FRAILTRIAL_DATA_DIR", str(tmp_path))
    tag = uuid.uuid4().hex[:8]
    owner, app, name = f"ft_owner_{tag}", f"ft_app_{tag}", f"ft_roles_{tag}"
    server = pg_url.rsplit("/", 1)[0]  # postgresql://postgres@host:port
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {owner} LOGIN")
        conn.execute(f"CREATE ROLE {app} LOGIN")
        conn.execute(f"CREATE DATABASE {name} OWNER {owner}")
    owner_url = server.replace("postgres@", f"{owner}@") + f"/{name}"
    app_url = server.replace("postgres@", f"{app}@") + f"/{name}"

    use_store(owner_url)  # migrations run as the owner
    with psycopg.connect(owner_url, autocommit=True) as conn:
        for sql in GRANTS.format(app=app).strip().splitlines():
            conn.execute(sql)

    use_store(app_url)  # the server runs as the app role: it works...
    t = new_trial()
    enroll(t, "R1")
    from frailtrial.edc.services.integrity import verify_store

    assert verify_store().ok
    attacks = [
        "ALTER TABLE edc_auditentry DISABLE TRIGGER ALL",
        "ALTER TABLE edc_auditentry DISABLE TRIGGER edc_audit_no_change",
        "DROP TRIGGER edc_audit_no_change ON edc_auditentry",
        "DROP FUNCTION edc_audit_append_only() CASCADE",
        "SET session_replication_role = replica",  # would skip every trigger
        "ALTER TABLE edc_crf ADD COLUMN x integer",
        "CREATE TABLE edc_shadow (x integer)",
        "UPDATE edc_auditentry SET reason = 'x' WHERE seq = 1",
        "DELETE FROM edc_auditentry WHERE seq = 1",
        "TRUNCATE edc_auditentry",
    ]
    refused = []
    with psycopg.connect(app_url, autocommit=True) as conn:  # ...but cannot do any of these
        for sql in attacks:
            try:
                conn.execute(sql)
            except psycopg.errors.InsufficientPrivilege as exc:
                refused.append((sql, str(exc).splitlines()[0]))
    assert [sql for sql, _ in refused] == attacks, refused
    from django.db import connections

    connections.close_all()
