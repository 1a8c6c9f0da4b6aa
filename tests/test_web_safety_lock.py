"""The AE/SAE pages, the SAE acknowledgement and the lock's confirmation step through the
web app and the API (Django's test client)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from web_support import client, trial_with_data, web_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    web_store(tmp_path_factory.mktemp("web-safety"))
    t = trial_with_data()
    from frailtrial.web.security import issue_token

    t["tokens"] = {role: issue_token(m) for role, m in t["m"].items()}
    return t


def test_assessment_and_follow_up_by_the_site_only(world: dict[str, Any]) -> None:
    from frailtrial.edc.models import AdverseEvent

    ae = world["ae"]
    url = f"/safety/ae/{ae.pk}/"
    change = {
        "causality": "possible",
        "expectedness": "unexpected",
        "soc": "Infections and infestations",
        "preferred_term": "Pneumonia",
        "reason": "coded at review",
        "version": AdverseEvent.objects.get(pk=ae.pk).version,
    }
    assert client(world, "monitor").post(url + "assess/", change).status_code == 403
    r = client(world, "investigator").post(url + "assess/", change, follow=True)
    assert b"Assessment saved." in r.content
    saved = AdverseEvent.objects.get(pk=ae.pk)
    assert (saved.causality, saved.related, saved.preferred_term) == ("possible", True, "Pneumonia")
    r = client(world, "investigator").post(url + "assess/", change, follow=True)  # stale version
    assert b"changed by" in r.content
    follow = {"on": "2024-03-25", "text": "discharged", "outcome": "recovered"}
    assert client(world, "dsmb").post(url + "follow-up/", follow).status_code == 403
    r = client(world, "coordinator").post(url + "follow-up/", follow, follow=True)
    assert b"Follow-up saved." in r.content and b"discharged" in r.content
    assert client(world, "coordinator").post(url + "acknowledge/", {}).status_code == 403


def test_api_acknowledges_once_and_lock_answers_422_naming_the_items(
    world: dict[str, Any],
) -> None:
    from django.test import Client

    ae = world["ae"]

    def call(role: str, path: str, body: Any = None) -> Any:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {world['tokens'][role]}"}
        if body is None:
            return Client().get(path, **headers)
        return Client().post(path, body, content_type="application/json", **headers)

    r = call("admin", "/api/lock", {"reason": "final"})
    assert r.status_code == 422 and r.json()["detail"].startswith("lock refused")
    assert f"sae:{ae.pk}" in r.json()["detail"]
    items = call("admin", "/api/lock/checklist").json()
    assert {"key": f"sae:{ae.pk}", "kind": "sae"}.items() <= items[0].items()
    r = call("medical_monitor", f"/api/adverse-events/{ae.pk}/acknowledge", {"note": "seen"})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    r = call("admin", f"/api/adverse-events/{ae.pk}/acknowledge", {"note": ""})
    assert r.status_code == 422 and "was acknowledged on" in r.json()["detail"]
    page = client(world, "medical_monitor").get(f"/safety/ae/{ae.pk}/").content
    assert b'id="sae-state" class="ok">acknowledged<' in page


def test_the_lock_page_needs_the_confirmation(world: dict[str, Any]) -> None:
    from frailtrial.edc.models import Trial

    c = client(world, "admin")
    page = c.get("/lock/").content
    assert b"Pre-lock checklist" in page and b"block the lock" in page
    r = c.post("/lock/", {"action": "lock", "reason": "final", "lock_date": "2024-04-01"})
    assert b"This field is required" in r.content  # the confirmation box
    r = c.post(
        "/lock/",
        {"action": "lock", "reason": "final", "lock_date": "2024-04-01", "confirm": "on"},
    )
    assert b"lock refused" in r.content
    assert Trial.objects.get(pk=world["trial"].pk).locked_at is None


def test_bad_posts_on_the_ae_pages_say_which_field_is_wrong(world: dict[str, Any]) -> None:
    """A bad date, an unknown outcome or causality, a too-long note: one message naming the
    field and what is wrong (not a fixed sentence blaming missing fields, not a silent drop)."""
    from frailtrial.edc.models import AdverseEvent, SaeAlert

    ae = world["ae"]
    url = f"/safety/ae/{ae.pk}/"

    def said(role: str, action: str, data: dict[str, Any]) -> str:
        r = client(world, role).post(url + action, data, follow=True)
        assert r.status_code == 200
        return " ".join(
            html.unescape(m)
            for m in re.findall(r'<p class="msg [^"]*">(.*?)</p>', r.content.decode())
        )

    follow = {"on": "2024-13-45", "text": "discharged", "outcome": "cured"}
    text = said("coordinator", "follow-up/", follow)
    assert "Not saved: Follow-up date: Enter a valid date" in text, text
    assert "Outcome now: Select a valid choice. cured is not one of" in text, text
    assess = {"causality": "surely", "reason": "coded", "version": "x"}
    text = said("investigator", "assess/", assess)
    assert "Causality: Select a valid choice. surely is not one of" in text, text
    assert "Version: Enter a whole number" in text, text
    text = said("investigator", "void/", {"reason": "dup", "version": "9" * 30})
    assert "since you read it (you had version 999999999999999999999999999999" in text, text
    before = SaeAlert.objects.get(adverse_event_id=ae.pk).acknowledged_at
    text = said("medical_monitor", "acknowledge/", {"note": "n" * 1001})
    assert "Acknowledgement note: Ensure this value has at most 1000 characters" in text, text
    assert SaeAlert.objects.get(adverse_event_id=ae.pk).acknowledged_at == before  # not dropped
    assert AdverseEvent.objects.get(pk=ae.pk).voided_at is None
