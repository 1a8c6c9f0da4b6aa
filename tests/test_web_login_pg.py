"""40 parallel password guesses on PostgreSQL: at most the free attempts are checked."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from edc_support import new_trial

N = 40
pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_40_parallel_guesses_are_counted_exactly(
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from frailtrial.web.config import setup

    setup(pg_url)
    from django.contrib.auth import authenticate
    from django.db import connections
    from django.test import Client

    from frailtrial.web import security
    from frailtrial.web.models import LoginThrottle
    from frailtrial.web.views import auth

    t = new_trial()
    name = t["m"]["investigator"].user.username
    checked = []

    def counting(*args: object, **kwargs: object) -> object:
        checked.append(1)
        return authenticate(*args, **kwargs)

    barrier = threading.Barrier(N)

    def guess(i: int) -> int:
        try:
            c = Client()
            barrier.wait(timeout=60)
            data = {"username": name, "password": f"guess-{i}"}
            return c.post("/login/", data, REMOTE_ADDR=f"10.7.0.{i}").status_code
        finally:
            connections.close_all()

    monkeypatch.setattr(auth, "authenticate", counting)
    with ThreadPoolExecutor(max_workers=N) as pool:
        codes = list(pool.map(guess, range(N)))
    assert len(checked) == codes.count(401) == security.USER.free
    assert codes.count(429) == N - security.USER.free
    assert LoginThrottle.objects.get(key=f"user:{name}").attempts == security.USER.free
