"""Access matrix: every page and API route as every role; allow/deny and no arm when blinded.

The expected answer comes from the declared permission of each route (``access.PERMISSIONS``)
and the protocol's blinding (unblinded roles: pharmacist, DSMB); a route without a declared
permission fails the test, so nothing is reachable by omission.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import pytest

from frailtrial.protocol.model import STAFF_ROLES
from web_support import PASSWORD, client, route_kwargs, routes, sweep_world, web_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    web_store(tmp_path_factory.mktemp("web-access"))
    return sweep_world()


def _arm_pattern(t: dict[str, Any]) -> re.Pattern[str]:
    words = {a.name for a in t["protocol"].arms} | {a.label for a in t["protocol"].arms}
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)


ROLES = list(STAFF_ROLES)
PHARMACY_ONLY = (b"Draw from lot", b"Cells per mL", b"5e+06")  # 5e6 cells/mL: lot C1


@pytest.mark.parametrize("role", ROLES)
def test_every_page_as_role(world: dict[str, Any], role: str) -> None:
    from django.urls import reverse

    from frailtrial.edc.services.common import sees_arm
    from frailtrial.web.access import PERMISSIONS
    from frailtrial.web.urls import PUBLIC

    t, c = world, client(world, role)
    arm = _arm_pattern(t)
    blinded = not sees_arm(t["m"][role])
    kw = route_kwargs(t)
    for name, view, params in routes():
        url = reverse(f"web:{name}", kwargs={k: kw[k] for k in params})
        if name == "logout":
            continue
        r = c.get(url)
        if name in PUBLIC:
            assert r.status_code < 400, (role, url, r.status_code)
            continue
        perm = getattr(view, "permission", None)
        assert perm in PERMISSIONS, f"route {name} has no declared permission"
        allowed = role in PERMISSIONS[perm]
        if allowed:
            assert r.status_code in (200, 302, 405), (role, url, r.status_code)
        else:
            assert r.status_code == 403, (role, url, r.status_code)
        body = b"".join(r.streaming_content) if r.streaming else r.content
        if blinded and name != "static":
            assert not arm.search(body.decode("utf-8", "replace")), (role, url)
        if role != "unblinded_pharmacist":  # the draw volume and concentration tell the arm
            for secret in PHARMACY_ONLY:
                assert secret not in body, (role, url, secret)


def test_other_site_sees_nothing_of_this_site(world: dict[str, Any]) -> None:
    c = client(world, "other_site")
    assert world["pid"] not in c.get("/participants/").content.decode()
    assert c.get(f"/participants/{world['pid']}/").status_code == 403
    assert c.get(f"/participants/{world['pid']}/visits/week1/crf/tug/").status_code == 403
    assert c.get("/screening/S-002/").status_code == 403
    r = c.get("/api/participants", HTTP_AUTHORIZATION=f"Bearer {world['tokens']['other_site']}")
    assert r.status_code == 200 and r.json() == []


SITE_KEYS = {"pid", "screening_id", "crf_id", "query_id", "object_id"}


def test_every_record_route_refuses_another_sites_member(world: dict[str, Any]) -> None:
    """A site-B coordinator (and a site-B investigator, who may sign) tries every route that
    names a site-A record, by GET and by POST: refused, and the record unchanged."""
    from django.urls import reverse

    from frailtrial.edc.models import AuditEntry
    from frailtrial.edc.services import people
    from frailtrial.web.access import PERMISSIONS

    inv_b, _ = people.invite(world["m"]["admin"], "inv-site-b", "investigator", "OTH", "I", "B")
    inv_b.user.set_password(PASSWORD)
    inv_b.user.save()
    world["m"]["inv_site_b"] = inv_b
    kw = route_kwargs(world)
    before = AuditEntry.objects.count()
    for who in ("other_site", "inv_site_b"):
        c, role = client(world, who), world["m"][who].role
        for name, view, params in routes():
            if not SITE_KEYS & set(params) or role not in PERMISSIONS[view.permission]:
                continue
            url = reverse(f"web:{name}", kwargs={k: kw[k] for k in params})
            assert c.get(url).status_code in (403, 404, 405), (who, url)
            r = c.post(url, {"action": "attend", "answer": "x", "password": PASSWORD})
            assert r.status_code in (403, 404) or (
                r.status_code == 302 and "/login/" not in r["Location"]
            ), (who, url, r.status_code)
    assert AuditEntry.objects.count() == before  # nothing written


def _api_calls(t: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None, str]]:
    from edc_support import eligible_input

    scr = {
        k: (str(v) if k == "screened_on" else v)
        for k, v in eligible_input(t["protocol"], "S-API").items()
    }
    return [
        ("get", "/api/participants", None, "participants"),
        ("post", "/api/screenings", scr, "screen"),
        (
            "post",
            "/api/screenings/S-002/consent",
            {"version": "1", "signed_on": "2024-03-01"},
            "consent",
        ),
        ("post", "/api/randomizations", {"screening_id": "S-NONE"}, "randomize"),
        (
            "post",
            f"/api/participants/{t['pid']}/visits/month1/attend",
            {"on": "2024-04-03"},
            "visit",
        ),
        (
            "post",
            "/api/crfs",
            {
                "participant_id": t["pid"],
                "visit": "week1",
                "instrument": "tug",
                "answers": {"tug_s": 12.0},
                "reason": "typo",
            },
            "crf_enter",
        ),
        (
            "post",
            "/api/adverse-events",
            {
                "participant_id": t["pid"],
                "term": "Headache",
                "body_system": "Nervous",
                "onset_on": "2024-03-21",
                "severity": "mild",
                "related": False,
                "outcome": "recovered",
            },
            "ae_report",
        ),
        (
            "post",
            f"/api/adverse-events/{t['ae'].pk}/follow-ups",
            {"on": "2024-03-22", "text": "in hospital", "outcome": "recovering"},
            "ae_follow_up",
        ),
        ("post", f"/api/adverse-events/{t['ae'].pk}/acknowledge", {"note": ""}, "sae_acknowledge"),
        ("get", "/api/lock/checklist", None, "lock"),
        ("post", "/api/lock", {"reason": "not yet: the checklist refuses"}, "lock"),
        ("get", "/api/export", None, "exports"),
        (
            "post",
            "/api/corrections",
            {
                "record": "adverseevent",
                "id": t["ae"].pk,
                "changes": {"severity": "severe"},
                "reason": "source document says severe",
                "version": 1,
            },
            "correct",
        ),
        ("get", f"/api/audit/adverseevent/{t['ae'].pk}", None, "audit"),
        (  # a version no one read: refused with 409 for the site, so the event stays
            "post",
            f"/api/adverse-events/{t['ae'].pk}/void",
            {"reason": "duplicate", "version": 999},
            "ae_void",
        ),
        (
            "post",
            "/api/logs",
            {
                "participant_id": t["pid"],
                "form": "protocol_deviation",
                "answers": {"occurred_on": "2024-03-12", "category": "visit_window"},
            },
            "log_enter",
        ),
    ]


def test_api_routes_are_all_covered(world: dict[str, Any]) -> None:
    from django.test import Client

    schema = Client().get("/api/openapi.json").json()
    declared = {(m, p.split("{")[0]) for m, p, _, _ in _api_calls(world)}
    for path, ops in schema["paths"].items():
        for method in ops:
            prefix = path.split("{")[0]
            assert any(m == method and p.startswith(prefix) for m, p in declared), (method, path)


@pytest.mark.parametrize("role", [*ROLES, None])
def test_every_api_route_as_role(world: dict[str, Any], role: str | None) -> None:
    from django.test import Client

    from frailtrial.edc.services.common import sees_arm
    from frailtrial.web.access import PERMISSIONS

    t = world
    arm = _arm_pattern(t)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {t['tokens'][role]}"} if role else {}
    blinded = role is None or not sees_arm(t["m"][role])
    c = Client()
    for method, url, body, perm in _api_calls(t):
        if method == "get":
            r = c.get(url, **headers)
        else:
            r = c.post(url, body, content_type="application/json", **headers)
        if role is None:
            assert r.status_code == 401, (url, r.status_code)
            continue
        if role in PERMISSIONS[perm]:
            # 409: a role before this one already changed the record (a version conflict)
            ok = (200, 201, 409, 422)
            assert r.status_code in ok, (role, url, r.status_code, r.content[:300])
        else:
            assert r.status_code == 403, (role, url, r.status_code)
        raw = b"".join(r.streaming_content) if r.streaming else r.content
        texts = [raw.decode("utf-8", "replace")]
        if raw.startswith(b"PK"):
            with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                texts = [zf.read(n).decode("latin-1") for n in zf.namelist()]
        if blinded:
            for text in texts:
                assert not arm.search(text), (role, url)


def test_unblinded_roles_do_see_the_arm(world: dict[str, Any]) -> None:
    """The check above can fail: the pharmacist's participant list carries the arm."""
    from django.test import Client

    r = Client().get(
        "/api/participants", HTTP_AUTHORIZATION=f"Bearer {world['tokens']['unblinded_pharmacist']}"
    )
    assert _arm_pattern(world).search(r.content.decode())
    page = client(world, "unblinded_pharmacist").get("/pharmacy/").content
    assert b"Pharmacy" in page
    for secret in PHARMACY_ONLY:  # the check above can fail: the pharmacist sees them
        assert secret in page, secret


def test_the_checklist_keeps_the_shared_trial_open(world: dict[str, Any]) -> None:
    """The API lock above was refused by the checklist (422), so nothing was locked."""
    from frailtrial.edc.models import Trial

    assert Trial.objects.get(pk=world["trial"].pk).locked_at is None
