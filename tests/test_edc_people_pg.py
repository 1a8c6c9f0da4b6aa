"""One invitation link used by 8 requests at once on PostgreSQL: exactly one sets a password."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from edc_support import new_trial

N = 8
pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_parallel_uses_of_one_invitation_set_one_password(pg_url: str) -> None:
    from frailtrial.web.config import setup

    setup(pg_url)
    from django.contrib.auth import get_user_model
    from django.db import connections

    from frailtrial.edc.services import people
    from frailtrial.errors import InputError

    t = new_trial()
    member, token = people.invite(
        t["m"]["admin"], f"par-{t['trial'].pk}", "monitor", None, "P", "Q"
    )
    barrier = threading.Barrier(N)

    def use(i: int) -> str | None:
        try:
            barrier.wait(timeout=60)
            people.accept(token, f"parallel-password-{i}-xyz")
            return f"parallel-password-{i}-xyz"
        except InputError:
            return None
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=N) as pool:
        won = [p for p in pool.map(use, range(N)) if p is not None]
    assert len(won) == 1
    user = get_user_model().objects.get(pk=member.user_id)
    assert user.check_password(won[0])
