"""Playwright drives Debian's Chromium through a two-site trial with named users (issue 15).

One test, in the order a site lives it: the admin adds site B and invites named people at
sites A and B, who set their passwords through the links; the site-B coordinator cannot open
site A's participant; at site A the coordinator enters cytokines (one below the LLOQ) and
laboratory values, saves an incomplete SF-36, corrects a value with a reason and reads the
field-level audit; reports an SAE that the medical monitor acknowledges within 24 h; the
investigator signs the casebook and a later edit invalidates the signature; the admin's lock
is refused by the pre-lock checklist, then accepted with a reason per item; after the lock
no entry form is shown. No page a blinded role visits names an arm.
Screenshots go to test-artifacts/web-trial/.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest

from browser_support import BROWSER, Person, invite, report_sae, served, with_passwords

NEW_PASSWORDS = {
    "coord-a": "cedar-harbour-ledger-41",
    "inv-a": "quartz-meadow-signal-73",
    "coord-b": "amber-lantern-river-58",
}

pytestmark = BROWSER


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A one-site trial (role accounts with passwords), one participant randomized, dosed and
    seen at baseline, served by ``frailtrial serve``."""
    from web_support import web_store

    tmp = tmp_path_factory.mktemp("web-trial")
    url = web_store(tmp)  # Django is set up: its models can be imported
    from edc_support import dose_first, enroll, new_trial
    from frailtrial.edc.models import Participant, Site
    from frailtrial.edc.services import visits

    t = with_passwords(new_trial())
    assert Site.objects.filter(trial=t["trial"]).count() == 1  # site B is added in the browser
    pid = enroll(t, "TRI-001").participant_id
    dose_first(t, pid)
    visits.attend(t["m"]["coordinator"], pid, "baseline", dt.date(2024, 3, 4))
    site_a = Participant.objects.get(trial=t["trial"], participant_id=pid).site.code
    with served(url, tmp) as base:
        yield {"base": base, "t": t, "pid": pid, "site_a": site_a}


def person(browser: Any, server: dict[str, Any]) -> Person:
    """One named person's browser context, checked for arm leaks on every page read (no one
    in this test is unblinded)."""
    return Person(browser, server["base"], "web-trial", blind_to=server["t"])


def test_two_site_trial_end_to_end(server: dict[str, Any], browser: Any) -> None:
    from web_support import PASSWORD

    t, pid, site_a = server["t"], server["pid"], server["site_a"]
    crf = f"/participants/{pid}/visits/baseline/crf"

    # 1. the admin adds site B and invites named people at both sites
    admin = person(browser, server).login(t["m"]["admin"].user.username, PASSWORD)
    admin.go("/people/")
    admin.page.get_by_label("Site name").fill("North Clinic")
    admin.page.get_by_label("Site code").fill("NC")
    admin.page.get_by_role("button", name="Add site").click()
    assert "NC · North Clinic" in admin.text()
    links = {
        "coord-a": invite(admin, "coord-a", "Cara", "Avery", "coordinator", site_a),
        "inv-a": invite(admin, "inv-a", "Ada", "Archer", "investigator", site_a),
        "coord-b": invite(admin, "coord-b", "Bea", "Brown", "coordinator", "NC"),
    }
    members = admin.page.locator("table").first.inner_text()
    for username in links:
        assert re.search(rf"{username}\t.*\tinvited", members), members
    admin.shot("01-people-invited")

    # 2. each sets a password through the one-time link and logs in
    people: dict[str, Person] = {}
    for username, link in links.items():
        p = person(browser, server)
        p.page.goto(link)
        p.page.get_by_label("New password").fill(NEW_PASSWORDS[username])
        p.page.get_by_label("Again").fill(NEW_PASSWORDS[username])
        if username == "coord-a":
            p.shot("02-invitation-set-password")
        p.page.get_by_role("button", name="Set password").click()
        p.page.wait_for_url(re.compile(r".*/login/$"))
        assert p.page.goto(link).status == 404  # the link worked once
        people[username] = p.login(username, NEW_PASSWORDS[username])
    coord, inv, coord_b = people["coord-a"], people["inv-a"], people["coord-b"]

    # 3. the site-B coordinator sees no site-A participant; guessing the URLs is refused
    coord_b.go("/participants/")
    assert pid not in coord_b.text()
    coord_b.shot("03-site-b-participants")
    assert coord_b.go(f"/participants/{pid}/").status == 403
    assert coord_b.go(f"{crf}/edta_plasma_cytokines/").status == 403
    coord_b.shot("04-site-b-refused")

    # 4. at site A the coordinator enters the cytokines, one below the LLOQ
    page = coord.page
    coord.go("/participants/")
    assert pid in coord.text()
    coord.go(f"{crf}/edta_plasma_cytokines/")
    assert "Laboratory: IL-8, IL-17, IFN-γ, TNF-α" in coord.text()
    page.get_by_label("Sample date").fill("2024-03-04")
    for name, value in (("IL-8", "12.5"), ("IFN-γ", "3.1"), ("TNF-α", "7.25")):
        page.get_by_label(f"{name}: Measured concentration (pg/mL)").fill(value)
    for name in ("IL-8", "IL-17", "IFN-γ", "TNF-α"):
        page.get_by_label(f"{name}: Assay lower limit of quantification (pg/mL)").fill("2")
    page.get_by_label("IL-17: Laboratory reported the sample below the LLOQ").select_option("yes")
    page.get_by_role("button", name="Save", exact=True).click()
    assert page.locator("#crf-state").inner_text() == "Complete"
    scores = page.locator("#scores").inner_text()
    # the value below the LLOQ is LLOQ/2 = 1 by the protocol's rule
    assert re.search(r"IL-17\s+1(\.0)?\s+IL-17 below LLOQ\s+yes", scores), scores
    coord.shot("05-cytokines-entered")

    # ... and laboratory values: a partial panel is incomplete
    coord.go(f"{crf}/baseline_laboratory/")
    page.get_by_label("Hemoglobin (g/L)").fill("128")
    page.get_by_label("White blood cell count (10⁹/L)").fill("6.1")
    page.get_by_role("button", name="Save", exact=True).click()
    assert "saved" in coord.text()
    assert page.locator("#crf-state").inner_text() == "Incomplete"
    coord.shot("06-baseline-labs")

    # 5. an SF-36 with 3 of 36 items is incomplete, with its missing items listed
    coord.go(f"{crf}/sf36/")
    page.locator("#id_item_1").select_option(label="2 — Very good")  # RAND-36 wording
    page.locator("#id_item_3a").select_option("1")
    page.locator("#id_item_3b").select_option("2")
    page.get_by_role("button", name="Save", exact=True).click()
    assert page.locator("#crf-state").inner_text() == "Incomplete"
    assert "Required items still empty (33)" in coord.text()
    assert page.locator(".missing-items li").count() == 33
    coord.shot("07-sf36-incomplete")
    coord.go(f"/participants/{pid}/")
    text = coord.text()
    assert "SF-36 Health Survey (incomplete)" in text
    coord.shot("08-participant-forms-state")

    # 6. a correction with its reason; the field-level audit shows old -> new, who, when, why
    coord.go(f"{crf}/edta_plasma_cytokines/")
    page.get_by_label("IL-8: Measured concentration (pg/mL)").fill("13")
    page.get_by_role("button", name="Save change", exact=True).click()
    # a change without its reason is refused: the saved version stays 1
    reason = page.locator(".field.invalid", has=page.get_by_label("Reason for change"))
    assert "This field is required." in reason.inner_text()
    assert "version 1," in page.locator("#scores").inner_text()
    page.get_by_label("IL-8: Measured concentration (pg/mL)").fill("13")
    page.get_by_label("Reason for change").fill("transcription error, lab report says 13")
    page.get_by_role("button", name="Save change", exact=True).click()
    page.get_by_role("link", name="Audit trail").click()
    row = page.locator("#field-audit tr", has_text="answers.il8__value").last
    cells = row.locator("td").all_inner_texts()
    assert cells[5:] == ["12.5", "13.0", "transcription error, lab report says 13"], cells
    assert "coord-a" in cells[2]
    assert re.search(rf"{dt.datetime.now(dt.UTC).date():%Y-%m-%d}", " ".join(cells[:2])), cells
    coord.shot("09-field-level-audit")

    # 7. the coordinator reports an SAE; the medical monitor acknowledges it within 24 h
    report_sae(coord, pid)
    report_url = page.url
    coord.shot("10-sae-reported")

    monitor = person(browser, server).login(t["m"]["medical_monitor"].user.username, PASSWORD)
    monitor.go("/dashboard/")
    assert "SAE reported for" in monitor.text()
    monitor.page.get_by_role("link", name=re.compile("Pneumonia")).first.click()
    assert monitor.page.url == report_url
    monitor.page.get_by_label("Acknowledgement note").fill("forwarded to the sponsor")
    monitor.page.get_by_role("button", name="Acknowledge SAE").click()
    assert "SAE acknowledged." in monitor.text()
    assert monitor.page.locator("#sae-state").inner_text() == "acknowledged"  # within 24 h
    monitor.shot("11-sae-acknowledged")

    # 8. the investigator signs the casebook (meaning shown, password re-entered)
    inv.go(f"/participants/{pid}/")
    assert "Not signed." in inv.text()
    inv.page.get_by_role("link", name="Sign casebook…").click()
    assert "I have reviewed this casebook" in inv.text() and "Ada Archer" in inv.text()
    inv.page.get_by_label("Your password (to sign)").fill("not-my-password-1")
    inv.page.get_by_role("button", name="Sign casebook").click()
    assert "the casebook was not signed" in inv.text()
    inv.page.get_by_label("Your password (to sign)").fill(NEW_PASSWORDS["inv-a"])
    inv.shot("12-sign-casebook")
    inv.page.get_by_role("button", name="Sign casebook").click()
    inv.page.wait_for_url(re.compile(rf".*/participants/{pid}/$"))
    signed = inv.page.locator("#signatures").inner_text()
    assert "Signed by Ada Archer (inv-a)" in signed and "I have reviewed" in signed
    inv.shot("13-casebook-signed")

    # ... and a later edit by the coordinator invalidates the signature
    coord.go(f"{crf}/baseline_laboratory/")
    page.get_by_label("Hemoglobin (g/L)").fill("126")
    page.get_by_label("Reason for change").fill("repeat sample, same day")
    page.get_by_role("button", name="Save change", exact=True).click()
    assert "saved" in coord.text()
    inv.go(f"/participants/{pid}/")
    text = inv.page.locator("#signatures").inner_text()
    assert "Signature invalidated by a later edit" in text and "inv-a" in text, text
    assert "Sign casebook…" in inv.text()  # it can be signed again
    inv.shot("14-signature-invalidated")

    # 9. the admin's lock is refused by the pre-lock checklist, then accepted item by item
    page = admin.page
    admin.go("/lock/")
    assert "block the lock" in page.locator("#checklist-status").inner_text()
    checklist = page.locator("#checklist").inner_text()
    for form in ("SF-36 Health Survey", "Laboratory"):  # the incomplete forms block the lock
        assert f"CRF incomplete: {pid}, Baseline, {form} (empty: " in checklist, checklist
    assert "SAE" not in checklist, checklist  # the SAE was acknowledged
    admin.shot("15-lock-checklist")
    page.get_by_label("Reason", exact=True).fill("end of the trial")
    page.get_by_label(re.compile("I have reviewed the pre-lock checklist")).check()
    page.get_by_role("button", name="Lock the database").click()
    assert "lock refused" in admin.text()
    admin.shot("16-lock-refused")
    fields = page.locator("#checklist input[name^=accept__]")
    assert fields.count() >= 2  # the incomplete SF-36 and laboratory panel at least
    for i in range(fields.count()):
        fields.nth(i).fill("not collected at this site; accepted by the sponsor")
    page.get_by_label("Reason", exact=True).fill("end of the trial")
    page.get_by_label(re.compile("I have reviewed the pre-lock checklist")).check()
    page.get_by_role("button", name="Lock the database").click()
    assert "Database locked." in admin.text()
    admin.shot("17-locked")

    # 10. after the lock no entry form is shown, on a saved form or an empty one
    coord.go(f"{crf}/sf36/")
    assert "The database is locked: this form can no longer change." in coord.text()
    assert coord.page.get_by_role("button", name=re.compile("^Save")).count() == 0
    assert coord.page.locator("#id_item_1").count() == 0
    coord.shot("18-locked-crf")
    coord.go(f"{crf}/eq5d5l/")
    assert "The database is locked: this form can no longer change." in coord.text()
    assert coord.page.get_by_role("button", name=re.compile("^Save")).count() == 0
    assert coord.page.locator("form input[name^=item_]").count() == 0
    coord.go(f"/participants/{pid}/")
    text = coord.text()
    assert "The database is locked: records can no longer change." in text
    assert "Report an adverse event" not in text and "Record an infusion" not in text
    coord.shot("19-locked-participant")
    coord.go(f"/participants/{pid}/ae/")
    assert "The database is locked." in coord.text()
    for p in (admin, monitor, *people.values()):
        p.ctx.close()
