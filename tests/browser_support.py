"""Shared helpers of the browser tests: Debian's Chromium, a served store, a person's context.

The ``browser`` fixture itself lives in conftest.py (no test file imports a fixture).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

# the marks of every browser test file: ``pytestmark = BROWSER``
BROWSER = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium (/usr/bin/chromium) "
        "is not installed; scripts/system-deps.sh installs it",
    ),
]


def with_passwords(t: dict[str, Any]) -> dict[str, Any]:
    """``t`` with web_support.PASSWORD set for every role's member (to log in through a form)."""
    from web_support import PASSWORD

    for m in t["m"].values():
        m.user.set_password(PASSWORD)
        m.user.save()
    return t


@contextmanager
def served(url: str, data_dir: Path) -> Iterator[str]:
    """``frailtrial serve`` of the store at ``url`` (made by web_support.web_store) while the
    block runs; yields its base URL. The test process's connections are closed first (the
    server opens its own)."""
    from django.db import connections

    from web_support import start_server

    connections.close_all()
    proc, port = start_server(url, data_dir, workers=1, threads=4)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def no_arm(text: str, t: dict[str, Any]) -> None:
    """Fail if ``text`` names one of the trial's arms (by name or label)."""
    for arm in t["protocol"].arms:
        assert not re.search(rf"\b({arm.name}|{arm.label})\b", text, re.IGNORECASE), arm.name


def log_in(page: Any, base: str, username: str, password: str) -> None:
    """Log in through the login form; the dashboard opens."""
    page.goto(base + "/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/dashboard/$"))


class Person:
    """One person's browser context (a tablet's viewport). Screenshots go to
    test-artifacts/``folder``/; with ``blind_to`` (a trial dict) every page text read and every
    page shot is checked for the trial's arm names."""

    def __init__(
        self, browser: Any, base: str, folder: str, blind_to: dict[str, Any] | None = None
    ) -> None:
        self.base, self.artifacts, self.blind_to = base, ARTIFACTS / folder, blind_to
        self.ctx = browser.new_context(
            viewport={"width": 1024, "height": 1366}, accept_downloads=True
        )
        self.page = self.ctx.new_page()

    def login(self, username: str, password: str) -> Person:
        log_in(self.page, self.base, username, password)
        return self

    def go(self, path: str) -> Any:
        """The response of opening ``path`` (its status for refusals)."""
        return self.page.goto(self.base + path)

    def shot(self, name: str) -> None:
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(self.artifacts / f"{name}.png"), full_page=True)
        if self.blind_to is not None:
            self.text()

    def text(self) -> str:
        body = str(self.page.inner_text("body"))
        if self.blind_to is not None:
            no_arm(body, self.blind_to)
        return body

    def close(self) -> None:
        self.ctx.close()


def invite(admin: Person, username: str, first: str, last: str, role: str, site: str) -> str:
    """The one-time link of a person the admin invites on the people page."""
    page = admin.page
    admin.go("/people/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill(last)
    page.get_by_label("Role", exact=True).select_option(role)
    page.get_by_label("Site (roles limited to one site)").select_option(site)
    page.get_by_role("button", name="Invite").click()
    return str(page.locator("#invite-link").inner_text()).strip()


def report_sae(person: Person, pid: str, coded: dict[str, str] | None = None) -> Any:
    """The person reports a severe pneumonia with hospitalization (an SAE) on the AE form,
    with the coded terms ``coded`` (label -> value) if given; the alert is raised and the SAE
    is open. Returns the page (on the SAE's report)."""
    page = person.page
    person.go(f"/participants/{pid}/ae/")
    page.get_by_label("Term", exact=True).fill("Pneumonia")
    page.get_by_label("Body system").fill("Infections and infestations")
    page.get_by_label("Severity").select_option("severe")
    page.get_by_label("Causality (relation to study product)").select_option("unlikely")
    page.get_by_label("Expectedness").select_option("unexpected")
    for label, value in (coded or {}).items():
        page.get_by_label(label).fill(value)
    page.get_by_label("Outcome").select_option("recovering")
    page.get_by_label("hospitalization").check()
    page.get_by_role("button", name="Save adverse event").click()
    assert "SAE alert raised" in person.text()
    assert page.locator("#sae-state").inner_text() == "open"
    return page
