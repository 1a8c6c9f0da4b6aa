"""Programmatic Django configuration: SQLite (WAL, busy timeout) by default, PostgreSQL by URL.

``setup(db_url)`` configures settings, runs ``django.setup()`` and applies the migrations.
Calling it again with another URL re-points the default database (tests and tools that open
several stores in turn); calling it with the same URL does nothing.

The store at rest is owner-only: a SQLite file (and its -wal/-shm, which SQLite creates with
the file's mode) is 0600, a folder created for it 0700. Keys live outside the database in the
data directory (:func:`data_dir`), each an owner-only file created once (:func:`key_file`).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from frailtrial.errors import InputError

DEFAULT_SQLITE = "frailtrial.sqlite3"
BUSY_TIMEOUT_S = 30
CONNECTION_S = 600  # how long a served request's thread keeps reusing its connection
SQLITE_FILES = ("", "-wal", "-shm")  # the database file and the two SQLite adds beside it
_current: dict[str, str] = {}


def current_url() -> str:
    """The URL of the store this process was set up on (InputError before :func:`setup`)."""
    if "url" not in _current:
        raise InputError("no store is open; call frailtrial.edc.setup(db_url) first")
    return _current["url"]


def data_dir(url: str) -> Path:
    """Where keys and audit anchors live: ``FRAILTRIAL_DATA_DIR``, else the SQLite file's
    folder, else ``~/.local/share/frailtrial`` (never inside the database)."""
    if os.environ.get("FRAILTRIAL_DATA_DIR"):
        return Path(os.environ["FRAILTRIAL_DATA_DIR"])
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).parent
    return Path.home() / ".local" / "share" / "frailtrial"


def private_dir(path: Path) -> Path:
    """``path`` as a folder, its missing parts created owner-only (0700); returns it."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for p in reversed(missing):
        p.mkdir(mode=0o700)
        os.chmod(p, 0o700)  # mkdir's mode is masked by the umask
    return path


def key_file(path: Path, create: bool = True) -> str:
    """The secret held in ``path``; with ``create``, a new random one (256 bits) is written
    there first when the file is missing, owner-only (0600) and never overwritten."""
    if not path.exists() and create:
        private_dir(path.parent)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
    return path.read_text().strip()


def owner_only_sqlite(path: Path) -> None:
    """Create the SQLite file 0600 before SQLite opens it (its -wal/-shm inherit the mode)
    and take group/other access off an existing one and its -wal/-shm."""
    private_dir(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for suffix in SQLITE_FILES:
        f = Path(f"{path}{suffix}")
        if f.exists() and f.stat().st_mode & 0o077 and f.stat().st_uid == os.geteuid():
            os.chmod(f, 0o600)


def database_url(db_url: str | None = None) -> str:
    """The store to use: the argument, else ``DATABASE_URL``, else a SQLite file here."""
    url = db_url or os.environ.get("DATABASE_URL") or f"sqlite:///{Path(DEFAULT_SQLITE).resolve()}"
    if "://" not in url:  # a bare path means a SQLite file
        url = f"sqlite:///{Path(url).resolve()}"
    return url


def database_settings(url: str, synchronous: str = "FULL") -> dict[str, Any]:
    """Django's DATABASES['default'] for a URL (sqlite:///path or postgres://...).

    ``synchronous`` is SQLite's setting: FULL (default) survives power loss; NORMAL (WAL)
    survives a killed process but may lose the last commits on power loss -- for simulations.
    """
    import dj_database_url

    scheme = url.split("://", 1)[0]
    if scheme not in ("sqlite", "postgres", "postgresql", "pgsql"):
        raise InputError(
            f"--db {url!r}: unsupported database; use sqlite:///FILE or postgresql://..."
        )
    cfg: dict[str, Any] = dict(dj_database_url.parse(url))
    if cfg["ENGINE"].endswith("sqlite3"):
        if cfg["NAME"] in ("", ":memory:"):
            raise InputError("--db: an in-memory SQLite store cannot be shared; give a file")
        owner_only_sqlite(Path(cfg["NAME"]))
        cfg["OPTIONS"] = {
            # BEGIN IMMEDIATE: a write transaction takes the write lock at its start, so two
            # writers queue on the busy timeout instead of failing on a lock upgrade.
            "transaction_mode": "IMMEDIATE",
            "timeout": BUSY_TIMEOUT_S,
            "init_command": f"PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous}; "
            "PRAGMA foreign_keys=ON;",
        }
    else:
        cfg["CONN_HEALTH_CHECKS"] = True  # one that broke is replaced at the next request
    # a served request reuses its thread's connection: a new PostgreSQL connection costs a
    # backend process, several ms; closing the last SQLite connection checkpoints the WAL
    # into the database file (fsyncs), so closing after each request cost more than the save
    cfg["CONN_MAX_AGE"] = CONNECTION_S
    cfg["ATOMIC_REQUESTS"] = False
    return cfg


def django_settings(url: str, synchronous: str) -> dict[str, Any]:
    return {
        "DATABASES": {"default": database_settings(url, synchronous)},
        "INSTALLED_APPS": [
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "frailtrial.edc.apps.EdcConfig",
        ],
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "SECRET_KEY": os.environ.get("FRAILTRIAL_SECRET_KEY", "frailtrial-edc-local-only"),
        "PASSWORD_HASHERS": ["django.contrib.auth.hashers.PBKDF2PasswordHasher"],
    }


def _repoint(url: str, synchronous: str) -> None:
    """Close every connection and point the default alias at another database."""
    from asgiref.local import Local
    from django.conf import settings
    from django.db import connections

    connections.close_all()
    settings.DATABASES["default"] = database_settings(url, synchronous)
    connections.__dict__.pop("settings", None)
    connections._settings = None
    connections._connections = Local(connections.thread_critical)


def setup(db_url: str | None = None, migrate: bool = True, synchronous: str = "FULL") -> str:
    """Configure Django for the store at ``db_url`` (see :func:`database_url`); returns the URL."""
    import django
    from django.conf import settings

    if synchronous not in ("FULL", "NORMAL"):
        raise InputError(f"synchronous={synchronous!r}: use FULL or NORMAL")
    url = database_url(db_url)
    if _current.get("url") == url and _current.get("synchronous") == synchronous:
        return url
    if not settings.configured:
        settings.configure(**django_settings(url, synchronous))
        django.setup()
    else:
        _repoint(url, synchronous)
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
    _current["url"], _current["synchronous"] = url, synchronous
    return url
