"""No English reaches a zh-Hans staff page: every role walks every staff page, and every CRF
and log form of the built-in protocols (huc-msc-2024, cratus-2017) and of a user protocol
(tests/protocols/three-arm-sex.yaml) is opened blank, refused with out-of-range values,
saved, and printed.

The detector: a visible text node (or aria-label, placeholder, title) holding an ASCII word
of three letters or more that is not an abbreviation, unit or proper name of the allow-list
below, once the data the test itself entered (user names, trial and site names, log answers)
and a user protocol's own wording (its sponsor wrote it, in whatever language) are taken out.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edc_support import enroll, new_trial
from i18n_support import ROLE_ORDER
from web_support import PASSWORD, client, route_kwargs, routes, sweep_world, web_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow

USER_PROTOCOL = Path(__file__).parent / "protocols" / "three-arm-sex.yaml"
# abbreviations, units and proper names a Chinese clinical form writes in Latin letters
_LATIN = """
    TUG SPPB FEV LLN LLOQ GLI CKD EPI IDMS EQ VAS PSQI SQOL SF RAND CES PCS MCS BMI MMSE MWD
    MWT FTSST EWGSOP AWGS NYHA HBsAg HCV HIV PPD Ab EDC CFS HLA DR KIT III CSV SPSS SAS SDTM
    CONSORT zip sav xpt English AST ALT GFR eGFR FBG ACEI ARB INR CRF CRFs SAE SUSAR DSMB
    SDV ePRO CSV JSON PDF QR HUC MSC MSCs CRATUS hMSCs allo IFN TNF CD ICH GCP WHO ULN HbA
    mmHg kcal min mmol umol pg mL dL HH MM YYYY frailtrial HUC-MSC HTML API UTC Fried CHS
    AWGS CHS EQ-5D-5L
"""
ALLOWED = frozenset(_LATIN.split())
# records stored as written when they were made, shown as stored (not interface text): the
# statement a casebook signature attests (its meaning is what was signed), the SAE notices
# the safety service wrote; and identifiers: a checklist item's key, an audited record's model
RECORDS = re.compile(
    r"^I am the investigator responsible|SAE reported for|(query|sae|crf):\S+$|稽查轨迹: \w+ \d+$"
)
_WORD = re.compile(r"[A-Za-z][A-Za-z-]*[A-Za-z]|[A-Za-z]")
_NODE = re.compile(r">([^<>]+)<")
_ATTR = re.compile(r'\b(?:aria-label|placeholder|title)="([^"]*)"')


def visible(page: str) -> set[str]:
    """Text nodes and labelling attributes of a page, unescaped and stripped."""
    body = re.sub(r"<(script|style|code)\b.*?</\1>", "", page, flags=re.S)  # code: literal
    found = {html.unescape(s).strip() for s in _NODE.findall(body)}
    found |= {html.unescape(s).strip() for s in _ATTR.findall(body)}
    return {s for s in found if s}


def english_words(text: str, data: tuple[str, ...]) -> list[str]:
    """The words of three letters or more in ``text`` that are neither allowed nor data."""
    if RECORDS.search(text):
        return []
    for d in data:  # longest first: a user name holds the trial name
        text = text.replace(d, " ")
    text = re.sub(r"\bft_[\w-]+|\bKIT-[0-9A-F]+|(?<!\S)/\S*", " ", text)  # token id, kit, path
    words = []
    for w in _WORD.findall(text):
        parts = [w, *w.split("-")]
        if len(re.sub(r"[^A-Za-z]", "", w)) < 3 or any(p in ALLOWED for p in parts):
            continue
        if all(len(p) < 3 or p in ALLOWED for p in w.split("-")):
            continue
        words.append(w)
    return words


def _strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value.strip()}
    if isinstance(value, dict):
        return set().union(set(), *map(_strings, value.values()))
    if isinstance(value, (list, tuple)):
        return set().union(set(), *map(_strings, value))
    return set()


def _data_strings(t: dict[str, Any], extra: set[str]) -> tuple[str, ...]:
    """What the test entered, as shown: names of the trial, sites, users; log answers."""
    from frailtrial.edc.models import Membership, Site

    found = {t["trial"].name, t["protocol"].name, *extra}
    found |= {a.name for a in t["protocol"].arms}  # an arm's code (the pharmacy's log)
    for m in Membership.objects.select_related("user"):
        found |= {m.user.username, m.user.first_name, m.user.last_name, m.user.email}
    for s in Site.objects.all():
        found |= {s.name, s.code}
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


def _answer(item: Any) -> Any:
    """A valid answer of one item (the form's own codes: posted as the page posts them)."""
    if item.kind == "boolean":
        return "false"
    if item.kind == "choice":
        return item.choices[0]
    if item.kind == "date":
        return "2024-03-05"
    if item.kind == "time":
        return "22:30"
    if item.kind == "text":
        return "x"
    low = item.minimum if item.minimum is not None else 0
    high = item.maximum if item.maximum is not None else low + 10
    return str(int(low + (high - low) / 2)) if item.kind == "integer" else f"{low + 1:g}"


def _bad(item: Any) -> str | None:
    """An out-of-range value of a number item, None for the others."""
    if item.kind not in ("integer", "number") or (item.minimum, item.maximum) == (None, None):
        return None
    if item.maximum is not None:
        return f"{item.maximum + 1000:g}"
    return f"{(item.minimum or 0) - 5:g}"


def _alerts(page: str) -> list[str]:
    """What a refused form says (for the assertion message)."""
    return re.findall(r'role="alert">([^<]*)<', page)


def _reset_throttle() -> None:
    """Every role of each trial logs in from the one test address: the login throttle
    (tested in test_web_login) starts afresh for each trial."""
    from frailtrial.web.models import LoginThrottle

    LoginThrottle.objects.all().delete()


def _pages(t: dict[str, Any], roles: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(where, HTML) of every staff page each role may open, as zh-Hans, and every form of
    every visit and log: blank, refused, saved, and printed."""
    from django.conf import settings

    from frailtrial.edc import collection

    _reset_throttle()
    clients = {}
    for role in roles:
        clients[role] = client(t, role)
        clients[role].cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    coord = clients["coordinator"]
    protocol, pid = t["protocol"], t["pid"]
    yield from _route_pages(t, clients)  # with forms missing (the dashboard and lock list them)
    for visit in protocol.visits:
        for spec in collection.forms_at(protocol, visit.name):
            url = f"/participants/{pid}/visits/{visit.name}/crf/{spec.name}/"
            yield (
                f"{url} print",
                coord.get(f"/print/forms/{visit.name}/{spec.name}/").content.decode(),
            )
            if visit.kind == "screening":  # recorded by screening, not a participant's visit
                continue
            items = [i for i in spec.items if i.id != "sex"]
            bad = {f"item_{i.id}": _bad(i) for i in items if _bad(i) is not None}
            if bad:
                r = coord.post(url, {"action": "save", **bad})
                assert r.status_code == 200, (url, r.status_code)
                yield f"{url} refused", r.content.decode()
            good = {f"item_{i.id}": _answer(i) for i in items}
            if spec.kind == "lab_panel":  # a value and its LLOQ, not flagged below it
                good = {k: v for k, v in good.items() if not k.endswith("below_lloq")}
            held = re.search(r'name="version" value="(\d+)"', coord.get(url).content.decode())
            if held:  # saved before (screening's frailty score): a correction with a reason
                good |= {"version": held.group(1), "reason": "x"}
            r = coord.post(url, {"action": "save", **good})
            assert r.status_code == 302, (
                url,
                _alerts(r.content.decode()),
                r.content.decode()[-2500:],
            )
            yield url, coord.get(url).content.decode()
    for name, spec in collection.LOG_FORMS.items():
        url = f"/participants/{pid}/log/{name}/"
        yield f"{url} blank", coord.get(url).content.decode()
        good = {f"item_{i.id}": _answer(i) for i in spec.items}
        day = next(i.id for i in spec.items if i.kind == "date")
        r = coord.post(url, {**good, f"item_{day}": "2024-13-45"})
        assert r.status_code == 200 and _alerts(r.content.decode()), url
        yield f"{url} refused", r.content.decode()
        r = coord.post(url, good)
        assert r.status_code == 302, (url, _alerts(r.content.decode()))
        yield url, coord.get(url).content.decode()
        yield f"{url} print", coord.get(f"/print/forms/log/{name}/").content.decode()
    yield from _route_pages(t, clients)  # with every form saved


def _route_pages(t: dict[str, Any], clients: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(role and route, HTML) of every staff route each role may open."""
    from django.urls import reverse

    from frailtrial.web.access import PERMISSIONS
    from frailtrial.web.urls import PUBLIC

    kw = route_kwargs(t) if "query" in t else {"pid": t["pid"]}
    for role in clients:
        for name, view, params in routes():
            perm = getattr(view, "permission", None)
            if name in PUBLIC or perm is None or role not in PERMISSIONS[perm]:
                continue
            if not set(params) <= set(kw):  # a record only the sweep's trial holds
                continue
            r = clients[role].get(reverse(f"web:{name}", kwargs={k: kw[k] for k in params}))
            if r.status_code == 200 and r.get("Content-Type", "").startswith("text/html"):
                yield f"{role} {name}", r.content.decode()


def _untranslated(
    t: dict[str, Any], roles: tuple[str, ...], extra: set[str]
) -> tuple[dict[str, Any], set[str]]:
    """(English text -> where it was seen, every page walked)."""
    data = _data_strings(t, extra)
    bad: dict[str, set[str]] = {}
    walked = set()
    for where, page in _pages(t, roles):
        walked.add(where)
        for text in visible(page):
            words = english_words(text, data)
            if words:
                bad.setdefault(text, set()).add(where.split(" ")[-1])
    return {text: sorted(w)[:3] for text, w in sorted(bad.items())}, walked


def _walked_everything(t: dict[str, Any], walked: set[str], roles: tuple[str, ...]) -> None:
    """The check means something only if it saw the pages: each role's dashboard, and each
    form of each visit and log saved and printed."""
    from frailtrial.edc import collection

    assert {f"{role} dashboard" for role in roles} <= walked
    for v in t["protocol"].visits:
        for f in collection.forms_at(t["protocol"], v.name):
            url = f"/participants/{t['pid']}/visits/{v.name}/crf/{f.name}/"
            assert f"{url} print" in walked and (v.kind == "screening" or url in walked), url
    for name in collection.LOG_FORMS:
        assert f"/participants/{t['pid']}/log/{name}/ refused" in walked


def _report(found: dict[str, Any]) -> str:
    return "English on zh-Hans pages:\n" + "\n".join(f"{t!r}: {w}" for t, w in found.items())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> None:
    web_store(tmp_path_factory.mktemp("web-i18n-forms"))


def _world(protocol: str) -> dict[str, Any]:
    t = new_trial(protocol)
    for m in t["m"].values():
        m.user.set_password(PASSWORD)
        m.user.save()
    t["pid"] = enroll(t, "S-1").participant_id
    _hold_visits(t)
    return t


def _hold_visits(t: dict[str, Any]) -> None:
    """Every visit of the participant held on its target day (CRFs need a held visit)."""
    from frailtrial.edc.services import participants, visits

    coord = t["m"]["coordinator"]
    for v in participants.schedule(coord, t["pid"], dt.date(2030, 1, 1)):
        if v.status == "scheduled":
            visits.attend(coord, t["pid"], v.visit, v.target_on)


def test_huc_msc_pages_in_zh_hans_hold_no_english(store: None) -> None:
    t = sweep_world()
    _hold_visits(t)
    extra = {"aspirin", "prevention", "check", "In", "Vited", "cells", "saline"}
    extra |= {t["ae"].term, t["ae"].body_system}  # what the sweep entered
    found, walked = _untranslated(t, ROLE_ORDER, extra)
    assert found == {}, _report(found)
    _walked_everything(t, walked, ROLE_ORDER)
    for name in ("pharmacy", "dsmb", "lock", "exports", "people", "sdv_overview", "audit"):
        assert any(w.endswith(f" {name}") for w in walked), name


def test_cratus_forms_in_zh_hans_hold_no_english(store: None) -> None:
    t = _world("cratus-2017")
    found, walked = _untranslated(t, ROLE_ORDER, set())
    assert found == {}, _report(found)
    _walked_everything(t, walked, ROLE_ORDER)


def test_user_protocol_forms_in_zh_hans_hold_no_english_but_its_own(store: None) -> None:
    t = _world(str(USER_PROTOCOL))
    own = _strings(t["protocol"].model_dump(mode="json"))
    found, walked = _untranslated(t, ROLE_ORDER, own)
    assert found == {}, _report(found)
    _walked_everything(t, walked, ROLE_ORDER)


def _form_wording() -> tuple[set[str], set[str]]:
    """Every string the forms and the built-in protocols show people, read from the
    instruments, the collected forms and the protocol files (not from form_words): the
    words (context "form") and the response codes (context "form option")."""
    from frailtrial import instruments
    from frailtrial.edc import collection
    from frailtrial.edc.services.safety import SERIOUSNESS
    from frailtrial.instruments.base import result_keys
    from frailtrial.protocol import load

    words: set[str] = set()
    options = set(SERIOUSNESS)
    protocols = [load(name) for name in ("huc-msc-2024", "cratus-2017")]
    for p in protocols:
        e = p.eligibility
        words |= {e.frailty.instrument, *(c.instrument for c in e.other_instruments)}
        words |= {c.text for c in (*e.inclusions, *e.exclusions)}
        words |= {x for lab in e.labs for x in (lab.label, lab.unit)}
        words |= {v.label for v in p.visits} | {v.label for v in p.variables}
        words |= {x for a in p.arms for x in (a.label, a.dose.product)}
        for v in p.visits:
            for f in collection.forms_at(p, v.name):
                words.add(f.title if f.kind != "lab_panel" else "")
                for i in f.items:
                    lab = next((x for x in f.variables if i.id.startswith(x.name + "__")), None)
                    words.add(i.label[len(lab.label) + 2 :] if lab else i.label)
                    words.add(i.unit or "")
                    options |= set(i.choices)
    for name in instruments.names():
        inst = instruments.get(name)
        words.add(inst.title.split(" (")[0])
        words |= {i.label for i in inst.items} | {i.unit or "" for i in inst.items}
        options |= {c for i in inst.items for c in i.choices}
        for key in result_keys(inst):
            head, _, tail = key.partition("_")
            words.add(tail.replace("_", " ") if head.isupper() and tail else "")
            words.add("" if head.isupper() and tail else collection._humanize(key))
    for f in collection.LOG_FORMS.values():
        words |= {f.title, *(i.label for i in f.items)}
        options |= {c for i in f.items for c in i.choices}
    from frailtrial.instruments.cfs import LABELS as CFS_LABELS

    options |= {label for labels in CFS_LABELS.values() for label in labels}
    options |= {"robust", "pre-frail", "frail"}  # the Fried category
    words |= {collection.VITALS_FORM.title, "Other baseline characteristics"}
    words |= {i.unit or "" for i in collection.VITAL_ITEMS}
    return words - {""}, options


def test_every_form_string_is_listed_for_makemessages_and_translated(store: None) -> None:
    """form_words lists every string the forms show, and the zh-Hans catalog translates each
    (a new instrument item, log field or built-in protocol label fails here until it is)."""
    import ast

    from frailtrial.web import form_words
    from i18n_support import LOCALE, po_entries

    marked: dict[str, set[str]] = {"form": set(), "form option": set()}
    for node in ast.walk(ast.parse(Path(form_words.__file__).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "pgettext_lazy":
            context, msgid = (a.value for a in node.args if isinstance(a, ast.Constant))
            marked[context].add(msgid)
    words, options = _form_wording()
    listed, listed_options = marked["form"], marked["form option"]
    assert sorted(words - listed) == [] and sorted(options - listed_options) == []
    entries = po_entries(LOCALE / "zh_Hans/LC_MESSAGES/django.po")
    for context, found in (("form", listed), ("form option", listed_options)):
        untranslated = sorted(w for w in found if not entries.get(f"{context}\x04{w}"))
        assert untranslated == [], context


def test_english_wording_is_unchanged_and_zh_hans_is_chinese(store: None) -> None:
    """In English the allowed values read as :meth:`Item.allowed` (what the CLI and API say);
    in zh-Hans the TUG form, its range error and a log's options are in Chinese."""
    from django.conf import settings
    from django.utils import translation

    from frailtrial import instruments
    from frailtrial.edc import collection
    from frailtrial.web import form_text

    items = [i for n in instruments.names() for i in instruments.get(n).items]
    items += [i for f in collection.LOG_FORMS.values() for i in f.items]
    with translation.override("en"):
        assert [form_text.allowed(i) for i in items] == [i.allowed() for i in items]
    t = _world("huc-msc-2024")
    _reset_throttle()
    c = client(t, "coordinator")
    c.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    url = f"/participants/{t['pid']}/visits/baseline/crf/tug/"
    page = c.post(url, {"action": "save", "item_tug_s": "900"}).content.decode()
    assert "<h1>计时起立-行走测试 (TUG) — " in page and "基线" in page
    assert "计时起立-行走测试 (TUG) (秒)" in page  # the item and its unit
    assert "不允许：应为1 至 600 的数值。" in page and "允许值：是或否" in page
    log = c.get(f"/participants/{t['pid']}/log/concomitant_medication/").content.decode()
    assert "<h1>合并用药 — " in log and ">静脉</option>" in log and ">皮下</option>" in log
    english = client(t, "coordinator")
    page = english.get(url).content.decode()
    assert "Timed Up and Go" in page and "Allowed: a number from 1 to 600" in page


def test_word_results_are_shown_in_zh_hans(store: None) -> None:
    """A result that is a word (the CFS level's label, the Fried category) reads in Chinese."""
    from django.utils import translation

    from frailtrial import instruments
    from frailtrial.web import form_text

    with translation.override("zh-hans"):
        cfs = instruments.get("cfs").score({"cfs": 4}).label
        assert cfs == "Living with very mild frailty" and form_text.shown(cfs) == "极轻度衰弱"
        assert form_text.shown("pre-frail") == "衰弱前期"


def test_a_user_protocols_own_wording_is_shown_as_written() -> None:
    """A label the catalog does not hold (a sponsor's own, in any language) passes through."""
    from django.utils import translation

    from frailtrial.web import form_text

    with translation.override("zh-hans"):
        assert form_text.word("Month 12 (telephone)") == "Month 12 (telephone)"
        assert form_text.word("Baseline") == "基线"
        assert form_text.option("some_code") == "some code"
        assert form_text.option("lost_to_follow_up") == "失访"


def test_sf36_in_zh_hans_shows_the_shipped_rand36_chinese_responses(store: None) -> None:
    """The staff SF-36 form in zh-Hans lists each item's coded responses in Chinese (the
    shipped RAND-36 zh-Hans wording), never the English ones; English keeps RAND-36 English."""
    from django.conf import settings

    t = _world("huc-msc-2024")
    _reset_throttle()
    url = f"/participants/{t['pid']}/visits/baseline/crf/sf36/"
    zh = client(t, "coordinator")
    zh.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    page = zh.get(url).content.decode()
    options = re.findall(r"<option value=\"(\d)\"[^>]*>([^<]*)</option>", page)
    assert ("1", "1 — 非常好") in options and ("3", "3 — 否，完全没有限制") in options
    assert not any("Excellent" in o or "limited" in o for _, o in options)
    english = client(t, "coordinator").get(url).content.decode()
    assert "1 — Excellent" in english
