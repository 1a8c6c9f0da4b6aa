"""A served request reuses its thread's database connection (SQLite and PostgreSQL).

Closing a connection after each request cost more than the CRF save itself: a new PostgreSQL
connection is a backend process, and closing the last SQLite connection checkpoints the WAL
into the database file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edc_support import sqlite_url, use_store


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_request_keeps_its_connection_for_the_next(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    use_store(sqlite_url(tmp_path) if backend == "sqlite" else request.getfixturevalue("pg_url"))
    from django.core.signals import request_finished, request_started
    from django.db import connection

    from frailtrial.edc.models import Trial

    for _ in range(2):  # two requests as the WSGI handler brackets them
        request_started.send(sender=None)
        Trial.objects.exists()
        opened = connection.connection
        request_finished.send(sender=None)
        assert opened is not None and connection.connection is opened
