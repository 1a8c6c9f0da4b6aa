"""Run a simulated trial (a TrialDataset) through the store's services, as site staff would.

The demo calls :func:`load_simulated_trial` and then :func:`export_trial`. Every record goes
through the same service as a user's entry (screening with eligibility, consent, allocation
from an imported list, lot release, dose preparation, infusion, visits, measurements, AEs,
withdrawal), so the audit trail, windows and blinding rules all apply.

The simulator has already allocated its participants (its outcomes depend on the arm), so the
list imported here is the simulator's allocation sequence in randomization order, written and
committed like any generated list; each allocation the store makes is checked to equal it.
Screening inputs the simulator does not produce (exclusion answers, screening labs) are set
within the criteria for randomized people; for screen failures the failing criterion is
taken from the reason text when it names one, else recorded as the investigator's reason.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from frailtrial.dataset import TrialDataset
from frailtrial.dataset.schema import DEMOGRAPHICS
from frailtrial.edc.config import setup
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol
from frailtrial.randomization.lists import COLUMNS, generate_list, write_list
from frailtrial.randomization.minimization import rehearsal_secret

CELL_TESTS = {
    "sterility": "negative",
    "mycoplasma": "negative",
    "endotoxin_eu_ml": 0.1,
    "viability_pct": 92.0,
    "cd73": 99.0,
    "cd90": 99.0,
    "cd105": 98.0,
    "cd34": 0.5,
    "cd45": 0.5,
    "cd14": 0.4,
    "cd19": 0.3,
    "hla_dr": 0.6,
}
PLACEBO_TESTS = {"sterility": "negative", "endotoxin_eu_ml": 0.05}


def _date(day: int, first: dt.date) -> dt.date:
    """The calendar date of a study day (day 1 = first infusion, no day 0)."""
    return first + dt.timedelta(days=day - 1 if day >= 1 else day)


def _value(v: Any) -> Any:
    if v is None or (not isinstance(v, (str, list, dict)) and pd.isna(v)):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def _in_range(lab: Any) -> float:
    if lab.minimum is not None and lab.maximum is not None:
        return (lab.minimum + lab.maximum) / 2
    if lab.minimum is not None:
        return lab.minimum * 1.5
    return lab.maximum * 0.5


def _screening_input(
    protocol: Protocol, row: Mapping[str, Any], person: Mapping[str, Any] | None
) -> dict[str, Any]:
    e = protocol.eligibility
    frailty_key = f"{e.frailty.instrument}_score"
    base: dict[str, Any] = {
        "screening_id": str(row["screening_id"]),
        "screened_on": pd.Timestamp(row["screened_on"]).date(),
        "age": float((e.age_min + e.age_max) / 2),
        "sex": "female",
        "height_cm": 160.0,
        "weight_kg": 60.0,
        "frailty_score": float(math.ceil((e.frailty.score_min + e.frailty.score_max) / 2)),
        "other_scores": {
            c.instrument: (c.score_min + c.score_max) / 2 for c in e.other_instruments
        },
        "inclusions": {i.id: True for i in e.inclusions},
        "exclusions": {x.id: False for x in e.exclusions},
        "labs": {lab.variable: _in_range(lab) for lab in e.labs},
        "uln": {lab.variable: 1.0 for lab in e.labs if lab.relative_to_uln},
        "baseline": {},
    }
    if person is not None:
        for key in ("age", "sex", "height_cm", "weight_kg"):
            base[key] = _value(person[key])
        if _value(person.get(frailty_key)) is not None:
            base["frailty_score"] = float(person[frailty_key])
        base["baseline"] = {
            k: _value(v)
            for k, v in person.items()
            if k not in DEMOGRAPHICS and k in {c.name for c in protocol.baseline_characteristics}
        }
        return base
    if bool(row["eligible"]):
        return base
    reason = str(_value(row["reason_not_randomized"]) or "not eligible")
    text = reason.lower()
    if "age" in text.split() or text.startswith("age"):
        base["age"] = float(e.age_max + 1)
    elif e.frailty.instrument in text or "frail" in text:
        base["frailty_score"] = float(e.frailty.score_min - 1)
    elif excluded := [x for x in e.exclusions if x.id in text or x.text.lower() in text]:
        for x in excluded:
            base["exclusions"][x.id] = True
    elif out_of_range := [lab for lab in e.labs if lab.label.lower() in text]:
        for lab in out_of_range:
            if lab.minimum is not None and lab.minimum > 0:
                base["labs"][lab.variable] = lab.minimum * 0.5
            else:
                base["labs"][lab.variable] = (lab.maximum or 1.0) * 2
    elif unmet := [i for i in e.inclusions if i.id in text or i.text.lower() in text]:
        for i in unmet:
            base["inclusions"][i.id] = False
    else:
        base["investigator_exclusion"] = reason
    return base


def _allocation_list(protocol: Protocol, parts: pd.DataFrame, stratum: pd.Series) -> pd.DataFrame:
    size = protocol.randomization.block_sizes[0] if protocol.randomization.block_sizes else 1
    frame = pd.DataFrame({"stratum": stratum.to_numpy(), "arm": parts["arm"].to_numpy()})
    frame["block"] = frame.groupby("stratum").cumcount() // size + 1
    frame["block_size"] = size
    frame["sequence"] = np.arange(1, len(frame) + 1)
    frame["randomization_number"] = [f"R{i:03d}" for i in frame["sequence"]]
    return frame[list(COLUMNS)]


def load_simulated_trial(
    dataset: TrialDataset,
    protocol: Protocol,
    db_url: str | None,
    trial_name: str | None = None,
    lock: bool = True,
    list_seed: int | None = None,
) -> dict[str, Any]:
    """Enter a simulated trial into the store at ``db_url`` through the services.

    With ``lock`` the database is locked afterwards and the statistician unblinded for the
    analysis, so that :func:`export_trial` writes arms. With ``list_seed`` the imported list is
    ``generate_list(protocol, list_seed, n)`` (the simulator's own list for the same seed), or
    for minimization the trial's secret is the simulator's for that seed;
    otherwise the simulated allocation sequence. Returns counts and the list commitment.
    All of it is one transaction (each service a savepoint): a failed load leaves no trial.
    """
    url = setup(db_url, synchronous="NORMAL")  # a simulation: survive a crash, skip fsyncs
    from django.db import transaction

    with transaction.atomic():
        return {"db": url, **_enter(dataset, protocol, trial_name, lock, list_seed)}


def _enter(
    dataset: TrialDataset,
    protocol: Protocol,
    trial_name: str | None,
    lock: bool,
    list_seed: int | None,
) -> dict[str, Any]:
    """The body of :func:`load_simulated_trial`, inside its transaction."""
    from django.utils import timezone

    from frailtrial.edc.models import ROLES
    from frailtrial.edc.services import (
        audit,
        crf,
        prelock,
        product,
        randomization,
        safety,
        screening,
        trials,
    )
    from frailtrial.edc.services import visits as visit_service

    trial = trials.create_trial(protocol, trial_name)
    members = {role: trials.add_member(trial, role, role) for role in ROLES}
    coord, pharm, admin = members["coordinator"], members["unblinded_pharmacist"], members["admin"]
    parts = dataset.participants.sort_values(["randomized_on", "participant_id"], kind="stable")
    parts = parts.reset_index(drop=True)
    by_id = {str(r["participant_id"]): r for r in parts.to_dict("records")}
    screen_of = {
        str(r["participant_id"]): r
        for r in dataset.screening.to_dict("records")
        if _value(r["participant_id"]) is not None
    }

    # screening log (everyone) -- the stratum needs the screening inputs, so screen first
    from frailtrial.edc.models import Screening
    from frailtrial.edc.services.common import protocol_of

    sites = list(trial.sites.order_by("pk"))
    codes = {site.name: site.code for site in sites}
    first_site = sites[0].code  # where the service screens a person of no known site
    first_day = pd.Timestamp(parts["randomized_on"].min()).date()
    for row in dataset.screening.sort_values("screened_on", kind="stable").to_dict("records"):
        pid = _value(row["participant_id"])
        person = by_id.get(str(pid)) if pid is not None else None
        code = codes.get(str(person["site"]), first_site) if person is not None else first_site
        screening.screen(coord, _screening_input(protocol, row, person), site_code=code)
        if person is None and bool(row["eligible"]):
            reason = _value(row["reason_not_randomized"]) or "not randomized"
            screening.close(coord, str(row["screening_id"]), str(reason))
    missing = [p for p in parts["participant_id"] if str(p) not in screen_of]
    if missing:
        raise InputError(f"participant {missing[0]} has no row in screening")
    stored = protocol_of(trial)
    screened = {
        s.screening_id: s for s in Screening.objects.filter(trial=trial).select_related("site")
    }
    strata = []
    for pid in parts["participant_id"]:
        s = screened[str(screen_of[str(pid)]["screening_id"])]
        strata.append(randomization.stratum_of(stored, s.site.name, s))
    strata_s = pd.Series(strata)
    digest = None
    if protocol.randomization.scheme == "minimization":
        if list_seed is None:
            raise InputError(
                f"protocol {protocol.name} allocates by minimization: pass the simulation "
                "seed as list_seed so that the store draws the simulator's allocations"
            )
        audit.update(  # a rehearsal: the simulator's secret, audited (as a digest)
            None,
            trial,
            {"minimization_secret": f"{rehearsal_secret(list_seed):032x}"},
            "rehearsal: the simulator's minimization secret",
        )
    else:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "allocation_list.csv"
            frame = (
                _allocation_list(protocol, parts, strata_s)
                if list_seed is None
                else generate_list(protocol, list_seed, len(parts))
            )
            digest = write_list(frame, path, protocol.name, "weak")  # a rehearsal, not live
            randomization.import_list(admin, path, digest, rehearsal=True)

    for r in parts.to_dict("records"):
        pid = str(r["participant_id"])
        sid = str(screen_of[pid]["screening_id"])
        day = pd.Timestamp(r["randomized_on"]).date()
        screening.consent(coord, sid, "1.0", day)
        got = randomization.randomize(coord, sid, day, participant_id=pid)
        if randomization.arm_of(pharm, got.participant_id) != r["arm"]:
            raise InputError(f"allocation of {pid} differs from the simulated arm")

    lots = {False: "MSC-LOT-001", True: "PLACEBO-LOT-001"}
    tested = first_day - dt.timedelta(days=14)
    # 1e7 cells/mL: the largest simulated dose (2e8 cells, CRATUS) is 20 mL of concentrate
    product.record_lot(
        pharm, lots[False], protocol.arms[0].dose.product, tested, CELL_TESTS, cells_per_ml=1e7
    )
    product.record_lot(
        pharm, lots[True], protocol.control_arm.dose.product, tested, PLACEBO_TESTS, is_placebo=True
    )

    first_inf = {
        pid: pd.Timestamp(r["randomized_on"]).date() + dt.timedelta(days=1)
        for pid, r in by_id.items()
    }
    placebo = protocol.control_arm.name
    for d in dataset.dosing.sort_values(["dose_number", "participant_id"]).to_dict("records"):
        pid = str(d["participant_id"])
        person = by_id[pid]
        cells, per_kg = float(d["cells"]), float(d["cells_per_kg"])
        weight = cells / per_kg if cells > 0 and per_kg > 0 else float(person["weight_kg"])
        prep = product.prepare(
            pharm, pid, int(d["dose_number"]), lots[person["arm"] == placebo], weight
        )
        start = dt.datetime.combine(
            _date(int(d["day"]), first_inf[pid]), dt.time(9, 0), tzinfo=dt.UTC
        )
        product.infuse(
            coord, pid, prep.kit_code, start, start + dt.timedelta(minutes=45), prep.volume_ml
        )

    n_visits = 0
    visit_rows = (
        dataset.visits
        if len(dataset.visits)
        else (
            dataset.measurements.groupby(["participant_id", "visit"], as_index=False)["day"]
            .first()
            .assign(status="attended", reason=None)
        )
    )
    for v in visit_rows.to_dict("records"):
        pid, name, status = str(v["participant_id"]), str(v["visit"]), str(v["status"])
        if name == protocol.visits[0].name and protocol.visits[0].kind == "screening":
            continue
        if status == "attended":
            visit_service.attend(coord, pid, name, _date(int(v["day"]), first_inf[pid]))
            n_visits += 1
        elif status == "missed":
            visit_service.miss(coord, pid, name, str(_value(v["reason"]) or "missed"))

    n_meas = 0
    screening_visit = protocol.visits[0].name
    meas = dataset.measurements[dataset.measurements["visit"] != screening_visit]
    has_lloq = "below_lloq" in meas.columns
    variables, numbers = meas["variable"].tolist(), meas["value"].astype(float).tolist()
    lloq = meas["below_lloq"].tolist() if has_lloq else [None] * len(meas)
    forms: dict[tuple[Any, Any], list[int]] = {}  # rows of each form, forms in order seen
    for i, key in enumerate(zip(meas["participant_id"], meas["visit"], strict=True)):
        if not (pd.isna(key[0]) or pd.isna(key[1])):
            forms.setdefault(key, []).append(i)
    for (pid, visit_name), rows in forms.items():
        values = {variables[i]: numbers[i] for i in rows}
        flags = None
        if any(_value(lloq[i]) is not None for i in rows):
            flags = {variables[i]: bool(lloq[i]) for i in rows if _value(lloq[i]) is not None}
        crf.record_measurements(coord, str(pid), str(visit_name), values, below_lloq=flags)
        n_meas += len(values)

    for a in dataset.adverse_events.to_dict("records"):
        pid = str(a["participant_id"])
        end = _value(a.get("end_day")) if "end_day" in a else None
        safety.report(
            coord,
            pid,
            str(a["term"]),
            str(a["body_system"]),
            _date(int(a["onset_day"]), first_inf[pid]),
            str(a["severity"]),
            bool(a["related"]),
            str(a["outcome"]),
            ["important_medical_event"] if bool(a["serious"]) else [],
            _date(int(end), first_inf[pid]) if end is not None else None,
        )

    for pid, r in by_id.items():
        if _value(r["withdrawn_on"]) is not None:
            visit_service.withdraw(
                coord,
                pid,
                pd.Timestamp(r["withdrawn_on"]).date(),
                str(_value(r["withdrawal_reason"]) or "withdrew consent"),
            )
    if lock:
        _acknowledge_saes(members["medical_monitor"])
        gaps = {
            b.key: "simulated trial: its measurements are entered as values, without CRFs"
            for b in prelock.open_blockers(admin, timezone.localdate())
            if b.kind == "crf"
        }
        trials.lock(admin, "simulated trial complete", gaps)
        trials.unblind_statistician(admin, members["statistician"], "final analysis")
    return {
        "trial": trial.name,
        "screened": len(dataset.screening),
        "randomized": len(parts),
        "infusions": len(dataset.dosing),
        "visits_attended": n_visits,
        "measurements": n_meas,
        "adverse_events": len(dataset.adverse_events),
        "list_sha256": digest,
        "locked": lock,
    }


def _acknowledge_saes(monitor: Any) -> None:
    """The medical monitor acknowledges every SAE of the simulated trial before the lock."""
    from frailtrial.edc.models import SaeAlert
    from frailtrial.edc.services import safety

    alerts = SaeAlert.objects.filter(
        adverse_event__participant__trial_id=monitor.trial_id, acknowledged_at__isnull=True
    )
    for ae_id in alerts.values_list("adverse_event_id", flat=True):
        safety.acknowledge(monitor, ae_id, "simulated trial")


def export_trial(
    db_url: str | None,
    out: str | Path,
    trial_name: str | None = None,
    username: str = "statistician",
) -> dict[str, Any]:
    """Export the trial as ``username`` (the statistician, unblinded after lock, by default)
    from the simulated store, opened as :func:`load_simulated_trial` opens it (synchronous
    NORMAL), so that after a load the open connection is kept: no reconnect, no second
    migration check."""
    setup(db_url, synchronous="NORMAL")
    from frailtrial.edc.services import trials
    from frailtrial.edc.services.exports.run import export

    return export(trials.find_member(trial_name, username, "statistician"), out)
