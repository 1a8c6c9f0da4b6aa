"""The API token lookup (one hand-made statement on every API request) returns what the
ORM would: the same membership, user, trial and site, field by field and type by type, on
SQLite and PostgreSQL; and nothing for a token that is unknown, revoked, expired, or whose
user was deactivated."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from web_support import trial_with_data, web_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow

BACKENDS = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)


def _world(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    if backend == "sqlite":
        web_store(tmp_path)
    else:
        from frailtrial.web.config import setup

        setup(request.getfixturevalue("pg_url"))
    return trial_with_data()


def _fields(obj: Any) -> dict[str, tuple[type, Any]]:
    return {
        f.attname: (type(v), v)
        for f in obj._meta.concrete_fields
        for v in [f.value_from_object(obj)]
    }


@BACKENDS
def test_the_lookup_returns_what_the_orm_reads(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    t = _world(backend, tmp_path, request)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from frailtrial.edc.models import Membership
    from frailtrial.web.security import issue_token, member_for_token

    statistician = t["m"]["statistician"]
    statistician.unblinded_for_analysis_at = dt.datetime(2024, 5, 1, 9, 30, tzinfo=dt.UTC)
    statistician.save()
    for member in (t["m"]["coordinator"], t["m"]["other_site"], statistician):
        token = issue_token(member)
        with CaptureQueriesContext(connection) as queries:
            found = member_for_token(token)
            assert found is not None
            related = (found.user, found.trial, found.site)  # read with it, no query more
        assert len(queries.captured_queries) == 1
        orm = Membership.objects.select_related("user", "trial", "site").get(pk=member.pk)
        assert _fields(found) == _fields(orm)
        assert _fields(related[0]) == _fields(orm.user)
        assert _fields(related[1]) == _fields(orm.trial)
        if orm.site is None:
            assert related[2] is None
        else:
            assert _fields(related[2]) == _fields(orm.site)
        assert found.user.is_active is True and found._state.adding is False


@BACKENDS
def test_no_member_for_a_dead_token(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    t = _world(backend, tmp_path, request)
    from frailtrial.web.models import ApiToken
    from frailtrial.web.security import digest, issue_token, member_for_token, now

    member = t["m"]["monitor"]
    live, revoked, expired = (issue_token(member) for _ in range(3))
    ApiToken.objects.filter(digest=digest(revoked)).update(revoked_at=now())
    ApiToken.objects.filter(digest=digest(expired)).update(expires_at=now())
    assert member_for_token(live) is not None
    assert member_for_token(revoked) is None and member_for_token(expired) is None
    assert member_for_token(live[:-1] + ("A" if live[-1] != "A" else "B")) is None
    assert member_for_token(live.removeprefix("ft_")) is None
    member.user.is_active = False
    member.user.save()
    assert member_for_token(live) is None
