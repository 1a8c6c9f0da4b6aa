"""axe-core on every staff page, in English and in zh-Hans: no serious or critical violation.

The pages are the routes of the access sweep (tests/test_web_access.py), each opened in
Debian's Chromium by the first role allowed on it (admin, coordinator, then the others: the
pharmacy and DSMB pages by their unblinded roles), with the sweep's records as parameters.
Routes answering a GET with something other than an HTML page (POST-only actions, downloads,
redirects) are left out; the login and invitation pages are checked logged out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from axe_support import violations
from browser_support import BROWSER, served
from i18n_support import ROLE_ORDER
from web_support import route_kwargs, routes, sweep_world

# pages that must be among those checked (the sweep found them as HTML pages)
MUST = (
    "dashboard",
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
    "blank_crfs",
    "audit",
    "correct",
    "ae_report",
    "log",
    "log_entry",
    "safety",
    "queries",
    "screening",
    "sign",
    "unblind",
    "account",
    "login",
    "invitation",
)

pytestmark = BROWSER


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from web_support import web_store

    tmp = tmp_path_factory.mktemp("a11y-browser")
    url = web_store(tmp)
    t = sweep_world()
    with served(url, tmp) as base:
        yield {"base": base, "t": t}


def _pages(t: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """(route name, role or None for logged out, path) of every staff page of the sweep."""
    from django.urls import reverse

    from frailtrial.web.access import PERMISSIONS
    from frailtrial.web.urls import PUBLIC

    kw = route_kwargs(t)
    out = []
    for name, view, params in routes():
        path = reverse(f"web:{name}", kwargs={k: kw[k] for k in params})
        perm = getattr(view, "permission", None)
        if name in ("login", "invitation"):
            out.append((name, None, path))
        elif name not in PUBLIC and perm is not None:
            out.append((name, next(r for r in ROLE_ORDER if r in PERMISSIONS[perm]), path))
    return out


def _session(browser: Any, server: dict[str, Any], role: str | None, lang: str) -> Any:
    """A page of a new context in ``lang``, logged in as ``role`` (None: logged out)."""
    from web_support import PASSWORD

    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.add_cookies([{"name": "django_language", "value": lang, "url": server["base"]}])
    page = ctx.new_page()
    if role is not None:
        page.goto(server["base"] + "/login/")
        page.fill("#id_username", server["t"]["m"][role].user.username)
        page.fill("#id_password", PASSWORD)
        with page.expect_navigation():
            page.click("main button[type=submit]")
        page.goto(server["base"] + "/choose/")  # one membership: chosen at once
        assert "/login/" not in page.url and "/choose/" not in page.url, (role, page.url)
    return page


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_every_staff_page_has_no_serious_violation(
    server: dict[str, Any], browser: Any, lang: str
) -> None:
    pages: dict[str | None, Any] = {}
    checked, found = [], []
    for name, role, path in _pages(server["t"]):
        if role not in pages:
            pages[role] = _session(browser, server, role, lang)
        page = pages[role]
        probe = page.request.get(server["base"] + path, max_redirects=0)
        if probe.status != 200 or "text/html" not in probe.headers.get("content-type", ""):
            continue  # a POST-only action (405), a download or a redirect
        r = page.goto(server["base"] + path)
        assert r is not None and r.status == 200, (name, path)
        checked.append(name)
        found += violations(page)
    for page in pages.values():
        page.context.close()
    assert [n for n in MUST if n not in checked] == []
    assert found == [], "\n".join(found)
