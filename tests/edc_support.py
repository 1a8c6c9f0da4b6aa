"""Shared helpers of the EDC tests: fresh stores, a trial with members, enrolment and dosing.

The PostgreSQL server fixture (``pg_url``) is in ``conftest.py``.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Any

_count = {"n": 0}


_template: dict[str, Path] = {}


def sqlite_url(tmp: Path) -> str:
    """A fresh migrated SQLite store: a copy of one migrated once per test process."""
    if "path" not in _template:
        from frailtrial.edc import setup

        path = Path(tempfile.mkdtemp(prefix="frailtrial-edc-")) / "template.sqlite3"
        setup(f"sqlite:///{path}")
        from django.db import connections

        connections.close_all()
        _template["path"] = path
    _count["n"] += 1
    target = tmp / f"edc-{_count['n']}-{uuid.uuid4().hex[:6]}.sqlite3"
    shutil.copyfile(_template["path"], target)
    return f"sqlite:///{target}"


def use_store(url: str) -> None:
    from frailtrial.edc import setup

    setup(url)


def new_trial(
    protocol_name: str = "huc-msc-2024", n_list: int = 60, seed: int = 7
) -> dict[str, Any]:
    """A trial in the current store with one member per role and an imported list."""
    from frailtrial.edc.models import ROLES
    from frailtrial.edc.services import randomization, trials
    from frailtrial.protocol import load
    from frailtrial.randomization import generate_list, write_list

    protocol = load(protocol_name)
    name = f"{protocol_name}-{uuid.uuid4().hex[:8]}"
    trial = trials.create_trial(protocol, name)
    members = {r: trials.add_member(trial, f"{r}-{name}", r) for r in ROLES}
    frame = generate_list(protocol, (1 << 128) + seed, n_list)  # a live trial: >= 128 bits
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "list.csv"
        digest = write_list(frame, path, protocol.name, "given")
        randomization.import_list(members["admin"], path, digest)
    return {"protocol": protocol, "trial": trial, "m": members, "list": frame}


def eligible_input(protocol: Any, screening_id: str, **over: Any) -> dict[str, Any]:
    """Screening answers that meet every criterion of the protocol (override with ``over``)."""
    e = protocol.eligibility
    data: dict[str, Any] = {
        "screening_id": screening_id,
        "screened_on": "2024-03-01",
        "age": float(e.age_min + 5),
        "sex": "female",
        "height_cm": 158.0,
        "weight_kg": 61.0,
        "frailty_score": float(e.frailty.score_min + 1),
        "inclusions": {i.id: True for i in e.inclusions},
        "exclusions": {x.id: False for x in e.exclusions},
        "labs": {},
        "uln": {},
    }
    for lab in e.labs:
        if lab.relative_to_uln:
            data["uln"][lab.variable] = 40.0
            data["labs"][lab.variable] = 40.0
        elif lab.minimum is not None:
            data["labs"][lab.variable] = lab.minimum * 2
        else:
            data["labs"][lab.variable] = lab.maximum / 2
    data.update(over)
    return data


def enroll(t: dict[str, Any], screening_id: str, on: str = "2024-03-02") -> Any:
    """Screen, consent and randomize one eligible person; returns the Randomized result."""
    from frailtrial.edc.services import randomization, screening

    coord = t["m"]["coordinator"]
    screening.screen(coord, eligible_input(t["protocol"], screening_id))
    screening.consent(coord, screening_id, "1.0", on)
    return randomization.randomize(coord, screening_id, on)


def report_sae(
    coord: Any,
    participant_id: str,
    onset: str,
    term: str = "Pneumonia",
    body_system: str = "Infections",
    severity: str = "severe",
) -> Any:
    """Report a serious adverse event (hospitalization; not related; recovered)."""
    from frailtrial.edc.services import safety

    return safety.report(
        coord,
        participant_id,
        term,
        body_system,
        onset,
        severity,
        False,
        "recovered",
        ["hospitalization"],
    )


CELL_TESTS = {
    "sterility": "negative",
    "mycoplasma": "negative",
    "endotoxin_eu_ml": 0.2,
    "viability_pct": 91.0,
    "cd73": 99.0,
    "cd90": 98.5,
    "cd105": 97.0,
    "cd34": 0.4,
    "cd45": 0.6,
    "cd14": 0.2,
    "cd19": 0.1,
    "hla_dr": 0.8,
}


def dose_first(t: dict[str, Any], participant_id: str, weight: float = 61.0) -> Any:
    """Release lots (once), prepare and infuse dose 1 at 2024-03-05 09:00 UTC."""
    from frailtrial.edc.models import Lot
    from frailtrial.edc.services import product, randomization

    pharm = t["m"]["unblinded_pharmacist"]
    if not Lot.objects.filter(trial=t["trial"]).exists():
        product.record_lot(pharm, "C1", "cells", "2024-02-01", CELL_TESTS, cells_per_ml=5e6)
        product.record_lot(
            pharm,
            "P1",
            "saline",
            "2024-02-01",
            {"sterility": "negative", "endotoxin_eu_ml": 0.05},
            is_placebo=True,
        )
    arm = randomization.arm_of(pharm, participant_id)
    lot = "P1" if arm == t["protocol"].control_arm.name else "C1"
    prep = product.prepare(pharm, participant_id, 1, lot, weight)
    start = dt.datetime(2024, 3, 5, 9, 0, tzinfo=dt.UTC)
    product.infuse(
        t["m"]["coordinator"],
        participant_id,
        prep.kit_code,
        start,
        start + dt.timedelta(minutes=40),
        prep.volume_ml,
    )
    return prep


def lock_accepting_all(admin: Any, reason: str) -> Any:
    """Lock the trial, accepting every open pre-lock checklist item with ``reason`` (for tests
    about what happens after a lock, not about the checklist)."""
    from django.utils import timezone

    from frailtrial.edc.services import prelock, trials

    items = prelock.open_blockers(admin, timezone.localdate())
    return trials.lock(admin, reason, {b.key: reason for b in items})


def free_port() -> int:
    """A free TCP port on loopback (for throwaway servers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
