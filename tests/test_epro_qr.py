"""The ePRO one-time link as a QR code on the coordinator's page: the code (inline SVG drawn
on the server) decodes to exactly the printed link, is named for screen readers with its
expiry, and the token appears nowhere but on that page (not in the audit trail, the session
row or the server's access log). The browser test decodes a screenshot of it as well
(test_epro_browser.py)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from epro_support import held_participant, write_wordings
from web_support import client, trial_with_data, web_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("epro-qr")
    web_store(tmp)
    t = trial_with_data()
    t["wording"] = write_wordings(tmp / "wording")
    t["qr"] = {
        lang: held_participant(t, f"S-Q{i}", "week1", "2024-03-12")
        for i, lang in enumerate(("en", "zh-hans"))
    }
    return t


@pytest.fixture(autouse=True)
def wording_dir(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAILTRIAL_WORDING_DIR", str(world["wording"]))


def modules(svg: str) -> Any:
    """The dark modules of segno's SVG (one path of horizontal 1-unit strokes) as a 0/1
    matrix, read from the path itself: what a phone's camera sees, without a browser."""
    import numpy as np

    size = int(re.search(r'viewBox="0 0 (\d+) \1"', svg).group(1))  # type: ignore[union-attr]
    path = re.search(r'<path class="qrline" stroke="#000" d="([^"]+)"', svg).group(1)  # type: ignore[union-attr]
    grid = np.zeros((size, size), dtype=np.uint8)
    x = y = 0.0
    for cmd, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path):
        if cmd == "M":
            x, y = float(a), float(b)
        elif cmd == "m":
            x, y = x + float(a), y + float(b)
        else:
            grid[int(y - 0.5), int(x) : int(x + float(a))] = 1
            x += float(a)
    return grid


def decoded(svg: str) -> str:
    """The text of the QR code drawn by ``svg`` (zxing-cpp on the matrix, 8 px a module)."""
    import numpy as np
    import zxingcpp

    image = np.kron(255 * (1 - modules(svg)), np.ones((8, 8), dtype=np.uint8)).astype(np.uint8)
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1 and found[0].format == zxingcpp.BarcodeFormat.QRCode
    return str(found[0].text)


@pytest.mark.parametrize(
    ("language", "label"),
    [
        (
            "en",
            r"QR code of the one-time questionnaire link; it expires on "
            r"(\d{4}-\d\d-\d\d \d\d:\d\d)\.",
        ),
        ("zh-hans", r"一次性问卷链接的二维码，有效期至 (\d{4})年"),
    ],
)
def test_the_link_page_shows_a_qr_code_of_the_same_link(
    world: dict[str, Any], language: str, label: str
) -> None:
    from django.conf import settings
    from django.test import Client

    from frailtrial.edc.models import AuditEntry, EproSession
    from frailtrial.edc.services import epro

    staff = client(world, "coordinator")
    staff.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    before = AuditEntry.objects.count()
    r = staff.post(
        f"/participants/{world['qr'][language]}/visits/week1/epro/",
        {"kind": "link", "language": language},
    )
    page = r.content.decode()
    assert r.status_code == 200 and r["Cache-Control"] == "no-store"
    link = html.unescape(re.search(r'<code id="epro-link">([^<]+)</code>', page).group(1))  # type: ignore[union-attr]
    svg = re.search(r'<figure id="epro-qr">(<svg .*?</svg>)', page, re.S).group(1)  # type: ignore[union-attr]
    assert decoded(svg) == link  # the code holds exactly the printed link
    name = html.unescape(re.search(r'<svg role="img" aria-label="([^"]+)"', svg).group(1))  # type: ignore[union-attr]
    when = re.fullmatch(label, name) if language == "en" else re.match(label, name)
    assert when, name
    token = link.rsplit("/", 2)[1]
    s = EproSession.objects.get(digest=epro.digest(token))
    assert str(s.expires_at.year) in when.group(1)
    assert token not in name and page.count(token) == 1  # as text: the printed link only
    # nothing stored or audited holds the token (only its SHA-256)
    written = AuditEntry.objects.order_by("seq")[before:]
    assert written and all(token not in e.old + e.new + e.reason for e in written)
    # the code opens the session once
    path = link.removeprefix("http://testserver")
    assert Client().post(path).status_code == 302
    assert Client().post(path).status_code == 403


def test_the_access_log_holds_no_one_time_token() -> None:
    """gunicorn's access-log values with the ePRO link or invitation token replaced."""
    import datetime as dt
    from types import SimpleNamespace

    from gunicorn.config import Config

    from frailtrial.web.access_log import RedactingLogger

    token = "Zt9-xQ_" + "a" * 36
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": f"/p/start/{token}/",
        "PATH_INFO": f"/p/start/{token}/",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"http://127.0.0.1/invite/fti_{token}/?x=1",
        "QUERY_STRING": "",
    }
    resp = SimpleNamespace(status="302 Found", sent=0, headers=[])
    req = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    atoms = RedactingLogger(Config()).atoms(resp, req, environ, dt.timedelta(seconds=0))
    assert token not in repr(atoms)
    assert atoms["r"] == "POST /p/start/[token]/ HTTP/1.1"
    assert atoms["f"] == "http://127.0.0.1/invite/[token]/?x=1"
    assert atoms["U"] == "/p/start/[token]/"
