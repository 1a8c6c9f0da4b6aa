"""Fixtures shared by the test files, and the markers that select them.

Helper functions live in the ``*_support.py`` modules beside this file (imported by name);
fixtures live here, so that no test file imports a fixture (and password hashing is made
cheap for the whole run, see :func:`fast_password_hashing`). A test that uses ``pg_url`` is
marked ``postgres`` whether or not its file says so, so ``-m "not postgres"`` (``make quick``)
leaves out every test that needs a PostgreSQL server.

The PostgreSQL server is a throwaway one (``pg_support.py``), dropped at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from pg_support import NoPostgres, postgres_server


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
    """A throwaway PostgreSQL server on loopback (``pg_support``); skips when it cannot be
    started. ``FRAILTRIAL_TEST_PG_URL`` names a server to use instead."""
    if os.environ.get("FRAILTRIAL_TEST_PG_URL"):
        yield os.environ["FRAILTRIAL_TEST_PG_URL"]
        return
    with ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_server())
        except NoPostgres as exc:
            pytest.skip(str(exc))
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, driven by Playwright (browser_support.CHROMIUM, ARGS)."""
    from playwright.sync_api import sync_playwright

    from browser_support import ARGS, CHROMIUM

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()
