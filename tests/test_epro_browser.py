"""Playwright drives Debian's Chromium through participant questionnaires on a live server.

A coordinator opens a kiosk session on the tablet; the participant answers SF-36 (the shipped
RAND-36 wording in English, a supplied made-up wording in zh-hans) and EQ-5D-5L (a made-up
wording file supplied by the test: licensed wording is never shipped), one question per
screen, on a phone (390x844) and a tablet (820x1180), with a reload mid-questionnaire. The
saved scores equal staff entry of the same answers. axe-core runs on every participant page
and the main staff pages: a serious or critical violation fails. Screenshots go to
test-artifacts/epro/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

import browser_support
from axe_support import violations
from browser_support import BROWSER, log_in, served, with_passwords
from epro_support import EQ5D_ANSWERS, SF36_ANSWERS, held_participant, write_wordings

ARTIFACTS = browser_support.ARTIFACTS / "epro"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "tablet": {"width": 820, "height": 1180}}
LANGUAGES = ("en", "zh-hans")
RUNS = [(v, lang) for v in VIEWPORTS for lang in LANGUAGES]

pytestmark = BROWSER


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A trial with one held week-1 visit per run (and one for staff entry), served."""
    from edc_support import new_trial
    from web_support import web_store

    tmp = tmp_path_factory.mktemp("epro-browser")
    url = web_store(tmp)
    t = with_passwords(new_trial())
    pids = {
        run: held_participant(t, f"S-B{i}", "week1", "2024-03-12") for i, run in enumerate(RUNS)
    }
    staff_pid = held_participant(t, "S-STAFF", "week1", "2024-03-12")
    qr_pids = {
        lang: held_participant(t, f"S-QR{i}", "week1", "2024-03-12")
        for i, lang in enumerate(LANGUAGES)
    }
    before = os.environ.get("FRAILTRIAL_WORDING_DIR")
    os.environ["FRAILTRIAL_WORDING_DIR"] = str(write_wordings(tmp / "wording"))
    try:
        with served(url, tmp) as base:
            yield {
                "base": base,
                "t": t,
                "pids": pids,
                "staff_pid": staff_pid,
                "qr_pids": qr_pids,
                "log": tmp / "server.log",
            }
    finally:
        if before is None:
            os.environ.pop("FRAILTRIAL_WORDING_DIR", None)
        else:
            os.environ["FRAILTRIAL_WORDING_DIR"] = before


def _login(page: Any, server: dict[str, Any], role: str) -> None:
    from web_support import PASSWORD

    log_in(page, server["base"], server["t"]["m"][role].user.username, PASSWORD)


class Checked:
    """Screenshots and axe-core on each new kind of page."""

    def __init__(self, page: Any, prefix: str) -> None:
        self.page, self.prefix, self.found = page, prefix, []  # type: list[str]

    def __call__(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{self.prefix}-{name}.png"), full_page=True)
        self.found += violations(self.page)


def _answer(page: Any, instrument: str, answers: dict[str, Any], check: Checked) -> None:
    """One question per screen: pick (or type) each answer, skip the missing ones; reload
    midway and find the answers and the place kept."""
    ids = list(answers)
    half = len(ids) // 2
    for n, item in enumerate(ids, start=1):
        page.wait_for_url(re.compile(rf".*/p/q/{instrument}/{n}/$"))
        value = answers[item]
        if n == 1:
            check(f"{instrument}-first")
        if value is None:
            page.locator("button[value=skip]").click()
            continue
        typed = page.locator("input#answer")
        if typed.count():
            typed.fill(str(value))
            check(f"{instrument}-typed")
        else:
            page.locator(f'label.epro-choice:has(input[value="{value}"])').click()
        page.locator("button[value=next]").click()
        if n == half:  # the tablet sleeps, the page is reloaded: nothing is lost
            page.wait_for_url(re.compile(rf".*/p/q/{instrument}/{n + 1}/$"))
            page.reload()
            check(f"{instrument}-after-reload")
            page.locator("button[value=back]").click()
            page.wait_for_url(re.compile(rf".*/p/q/{instrument}/{n}/$"))
            if value is not None:
                assert page.locator(f'input[value="{value}"]').is_checked()
            page.locator("button[value=next]").click()
    page.wait_for_url(re.compile(rf".*/p/q/{instrument}/review/$"))


@pytest.mark.parametrize(("viewport", "language"), RUNS)
def test_participant_completes_questionnaires(
    server: dict[str, Any],
    browser: Any,
    viewport: str,
    language: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.sync_api import expect

    pid = server["pids"][(viewport, language)]
    ctx = browser.new_context(viewport=VIEWPORTS[viewport], has_touch=True)
    page = ctx.new_page()
    check = Checked(page, f"{viewport}-{language}")
    _login(page, server, "coordinator")
    page.goto(f"{server['base']}/participants/{pid}/visits/week1/epro/")
    check("staff-start")
    page.locator("#id_language").select_option(language)
    page.get_by_role("button", name="Open the questionnaires").click()
    page.wait_for_url(re.compile(r".*/p/start/.*"))
    zh = language == "zh-hans"
    check("open")
    page.get_by_role("button", name="开始答题" if zh else "Begin").click()
    page.wait_for_url(re.compile(r".*/p/$"))
    expect(page.locator("h1")).to_have_text("您的问卷" if zh else "Your questionnaires")
    expect(page.locator("main")).to_contain_text("2024年3月12日" if zh else "2024-03-12")
    check("home")
    # the base font and the touch targets are large enough for older adults
    size = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 20
    page.locator('a[href="/p/q/sf36/"]').click()
    page.wait_for_url(re.compile(r".*/p/q/sf36/1/$"))  # measure the question page, not the list
    sizes = page.evaluate(
        "[...document.querySelectorAll('main button, main a, label.epro-choice, select')]"
        ".map(e => e.getBoundingClientRect().height)"
    )
    assert sizes and min(sizes) >= 44, sizes
    first = page.locator("legend .epro-text").inner_text()
    assert first == ("测试题 1" if zh else "In general, would you say your health is:")
    _answer(page, "sf36", SF36_ANSWERS, check)
    expect(page.locator("main")).to_contain_text("3 题未回答" if zh else "3 questions are not")
    check("sf36-review")
    page.locator("form button.epro-button").click()
    page.wait_for_url(re.compile(r".*/p/$"))
    page.locator('a[href="/p/q/eq5d5l/"]').click()
    _answer(page, "eq5d5l", EQ5D_ANSWERS, check)
    page.locator("form button.epro-button").click()
    page.wait_for_url(re.compile(r".*/p/done/$"))
    check("done")
    page.goto(server["base"] + "/dashboard/")  # the kiosk holds no staff login any more
    page.wait_for_url(re.compile(r".*/login/.*"))
    page.goto(server["base"] + "/p/")
    check("ended")
    ctx.close()
    assert check.found == [], "\n".join(check.found)

    from frailtrial.edc.models import Crf
    from frailtrial.edc.services import crf

    # the store is read here while Playwright's event loop runs in this thread (sync calls)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    staff = server["t"]["m"]["coordinator"]
    for instrument, answers in (("sf36", SF36_ANSWERS), ("eq5d5l", EQ5D_ANSWERS)):
        given = {k: v for k, v in answers.items() if v is not None}
        mine = Crf.objects.get(
            participant__participant_id=pid, visit="week1", instrument=instrument
        )
        assert mine.source == "participant" and mine.answers == given
        entered = Crf.objects.filter(
            participant__participant_id=server["staff_pid"], visit="week1", instrument=instrument
        ).first() or crf.enter_crf(staff, server["staff_pid"], "week1", instrument, given)
        assert mine.scores == entered.scores


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_link_qr_code_opens_the_session_once(
    server: dict[str, Any], browser: Any, language: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The coordinator's page shows the one-time link and its QR code; a screenshot of the
    code decodes (zxing-cpp) to the printed link, which opens the questionnaires once. The
    page has no serious or critical axe-core violation; the server's log holds no token."""
    import io

    import zxingcpp
    from PIL import Image
    from playwright.sync_api import expect

    zh = language == "zh-hans"
    ctx = browser.new_context(viewport=VIEWPORTS["tablet"])
    page = ctx.new_page()
    check = Checked(page, f"qr-{language}")
    _login(page, server, "coordinator")
    ctx.add_cookies([{"name": "django_language", "value": language, "url": server["base"]}])
    page.goto(f"{server['base']}/participants/{server['qr_pids'][language]}/visits/week1/epro/")
    page.locator("input[name=kind][value=link]").check()
    page.locator("#id_language").select_option(language)
    page.locator("main form button[type=submit]").click()
    code = page.locator("#epro-qr svg")
    expect(code).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans" if zh else "en")
    check("link")
    link = page.locator("#epro-link").inner_text().strip()
    assert code.get_attribute("role") == "img"
    named = "一次性问卷链接的二维码，有效期至 " if zh else "QR code of the one-time questionnaire"
    expect(page.get_by_role("img", name=re.compile(re.escape(named)))).to_have_count(1)
    shot = Image.open(io.BytesIO(code.screenshot())).convert("L")
    found = zxingcpp.read_barcodes(shot)
    assert [b.text for b in found] == [link]  # the code a camera sees is the printed link
    ctx.close()

    opened = []
    for _ in range(2):  # the participant's phone, then anyone else with the same code
        phone = browser.new_context(viewport=VIEWPORTS["phone"], has_touch=True)
        p = phone.new_page()
        p.goto(found[0].text)
        p.get_by_role("button", name="开始答题" if zh else "Begin").click()
        p.wait_for_load_state()
        opened.append((p.url.removeprefix(server["base"]), p.locator("main").inner_text()))
        check.page = p
        check(f"redeemed-{len(opened)}")
        phone.close()
    assert opened[0][0] == "/p/" and ("您的问卷" if zh else "Your questionnaires") in opened[0][1]
    refused = "这个问卷链接已失效。" if zh else "This questionnaire link is not valid any more."
    assert opened[1][0].startswith("/p/start/") and refused in opened[1][1]
    assert check.found == [], "\n".join(check.found)
    token = link.rstrip("/").rsplit("/", 1)[1]
    log = server["log"].read_text()
    assert "/p/start/[token]/" in log and token not in log

    from frailtrial.edc.models import AuditEntry, EproSession
    from frailtrial.edc.services import epro

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")  # read while Playwright's loop runs
    s = EproSession.objects.get(digest=epro.digest(token))
    trail = AuditEntry.objects.filter(model="eprosession", object_id=str(s.pk))
    assert [e.action for e in trail.order_by("seq")] == ["create", "redeem"]  # once
    assert all(token not in e.old + e.new for e in trail)


STAFF_PAGES = [
    "/dashboard/",
    "/participants/",
    "/participants/{pid}/",
    "/participants/{pid}/visits/week1/crf/sf36/",
    "/participants/{pid}/visits/week1/epro/",
    "/screening/",
    "/screening/new/",
    "/safety/",
    "/queries/",
    "/account/",
]


def test_staff_pages_have_no_serious_violation(server: dict[str, Any], browser: Any) -> None:
    ctx = browser.new_context(viewport=VIEWPORTS["tablet"])
    page = ctx.new_page()
    page.goto(server["base"] + "/login/")
    found = violations(page)
    _login(page, server, "coordinator")
    pid = server["staff_pid"]
    for path in STAFF_PAGES:
        page.goto(server["base"] + path.format(pid=pid))
        found += violations(page)
    ctx.close()
    assert found == [], "\n".join(found)


def test_axe_check_can_fail(browser: Any) -> None:
    """The check itself: a page with an unnamed button and low-contrast text fails it."""
    page = browser.new_page()
    page.set_content(
        '<html lang="en"><body><main><button></button>'
        '<p style="color:#aaa;background:#fff">faint</p></main></body></html>'
    )
    found = violations(page)
    page.close()
    assert any("button-name (critical)" in f for f in found), found
    assert any("color-contrast (serious)" in f for f in found), found
