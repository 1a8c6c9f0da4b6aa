"""Participant questionnaires on a protocol that is not built in (tests/protocols/
three-arm-sex.yaml: three arms, visits month3/6/12, no questionnaire the participant answers):
no page offers a session, and starting one says why in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edc_support import enroll, new_trial
from web_support import PASSWORD, web_store

PROTOCOL = Path(__file__).parent / "protocols" / "three-arm-sex.yaml"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    web_store(tmp_path_factory.mktemp("epro-user-protocol"))
    from frailtrial.edc.services import visits

    t = new_trial(str(PROTOCOL))
    pid = enroll(t, "S-1").participant_id
    visits.attend(t["m"]["coordinator"], pid, "baseline", "2024-03-02")
    t["m"]["coordinator"].user.set_password(PASSWORD)
    t["m"]["coordinator"].user.save()
    t["pid"] = pid
    return t


def test_starting_a_session_where_no_visit_has_a_questionnaire_says_so(
    world: dict[str, Any],
) -> None:
    from frailtrial.edc.services import epro
    from frailtrial.errors import InputError

    with pytest.raises(InputError) as got:
        epro.start(world["m"]["coordinator"], world["pid"], "baseline", "kiosk", "en")
    message = str(got.value)
    assert "\n" not in message
    assert message.startswith("baseline of three-arm-sex has no questionnaire")
    assert "6mwd, sppb" in message and "sf36" in message  # what it has, what is allowed


def test_the_participant_page_offers_no_session_and_the_start_page_says_why(
    world: dict[str, Any],
) -> None:
    from django.test import Client

    c = Client()
    username = world["m"]["coordinator"].user.username
    assert c.post("/login/", {"username": username, "password": PASSWORD}).status_code == 302
    c.get("/choose/")
    page = c.get(f"/participants/{world['pid']}/").content.decode()
    assert f"/participants/{world['pid']}/visits/baseline/epro/" not in page
    r = c.post(
        f"/participants/{world['pid']}/visits/month3/epro/", {"kind": "kiosk", "language": "en"}
    )
    assert r.status_code == 400
    assert "month3 of three-arm-sex has no questionnaire" in r.content.decode()
