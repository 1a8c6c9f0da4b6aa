"""Daily work of issue 15: save and next through a visit's forms, queries that name their
form, a voided AE, the visit calendar, printable CRFs and casebook, the SDV overview."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from web_support import client, trial_with_data, web_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    web_store(tmp_path_factory.mktemp("web-daily"))
    return trial_with_data()


def _version(pid: str, visit: str, instrument: str) -> str:
    from frailtrial.edc.models import Crf

    got = Crf.objects.get(participant__participant_id=pid, visit=visit, instrument=instrument)
    return str(got.version)


def test_save_and_next_opens_the_next_form_not_complete(world: dict[str, Any]) -> None:
    from frailtrial.edc.services import crf

    c, pid = client(world, "coordinator"), world["pid"]
    base = f"/participants/{pid}/visits/week1/crf/"
    assert "Save and next" in c.get(f"{base}sts5/").content.decode()
    r = c.post(f"{base}sts5/", {"action": "save", "item_time_s": "12.5", "next": "1"})
    assert r.status_code == 302 and r["Location"] == f"{base}edta_plasma_cytokines/"
    vitals = {"weight_kg": 60, "systolic_bp": 120, "diastolic_bp": 80, "heart_rate": 70}
    crf.enter_crf(world["m"]["coordinator"], pid, "week1", "vital_signs", vitals)
    form = {"action": "save", "next": "1", "item_sample_date": "2024-03-12"}
    r = c.post(f"{base}edta_plasma_cytokines/", form)  # complete vital signs are skipped
    assert r.status_code == 302 and r["Location"] == f"{base}sf36/"
    r = c.post(
        f"{base}tug/",
        {
            "action": "save",
            "item_tug_s": "11",
            "reason": "typo",
            "version": _version(pid, "week1", "tug"),
        },
    )
    assert r["Location"] == f"{base}tug/"  # a plain save stays on the form


def test_save_and_next_ends_on_the_participant_page(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from frailtrial.edc import collection

    c, pid = client(world, "coordinator"), world["pid"]
    tug = collection.form_at(world["protocol"], "week1", "tug")
    monkeypatch.setattr(collection, "forms_at", lambda *a: [tug])  # the visit's only form
    url = f"/participants/{pid}/visits/week1/crf/tug/"
    r = c.post(
        url,
        {
            "action": "save",
            "item_tug_s": "11.2",
            "reason": "typo",
            "next": "1",
            "version": _version(pid, "week1", "tug"),
        },
    )
    assert r.status_code == 302 and r["Location"] == f"/participants/{pid}/"


def test_queries_name_form_participant_visit_and_link_the_form(world: dict[str, Any]) -> None:
    from frailtrial.edc import collection
    from frailtrial.edc.services import oversight

    pid, crf = world["pid"], world["crf"]
    oversight.raise_query(world["m"]["monitor"], crf.pk, "tug_s", "Is 11.5 s right?")
    tug = collection.form_at(world["protocol"], "week1", "tug")
    link = f'<a href="/participants/{pid}/visits/week1/crf/tug/">{tug.title}</a>'
    for role in ("coordinator", "investigator", "monitor", "admin"):
        page = client(world, role).get("/queries/").content.decode()
        assert link in page and pid in page and "<td>1 week</td>" in page, role
        assert f"crf {crf.pk}" not in page
        assert dict((i.id, i.label) for i in tug.items)["tug_s"] in page


def test_a_voided_ae_leaves_every_count_but_stays_in_the_audit_trail(
    world: dict[str, Any],
) -> None:

    from edc_support import report_sae
    from frailtrial.edc.models import AdverseEvent
    from frailtrial.edc.services import oversight, prelock
    from frailtrial.edc.services.exports.tidy import build

    coord, pid = world["m"]["coordinator"], world["pid"]
    dup = report_sae(coord, pid, "2024-03-20", term="Pneumonia twice")
    counted = sum(oversight.dsmb_report(world["m"]["dsmb"]).counts["aes"].values())
    c = client(world, "coordinator")
    assert "Void this adverse event" in c.get(f"/safety/ae/{dup.pk}/").content.decode()
    url = f"/safety/ae/{dup.pk}/void/"
    c.post(url, {"reason": "", "version": dup.version})  # no reason: refused
    assert AdverseEvent.objects.get(pk=dup.pk).voided_at is None
    assert client(world, "monitor").post(url, {"reason": "x", "version": 1}).status_code == 403
    assert c.post(url, {"reason": "duplicate of the pneumonia", "version": dup.version})
    assert AdverseEvent.objects.get(pk=dup.pk).voided_at is not None

    dsmb = oversight.dsmb_report(world["m"]["dsmb"])
    assert sum(dsmb.counts["aes"].values()) == counted - 1
    terms = set(build(world["trial"], True).dataset.adverse_events["term"])
    assert "Pneumonia" in terms and "Pneumonia twice" not in terms  # Table 2 reads this
    keys = {b.key for b in prelock.blockers(world["m"]["admin"], dt.date(2024, 12, 31))}
    assert f"sae:{world['ae'].pk}" in keys and f"sae:{dup.pk}" not in keys
    assert "Pneumonia twice" not in c.get("/safety/").content.decode()
    assert "(voided: duplicate of the pneumonia)" in c.get(f"/participants/{pid}/").content.decode()
    report = c.get(f"/safety/ae/{dup.pk}/").content.decode()
    assert 'id="ae-voided"' in report and "Void this adverse event" not in report
    trail = c.get(f"/audit/adverseevent/{dup.pk}/").content.decode()
    assert "voided_at" in trail or "Voided" in trail
    assert "duplicate of the pneumonia" in trail


def test_a_void_refused_for_a_long_reason_or_a_bad_version_says_which(
    world: dict[str, Any],
) -> None:
    """Bad input to the void form gets one line naming the field and what is allowed (it
    said 'needs a reason' for a reason given but too long)."""
    from edc_support import report_sae
    from frailtrial.edc.models import AdverseEvent

    dup = report_sae(world["m"]["coordinator"], world["pid"], "2024-03-21", term="Flu twice")
    c = client(world, "coordinator")
    url = f"/safety/ae/{dup.pk}/void/"
    long = c.post(url, {"reason": "x" * 501, "version": dup.version}, follow=True)
    page = long.content.decode()
    assert "Voiding an adverse event needs a reason." not in page
    assert "entered in error" in page and "at most 500 characters (it has 501)" in page
    bad = c.post(url, {"reason": "duplicate", "version": "abc"}, follow=True).content.decode()
    assert "Version: Enter a whole number" in bad
    assert AdverseEvent.objects.get(pk=dup.pk).voided_at is None


def test_visit_calendar_lists_due_and_overdue_visits_of_the_site(world: dict[str, Any]) -> None:
    from frailtrial.edc.models import VisitOccurrence
    from frailtrial.web import overview

    pid = world["pid"]
    planned = VisitOccurrence.objects.filter(participant__participant_id=pid, status="scheduled")
    month2 = planned.get(visit="month2")
    on = month2.window_from
    got = {r["v"].visit: r["state"] for r in overview.calendar(world["m"]["coordinator"], on)}
    assert got["month2"] == "due" and got["month6"] == "upcoming"
    assert got["month1"] == "overdue"  # its window ended before month 2's opened
    assert "week1" not in got  # held
    page = client(world, "coordinator").get("/calendar/").content.decode()
    window = f"{month2.window_from:%Y-%m-%d} – {month2.window_to:%Y-%m-%d}"
    assert pid in page and window in page and ">overdue</span>" in page
    other = client(world, "other_site").get("/calendar/").content.decode()
    assert pid not in other and "No visit to hold." in other


def test_blank_crfs_of_every_form_print_each_item(world: dict[str, Any]) -> None:
    from frailtrial.edc import collection

    c = client(world, "monitor")
    index = c.get("/print/forms/").content.decode()
    protocol = world["protocol"]
    for v in protocol.visits:
        for f in collection.forms_at(protocol, v.name):
            assert f'href="/print/forms/{v.name}/{f.name}/"' in index
    assert 'href="/print/forms/log/end_of_study/"' in index
    sts5 = collection.form_at(protocol, "month3", "sts5")
    page = c.get("/print/forms/month3/sts5/").content.decode()
    assert f"<h1>{sts5.title}</h1>" in page and "3-month" in page
    for item in sts5.items:
        assert f"<td>{item.allowed()}</td>" in page.replace("&gt;", ">")
    assert c.get("/print/forms/month3/nosuch/").status_code == 404
    log = c.get("/print/forms/log/concomitant_medication/").content.decode()
    assert "Medication (generic name)" in log


def test_casebook_holds_every_form_value_ae_and_log(world: dict[str, Any]) -> None:
    from frailtrial.edc import collection
    from frailtrial.edc.services import crf, logs

    pid = world["pid"]
    crf.enter_crf(
        world["m"]["coordinator"], pid, "week1", "walk4m", {"time_1_s": 4.25, "time_2_s": 4.75}
    )
    logs.add(
        world["m"]["coordinator"],
        pid,
        "concomitant_medication",
        {"drug": "metformin", "indication": "diabetes", "started_on": "2020-01-01"},
    )
    c = client(world, "investigator")
    assert (
        f'href="/participants/{pid}/casebook/"' in c.get(f"/participants/{pid}/").content.decode()
    )
    book = c.get(f"/participants/{pid}/casebook/").content.decode()
    assert "<h2>1 week — attended 2024-03-12</h2>" in book
    walk = collection.form_at(world["protocol"], "week1", "walk4m")
    label = {i.id: i.label for i in walk.items}
    assert f"<dt>{label['time_1_s']}</dt><dd>4.25</dd>" in book
    assert f"<dt>{label['time_2_s']}</dt><dd>4.75</dd>" in book
    assert "<h3>SF-36 Health Survey: not entered</h3>" in book
    assert "Pneumonia" in book and "metformin" in book
    assert client(world, "other_site").get(f"/participants/{pid}/casebook/").status_code == 403
    assert (
        client(world, "unblinded_pharmacist").get(f"/participants/{pid}/casebook/").status_code
        == 403
    )


def test_sdv_overview_counts_verified_of_entered_per_visit(world: dict[str, Any]) -> None:
    from frailtrial.edc.models import Crf
    from frailtrial.edc.services import crf, oversight, visits
    from frailtrial.web import overview

    coord, monitor, pid = world["m"]["coordinator"], world["m"]["monitor"], world["pid"]
    visits.attend(coord, pid, "month1", dt.date(2024, 4, 3))
    tug = crf.enter_crf(coord, pid, "month1", "tug", {"tug_s": 10.0})
    sts = crf.enter_crf(coord, pid, "month1", "sts5", {"time_s": 13.0})
    oversight.mark_sdv(monitor, tug.pk)
    oversight.mark_sdv(monitor, sts.pk)
    row = next(r for r in overview.sdv_overview(monitor) if r["visit"] == "month1")
    assert (row["entered"], row["verified"], row["todo"]) == (2, 2, 0)
    crf.enter_crf(coord, pid, "month1", "sts5", {"time_s": 13.5}, reason="typo", version=1)
    assert Crf.objects.get(pk=sts.pk).version == 2
    row = next(r for r in overview.sdv_overview(monitor) if r["visit"] == "month1")
    assert (row["entered"], row["verified"], row["todo"]) == (2, 1, 1)
    page = client(world, "monitor").get("/sdv/").content.decode()
    n = Crf.objects.filter(participant__participant_id=pid).count()
    assert f"1 of {n} CRFs entered are verified" in page
    assert '<td data-label="Visit">1-month</td><td data-label="CRFs entered">2</td>' in page
    assert client(world, "coordinator").get("/sdv/").status_code == 403
    from frailtrial.edc.services import trials

    away = trials.add_member(
        world["trial"], "monitor-away", "monitor", site=world["m"]["other_site"].site
    )
    assert overview.sdv_overview(away) == []  # site-limited


def test_the_api_voids_an_adverse_event_with_a_reason(world: dict[str, Any]) -> None:
    import json

    from django.test import Client

    from edc_support import report_sae
    from frailtrial.edc.models import AdverseEvent
    from frailtrial.web.security import issue_token

    dup = report_sae(world["m"]["coordinator"], world["pid"], "2024-03-21", term="Flu twice")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {issue_token(world['m']['coordinator'])}"}
    url = f"/api/adverse-events/{dup.pk}/void"

    def post(body: dict[str, Any]) -> Any:
        return Client().post(url, json.dumps(body), content_type="application/json", **auth)

    assert post({"reason": "", "version": dup.version}).status_code == 422
    r = post({"reason": "entered twice", "version": dup.version})
    assert r.status_code == 200 and r.json()["version"] == dup.version + 1
    got = AdverseEvent.objects.get(pk=dup.pk)
    assert got.void_reason == "entered twice" and got.voided_at is not None
    assert post({"reason": "again", "version": got.version}).status_code == 422
