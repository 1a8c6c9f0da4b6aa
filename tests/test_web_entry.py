"""Entry integrity as attacks: concurrent edits, impossible dates, unsafe IDs, control
characters and non-finite numbers, on the pages and the API (SQLite; PostgreSQL in
test_web_entry_pg.py)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from web_support import client, trial_with_data, web_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    url = web_store(tmp_path_factory.mktemp("web-entry"))
    from frailtrial.web.security import issue_token

    t = trial_with_data()
    t["token"] = issue_token(t["m"]["coordinator"])
    return {**t, "url": url}


def _api(world: dict[str, Any], method: str, path: str, body: Any) -> Any:
    from django.test import Client

    return getattr(Client(), method)(
        f"/api{path}",
        json.dumps(body) if not isinstance(body, str) else body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {world['token']}",
    )


def test_second_of_two_crf_edits_gets_a_conflict_naming_the_first(world: dict[str, Any]) -> None:
    from frailtrial.edc.models import Crf

    pid = world["pid"]
    url = f"/participants/{pid}/visits/week1/crf/tug/"
    first, second = client(world, "coordinator"), client(world, "investigator")
    version = Crf.objects.get(pk=world["crf"].pk).version
    assert f'name="version" value="{version}"'.encode() in first.get(url).content
    assert second.get(url).status_code == 200  # both opened the same version
    form = {"action": "save", "version": str(version), "reason": "re-measured"}
    saved = first.post(url, {**form, "item_tug_s": "12.0"})
    assert saved.status_code == 302
    late = second.post(url, {**form, "item_tug_s": "15.0", "reason": "typo"})
    who = world["m"]["coordinator"].user.username
    assert late.status_code == 409
    assert b"was changed by " + who.encode() + b" (coordinator) at " in late.content
    crf = Crf.objects.get(pk=world["crf"].pk)
    assert crf.answers == {"tug_s": 12.0} and crf.version == version + 1  # not overwritten


def test_api_crf_edit_needs_the_current_version(world: dict[str, Any]) -> None:
    from frailtrial.edc.models import Crf

    crf = Crf.objects.get(pk=world["crf"].pk)
    body = {
        "participant_id": world["pid"],
        "visit": "week1",
        "instrument": "tug",
        "answers": {"tug_s": 13.0},
        "reason": "correction",
    }
    blind = _api(world, "post", "/crfs", body)
    assert blind.status_code == 409 and b"send the version you are changing" in blind.content
    stale = _api(world, "post", "/crfs", {**body, "version": crf.version - 1 or 99})
    assert stale.status_code == 409 and b"since you read it" in stale.content
    ok = _api(world, "post", "/crfs", {**body, "version": crf.version})
    assert ok.status_code == 201 and ok.json()["version"] == crf.version + 1


def test_visit_held_twice_and_ae_changed_twice_conflict(world: dict[str, Any]) -> None:
    from frailtrial.edc.errors import Conflict
    from frailtrial.edc.services import safety

    pid = world["pid"]
    held = _api(world, "post", f"/participants/{pid}/visits/week1/attend", {"on": "2024-03-13"})
    assert held.status_code == 409 and b"visit week1" in held.content
    ae, coord = world["ae"], world["m"]["coordinator"]
    safety.update(coord, ae.pk, {"outcome": "recovered"}, "follow-up", ae.version)
    with pytest.raises(Conflict, match="since you read it"):
        safety.update(coord, ae.pk, {"outcome": "fatal"}, "other follow-up", ae.version)


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/screenings/S-002/consent", {"version": "1.0", "signed_on": "2099-01-01"}, "future"),
        ("/screenings/S-002/consent", {"version": "1.0", "signed_on": "1900-01-01"}, "before 2000"),
        ("/screenings/S-002/consent", {"version": "1.0", "signed_on": "2024-02-01"}, "screening"),
        ("/participants/{pid}/visits/month1/attend", {"on": "1900-01-01"}, "before 2000"),
        ("/participants/{pid}/visits/month1/attend", {"on": "2100-12-31"}, "in the future"),
        ("/participants/{pid}/visits/month1/attend", {"on": "2024-03-03"}, "first infusion"),
        ("/participants/{pid}/visits/month1/attend", {"on": "2024-05-30"}, "deviation reason"),
        ("/adverse-events", {"onset_on": "2024-03-01"}, "before consent on 2024-03-02"),
        ("/adverse-events", {"onset_on": "2099-03-01"}, "in the future"),
        ("/adverse-events", {"term": "Fever\u0000"}, "control character (U+0000)"),
        ("/adverse-events", {"body_system": "Skin\u001b[31m"}, "control character (U+001B)"),
        ("/screenings", {"screening_id": "S/003"}, "letters, digits"),
        ("/screenings", {"screening_id": "S-\u0000"}, "control character"),
        ("/screenings", {"frailty_score": "NaN"}, "finite"),
        ("/screenings", {"screened_on": "2099-01-01"}, "in the future"),
    ],
)
def test_bad_dates_ids_and_text_are_refused_with_a_message(
    world: dict[str, Any], path: str, body: dict[str, Any], message: str
) -> None:
    from edc_support import eligible_input
    from frailtrial.edc.models import AdverseEvent, Screening

    if path == "/adverse-events":
        body = {
            "participant_id": world["pid"],
            "term": "Rash",
            "body_system": "Skin",
            "onset_on": "2024-03-21",
            "severity": "mild",
            "related": False,
            "outcome": "recovered",
            **body,
        }
    if path == "/screenings":
        body = {**eligible_input(world["protocol"], "S-003"), **body}
    text = json.dumps(body).replace('"NaN"', "NaN")
    before = (AdverseEvent.objects.count(), Screening.objects.count())
    r = _api(world, "post", path.format(pid=world["pid"]), text)
    assert r.status_code in (409, 422), r.content
    assert message in r.json()["detail"], r.json()
    assert (AdverseEvent.objects.count(), Screening.objects.count()) == before


def test_out_of_window_visit_is_held_with_a_deviation_reason(world: dict[str, Any]) -> None:
    from frailtrial.edc.models import VisitOccurrence

    pid = world["pid"]
    v = VisitOccurrence.objects.filter(participant__participant_id=pid).order_by("-order")[0]
    late = v.window_to + dt.timedelta(days=3)  # the last visit: no other test holds it
    path = f"/participants/{pid}/visits/{v.visit}/attend"
    refused = _api(world, "post", path, {"on": late.isoformat()})
    assert refused.status_code == 422 and "give the deviation reason" in refused.json()["detail"]
    body = {"on": late.isoformat(), "reason": "participant in hospital"}
    assert _api(world, "post", path, body).status_code == 200
    v.refresh_from_db()
    assert v.in_window is False and v.reason == "participant in hospital"


def test_randomization_before_consent_is_refused(world: dict[str, Any]) -> None:
    from edc_support import eligible_input
    from frailtrial.edc.services import randomization, screening
    from frailtrial.errors import InputError

    coord = world["m"]["coordinator"]
    screening.screen(coord, eligible_input(world["protocol"], "S-010"))
    screening.consent(coord, "S-010", "1.0", "2024-03-05")
    with pytest.raises(InputError, match="randomization date 2024-03-04 is before consent on"):
        randomization.randomize(coord, "S-010", "2024-03-04")
    with pytest.raises(InputError, match="is in the future"):
        randomization.randomize(coord, "S-010", dt.date.today() + dt.timedelta(days=2))


def test_page_forms_refuse_control_characters_and_year_9999(world: dict[str, Any]) -> None:
    from edc_support import enroll
    from frailtrial.edc.models import AdverseEvent, Infusion
    from frailtrial.edc.services import product, randomization

    coord = client(world, "coordinator")
    pid = world["pid"]
    r = coord.post(
        f"/participants/{pid}/ae/",
        {
            "term": "Fever\x00",
            "body_system": "General",
            "onset_on": "2024-03-21",
            "severity": "mild",
            "outcome": "recovered",
        },
    )
    assert r.status_code == 400 and b"term contains a control character (U+0000)" in r.content
    assert not AdverseEvent.objects.filter(term__startswith="Fever").exists()
    got = enroll(world, "S-020")
    pharm = world["m"]["unblinded_pharmacist"]
    arm = randomization.arm_of(pharm, got.participant_id)
    lot = "P1" if arm == world["protocol"].control_arm.name else "C1"
    prep = product.prepare(pharm, got.participant_id, 1, lot, 60.0)
    for start in ("9999-12-31T09:00", "1900-01-01T09:00"):
        page = coord.post(
            f"/participants/{got.participant_id}/",
            {
                "action": "infusion",
                "kit_code": prep.kit_code,
                "started_at": start,
                "ended_at": start[:-5] + "10:00",
                "volume_ml": "50",
            },
            follow=True,
        )
        assert page.status_code == 200
        assert b"infusion start: " + start[:10].encode() in page.content
    assert not Infusion.objects.filter(preparation=prep).exists()


def test_control_characters_in_query_and_address_are_refused(world: dict[str, Any]) -> None:
    coord = client(world, "coordinator")
    assert coord.get("/screening/?q=a%00b").status_code == 400
    assert coord.get("/screening/S%00X/").status_code == 400
    assert coord.get("/screening/").status_code == 200  # the log still opens for everyone
