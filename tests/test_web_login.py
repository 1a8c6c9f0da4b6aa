"""Login throttling, trusted proxies, password rules and token lifetime, each as an attack."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest

from web_support import PASSWORD, trial_with_data, web_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    url = web_store(tmp_path_factory.mktemp("web-login"))
    return {**trial_with_data(), "url": url}


def _post_login(c: Any, name: str, password: str, addr: str = "10.0.0.5", **extra: Any) -> Any:
    return c.post("/login/", {"username": name, "password": password}, REMOTE_ADDR=addr, **extra)


def _same_browser(own: Any) -> Any:
    """A new session of a browser that logged in before (its device cookie only)."""
    from django.test import Client

    from frailtrial.web.security import DEVICE_COOKIE

    c = Client()
    c.cookies[DEVICE_COOKIE] = own.cookies[DEVICE_COOKIE].value
    return c


def _frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stop the throttle's clock: a count of attempts must not depend on how fast the
    machine makes them (a 2 s delay could expire during 20 slow password checks)."""
    from django.utils import timezone

    from frailtrial.web import security

    at = timezone.now()
    monkeypatch.setattr(security, "now", lambda: at)


def _later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move the throttle's clock forward."""
    from django.utils import timezone

    from frailtrial.web import security

    shift = dt.timedelta(seconds=seconds)
    monkeypatch.setattr(security, "now", lambda: timezone.now() + shift)


def test_five_bad_passwords_delay_the_investigator_seconds_not_minutes(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.test import Client

    name = world["m"]["investigator"].user.username
    own = Client()  # the investigator's browser, which logged in before
    assert _post_login(own, name, PASSWORD).status_code == 302
    attacker = Client()
    codes = [
        _post_login(attacker, name, "wrong-guess", addr="10.9.9.9").status_code for _ in range(8)
    ]
    assert codes == [401] * 5 + [429] * 3
    # the attacker's guesses do not delay the investigator's own browser
    assert _post_login(_same_browser(own), name, PASSWORD).status_code == 302
    # from a new browser after own typos: a delay of seconds, then the login works
    fresh = Client()
    refused = _post_login(fresh, name, PASSWORD)
    assert refused.status_code == 429 and int(refused["Retry-After"]) <= 10
    assert b"try again in" in refused.content
    _later(monkeypatch, 11)
    assert _post_login(fresh, name, PASSWORD).status_code == 302


def test_delays_grow_but_are_capped(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from frailtrial.web import security
    from frailtrial.web.models import LoginThrottle

    waits, shift = [], 0.0
    for _ in range(12):  # an attacker who always waits exactly as long as told
        _later(monkeypatch, shift)
        assert security.login_wait("delay-probe", f"10.4.4.{len(waits)}", False) == 0
        row = LoginThrottle.objects.get(key="user:delay-probe")
        waits.append((row.next_allowed_at - row.last_at).total_seconds())
        shift += waits[-1]
    assert waits == [0] * 4 + [10, 20, 40, 60, 60, 60, 60, 60]  # 5 free attempts; cap 60 s


def test_one_address_guessing_many_users_delays_only_unknown_browsers(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.test import Client

    _frozen(monkeypatch)
    proxy_user = world["m"]["coordinator"].user.username
    own = Client()
    assert _post_login(own, proxy_user, PASSWORD, addr="10.1.1.1").status_code == 302
    attacker = Client()
    codes = [
        _post_login(attacker, f"nobody-{i}", "wrong-guess", addr="10.1.1.1").status_code
        for i in range(22)
    ]
    # 20 free attempts per address (the colleague's own login was one of them), then delays
    assert codes[:19] == [401] * 19 and codes[19:] == [429] * 3
    # a colleague behind the same address, on a browser that logged in before, is not delayed
    assert _post_login(_same_browser(own), proxy_user, PASSWORD, addr="10.1.1.1").status_code == 302


def test_spoofed_forwarded_for_from_an_untrusted_address_is_ignored(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.test import Client, RequestFactory, override_settings

    from frailtrial.web.security import client_address

    _frozen(monkeypatch)
    attacker = Client()
    codes = [
        _post_login(
            attacker,
            f"spoof-{i}",
            "wrong-guess",
            addr="10.2.2.2",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{i}",
        ).status_code
        for i in range(22)
    ]
    assert codes[20:] == [429, 429]  # rotating X-Forwarded-For did not escape the address limit
    rf = RequestFactory()
    spoof = rf.get("/", REMOTE_ADDR="10.2.2.2", HTTP_X_FORWARDED_FOR="192.0.2.1")
    assert client_address(spoof) == "10.2.2.2"
    via = rf.get(
        "/", REMOTE_ADDR="10.3.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7, 10.3.0.9"
    )
    assert client_address(via) == "10.3.0.1"  # no proxy configured: the header is ignored
    with override_settings(FRAILTRIAL_TRUSTED_PROXIES=["10.3.0.0/16"]):
        assert client_address(via) == "198.51.100.7"  # nearest untrusted hop, not the client's
        assert client_address(spoof) == "10.2.2.2"


def test_trusted_proxies_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from frailtrial.errors import InputError
    from frailtrial.web.config import token_days, trusted_proxies

    monkeypatch.setenv("FRAILTRIAL_TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/24")
    assert trusted_proxies() == ["10.0.0.1", "192.168.0.0/24"]
    monkeypatch.setenv("FRAILTRIAL_TRUSTED_PROXIES", "proxy.example")
    with pytest.raises(InputError, match=r"'proxy\.example' is not an IP address"):
        trusted_proxies()
    monkeypatch.setenv("FRAILTRIAL_TOKEN_DAYS", "0")
    with pytest.raises(InputError, match="FRAILTRIAL_TOKEN_DAYS='0'"):
        token_days()


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("aaaaaaaaaaaa", "one character repeated"),
        (" " * 12, "only whitespace"),
        ("abababababababab", "fewer than 5 distinct"),
        ("TRIAL!2024-x-final", "contains the trial's name"),
    ],
)
def test_weak_passwords_are_refused(world: dict[str, Any], password: str, message: str) -> None:
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    trial = world["trial"].name
    password = password.replace("TRIAL", trial.upper())
    user = world["m"]["coordinator"].user
    with pytest.raises(ValidationError) as err:
        validate_password(password, user)
    assert any(message in m for m in err.value.messages)


def test_weak_password_refused_on_the_account_page(world: dict[str, Any]) -> None:
    from django.test import Client

    user = world["m"]["statistician"].user
    c = Client()
    # an address of its own: other tests move the throttle's clock on the shared one
    assert _post_login(c, user.username, PASSWORD, addr="10.7.0.1").status_code == 302
    c.get("/choose/")
    r = c.post(
        "/account/",
        {
            "action": "password",
            "old_password": PASSWORD,
            "new_password1": "aaaaaaaaaaaa",
            "new_password2": "aaaaaaaaaaaa",
        },
    )
    assert r.status_code == 200 and b"one character repeated" in r.content
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_tokens_expire(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from django.test import Client, override_settings

    from frailtrial.web.models import ApiToken
    from frailtrial.web.security import issue_token, member_for_token

    token = issue_token(world["m"]["monitor"])
    row = ApiToken.objects.get(prefix=token[:8])
    assert row.expires_at - row.created_at == dt.timedelta(days=90)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert Client().get("/api/participants", **auth).status_code == 200
    _later(monkeypatch, 90 * 86400 + 1)
    assert member_for_token(token) is None
    assert Client().get("/api/participants", **auth).status_code == 401
    monkeypatch.undo()
    with override_settings(FRAILTRIAL_TOKEN_DAYS=7):
        short = issue_token(world["m"]["monitor"])
    row = ApiToken.objects.get(prefix=short[:8])
    assert row.expires_at - row.created_at == dt.timedelta(days=7)


def test_password_change_revokes_tokens(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from django.test import Client

    from cli_inprocess import invoke
    from frailtrial.web.security import issue_token, member_for_token

    member = world["m"]["dsmb"]
    user = member.user
    token = issue_token(member)
    c = Client()
    assert _post_login(c, user.username, PASSWORD, addr="10.7.0.2").status_code == 302
    c.get("/choose/")
    new = "another-long-secret-91"
    r = c.post(
        "/account/",
        {
            "action": "password",
            "old_password": PASSWORD,
            "new_password1": new,
            "new_password2": new,
        },
        follow=True,
    )
    assert b"API tokens were revoked" in r.content
    assert member_for_token(token) is None
    assert (
        Client().get("/api/participants", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    )
    # the command-line path revokes too
    token = issue_token(member)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    code, _, _ = invoke(
        monkeypatch, capsys, "web", "set-password", user.username, "--db", world["url"]
    )
    assert code == 0 and member_for_token(token) is None
    # a login (which saves last_login) does not
    token = issue_token(member)
    assert _post_login(Client(), user.username, PASSWORD, addr="10.7.0.2").status_code == 302
    assert member_for_token(token) is not None


def test_a_rehash_at_login_keeps_the_tokens(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hasher upgrade (here: more PBKDF2 iterations) rehashes the password at the next
    login; that is not a password change and must not cut off the user's API clients."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher
    from django.test import Client

    from frailtrial.web.security import issue_token, member_for_token

    member = world["m"]["admin"]
    token = issue_token(member)
    before = member.user.password
    monkeypatch.setattr(PBKDF2PasswordHasher, "iterations", PBKDF2PasswordHasher.iterations + 1)
    assert _post_login(Client(), member.user.username, PASSWORD, addr="10.7.0.3").status_code == 302
    member.user.refresh_from_db()
    assert member.user.password != before  # rehashed
    assert member_for_token(token) is not None
