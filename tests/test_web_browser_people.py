"""Playwright drives Debian's Chromium through a two-site trial with named users.

The admin adds a site and invites a coordinator at site B and an investigator at site A;
each sets a password through the one-time link; the site-B coordinator cannot see site A's
participant; the investigator signs the casebook; a CRF correction invalidates the
signature; the admin deactivates the site-B coordinator, whose open session ends.
Screenshots go to test-artifacts/web-people/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from browser_support import BROWSER, Person, invite, served

NEW_PASSWORDS = {"coord-b": "amber-lantern-river-58", "inv-a": "quartz-meadow-signal-73"}

pytestmark = BROWSER


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A trial with two sites, one participant at site A (a visit held, a CRF), served."""
    from web_support import PASSWORD, trial_with_data, web_store

    tmp = tmp_path_factory.mktemp("web-people")
    url = web_store(tmp)  # Django is set up: its models can be imported
    from frailtrial.edc.models import Participant

    t = trial_with_data()
    site_a = Participant.objects.get(trial=t["trial"], participant_id=t["pid"]).site.code
    with served(url, tmp) as base:
        yield {"base": base, "t": t, "password": PASSWORD, "site_a": site_a}


def test_two_sites_named_users_and_signature(server: dict[str, Any], browser: Any) -> None:
    t, base, pid = server["t"], server["base"], server["t"]["pid"]

    # the admin adds a site and invites two named people at two sites
    admin = Person(browser, base, "web-people")
    admin.login(t["m"]["admin"].user.username, server["password"])
    admin.go("/people/")
    admin.page.get_by_label("Site name").fill("North Clinic")
    admin.page.get_by_label("Site code").fill("NC")
    admin.page.get_by_role("button", name="Add site").click()
    assert "NC · North Clinic" in admin.text()
    link_b = invite(admin, "coord-b", "Bea", "Brown", "coordinator", "OTH")
    link_a = invite(admin, "inv-a", "Ada", "Archer", "investigator", server["site_a"])
    admin.shot("01-people-invited")
    assert "invited" in admin.text()

    # each sets a password through the link; the link then no longer works
    people = {}
    for username, link in (("coord-b", link_b), ("inv-a", link_a)):
        p = Person(browser, base, "web-people")
        p.page.goto(link)
        p.page.get_by_label("New password").fill("short")
        p.page.get_by_label("Again").fill("short")
        p.page.get_by_role("button", name="Set password").click()
        assert "password refused" in p.text()
        p.page.get_by_label("New password").fill(NEW_PASSWORDS[username])
        p.page.get_by_label("Again").fill(NEW_PASSWORDS[username])
        if username == "inv-a":
            p.shot("02-invitation-set-password")
        p.page.get_by_role("button", name="Set password").click()
        p.page.wait_for_url(re.compile(r".*/login/$"))
        assert p.page.goto(link).status == 404
        p.login(username, NEW_PASSWORDS[username])
        people[username] = p

    # the site-B coordinator sees no site-A participant, and guessing the URL is refused
    b = people["coord-b"]
    b.go("/participants/")
    assert pid not in b.text()
    b.shot("03-site-b-participants")
    assert b.go(f"/participants/{pid}/").status == 403
    assert b.go(f"/participants/{pid}/visits/week1/crf/tug/").status == 403
    b.shot("04-site-b-refused")

    # the site-A investigator signs the casebook: meaning shown, password re-entered
    a = people["inv-a"]
    a.go(f"/participants/{pid}/")
    assert "Not signed." in a.text()
    a.page.get_by_role("link", name="Sign casebook…").click()
    assert "I have reviewed this casebook" in a.text() and "Ada Archer" in a.text()
    a.page.get_by_label("Your password (to sign)").fill("not-my-password-1")
    a.page.get_by_role("button", name="Sign casebook").click()
    assert "the casebook was not signed" in a.text()
    a.page.get_by_label("Your password (to sign)").fill(NEW_PASSWORDS["inv-a"])
    a.shot("05-sign-casebook")
    a.page.get_by_role("button", name="Sign casebook").click()
    a.page.wait_for_url(re.compile(rf".*/participants/{pid}/$"))
    sig = a.page.locator("#signatures")
    assert "Signed by Ada Archer (inv-a)" in sig.inner_text()
    a.shot("06-casebook-signed")

    # a correction of a CRF afterwards invalidates the signature
    a.go(f"/participants/{pid}/visits/week1/crf/tug/")
    a.page.get_by_label("Timed Up and Go (s)").fill("13.1")
    a.page.get_by_label("Reason for change").fill("transcription error")
    a.page.get_by_role("button", name="Save change", exact=True).click()
    assert "Timed Up and Go saved" in a.text()
    a.go(f"/participants/{pid}/")
    text = a.page.locator("#signatures").inner_text()
    assert "Signature invalidated by a later edit" in text and "inv-a" in text
    a.shot("07-signature-invalidated")

    # the admin deactivates the site-B coordinator: their open session ends
    admin.go("/people/")
    admin.page.get_by_label("Reason to deactivate coord-b").fill("left the trial")
    admin.page.get_by_role("button", name="Deactivate coord-b").click()
    assert "Account coord-b deactivated." in admin.text()
    admin.shot("08-deactivated")
    b.go("/participants/")
    assert b.page.url.startswith(base + "/login/")
    b.page.get_by_label("User name").fill("coord-b")
    b.page.get_by_label("Password").fill(NEW_PASSWORDS["coord-b"])
    b.page.get_by_role("button", name="Log in").click()
    assert "User name or password is wrong." in b.text()
    for p in (admin, a, b):
        p.ctx.close()
