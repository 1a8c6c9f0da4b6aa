"""Shared helpers of the web tests: a store with the web app, a trial with data, logins."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

PASSWORD = "correct-horse-battery-7"
ROOT = Path(__file__).resolve().parents[1]


def web_store(tmp: Path | None = None) -> str:
    """A fresh SQLite store, migrated for the store and the web app."""
    from frailtrial.web.config import setup

    folder = tmp or Path(tempfile.mkdtemp(prefix="frailtrial-web-"))
    return setup(f"sqlite:///{folder / f'web-{uuid.uuid4().hex[:6]}.sqlite3'}")


def trial_with_data() -> dict[str, Any]:
    """A trial: members (password set) per role, a member at another site, one participant
    randomized, dosed, with a visit held, a CRF, an SAE, a query; one open screening."""
    from edc_support import dose_first, eligible_input, enroll, new_trial, report_sae
    from frailtrial.edc.services import crf, people, screening, trials, visits

    t = new_trial()
    for m in t["m"].values():
        m.user.set_password(PASSWORD)
        m.user.save()
    other = people.add_site(t["m"]["admin"], "Other Hospital", "OTH")  # audited
    t["m"]["other_site"] = trials.add_member(
        t["trial"], f"othersite-{t['trial'].name}", "coordinator", site=other, password=PASSWORD
    )
    got = enroll(t, "S-001")
    pid = got.participant_id
    dose_first(t, pid)
    coord = t["m"]["coordinator"]
    visits.attend(coord, pid, "week1", dt.date(2024, 3, 12))
    saved = crf.enter_crf(coord, pid, "week1", "tug", {"tug_s": 11.5})
    ae = report_sae(coord, pid, "2024-03-20")
    screening.screen(coord, eligible_input(t["protocol"], "S-002"))
    t.update(pid=pid, participant=got, crf=saved, ae=ae)
    return t


def start_server(
    url: str, data_dir: Path, workers: int, threads: int
) -> tuple[subprocess.Popen[bytes], int]:
    """``frailtrial serve`` of the store at ``url`` on a free loopback port, once it listens;
    (process, port). Its output goes to ``data_dir/server.log``; the caller terminates it."""
    from edc_support import free_port
    from frailtrial.edc.services.audit import key_path

    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "FRAILTRIAL_DATA_DIR": str(data_dir),
        # the audit key of the process that made the store (on PostgreSQL not in data_dir)
        "FRAILTRIAL_AUDIT_KEY_FILE": str(key_path(url)),
    }
    log = data_dir / "server.log"
    command = [sys.executable, "-m", "frailtrial", "serve", "--db", url, "--port", str(port)]
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*command, "--workers", str(workers), "--threads", str(threads)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"frailtrial serve did not start:\n{log.read_text()}")


def sweep_world() -> dict[str, Any]:
    """The trial of the sweep: every record a route parameter names (a query, a log entry,
    an invitation) exists, and every role has an API token."""
    t = trial_with_data()
    from frailtrial.edc.models import DataQuery
    from frailtrial.web.security import issue_token

    q = DataQuery.objects.create(
        trial=t["trial"],
        participant=t["crf"].participant,
        model="crf",
        object_id=str(t["crf"].pk),
        field="tug_s",
        text="check",
        raised_by=t["m"]["monitor"],
        raised_at=t["crf"].entered_at,
    )
    t["query"] = q
    from frailtrial.edc.services import logs

    t["log"] = logs.add(
        t["m"]["coordinator"],
        t["pid"],
        "concomitant_medication",
        {
            "drug": "aspirin",
            "indication": "prevention",
            "started_on": "2020-01-01",
            "ongoing": True,
        },
    )
    from frailtrial.edc.services import people

    t["invitation"] = people.invite(t["m"]["admin"], "invited", "monitor", "OTH", "In", "Vited")[1]
    t["tokens"] = {role: issue_token(m) for role, m in t["m"].items()}
    return t


def route_kwargs(t: dict[str, Any]) -> dict[str, Any]:
    """A value for every parameter of the web routes, naming the sweep trial's records."""
    return {
        "screening_id": "S-002",
        "pid": t["pid"],
        "visit": "week1",
        "instrument": "tug",
        "crf_id": t["crf"].pk,
        "query_id": t["query"].pk,
        "ae_id": t["ae"].pk,
        "model": "crf",
        "object_id": str(t["crf"].pk),
        "package": "web",
        "name": "site.css",
        "record": "adverseevent",
        "record_id": t["ae"].pk,
        "form": "concomitant_medication",
        "entry_id": t["log"].pk,
        "token": t["invitation"],
    }


def routes() -> list[tuple[str, Any, list[str]]]:
    """(name, view, parameter names) of every web route."""
    from frailtrial.web.urls import web_patterns

    return [(p.name, p.callback, list(p.pattern.converters)) for p in web_patterns]


def client(t: dict[str, Any], role: str) -> Any:
    """A test client logged in as ``role`` of trial ``t`` (its one membership chosen)."""
    from django.test import Client

    c = Client()
    r = c.post("/login/", {"username": t["m"][role].user.username, "password": PASSWORD})
    assert r.status_code == 302, (role, r.status_code)
    assert c.get("/choose/").status_code == 302  # one membership: chosen at once
    return c
