"""The staff interface in zh-Hans: every page of the access sweep shows no marked string in English.

Each staff route is opened in zh-Hans by a role allowed on it; a text node, or an aria-label,
placeholder, title or data-label, that equals the English text of an entry of the .po whose
translation differs is a string marked but not translated (a .mo not recompiled, a template
without ``{% load i18n %}``, a label built outside gettext), and fails the test.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from i18n_support import LOCALE, ROLE_ORDER, po_entries
from web_support import client, route_kwargs, routes, sweep_world, web_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow

# what a Chinese-speaking site must never see in English on the main pages
ENGLISH_UI = ("Participants", "Save", "Visit", "Adverse event", "Adverse events", "Screening log")

_NODE = re.compile(r">([^<>]+)<")
_ATTR = re.compile(r'\b(?:aria-label|placeholder|title|data-label)="([^"]*)"')


def _strings(value: Any) -> set[str]:
    """Every string held in a dumped protocol: its wording is data (visit labels, arm labels,
    log fields) shown as written, not interface text."""
    if isinstance(value, str):
        return {value.strip()}
    if isinstance(value, dict):
        return set().union(*map(_strings, value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*map(_strings, value)) if value else set()
    return set()


def _visible(page: str) -> set[str]:
    """The page's text nodes and labelling attributes, unescaped and stripped."""
    body = re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.S)
    found = {html.unescape(s).strip() for s in _NODE.findall(body)}
    found |= {html.unescape(s).strip() for s in _ATTR.findall(body)}
    return {s for s in found if s}


def _zh_pages(t: dict[str, Any]) -> dict[str, str]:
    """name -> HTML of every staff page as zh-Hans, each opened by the first role allowed."""
    from django.conf import settings
    from django.urls import reverse

    from frailtrial.web.access import PERMISSIONS
    from frailtrial.web.urls import PUBLIC

    clients = {}
    for role in ROLE_ORDER:
        clients[role] = client(t, role)
        clients[role].cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    kw = route_kwargs(t)
    pages = {}
    for name, view, params in routes():
        if name in PUBLIC:
            continue
        perm = getattr(view, "permission", None)
        if perm is None:  # a participant (ePRO) page: checked in test_epro
            continue
        role = next(r for r in ROLE_ORDER if r in PERMISSIONS[perm])
        r = clients[role].get(reverse(f"web:{name}", kwargs={k: kw[k] for k in params}))
        if r.status_code == 200 and r.get("Content-Type", "").startswith("text/html"):
            pages[name] = r.content.decode()
    return pages


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The access sweep's trial (every record a route names), in a store of this file's."""
    web_store(tmp_path_factory.mktemp("web-i18n"))
    return sweep_world()


@pytest.fixture(scope="module")
def zh_pages(world: dict[str, Any]) -> dict[str, str]:
    return _zh_pages(world)


@pytest.fixture(scope="module")
def protocol_text(world: dict[str, Any]) -> set[str]:
    """The protocol's own wording and the item wording of the forms (as for the instruments,
    the form items are worded by the form definition, not the interface)."""
    from frailtrial.edc import collection

    items = {i.label for spec in collection.LOG_FORMS.values() for i in spec.items}
    return _strings(world["protocol"].model_dump(mode="json")) | items


def test_the_sweep_reaches_the_staff_pages(zh_pages: dict[str, str]) -> None:
    """The check below means something only if it saw the pages (pharmacy, DSMB, lock, ...)."""
    for name in (
        "dashboard",
        "participants",
        "participant",
        "crf",
        "pharmacy",
        "dsmb",
        "lock",
        "exports",
        "people",
        "calendar",
        "sdv_overview",
        "casebook",
        "blank_crf",
        "audit",
        "correct",
        "ae_report",
        "queries",
        "safety",
        "screening",
        "account",
        "log",
    ):
        assert name in zh_pages, name
    assert all('<html lang="zh-Hans">' in page for page in zh_pages.values())


def test_no_staff_page_shows_a_marked_string_in_english(
    zh_pages: dict[str, str], protocol_text: set[str]
) -> None:
    entries = po_entries(LOCALE / "zh_Hans/LC_MESSAGES/django.po")
    # a msgid of one short word may also be a data value (a query's status "open"): the longer
    # ones, every capitalised UI word and the stored states shown through the ``label`` filter
    # (context "status") are checked
    english = {
        text
        for key, v in entries.items()
        for context, _, text in [key.rpartition("\x04")]
        if text and v != text and (context == "status" or " " in text or text[:1].isupper())
    }
    untranslated = {
        name: sorted((_visible(page) & english) - protocol_text) for name, page in zh_pages.items()
    }
    bad = {name: found for name, found in untranslated.items() if found}
    assert bad == {}, repr(bad)


def test_key_pages_hold_no_english_ui_word(zh_pages: dict[str, str]) -> None:
    for name in ("dashboard", "participants", "participant", "crf", "safety", "screening"):
        visible = _visible(zh_pages[name])
        assert [w for w in ENGLISH_UI if w in visible] == [], name


def test_correction_choices_are_in_the_users_language(world: dict[str, Any]) -> None:
    """The yes/no and sex choices of the correction forms (and a CRF's yes/no items) come
    from the translated words, not English literals."""
    from django.conf import settings

    from frailtrial.edc.models import Screening

    c = client(world, "investigator")
    c.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    screening = Screening.objects.filter(trial=world["trial"]).first()
    assert screening is not None
    options = []
    for url in (f"/correct/adverseevent/{world['ae'].pk}/", f"/correct/screening/{screening.pk}/"):
        r = c.get(url)
        assert r.status_code == 200, url
        options += re.findall(r"<option[^>]*>([^<]*)</option>", r.content.decode())
    assert {"是", "否", "女", "男"} <= set(options), options
    assert not {"yes", "no", "female", "male"} & set(options), options
