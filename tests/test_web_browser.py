"""Playwright drives Debian's Chromium through a whole participant on a live server.

screen -> consent -> randomize -> dose (pharmacy) -> infusion -> visit with CRFs -> AE ->
export, each role in its own browser context, against ``frailtrial serve`` (gunicorn) on
127.0.0.1. Screenshots go to test-artifacts/web/.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import urllib.request
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from browser_support import ARTIFACTS, BROWSER, Person, no_arm, report_sae, served, with_passwords

pytestmark = BROWSER


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A trial (members with passwords, an imported list) served by `frailtrial serve`."""
    from web_support import PASSWORD, web_store

    tmp = tmp_path_factory.mktemp("web-browser")
    url = web_store(tmp)  # Django is set up: its models and the app's modules can be imported
    from edc_support import new_trial
    from frailtrial.web.security import issue_token

    t = with_passwords(new_trial())
    token = issue_token(t["m"]["unblinded_pharmacist"])
    with served(url, tmp) as base:
        yield {"base": base, "t": t, "password": PASSWORD, "pharmacist_token": token}


class Session(Person):
    """One role's browser context, logged in; ``go`` returns the page."""

    def __init__(self, browser: Any, server: dict[str, Any], role: str) -> None:
        super().__init__(browser, server["base"], "web")
        self.login(server["t"]["m"][role].user.username, server["password"])

    def go(self, path: str) -> Any:
        super().go(path)
        return self.page


def test_whole_participant(server: dict[str, Any], browser: Any) -> None:
    from playwright.sync_api import expect

    t = server["t"]
    today = dt.datetime.now(dt.UTC).date()

    # screening with the live criteria check, consent, randomization (coordinator, blinded)
    coord = Session(browser, server, "coordinator")
    page = coord.go("/screening/new/")
    page.get_by_label("Screening ID").fill("WEB-001")
    page.get_by_label("Age (years)").fill("91")
    page.get_by_label("Height (cm)").fill("160")
    page.get_by_label("Weight (kg)").fill("62")
    page.get_by_label(re.compile("fried score")).fill("2")
    expect(page.locator("#criteria-reasons")).to_contain_text("age 91")
    coord.shot("01-screening-ineligible-live")
    page.get_by_label("Age (years)").fill("72")
    for box in page.locator("input[name^=inc__]").all():
        box.check()
    expect(page.locator("#criteria-status")).to_have_text("All criteria met: eligible.")
    coord.shot("02-screening-eligible-live")
    page.get_by_role("button", name="Save screening").click()
    assert "eligible." in coord.text()
    page.get_by_label("Consent form version").fill("2.1")
    page.get_by_role("button", name="Record consent").click()
    assert "Consent recorded" in coord.text()
    page.get_by_role("link", name="Randomize…").click()
    coord.shot("03-randomize-confirm")
    page.get_by_role("button", name="Yes, randomize now").click()
    pid = page.locator("#participant-id").inner_text()
    number = page.locator("#randomization-number").inner_text()
    coord.shot("04-randomized-blinded")
    no_arm(coord.text(), t)

    # pharmacy: release lots (one failing), calculate and prepare dose 1 (unblinded)
    pharm = Session(browser, server, "unblinded_pharmacist")
    page = pharm.go("/pharmacy/")

    def lot(number_: str, product: str, placebo: bool, endotoxin: str) -> None:
        page.get_by_label("Lot number").fill(number_)
        page.get_by_label("Product").fill(product)
        if placebo:
            page.get_by_label("Placebo lot").check()
        page.get_by_label("Sterility").select_option("negative")
        page.get_by_label("Endotoxin (EU/mL)").fill(endotoxin)
        if not placebo:
            page.get_by_label("Cells per mL").fill("1000000")
            page.get_by_label("Mycoplasma").select_option("negative")
            for label, value in [
                ("Viability (%)", "93"),
                ("CD73 (%)", "99"),
                ("CD90 (%)", "99"),
                ("CD105 (%)", "98"),
                ("CD34 (%)", "0.5"),
                ("CD45 (%)", "0.4"),
                ("CD14 (%)", "0.3"),
                ("CD19 (%)", "0.2"),
                ("HLA-DR (%)", "0.6"),
            ]:
                page.get_by_label(label, exact=True).fill(value)
        page.get_by_role("button", name="Record lot").click()

    lot("MSC-BAD", "HUC-MSC", False, "2.0")
    assert "failed release" in pharm.text()
    lot("MSC-01", "HUC-MSC", False, "0.1")
    lot("PBO-01", "saline", True, "0.05")
    pharm.shot("05-pharmacy-lots")
    request = urllib.request.Request(
        server["base"] + "/api/participants",
        headers={"Authorization": f"Bearer {server['pharmacist_token']}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        arm = {p["participant_id"]: p["arm"] for p in json.load(answer)}[pid]
    page.get_by_label("Participant").select_option(pid)
    page.get_by_label("Released lot").select_option(
        "PBO-01" if arm == t["protocol"].control_arm.name else "MSC-01"
    )
    page.get_by_label("Weight at this visit (kg)").fill("62")
    page.get_by_role("button", name="Calculate and prepare").click()
    message = pharm.text()
    kit = re.search(r"kit (KIT-[0-9A-F]+)", message)
    assert kit, message
    if arm != t["protocol"].control_arm.name:
        assert "6.2e+07 cells" in message  # 1e6 cells/kg x 62 kg
        assert "draw 62 mL of lot MSC-01, add 38 mL vehicle, 100 mL in the bag" in message
    else:
        assert "draw 100 mL of lot PBO-01, add 0 mL vehicle, 100 mL in the bag" in message
    pharm.shot("06-pharmacy-prepared")

    # infusion, visit held, CRFs with validation and scores, AE (coordinator)
    page = coord.go(f"/participants/{pid}/")
    page.get_by_label("Kit code on the bag").fill(kit.group(1))
    # an infusion today that has ended (times in the future are refused)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, second=0, microsecond=0)
    start = max(dt.datetime.combine(today, dt.time(0, 0)), now - dt.timedelta(minutes=50))
    end = min(start + dt.timedelta(minutes=45), now)
    page.get_by_label("Start").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("End").fill(end.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Volume infused (mL)").fill("100")
    page.get_by_role("button", name="Save infusion").click()
    assert "Saved." in coord.text()
    # held today, before its window: the deviation reason is asked for
    page.get_by_role("button", name="Record 1 week as held").click()
    assert "outside its window" in coord.text() and "give the deviation reason" in coord.text()
    page.get_by_label("Deviation reason if 1 week is outside its window").fill("seen early")
    page.get_by_role("button", name="Record 1 week as held").click()
    assert "Saved." in coord.text()
    coord.shot("07-participant-schedule")
    page = coord.go(f"/participants/{pid}/visits/week1/crf/tug/")
    page.get_by_label("Timed Up and Go (s)").fill("-3")
    page.get_by_role("button", name="Save", exact=True).click()
    assert "Not allowed: expected a number from 1 to 600" in coord.text()
    coord.shot("08-crf-validation")
    page.get_by_label("Timed Up and Go (s)").fill("12.4")
    page.get_by_role("button", name="Save", exact=True).click()
    assert "Timed Up and Go saved" in coord.text()
    assert page.locator("#scores").inner_text().count("12.4") >= 1
    coord.shot("09-crf-scores")
    page = coord.go(f"/participants/{pid}/visits/week1/crf/eq5d5l/")
    for label, value in [
        ("mobility", "2"),
        ("self-care", "1"),
        ("usual activities", "2"),
        ("pain / discomfort", "3"),
        ("anxiety / depression", "1"),
        ("EQ VAS, own health today", "70"),
    ]:
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Save", exact=True).click()
    assert "EQ-5D-5L saved" in coord.text()
    page = coord.go(f"/participants/{pid}/ae/")
    page.get_by_label("Term", exact=True).fill("Pneumonia")
    page.get_by_label("Body system").fill("Infections and infestations")
    page.get_by_label("Severity").select_option("severe")
    page.get_by_label("Outcome").select_option("recovered")
    page.get_by_label("hospitalization").check()
    page.get_by_role("button", name="Save adverse event").click()
    assert "SAE alert raised" in coord.text()
    page = coord.go("/dashboard/")
    assert "Pneumonia" in coord.text()
    coord.shot("10-dashboard-sae")
    page = coord.go(f"/participants/{pid}/")
    text = coord.text()
    assert number in text and kit.group(1) in text
    no_arm(text, t)

    # export downloaded by the statistician (blinded before lock: no arm in the files)
    stat = Session(browser, server, "statistician")
    page = stat.go("/exports/")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download export (zip)").click()
    data = Path(info.value.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert "participants.csv" in names
        participants = zf.read("participants.csv").decode()
    assert pid in participants
    no_arm(participants, t)
    stat.shot("11-exports")

    # the API documentation renders from the bundled Swagger UI (no CDN, strict CSP)
    page = stat.go("/api/docs")
    expect(page.locator(".swagger-ui .info")).to_contain_text("frailtrial EDC API")
    stat.shot("12-api-docs")
    for s in (coord, pharm, stat):
        s.close()


def test_sae_acknowledged_in_time_and_lock_refused_then_accepted(
    server: dict[str, Any], browser: Any
) -> None:
    """A second trial in the served store (it is locked at the end, the first stays open):
    the coordinator reports an SAE, the medical monitor acknowledges it within 24 h on the
    printable SAE report; the admin's lock is refused by the checklist, then accepted with
    a reason per item."""
    from concurrent.futures import ThreadPoolExecutor

    def make_trial() -> tuple[dict[str, Any], str]:
        """Outside Playwright's event loop (Django refuses the ORM inside one)."""
        from django.db import connections

        from edc_support import dose_first, enroll, new_trial
        from frailtrial.edc.services import crf, visits
        from web_support import PASSWORD

        t = new_trial()
        for m in t["m"].values():
            m.user.set_password(PASSWORD)
            m.user.save()
        pid = enroll(t, "SAE-01").participant_id
        dose_first(t, pid)
        coord_m = t["m"]["coordinator"]
        visits.attend(coord_m, pid, "week1", dt.date(2024, 3, 12))
        crf.enter_crf(coord_m, pid, "week1", "tug", {"tug_s": 11.5})
        connections.close_all()
        return t, pid

    with ThreadPoolExecutor(1) as pool:
        t, pid = pool.submit(make_trial).result()
    second = {**server, "t": t}

    coord = Session(browser, second, "coordinator")
    coded = {
        "System organ class (coded)": "Infections and infestations",
        "Preferred term (coded)": "Pneumonia",
    }
    page = report_sae(coord, pid, coded)
    page.get_by_label("Follow-up information").fill("discharged home")
    page.get_by_label("Outcome now").select_option("recovered")
    page.get_by_role("button", name="Save follow-up").click()
    assert "Follow-up saved." in coord.text() and "discharged home" in coord.text()
    report_url = page.url
    coord.shot("13-sae-report-site")
    no_arm(coord.text(), t)

    monitor = Session(browser, second, "medical_monitor")
    page = monitor.go("/dashboard/")
    assert "SAE reported for" in monitor.text() and "Pneumonia" in monitor.text()
    page.get_by_role("link", name=re.compile("Pneumonia")).first.click()
    assert page.url == report_url
    page.get_by_label("Acknowledgement note").fill("forwarded to the sponsor")
    page.get_by_role("button", name="Acknowledge SAE").click()
    assert "SAE acknowledged." in monitor.text()
    assert page.locator("#sae-state").inner_text() == "acknowledged"  # within the 24 h
    monitor.shot("14-sae-acknowledged")
    no_arm(monitor.text(), t)

    admin = Session(browser, second, "admin")
    page = admin.go("/lock/")
    assert "block the lock" in page.locator("#checklist-status").inner_text()
    admin.shot("15-lock-checklist")
    page.get_by_label("Reason", exact=True).fill("last participant last visit")
    page.get_by_label(re.compile("I have reviewed the pre-lock checklist")).check()
    page.get_by_role("button", name="Lock the database").click()
    assert "lock refused" in admin.text()
    admin.shot("16-lock-refused")
    fields = page.locator("#checklist input[name^=accept__]")
    assert fields.count() >= 1  # the week 1 CRFs other than the TUG
    for i in range(fields.count()):
        fields.nth(i).fill("form not collected at this visit")
    page.get_by_label("Reason", exact=True).fill("last participant last visit")
    page.get_by_label(re.compile("I have reviewed the pre-lock checklist")).check()
    page.get_by_role("button", name="Lock the database").click()
    assert "Database locked." in admin.text()
    admin.shot("17-locked")
    for s in (coord, monitor, admin):
        s.close()


def test_collect_correct_and_complete(server: dict[str, Any], browser: Any) -> None:
    """Cytokine and laboratory entry, an incomplete CRF shown as incomplete, a correction
    with its field-level audit, and the participant table on a 390 px phone (issue 15)."""
    from edc_support import CELL_TESTS, dose_first, enroll
    from frailtrial.edc.services import visits

    t = server["t"]

    def setup() -> str:  # Django's ORM refuses to run in Playwright's event-loop thread
        from django.db import connections

        from frailtrial.edc.models import Lot
        from frailtrial.edc.services import product

        pharm = t["m"]["unblinded_pharmacist"]
        if not Lot.objects.filter(trial=t["trial"], lot_number="C1").exists():  # dose_first's
            product.record_lot(pharm, "C1", "cells", "2024-02-01", CELL_TESTS, cells_per_ml=5e6)
            tests = {"sterility": "negative", "endotoxin_eu_ml": 0.05}
            product.record_lot(pharm, "P1", "saline", "2024-02-01", tests, is_placebo=True)
        got = enroll(t, "COL-001").participant_id
        dose_first(t, got)
        visits.attend(t["m"]["coordinator"], got, "baseline", dt.date(2024, 3, 4))
        connections.close_all()
        return got

    with ThreadPoolExecutor(1) as pool:
        pid = pool.submit(setup).result()

    coord = Session(browser, server, "coordinator")
    page = coord.go(f"/participants/{pid}/visits/baseline/crf/edta_plasma_cytokines/")
    assert "Laboratory: IL-8, IL-17, IFN-γ, TNF-α" in coord.text()
    page.get_by_label("Sample date").fill("2024-03-04")
    for name, value in (("IL-8", "12.5"), ("IFN-γ", "3.1"), ("TNF-α", "7.25")):
        page.get_by_label(f"{name}: Measured concentration (pg/mL)").fill(value)
    for name in ("IL-8", "IL-17", "IFN-γ", "TNF-α"):
        page.get_by_label(f"{name}: Assay lower limit of quantification (pg/mL)").fill("1")
    page.get_by_label("IL-17: Laboratory reported the sample below the LLOQ").select_option("yes")
    page.get_by_role("button", name="Save", exact=True).click()
    assert page.locator("#crf-state").inner_text() == "Complete"
    scores = page.locator("#scores").inner_text()
    assert "IL-17 below LLOQ" in scores and "0.5" in scores  # LLOQ/2 by the protocol's rule
    coord.shot("21-cytokines-entered")

    page = coord.go(f"/participants/{pid}/visits/baseline/crf/baseline_laboratory/")
    page.get_by_label("Hemoglobin (g/L)").fill("128")
    page.get_by_label("White blood cell count (10⁹/L)").fill("6.1")
    page.get_by_role("button", name="Save", exact=True).click()
    assert page.locator("#crf-state").inner_text() == "Incomplete"
    coord.shot("22-baseline-labs-incomplete")

    page = coord.go(f"/participants/{pid}/visits/baseline/crf/sf36/")
    page.locator("#id_item_1").select_option("2")
    page.locator("#id_item_3a").select_option("1")
    page.locator("#id_item_3b").select_option("2")
    page.get_by_role("button", name="Save", exact=True).click()
    assert page.locator("#crf-state").inner_text() == "Incomplete"
    assert "Required items still empty (33)" in coord.text()
    coord.shot("23-sf36-incomplete")
    coord.go(f"/participants/{pid}/")
    assert "SF-36 Health Survey (incomplete)" in coord.text()
    coord.shot("24-participant-forms-state")

    # a correction of the IL-8 value with its reason, then the field-level audit
    page = coord.go(f"/participants/{pid}/visits/baseline/crf/edta_plasma_cytokines/")
    page.get_by_label("IL-8: Measured concentration (pg/mL)").fill("13")
    page.get_by_label("Reason for change").fill("transcription error, lab report says 13")
    page.get_by_role("button", name="Save change", exact=True).click()
    page.get_by_role("link", name="Audit trail").click()
    row = page.locator("#field-audit tr", has_text="answers.il8__value").last
    cells = row.locator("td").all_inner_texts()
    assert cells[5:] == ["12.5", "13.0", "transcription error, lab report says 13"], cells
    assert t["m"]["coordinator"].user.username in cells[2]
    coord.shot("25-field-level-audit")

    # the visit date corrected from the participant page, audited with the reason
    page = coord.go(f"/participants/{pid}/")
    page.get_by_role("link", name="Correct the date of Baseline").click()
    page.get_by_label("Visit date").fill("2024-03-03")
    page.get_by_label("Reason for the correction").fill("visit was on the 3rd")
    page.get_by_role("button", name="Save correction").click()
    row = page.locator("#field-audit tr", has_text="occurred_on").last
    assert row.locator("td").all_inner_texts()[5:] == [
        "2024-03-04",
        "2024-03-03",
        "visit was on the 3rd",
    ]
    coord.shot("26-visit-correction-audit")

    phone = browser.new_context(viewport={"width": 390, "height": 844})
    mobile = phone.new_page()
    mobile.goto(server["base"] + "/login/")
    mobile.get_by_label("User name").fill(t["m"]["coordinator"].user.username)
    mobile.get_by_label("Password").fill(server["password"])
    mobile.get_by_role("button", name="Log in").click()
    mobile.goto(server["base"] + "/participants/")
    width = mobile.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    (ARTIFACTS / "web").mkdir(parents=True, exist_ok=True)
    mobile.screenshot(path=str(ARTIFACTS / "web" / "27-participants-phone.png"), full_page=True)
    phone.close()
    coord.close()
