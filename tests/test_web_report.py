"""The statistician downloads the analysis report of the locked, unblinded trial."""

from __future__ import annotations

from pathlib import Path

import pytest

from web_support import PASSWORD, web_store

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


@pytest.mark.slow
def test_statistician_downloads_analysis_report(tmp_path: Path) -> None:
    url = web_store(tmp_path)
    from django.contrib.auth.models import User
    from django.test import Client

    from frailtrial.edc.pipeline import load_simulated_trial
    from frailtrial.protocol import load
    from frailtrial.simulate import simulate_trial

    protocol = load("huc-msc-2024")
    load_simulated_trial(simulate_trial(protocol, 5), protocol, url, list_seed=5)
    user = User.objects.get(username="statistician")
    user.set_password(PASSWORD)
    user.save()
    c = Client()
    assert c.post("/login/", {"username": "statistician", "password": PASSWORD}).status_code == 302
    c.get("/choose/")
    page = c.get("/exports/")
    assert b"download-report" in page.content
    r = c.post("/exports/", {"kind": "report"})
    assert r.status_code == 200, r.content[:300]
    html = b"".join(r.streaming_content).decode("utf-8")
    assert "Table 3" in html and "randomized" in html.lower()
    assert 'filename="' in r["Content-Disposition"] and "report.html" in r["Content-Disposition"]


def test_blinded_statistician_gets_no_report(tmp_path: Path) -> None:
    from django.test import Client

    from web_support import trial_with_data

    web_store(tmp_path)
    t = trial_with_data()
    c = Client()
    name = t["m"]["statistician"].user.username
    assert c.post("/login/", {"username": name, "password": PASSWORD}).status_code == 302
    c.get("/choose/")
    assert b"download-report" not in c.get("/exports/").content
    r = c.post("/exports/", {"kind": "report"}, follow=True)
    assert b"lock the database and unblind the statistician first" in r.content
