"""Each user's interface language is kept on the account: chosen in the page header or on
the account page, audited, applied at login on any device; a code that is not an interface
language is refused in one line and nothing is kept."""

from __future__ import annotations

from typing import Any

import pytest

from web_support import PASSWORD, client, trial_with_data, web_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    web_store(tmp_path_factory.mktemp("account-language"))
    return trial_with_data()


def _fresh_login(t: dict[str, Any], role: str) -> Any:
    """Another device: a new client with no cookie, logged in through the form."""
    from django.test import Client

    c = Client()
    r = c.post("/login/", {"username": t["m"][role].user.username, "password": PASSWORD})
    assert r.status_code == 302
    c.get("/choose/")
    return c


def _kept(t: dict[str, Any], role: str) -> list[str]:
    from frailtrial.edc.models import Membership

    user = t["m"][role].user
    return list(Membership.objects.filter(user=user).values_list("language", flat=True))


def test_the_chosen_language_follows_the_user_to_another_device(world: dict[str, Any]) -> None:
    from django.conf import settings

    from frailtrial.edc.models import AuditEntry

    tablet = client(world, "investigator")
    r = tablet.post("/language/", {"language": "zh-hans", "next": "/dashboard/"})
    assert r.status_code == 302 and r["Location"] == "/dashboard/"
    assert _kept(world, "investigator") == ["zh-hans"]
    row = AuditEntry.objects.filter(model="membership", action="language").latest("seq")
    assert row.actor == world["m"]["investigator"].user.username
    assert '"language":""' in row.old and '"language":"zh-hans"' in row.new
    phone = _fresh_login(world, "investigator")  # another device: no cookie of its own
    assert phone.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    page = phone.get("/dashboard/").content.decode()
    assert '<html lang="zh-Hans">' in page and "受试者" in page
    # the same user back in English on the phone: the tablet's next login is in English
    phone.post("/language/", {"language": "en", "next": "/dashboard/"})
    assert _kept(world, "investigator") == ["en"]
    page = _fresh_login(world, "investigator").get("/dashboard/").content.decode()
    assert '<html lang="en">' in page and "受试者" not in page


def test_the_account_page_keeps_the_language(world: dict[str, Any]) -> None:
    c = client(world, "monitor")
    page = c.get("/account/").content.decode()
    assert 'id="account-language"' in page and 'action="/language/"' in page
    r = c.post("/language/", {"language": "zh-hans", "next": "/account/"}, follow=True)
    page = r.content.decode()
    assert r.redirect_chain == [("/account/", 302)]
    assert "语言已保存到您的账户" in page  # the message, in the language just chosen
    assert '<option value="zh-hans" lang="zh-Hans" selected>' in page
    assert _kept(world, "monitor") == ["zh-hans"]


@pytest.mark.parametrize("code", ["fr", "zh-Hans-CN", "", "en'><script>"])
def test_a_code_that_is_not_an_interface_language_is_refused(
    world: dict[str, Any], code: str
) -> None:
    from django.conf import settings
    from django.utils.html import escape

    from frailtrial.edc.models import AuditEntry

    role = "outcome_assessor"
    c = client(world, role)
    before = (AuditEntry.objects.count(), _kept(world, role))
    r = c.post("/language/", {"language": code, "next": "/dashboard/"})
    assert r.status_code == 400
    assert settings.LANGUAGE_COOKIE_NAME not in r.cookies  # nothing kept on this browser
    assert (AuditEntry.objects.count(), _kept(world, role)) == before  # nor on the account
    message = r.content.decode().split('role="alert">')[1].split("</p>")[0]
    assert message == escape(f"Language {code!r} is not one of en, zh-hans; nothing was changed.")
    # not logged in (the login page has the switcher): refused the same way
    from django.test import Client

    assert Client().post("/language/", {"language": code}).status_code == 400


def test_the_service_refuses_a_bad_code_in_one_line(world: dict[str, Any]) -> None:
    from frailtrial.edc.services import people
    from frailtrial.errors import InputError

    with pytest.raises(InputError, match=r"^language 'xx' is not one of en, zh-hans$"):
        people.choose_language(world["m"]["coordinator"], "xx")


def test_without_a_kept_language_the_browser_choice_stays(world: dict[str, Any]) -> None:
    """Chosen on the login page (not logged in): only this browser's cookie; logging in with
    an account that kept no language leaves it."""
    from django.conf import settings
    from django.test import Client

    c = Client()
    assert c.post("/language/", {"language": "zh-hans", "next": "/login/"}).status_code == 302
    assert _kept(world, "unblinded_pharmacist") == [""]  # nobody was logged in: nothing kept
    r = c.post(
        "/login/",
        {"username": world["m"]["unblinded_pharmacist"].user.username, "password": PASSWORD},
    )
    assert settings.LANGUAGE_COOKIE_NAME not in r.cookies  # the cookie is left as it is
    c.get("/choose/")
    assert '<html lang="zh-Hans">' in c.get("/dashboard/").content.decode()


def test_a_new_role_of_the_user_takes_the_kept_language(world: dict[str, Any]) -> None:
    from frailtrial.edc.services import people, trials

    m = world["m"]["statistician"]
    people.choose_language(m, "zh-hans")
    added = trials.add_member(world["trial"], m.user.username, "monitor")
    assert added.language == "zh-hans"
    assert people.account_language(m.user) == "zh-hans"
