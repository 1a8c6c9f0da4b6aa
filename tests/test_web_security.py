"""Security of the pages: login rate limit, password rules, CSRF, cookies, secret key, tokens."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from edc_support import lock_accepting_all
from web_support import PASSWORD, trial_with_data, web_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    url = web_store(tmp_path_factory.mktemp("web-security"))
    return {**trial_with_data(), "url": url}


def test_login_rate_limit_blocks_after_five_failures(world: dict[str, Any]) -> None:
    from django.test import Client

    name = world["m"]["monitor"].user.username
    c = Client()
    codes = [
        c.post("/login/", {"username": name, "password": "wrong"}).status_code for _ in range(5)
    ]
    assert codes == [401] * 5
    blocked = c.post("/login/", {"username": name, "password": PASSWORD})
    assert blocked.status_code == 429 and b"Too many failed logins" in blocked.content


def test_password_rules_refuse_a_weak_password(world: dict[str, Any]) -> None:
    from django.test import Client

    c = Client()
    c.post("/login/", {"username": world["m"]["coordinator"].user.username, "password": PASSWORD})
    c.get("/choose/")
    r = c.post(
        "/account/",
        {
            "action": "password",
            "old_password": PASSWORD,
            "new_password1": "12345678",
            "new_password2": "12345678",
        },
    )
    assert r.status_code == 200
    assert b"too short" in r.content and b"entirely numeric" in r.content
    user = world["m"]["coordinator"].user
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert user.password.startswith("pbkdf2_sha256$")


def test_csrf_is_enforced_on_forms(world: dict[str, Any]) -> None:
    from django.test import Client

    c = Client(enforce_csrf_checks=True)
    r = c.post("/login/", {"username": world["m"]["admin"].user.username, "password": PASSWORD})
    assert r.status_code == 403


def test_unauthenticated_pages_redirect_to_login_and_api_answers_401(
    world: dict[str, Any],
) -> None:
    from django.test import Client

    c = Client()
    r = c.get("/participants/")
    assert r.status_code == 302 and r.url.startswith("/login/")
    assert c.get("/api/participants").status_code == 401
    assert c.get("/api/participants", HTTP_AUTHORIZATION="Bearer ft_forged").status_code == 401


def test_session_cookie_flags_and_secure_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from frailtrial.web.config import web_settings

    monkeypatch.setenv("FRAILTRIAL_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("FRAILTRIAL_SECRET_KEY", raising=False)
    monkeypatch.setenv("FRAILTRIAL_SECURE", "1")
    s = web_settings("postgresql://db/x")
    assert s["SESSION_COOKIE_SECURE"] and s["CSRF_COOKIE_SECURE"] and s["SESSION_COOKIE_HTTPONLY"]
    assert s["SECURE_HSTS_SECONDS"] > 0 and s["SESSION_COOKIE_AGE"] == 30 * 60
    key = tmp_path / "frailtrial-secret-key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert s["SECRET_KEY"] == key.read_text().strip() and len(s["SECRET_KEY"]) >= 50
    assert web_settings("postgresql://db/x")["SECRET_KEY"] == s["SECRET_KEY"]  # stable
    monkeypatch.setenv("FRAILTRIAL_SECURE", "0")
    assert not web_settings("postgresql://db/x")["SESSION_COOKIE_SECURE"]


def test_security_headers(world: dict[str, Any]) -> None:
    from django.test import Client

    r = Client().get("/login/")
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Cache-Control"] == "no-store"


def _logged_in(world: dict[str, Any], role: str) -> Any:
    from django.test import Client

    c = Client()
    c.post("/login/", {"username": world["m"][role].user.username, "password": PASSWORD})
    c.get("/choose/")
    return c


def test_emergency_unblinding_needs_investigator_and_reason(world: dict[str, Any]) -> None:
    from frailtrial.edc.models import AuditEntry, Participant

    url = f"/participants/{world['pid']}/unblind/"
    assert _logged_in(world, "coordinator").post(url, {"reason": "x" * 20}).status_code == 403
    inv = _logged_in(world, "investigator")
    short = inv.post(url, {"reason": "urgent"})
    assert short.status_code == 200 and b"at least 10 characters" in short.content
    before = AuditEntry.objects.filter(action="unblind").count()
    r = inv.post(url, {"reason": "anaphylaxis, treating physician must know"})
    p = Participant.objects.get(trial=world["trial"], participant_id=world["pid"])
    label = world["protocol"].arm(p.allocation.arm).label
    assert r.status_code == 200 and f'id="unblinded-arm">{label}<'.encode() in r.content
    assert p.emergency_unblinded
    assert AuditEntry.objects.filter(action="unblind").count() == before + 1


def test_web_commands_set_passwords_and_issue_tokens(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from cli_inprocess import invoke
    from frailtrial.web.security import member_for_token

    coord = world["m"]["coordinator"]
    name, trial = coord.user.username, world["trial"].name
    store = ("--db", world["url"])
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, _, err = invoke(monkeypatch, capsys, "web", "set-password", name, *store)
    assert code == 2 and "password refused" in err and "12 characters" in err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    code, out, _ = invoke(monkeypatch, capsys, "web", "set-password", name, *store)
    assert (code, out.strip()) == (0, f"password of {name} set")
    code, out, _ = invoke(monkeypatch, capsys, "web", "token", name, "--trial", trial, *store)
    member = member_for_token(out.strip())
    assert code == 0 and member is not None and member.pk == coord.pk
    code, _, err = invoke(
        monkeypatch, capsys, "web", "token", name, "--trial", trial, "--role", "admin", *store
    )
    assert code == 2
    assert f"user {name!r} in trial {trial!r} does not hold the role 'admin'" in err
    assert "(roles: coordinator)" in err
    code, _, err = invoke(monkeypatch, capsys, "web", "token", "nobody", "--trial", trial, *store)
    assert code == 2 and "'nobody'" in err and "holds no role" in err


def test_dates_outside_1900_to_2100_are_refused_on_pages_and_api(world: dict[str, Any]) -> None:
    from django.test import Client

    from frailtrial.web.security import issue_token
    from frailtrial.web.views.participants import AttendForm

    assert AttendForm({"on": "2100-12-31"}).is_valid()
    form = AttendForm({"on": "2101-01-01"})
    assert not form.is_valid()
    assert form.errors["on"] == ["Visit date: 2101-01-01 is outside 1900-01-01 to 2100-12-31"]
    coord = Client()
    coord.post(
        "/login/", {"username": world["m"]["coordinator"].user.username, "password": PASSWORD}
    )
    coord.get("/choose/")
    page = coord.post(
        f"/participants/{world['pid']}/",
        {"action": "attend", "visit": "month1", "on": "2101-01-01"},
        follow=True,
    )
    assert b"Not saved: Visit date: 2101-01-01 is outside 1900-01-01 to 2100-12-31." in page.content
    r = Client().post(
        f"/api/participants/{world['pid']}/visits/week1/attend",
        {"on": "1899-12-31"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {issue_token(world['m']['coordinator'])}",
    )
    assert r.status_code == 422 and b"1899-12-31 is outside 1900-01-01 to 2100-12-31" in r.content


def test_account_page_revokes_a_token(world: dict[str, Any]) -> None:
    from django.test import Client

    from frailtrial.web.models import ApiToken
    from frailtrial.web.security import issue_token, member_for_token

    coord = world["m"]["coordinator"]
    token = issue_token(coord)
    pk = ApiToken.objects.get(prefix=token[:8], member=coord).pk
    api = Client()
    assert api.get("/api/participants", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    c = Client()
    c.post("/login/", {"username": coord.user.username, "password": PASSWORD})
    c.get("/choose/")
    other = issue_token(world["m"]["monitor"])  # another membership's token is not revocable here
    other_pk = ApiToken.objects.get(prefix=other[:8]).pk
    refused = c.post("/account/", {"action": "revoke", "token": str(other_pk)}, follow=True)
    assert b"No such live token of this role." in refused.content
    assert member_for_token(other) is not None
    r = c.post("/account/", {"action": "revoke", "token": str(pk)}, follow=True)
    assert b"Token revoked" in r.content and token[:8].encode() not in r.content
    assert member_for_token(token) is None
    assert api.get("/api/participants", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_locked_trial_refuses_changes_on_pages_and_api(world: dict[str, Any]) -> None:
    from django.test import Client

    from frailtrial.web.security import issue_token

    token = issue_token(world["m"]["coordinator"])
    lock_accepting_all(world["m"]["admin"], "test lock")
    r = Client().post(
        "/api/crfs",
        {
            "participant_id": world["pid"],
            "visit": "week1",
            "instrument": "tug",
            "answers": {"tug_s": 9.0},
            "reason": "late",
        },
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert r.status_code == 409 and b"locked" in r.content
