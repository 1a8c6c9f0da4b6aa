"""Entry integrity on PostgreSQL: NUL and other control characters (which PostgreSQL cannot
store) answer 4xx, never 500, including hypothesis-generated text; concurrent CRF saves from
parallel connections give one save and one conflict."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def world(pg_url: str) -> dict[str, Any]:
    from frailtrial.web.config import setup

    setup(pg_url)
    from frailtrial.web.security import issue_token
    from web_support import trial_with_data

    t = trial_with_data()
    t["token"] = issue_token(t["m"]["coordinator"])
    return t


def _api(world: dict[str, Any], path: str, body: Any) -> Any:
    from django.test import Client

    return Client().post(
        f"/api{path}",
        body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {world['token']}",
    )


def _ae(world: dict[str, Any], **over: Any) -> dict[str, Any]:
    return {
        "participant_id": world["pid"],
        "term": "Rash",
        "body_system": "Skin",
        "onset_on": "2024-03-21",
        "severity": "mild",
        "related": False,
        "outcome": "recovered",
        **over,
    }


def test_nul_anywhere_is_a_4xx_on_postgresql(world: dict[str, Any]) -> None:
    from edc_support import eligible_input

    pid = world["pid"]
    cases = [
        ("/adverse-events", _ae(world, term="Fever\x00")),
        ("/screenings", eligible_input(world["protocol"], "S-\x00")),
        ("/screenings", eligible_input(world["protocol"], "S-030", investigator_exclusion="\x00")),
        ("/screenings/S-002/consent", {"version": "1\x00", "signed_on": "2024-03-02"}),
        ("/randomizations", {"screening_id": "S-002\x00"}),
        (f"/participants/{pid}\x00/visits/month1/attend", {"on": "2024-04-02"}),
        (
            "/crfs",
            {
                "participant_id": pid,
                "visit": "week1",
                "instrument": "tug",
                "answers": {"tug_s\x00": 1.0},
            },
        ),
    ]
    for path, body in cases:
        r = _api(world, path, body)
        assert 400 <= r.status_code < 500, (path, r.status_code, r.content[:200])
        assert "control character" in r.json()["detail"]
    nan = json.dumps(eligible_input(world["protocol"], "S-031", frailty_score=1.0))
    r = _api(world, "/screenings", nan.replace('"frailty_score": 1.0', '"frailty_score": NaN'))
    assert r.status_code == 422 and "finite" in r.json()["detail"]


def test_generated_ae_terms_never_give_a_server_error(world: dict[str, Any]) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from frailtrial.edc.models import AdverseEvent
    from frailtrial.edc.services.entry import control_character

    text = st.text(
        alphabet=st.one_of(st.characters(max_codepoint=0x1F), st.characters()), max_size=30
    )

    @given(term=text, body_system=text)
    @settings(
        max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def post(term: str, body_system: str) -> None:
        r = _api(world, "/adverse-events", _ae(world, term=term, body_system=body_system))
        assert r.status_code < 500, (term, body_system, r.content[:200])

    post()
    stored = AdverseEvent.objects.filter(participant__trial=world["trial"])
    assert not [a.term for a in stored if control_character([a.term, a.body_system])]


def _parallel(world: dict[str, Any], bodies: list[dict[str, Any]]) -> list[int]:
    from django.db import connections

    barrier = threading.Barrier(len(bodies))

    def one(body: dict[str, Any]) -> int:
        try:
            barrier.wait(timeout=60)
            return int(_api(world, "/crfs", body).status_code)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(one, bodies))


def test_parallel_crf_edits_on_one_version_give_one_save_and_one_conflict(
    world: dict[str, Any],
) -> None:
    from frailtrial.edc.models import Crf

    crf = Crf.objects.get(pk=world["crf"].pk)
    base = {"participant_id": world["pid"], "visit": "week1", "instrument": "tug"}
    bodies = [
        {**base, "answers": {"tug_s": s}, "reason": f"re-measured {s}", "version": crf.version}
        for s in (12.0, 13.0)
    ]
    codes = _parallel(world, bodies)
    assert sorted(codes) == [201, 409]
    crf.refresh_from_db()
    winner = bodies[codes.index(201)]["answers"]
    assert crf.answers == winner and crf.version == bodies[0]["version"] + 1


def test_parallel_first_saves_of_one_crf_give_one_save(world: dict[str, Any]) -> None:
    from frailtrial.edc.models import Crf
    from frailtrial.edc.services import visits

    coord = world["m"]["coordinator"]
    visits.attend(coord, world["pid"], "month1", "2024-04-03", "clinic closed on the target")
    base = {"participant_id": world["pid"], "visit": "month1", "instrument": "tug"}
    codes = _parallel(world, [{**base, "answers": {"tug_s": s}} for s in (10.0, 11.0)])
    assert codes.count(201) == 1 and set(codes) - {201} <= {409, 422}
    assert Crf.objects.get(participant__participant_id=world["pid"], visit="month1").version == 1
