"""A throwaway PostgreSQL server: initdb into a temporary folder (as an unprivileged user when
run as root), started on a free loopback port, removed at the end. The tests' ``pg_url``
fixture (``conftest.py``) and the web load benchmark (``benchmarks/load_crf.py``) start it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edc_support import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class NoPostgres(RuntimeError):
    """The server could not be started here (no binaries, or initdb/pg_ctl failed)."""


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@contextmanager
def postgres_server(options: str = "-c fsync=off") -> Iterator[str]:
    """A fresh server with an empty database ``frailtrial``; yields its URL. ``options`` are
    the server's extra settings (the tests turn fsync off; a benchmark may keep it on)."""
    if not (PG_BIN / "initdb").exists():
        raise NoPostgres(f"PostgreSQL binaries not found in {PG_BIN} (Debian package postgresql)")
    root = Path(tempfile.mkdtemp(prefix="frailtrial-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = "postgres" if _has_user("postgres") else "nobody"
        shutil.chown(root, user)
        shutil.chown(sock, user)
        os.chmod(root, 0o700)
        prefix = ["runuser", "-u", user, "--"]
    port = free_port()

    def run(*cmd: str) -> None:
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, timeout=120)

    try:
        run(
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-t",
            "60",
            "-l",
            str(root / "server.log"),
            "-o",
            f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c max_connections=120 {options}",
            "start",
        )
        run(
            str(PG_BIN / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "frailtrial",
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(root, ignore_errors=True)
        err = getattr(exc, "stderr", b"") or b""
        raise NoPostgres(
            f"could not start PostgreSQL: {err.decode(errors='replace')[:300]}"
        ) from None
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/frailtrial"
    finally:
        from django.db import connections

        connections.close_all()
        subprocess.run(
            [*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)
