"""A CRF save reads its participant and visit in one query; when the participant is missing,
the visit was not held, or the participant is at another site, the refusals are those of
the separate lookups (and a site-B member cannot tell a site-A id from an unknown one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from web_support import trial_with_data, web_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    web_store(tmp_path)
    return trial_with_data()


def _refusal(member: Any, pid: str, visit: str) -> tuple[str, str]:
    from frailtrial.edc.errors import AccessDenied
    from frailtrial.edc.services import crf
    from frailtrial.errors import InputError

    with pytest.raises((InputError, AccessDenied)) as caught:
        crf.enter_crf(member, pid, visit, "tug", {"tug_s": 12.0}, reason="probe")
    return type(caught.value).__name__, str(caught.value).replace(pid, "PID")


def test_one_query_finds_the_participant_and_its_held_visit(world: dict[str, Any]) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from frailtrial.edc.models import Crf
    from frailtrial.edc.services import crf

    coord, pid = world["m"]["coordinator"], world["pid"]
    with CaptureQueriesContext(connection) as queries:
        saved = crf.enter_crf(coord, pid, "week1", "tug", {"tug_s": 12.5}, "re-timed", 1)
    assert saved.version == 2 and Crf.objects.get(pk=saved.pk).answers == {"tug_s": 12.5}
    lookups = [q["sql"] for q in queries.captured_queries if "edc_participant" in q["sql"]]
    assert len(lookups) == 1 and "edc_visitoccurrence" in lookups[0]


def test_a_missing_participant_and_a_visit_not_held_are_named(
    world: dict[str, Any],
) -> None:
    coord, pid = world["m"]["coordinator"], world["pid"]
    assert _refusal(coord, "ZZZ-999", "week1") == (
        "InputError",
        "no participant 'PID' in this trial",
    )
    assert _refusal(coord, pid, "month1") == (
        "InputError",
        "visit month1 of PID is scheduled; record the visit as held first",
    )


def test_site_b_cannot_tell_a_site_a_visit_from_an_unknown_one(world: dict[str, Any]) -> None:
    other, pid = world["m"]["other_site"], world["pid"]
    refusals = {
        _refusal(other, pid, "week1"),  # held at site A
        _refusal(other, pid, "month1"),  # scheduled at site A, not held
        _refusal(other, "ZZZ-999", "week1"),  # no such participant
    }
    assert refusals == {("AccessDenied", "participant PID is not at your site")}
