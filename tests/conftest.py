"""Fixtures shared by the test files, and the markers that select them.

Helper functions live in the ``*_support.py`` modules beside this file (imported by name);
fixtures live here, so that no test file imports a fixture (and password hashing is made
cheap for the whole run, see :func:`fast_password_hashing`). A test that uses ``pg_url`` is
marked ``postgres`` whether or not its file says so, so ``-m "not postgres"`` (``make quick``)
leaves out every test that needs a PostgreSQL server.

The PostgreSQL server is a throwaway one: initdb into a temporary folder (as an unprivileged
user when the tests run as root), started on a free loopback port, dropped at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from edc_support import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``postgres`` every test that asks for the PostgreSQL server."""
    for item in items:
        if "pg_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing() -> Iterator[None]:
    """PBKDF2 at 1,000 iterations while the tests run: Django's 870,000 take about half a
    second a hash, and the members of every web test's trial (one password per role) made
    most of the web tests' time. The algorithm is the production one (a stored hash names
    its own iterations); what the store and the server configure is unchanged."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    saved = PBKDF2PasswordHasher.iterations
    PBKDF2PasswordHasher.iterations = 1_000
    yield
    PBKDF2PasswordHasher.iterations = saved


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on loopback; skips when it cannot be started."""
    if os.environ.get("FRAILTRIAL_TEST_PG_URL"):
        yield os.environ["FRAILTRIAL_TEST_PG_URL"]
        return
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL binaries not found in {PG_BIN} (Debian package postgresql)")
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
            f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=120",
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
        pytest.skip(f"could not start PostgreSQL: {err.decode(errors='replace')[:300]}")
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


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
