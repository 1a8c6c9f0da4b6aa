"""Backup and restore of a store: a consistent online copy, and a restore that checks it.

SQLite: the backup API copies the live database (WAL included) while others keep writing.
PostgreSQL: ``pg_dump --format=custom``; restored with ``pg_restore`` into an empty database.
The audit key and the anchors are not in the copy: back the key up separately (without it the
trail of a restored store cannot be checked). A restore verifies the copy's trail and warns
when the copy is older than the newest anchor (it undoes whatever was recorded since).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from frailtrial.edc import config
from frailtrial.errors import InputError

if TYPE_CHECKING:  # audit imports the Django models: restore runs before setup()
    from frailtrial.edc.services.audit import ChainReport, Finding

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


@dataclass(frozen=True)
class Restored:
    """What a restore did: the store, audit rows, the file the replaced store was kept in,
    and the anchors the copy is older than (a warning: what they saw is not in it)."""

    db: str
    rows: int
    kept_aside: str | None
    older_than_anchors: tuple[Finding, ...]


def _sqlite_path(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL as libpq spells it (postgresql://, no password) and the environment carrying
    the password (PGPASSWORD), so that it is not on a command line other users can list."""
    parts = urlsplit(url)
    env = dict(os.environ)
    netloc = parts.netloc
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}@{host}"
    return urlunsplit(("postgresql", netloc, parts.path, parts.query, "")), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise InputError(f"{name} is not installed; install the PostgreSQL client tools")
    return found


def _run(cmd: list[str], what: str, env: dict[str, str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise InputError(f"{what}: {last}")


def _sqlite_copy(source: Path, target: Path) -> None:
    """Copy a SQLite database with the backup API into a new owner-only file."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file (no -wal beside it)
    finally:
        src.close()
        dst.close()


def backup(url: str, out: Path) -> Path:
    """Write a consistent copy of the store at ``url`` to ``out`` (never overwriting)."""
    out = Path(out)
    if out.exists():
        raise InputError(f"--out {out}: exists; backups never overwrite a file, give a new name")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: no such folder {out.parent}")
    path = _sqlite_path(url)
    if path is not None:
        _sqlite_copy(path, out)
    else:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # 0600 before pg_dump
        os.close(fd)
        target, env = _libpq(url)
        try:
            _run([_tool("pg_dump"), "--format=custom", "--file", str(out), target], "pg_dump", env)
        except InputError:
            out.unlink()
            raise
    return out


def _kind(file: Path) -> str:
    try:
        with open(file, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise InputError(f"backup {file}: cannot read it ({exc.strerror})") from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    raise InputError(f"backup {file}: neither a SQLite store nor a pg_dump custom-format file")


def _check(url: str) -> ChainReport:
    """Open ``url`` (no migration) and verify it; refuse a copy whose trail is broken or whose
    rows differ from it; return the report (anchor findings are the caller's warning)."""
    config.setup(url, migrate=False)
    from frailtrial.edc.services.integrity import verify_store

    report = verify_store()
    tampered = [f for f in report.findings if not _older(f)]
    if report.broken_seq is not None or tampered:
        raise TamperedBackup(report.problem or str(tampered[0]))
    return report


def _older(f: Finding) -> bool:
    return f.table == "edc_auditentry" and f.field == "seq"


class TamperedBackup(Exception):
    """A backup (or the store restored from it) fails the audit check."""


def restore(file: Path, url: str, replace: bool = False) -> Restored:
    """Restore a backup into the store at ``url`` after verifying it.

    SQLite: the copy is checked before it replaces anything; an existing store is replaced
    only with ``replace``, and then kept aside as ``NAME.replaced-STAMP``. PostgreSQL: only
    into an empty database (the store it replaces stays where it was); checked after.
    """
    file = Path(file)
    if not file.is_file():
        raise InputError(f"backup {file}: no such file")
    kind, path = _kind(file), _sqlite_path(url)
    if (kind == "sqlite") != (path is not None):
        raise InputError(f"backup {file} is a {kind} backup; --db {url} is not a {kind} store")
    if path is not None:
        return _restore_sqlite(file, path, replace)
    return _restore_postgresql(file, url)


def _restore_sqlite(file: Path, target: Path, replace: bool) -> Restored:
    from django.db import connections

    if target.exists() and target.stat().st_size > 0 and not replace:
        raise InputError(
            f"--db {target}: a store exists; give --replace to restore over it "
            "(it is kept aside as NAME.replaced-STAMP)"
        )
    config.private_dir(target.parent)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    staging = target.with_name(f".{target.name}.restoring-{stamp}")
    _sqlite_copy(file, staging)
    try:
        report = _check(f"sqlite:///{staging}")  # same folder: same key and anchors
    except BaseException:
        connections.close_all()
        for suffix in config.SQLITE_FILES:
            Path(f"{staging}{suffix}").unlink(missing_ok=True)
        raise
    connections.close_all()
    config._current.clear()
    kept = None
    if target.exists() and target.stat().st_size > 0:
        kept = target.with_name(f"{target.name}.replaced-{stamp}")
        _sqlite_copy(target, kept)
    for suffix in config.SQLITE_FILES[1:]:
        Path(f"{staging}{suffix}").unlink(missing_ok=True)
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(staging, target)
    older = tuple(f for f in report.findings if _older(f))
    return Restored(f"sqlite:///{target}", report.rows, str(kept) if kept else None, older)


def _restore_postgresql(file: Path, url: str) -> Restored:
    config.setup(url, migrate=False)
    from django.db import connection

    if connection.introspection.table_names():
        raise InputError(
            f"--db {url}: the database is not empty; restore into a new empty database "
            "(createdb NAME) so that the store it would replace is kept"
        )
    connection.close()
    target, env = _libpq(url)
    command = [_tool("pg_restore"), "--no-owner", "--exit-on-error", "--dbname", target]
    _run([*command, str(file)], "pg_restore", env)
    config._current.clear()
    try:
        report = _check(url)
    except TamperedBackup:
        _empty_again(url)  # the database was empty: a refused copy must not stay in it
        raise
    older = tuple(f for f in report.findings if _older(f))
    return Restored(url, report.rows, None, older)


def _empty_again(url: str) -> None:
    """Drop what a refused restore wrote into the (empty before) database: its schema."""
    from django.db import connection, connections

    with connection.cursor() as cur:
        cur.execute("DROP SCHEMA public CASCADE")
        cur.execute("CREATE SCHEMA public")
    connections.close_all()
    config._current.clear()
