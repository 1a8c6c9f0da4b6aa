"""Participant (ePRO) sessions: kiosk and one-time link, answers saved as given, scores as
staff entry, source participant in the audit trail and exports, and the access matrix: a
participant session reaches nothing but its own pending questionnaires of its visit."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from epro_support import (
    EQ5D_ANSWERS,
    SF36_ANSWERS,
    eq5d5l_wording,
    held_participant,
    write_wordings,
)
from i18n_support import LOCALE, po_entries
from web_support import PASSWORD, trial_with_data, web_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("epro")
    web_store(tmp)
    t = trial_with_data()
    t["wording"] = write_wordings(tmp / "wording")
    t["p2"] = held_participant(t, "S-010", "week1", "2024-03-12")
    t["p3"] = held_participant(t, "S-011", "week1", "2024-03-12")
    return t


@pytest.fixture(autouse=True)
def wording_dir(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAILTRIAL_WORDING_DIR", str(world["wording"]))


def _login(t: dict[str, Any], role: str = "coordinator") -> Any:
    from django.test import Client

    c = Client()
    r = c.post("/login/", {"username": t["m"][role].user.username, "password": PASSWORD})
    assert r.status_code == 302
    c.get("/choose/")
    return c


def _kiosk(t: dict[str, Any], pid: str, language: str = "en") -> Any:
    """A coordinator opens a kiosk session: the same browser becomes the participant's."""
    c = _login(t)
    r = c.post(f"/participants/{pid}/visits/week1/epro/", {"kind": "kiosk", "language": language})
    assert r.status_code == 302 and r["Location"].startswith("/p/start/"), r.status_code
    assert c.get(r["Location"]).status_code == 200  # a start button: a GET redeems nothing
    r = c.post(r["Location"])
    assert r.status_code == 302 and r["Location"] == "/p/"
    return c


def _answer_all(c: Any, instrument: str, answers: dict[str, Any]) -> None:
    """Answer one question per screen (skip the missing ones), reloading midway."""
    from frailtrial.edc.models import EproSession

    ids = list(answers)
    for n, item in enumerate(ids, start=1):
        value = answers[item]
        data = {"action": "skip"} if value is None else {"action": "next", "answer": str(value)}
        r = c.post(f"/p/q/{instrument}/{n}/", data)
        assert r.status_code == 302, (item, r.status_code, r.content[:300])
        if n == len(ids) // 2:  # a reload: resume goes back to the next question
            r = c.get(f"/p/q/{instrument}/")
            assert r["Location"] == f"/p/q/{instrument}/{n + 1}/"
            s = EproSession.objects.filter(pk=c.session["frailtrial_epro"]).get()
            assert sum(1 for v in s.drafts[instrument].values() if v is not None) == sum(
                1 for k in ids[:n] if answers[k] is not None
            )
    assert r["Location"] == f"/p/q/{instrument}/review/"


def test_kiosk_answers_become_crfs_scored_as_staff_entry(world: dict[str, Any]) -> None:
    from frailtrial.edc.models import AuditEntry, Crf
    from frailtrial.edc.services import crf

    t, pid = world, world["p2"]
    c = _kiosk(t, pid)
    assert c.get("/dashboard/").status_code == 302  # the staff login is gone
    home = c.get("/p/").content.decode()
    assert "RAND 36-Item Health Survey" in home and "Test questionnaire EQ" in home
    assert "psqi" not in home  # no PSQI wording supplied: not offered
    page = c.get("/p/q/sf36/1/").content.decode()
    assert "In general, would you say your health is:" in page and "Question 1 of 36" in page
    _answer_all(c, "sf36", SF36_ANSWERS)
    review = c.get("/p/q/sf36/review/").content.decode()
    assert "3 questions are not answered" in review
    assert c.post("/p/q/sf36/review/").status_code == 302
    _answer_all(c, "eq5d5l", EQ5D_ANSWERS)
    r = c.post("/p/q/eq5d5l/review/")
    assert r["Location"] == "/p/done/"  # every questionnaire sent: the session ends
    assert c.get("/p/").status_code == 403

    review = _login(t, "monitor").get(f"/participants/{pid}/visits/week1/crf/sf36/")
    assert "answered by the participant" in review.content.decode()  # staff review it
    assert "Participant questionnaires" in _login(t).get(f"/participants/{pid}/").content.decode()
    staff = t["m"]["coordinator"]
    for instrument, answers in (("sf36", SF36_ANSWERS), ("eq5d5l", EQ5D_ANSWERS)):
        given = {k: v for k, v in answers.items() if v is not None}
        mine = Crf.objects.get(
            participant__participant_id=pid, visit="week1", instrument=instrument
        )
        assert mine.source == "participant" and mine.answers == given
        entered = crf.enter_crf(staff, t["p3"], "week1", instrument, given)
        assert entered.source == "staff"
        assert mine.scores == entered.scores  # same answers, same scores
        row = AuditEntry.objects.filter(model="crf", object_id=str(mine.pk)).get()
        assert json.loads(row.new)["source"] == "participant"
    assert mine.scores["index"] is not None  # the CN value set on 21211


def test_a_change_to_participant_answers_needs_a_reason(world: dict[str, Any]) -> None:
    from frailtrial.edc.models import AuditEntry, Crf
    from frailtrial.edc.services import crf
    from frailtrial.errors import InputError

    t = world
    _p2_sent_by_kiosk(t)
    saved = Crf.objects.filter(source="participant", instrument="eq5d5l").first()
    assert saved is not None
    pid = saved.participant.participant_id
    changed = {**saved.answers, "vas": 70}
    with pytest.raises(InputError, match="needs a reason"):
        crf.enter_crf(t["m"]["coordinator"], pid, "week1", "eq5d5l", changed, version=1)
    crf.enter_crf(t["m"]["coordinator"], pid, "week1", "eq5d5l", changed, "participant misread", 1)
    rows = list(AuditEntry.objects.filter(model="crf", object_id=str(saved.pk)))
    assert [json.loads(r.new).get("source") for r in rows] == ["participant", "staff"]
    assert rows[-1].reason == "participant misread"


def test_one_time_link_opens_once_and_expires(world: dict[str, Any]) -> None:
    from django.test import Client

    from frailtrial.edc.models import EproSession
    from frailtrial.edc.services import epro

    t = world
    staff = _login(t)
    page = staff.post(
        f"/participants/{t['pid']}/visits/week1/epro/", {"kind": "link", "language": "zh-hans"}
    ).content.decode()
    link = re.search(r'<code id="epro-link">http://testserver(/p/start/[^<]+)</code>', page)
    assert link, page
    token = link.group(1).split("/")[3]
    s = EproSession.objects.get(digest=epro.digest(token))
    assert token not in json.dumps([s.digest, s.drafts])  # only the hash is stored
    phone = Client()
    assert "开始" in Client().get(link.group(1)).content.decode()  # a link preview: GET only
    assert phone.get(link.group(1)).status_code == 200
    assert phone.post(link.group(1)).status_code == 302
    home = phone.get("/p/").content.decode()
    assert "您的问卷" in home and "2024年3月12日" in home  # zh-hans interface, local date
    assert Client().post(link.group(1)).status_code == 403  # single use
    # the staff browser is still staff: it never holds the participant session
    assert staff.get("/p/").status_code == 403
    # idle for longer than IDLE_MINUTES: the session ends by itself
    EproSession.objects.filter(pk=s.pk).update(
        last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=epro.IDLE_MINUTES + 1)
    )
    assert phone.get("/p/").status_code == 403
    assert EproSession.objects.get(pk=s.pk).ended_why == "idle"
    # an expired link never opens
    staff = _login(t)
    page = staff.post(
        f"/participants/{t['pid']}/visits/week1/epro/", {"kind": "link", "language": "en"}
    ).content.decode()
    path = re.search(r"http://testserver(/p/start/[^<]+)<", page).group(1)  # type: ignore[union-attr]
    EproSession.objects.filter(digest=epro.digest(path.split("/")[3])).update(
        expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    )
    assert Client().post(path).status_code == 403
    assert Client().post("/p/start/not-a-token/").status_code == 403


def test_participant_session_reaches_nothing_else(world: dict[str, Any]) -> None:
    """The access matrix of a participant session: every staff page, the API, other
    instruments, other participants' and visits' pages."""
    from django.urls import reverse

    from frailtrial.web.urls import PUBLIC, web_patterns

    t = world
    c = _kiosk(t, t["pid"])
    kw = {
        "screening_id": "S-002",
        "pid": t["pid"],
        "visit": "week1",
        "instrument": "sf36",
        "crf_id": t["crf"].pk,
        "query_id": 1,
        "model": "crf",
        "object_id": str(t["crf"].pk),
        "package": "web",
        "name": "site.css",
        "form": "sf36",
        "record": "crf",
        "record_id": t["crf"].pk,
        "entry_id": 1,
        "ae_id": 1,
        "n": 1,
        "token": "x" * 43,
    }
    for p in web_patterns:
        if p.name in PUBLIC:
            continue
        url = reverse(f"web:{p.name}", kwargs={k: kw[k] for k in p.pattern.converters})
        for method in ("get", "post"):
            r = getattr(c, method)(url)
            assert r.status_code == 302 and "/login/" in r["Location"], (method, url)
    assert c.get("/api/participants").status_code == 401
    assert c.get("/p/").status_code == 200  # still the participant's session
    for url in ("/p/q/tug/", "/p/q/tug/1/", "/p/q/psqi/1/", "/p/q/fried/review/"):
        assert c.get(url).status_code == 403, url  # not a questionnaire of this session
        assert c.post(url, {"answer": "1"}).status_code == 403, url
    # no participant or visit in the participant pages' addresses: nothing to change
    from frailtrial.web.urls import epro_patterns

    for p in epro_patterns:
        assert not {"pid", "visit", "participant"} & set(p.pattern.converters), p.name
    # another participant's session id planted in the cookie session is not reachable:
    # the session data is server-side and signed; only redeeming a token sets it
    c.post("/p/end/")
    assert c.get("/p/q/sf36/1/").status_code == 403


def test_answers_are_checked_and_kept_across_reload(world: dict[str, Any]) -> None:
    t = world
    c = _kiosk(t, t["pid"])
    r = c.post("/p/q/sf36/1/", {"action": "next", "answer": "9"})
    assert r.status_code == 400 and "Please choose one of the answers shown." in r.content.decode()
    assert c.post("/p/q/sf36/1/", {"action": "next", "answer": "4"}).status_code == 302
    assert c.post("/p/q/sf36/2/", {"action": "back"})["Location"] == "/p/q/sf36/1/"
    page = c.get("/p/q/sf36/1/").content.decode()
    assert re.search(r'value="4" checked', page)  # the answer given is shown again
    odd = c.post("/p/q/sf36/1/", {"action": "finish", "answer": "1"})  # not a button's value
    assert odd.status_code == 400 and "next, skip or back" in odd.content.decode()
    assert re.search(r'value="4" checked', c.get("/p/q/sf36/1/").content.decode())  # kept
    eq = c.post("/p/q/eq5d5l/6/", {"action": "next", "answer": "101"})
    assert eq.status_code == 400 and "Please enter a number from 0 to 100." in eq.content.decode()
    assert c.post("/p/q/sf36/2/", {"action": "next", "answer": "3"}).status_code == 302
    c.post("/p/end/")  # "stop for now": a new session of this visit resumes at question 3
    c = _kiosk(t, t["pid"])
    assert c.get("/p/q/sf36/")["Location"] == "/p/q/sf36/3/"
    assert re.search(r'value="3" checked', c.get("/p/q/sf36/2/").content.decode())
    c.post("/p/end/")


def _p2_sent_by_kiosk(t: dict[str, Any]) -> None:
    """p2's SF-36 and EQ-5D-5L sent through a kiosk session, as the kiosk test does (which
    may have run on another test worker, with its own store)."""
    from frailtrial.edc.models import Crf

    sent = Crf.objects.filter(participant__participant_id=t["p2"], instrument="sf36")
    if not sent.exists():
        test_kiosk_answers_become_crfs_scored_as_staff_entry(t)


def test_start_refusals(world: dict[str, Any]) -> None:
    from frailtrial.edc.errors import AccessDenied
    from frailtrial.edc.services import epro
    from frailtrial.errors import InputError

    t = world
    _p2_sent_by_kiosk(t)
    coord = t["m"]["coordinator"]
    with pytest.raises(InputError, match="not recorded as held"):
        epro.start(coord, t["pid"], "month1", "kiosk", "en")
    with pytest.raises(InputError, match="language 'fr'"):
        epro.start(coord, t["pid"], "week1", "kiosk", "fr")
    with pytest.raises(AccessDenied):
        epro.start(t["m"]["monitor"], t["pid"], "week1", "kiosk", "en")
    with pytest.raises(AccessDenied):
        epro.start(t["m"]["other_site"], t["pid"], "week1", "kiosk", "en")
    # SF-36 and EQ-5D-5L already sent; PSQI pending but the site supplied no wording for it
    with pytest.raises(InputError, match="no en wording for psqi in FRAILTRIAL_WORDING_DIR"):
        epro.start(coord, t["p2"], "week1", "kiosk", "en")


def test_participants_are_not_asked_in_an_unvalidated_wording(
    world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped RAND-36 zh-Hans wording is not a validated translation: staff forms show
    it, but no participant session asks SF-36 in it (nor switches to it); a site's own
    (validated) file is asked."""
    from frailtrial.edc.services import epro
    from frailtrial.errors import InputError
    from frailtrial.instruments import get, wording

    items = tuple(get("sf36").items)
    pid = held_participant(world, "S-031", "week1", "2024-03-12")  # SF-36 still to answer
    monkeypatch.setenv("FRAILTRIAL_WORDING_DIR", str(tmp_path))  # the site supplied nothing
    assert not wording.load("sf36", "zh-hans", items).validated
    assert wording.load("sf36", "en", items).validated
    with pytest.raises(InputError, match="zh-hans wording of sf36 is not a validated"):
        epro.asked_wording("sf36", "zh-hans", items)
    assert epro.asked_wording("sf36", "en", items).language == "en"
    with pytest.raises(InputError, match="zh-hans wording of sf36 is not a validated"):
        epro.start(world["m"]["coordinator"], pid, "week1", "kiosk", "zh-hans")
    monkeypatch.setenv("FRAILTRIAL_WORDING_DIR", str(world["wording"]))  # the site's own file
    assert epro.asked_wording("sf36", "zh-hans", items).validated


def test_export_marks_the_source(world: dict[str, Any], tmp_path: Path) -> None:
    import csv

    from frailtrial.edc.services.exports.run import export

    _p2_sent_by_kiosk(world)
    export(world["m"]["statistician"], tmp_path, ("csv",))
    with (tmp_path / "crf_sources.csv").open() as fh:
        rows = {(r["participant_id"], r["instrument"]): r["source"] for r in csv.DictReader(fh)}
    assert rows[(world["p2"], "sf36")] == "participant"
    assert rows[(world["p3"], "sf36")] == "staff"
    assert rows[(world["pid"], "tug")] == "staff"


# --- wording files ----------------------------------------------------------------------


def test_shipped_wording_is_public_domain_only() -> None:
    from frailtrial.instruments import wording

    shipped = {p.name.split(".")[0] for p in wording.SHIPPED.glob("*.json")}
    assert shipped == {"sf36"} and shipped <= wording.PUBLIC_DOMAIN


def test_licensed_wording_is_only_read_from_the_site_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from frailtrial.errors import InputError
    from frailtrial.instruments import get, wording

    items = get("eq5d5l").items
    monkeypatch.delenv("FRAILTRIAL_WORDING_DIR", raising=False)
    with pytest.raises(InputError, match="licensed wording is supplied by the site"):
        wording.load("eq5d5l", "en", items)
    monkeypatch.setenv("FRAILTRIAL_WORDING_DIR", str(write_wordings(tmp_path)))
    w = wording.load("eq5d5l", "en", items)
    assert [q.item.id for q in w.questions][-1] == "vas" and w.questions[-1].responses == ()


def _bad(change: Any) -> dict[str, Any]:
    data = eq5d5l_wording("en")
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="x"), "format must be 'frailtrial-wording/1'"),
        (lambda d: d.update(language="fr"), "language 'fr' is not one of en, zh-hans"),
        (lambda d: d.update(licence=""), "licence must be a non-empty text"),
        (lambda d: d["items"].pop(), "item 'vas' of eq5d5l has no wording"),
        (lambda d: d["items"].append(d["items"][0]), "item 'mobility' is listed twice"),
        (lambda d: d["items"][0].update(id="walk"), "id 'walk' is not an item of eq5d5l"),
        (
            lambda d: d["items"][0]["responses"].pop("5"),
            "item 'mobility' needs one response for each of 1, 2, 3, 4, 5",
        ),
        (lambda d: d["items"][5].update(responses={"1": "x"}), "it takes no responses"),
        (lambda d: d["items"][1].update(text="a\x07b"), "control character (U+0007)"),
        (
            lambda d: d.update(extra=1),
            "unknown key 'extra'; allowed: format, instrument, language, licence, validated, "
            "title, instructions, items",
        ),
        (lambda d: d.update(validated="yes"), "validated must be true or false, not 'yes'"),
        (
            lambda d: d["items"][0].update(label="x"),
            "items[1]: unknown key 'label'; allowed: id, intro, text, responses",
        ),
    ],
)
def test_bad_wording_file_is_one_line(change: Any, message: str) -> None:
    from frailtrial.errors import InputError
    from frailtrial.instruments import get, wording

    with pytest.raises(InputError) as info:
        wording.parse(_bad(change), get("eq5d5l").items, "eq5d5l", "site/eq5d5l.en.json")
    text = str(info.value)
    assert message in text and "\n" not in text and text.startswith("site/eq5d5l.en.json")


# --- translation ------------------------------------------------------------------------


def test_zh_hans_translation_is_complete_and_compiled() -> None:
    import gettext

    po = LOCALE / "zh_Hans/LC_MESSAGES/django.po"
    assert "#, fuzzy" not in po.read_text(encoding="utf-8")  # msgfmt drops fuzzy entries
    entries = {k: v for k, v in po_entries(po).items() if k}
    assert len(entries) >= 40
    assert [k for k, v in entries.items() if not v] == []  # every string translated
    with (po.with_suffix(".mo")).open("rb") as fh:
        catalog = gettext.GNUTranslations(fh)
    for msgid, msgstr in entries.items():  # the committed .mo is the compiled .po
        context, _, text = msgid.rpartition("\x04")
        if context:
            got = catalog.pgettext(context, text)
        elif "%(missing)s" in msgid:
            got = catalog.ngettext(msgid, msgid, 1)
        else:
            got = catalog.gettext(msgid)
        assert got == msgstr, msgid


def test_each_user_picks_the_interface_language(world: dict[str, Any]) -> None:
    c = _login(world)
    page = c.get("/dashboard/").content.decode()
    assert '<html lang="en">' in page and "Participants" in page
    r = c.post("/language/", {"language": "zh-hans", "next": "/dashboard/"})
    assert r.status_code == 302 and r["Location"] == "/dashboard/"
    page = c.get("/dashboard/").content.decode()
    assert '<html lang="zh-Hans">' in page and "受试者" in page and "退出登录" in page
    r = c.post("/language/", {"language": "en", "next": "https://evil.example/"})
    assert r["Location"] == "/"  # never sent off-site
    assert _login(world).get("/dashboard/").content.decode().count("受试者") == 0  # per user


@pytest.mark.parametrize(
    ("instrument", "item", "raw", "expected"),
    [
        ("psqi", "q1", "22:30", "22:30"),
        ("psqi", "q2", "15", 15),
        ("psqi", "q4", "6.5", 6.5),
        ("psqi", "q6", " ", None),
        ("eq5d5l", "vas", "70", 70),
    ],
)
def test_typed_answers_take_the_item_type(
    instrument: str, item: str, raw: str, expected: Any
) -> None:
    from frailtrial.edc.services.epro import typed_value
    from frailtrial.instruments import get

    spec = {i.id: i for i in get(instrument).items}[item]
    assert typed_value(spec, raw) == expected


@pytest.mark.parametrize(
    ("instrument", "item", "raw"),
    [("psqi", "q1", "25:00"), ("psqi", "q2", "abc"), ("psqi", "q4", "25"), ("sf36", "1", "2.5")],
)
def test_typed_answers_outside_the_item_are_refused(instrument: str, item: str, raw: str) -> None:
    from frailtrial.edc.services.epro import typed_value
    from frailtrial.errors import InputError
    from frailtrial.instruments import get

    spec = {i.id: i for i in get(instrument).items}[item]
    with pytest.raises(InputError, match=r"allowed|not a number"):
        typed_value(spec, raw)


def test_every_menu_entry_is_translated(world: dict[str, Any]) -> None:
    """A menu entry added without its zh-Hans string would show in English to a
    Chinese-speaking site: each label must differ from its English text."""
    from django.utils import translation

    from frailtrial.web import access

    with translation.override("en"):
        english = {name: str(label) for name, _, label in access.MENU}
    with translation.override("zh-hans"):
        chinese = {name: str(label) for name, _, label in access.MENU}
    assert [name for name in english if chinese[name] == english[name]] == []
