"""A simulated trial goes through the services into the store and comes back out unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edc_support import sqlite_url
from frailtrial.dataset import TrialDataset, read_dataset, validate_dataset
from frailtrial.dataset.schema import ADVERSE_EVENTS
from frailtrial.protocol import Protocol, load, parse
from protocol_support import raw


def fake_simulation(protocol: Protocol, n: int = 30, seed: int = 3) -> TrialDataset:
    """A small trial shaped like the simulator's output (dataset/schema.py)."""
    rng = np.random.default_rng(seed)
    ids = [f"P{i:03d}" for i in range(1, n + 1)]
    arms = np.array(["mscs", "placebo"] * (n // 2))
    for b in range(0, n, 6):
        arms[b : b + 6] = rng.permutation(arms[b : b + 6])
    rand_on = pd.Timestamp("2024-01-10") + pd.to_timedelta(np.arange(n) * 3, unit="D")
    height = rng.normal(160, 8, n).round(1)
    weight = rng.normal(62, 9, n).round(1)
    parts = pd.DataFrame(
        {
            "participant_id": ids,
            "site": protocol.identity.sites[0],
            "arm": arms,
            "randomized_on": rand_on,
            "age": rng.integers(60, 81, n).astype(float),
            "sex": rng.choice(["male", "female"], n),
            "height_cm": height,
            "weight_kg": weight,
            "bmi": (weight / (height / 100) ** 2).round(2),
            "itt": True,
            "safety": True,
            "per_protocol": True,
            "withdrawn_on": pd.NaT,
            "withdrawal_reason": None,
        }
    )
    for c in protocol.baseline_characteristics:
        if c.name in parts:
            continue
        parts[c.name] = (
            rng.integers(1, 5, n).astype(float)
            if c.name == "fried_score"
            else rng.integers(0, 2, n).astype(float)
            if c.kind == "binary"
            else rng.normal(100, 10, n).round(1)
        )
    parts.loc[4, ["withdrawn_on", "withdrawal_reason"]] = [
        rand_on[4] + pd.Timedelta(days=70),
        "withdrew consent",
    ]
    visits, meas = [], []
    for i, pid in enumerate(ids):
        for v in protocol.assessment_visits:
            if i == 4 and v.day > 60:
                visits.append((pid, v.name, "withdrawn", None, "withdrew consent"))
                continue
            if i == 7 and v.name == "month2":
                visits.append((pid, v.name, "missed", None, "hospitalised"))
                continue
            day = v.day if v.kind != "baseline" else 1
            visits.append((pid, v.name, "attended", day, None))
            for var in protocol.variables:
                x = round(float(rng.normal(50, 10)), 2)
                if var.name == "psqi":  # the PSQI global score is an integer 0-21
                    x = float(min(max(round(x * 21 / 100), 0), 21))
                meas.append((pid, v.name, day, var.name, x, var.unit))
    m = pd.DataFrame(meas, columns=["participant_id", "visit", "day", "variable", "value", "unit"])
    vis = pd.DataFrame(visits, columns=["participant_id", "visit", "status", "day", "reason"])
    vis["day"] = vis["day"].astype("Int64")
    m["day"] = m["day"].astype("Int64")
    dosing = pd.DataFrame(
        [
            (
                pid,
                k + 1,
                day,
                (1e6 * parts.weight_kg[i]) if arms[i] == "mscs" else 0.0,
                1e6 if arms[i] == "mscs" else 0.0,
                "L1",
            )
            for i, pid in enumerate(ids)
            for k, day in enumerate([1, 30])
        ],
        columns=["participant_id", "dose_number", "day", "cells", "cells_per_kg", "lot"],
    )
    aes = pd.DataFrame(
        [
            ("P002", "Fever", "General disorders", 2, False, "mild", True, "recovered", 4),
            ("P010", "Pneumonia", "Infections", 45, True, "severe", False, "recovered", 60),
            (
                "P011",
                "Dizziness",
                "Nervous system disorders",
                31,
                False,
                "moderate",
                False,
                "recovered",
                None,
            ),
        ],
        columns=[c.name for c in ADVERSE_EVENTS.columns],
    )
    aes["end_day"] = aes["end_day"].astype("Int64")
    scr = pd.DataFrame(
        {
            "screening_id": [f"S{i:03d}" for i in range(1, n + 9)],
            "screened_on": list(rand_on - pd.Timedelta(days=5)) + [rand_on[0]] * 8,
            "eligible": [True] * n + [False] * 6 + [True] * 2,
            "reason_not_randomized": [None] * n
            + [
                "age > 80",
                "fried score 0 (robust)",
                "exclusion: stroke",
                "malignancy",
                "refused blood draw",
                "uncontrolled hypertension",
                "declined consent",
                "lost before randomization",
            ],
            "participant_id": ids + [None] * 8,
        }
    )
    return TrialDataset(parts, m, aes, scr, dosing, vis)


@pytest.mark.slow
def test_simulated_trial_round_trips_through_the_services(tmp_path: Path) -> None:
    from frailtrial.edc.pipeline import export_trial, load_simulated_trial

    protocol = load("huc-msc-2024")
    sim = fake_simulation(protocol)
    validate_dataset(sim, protocol)
    url = sqlite_url(tmp_path)
    summary = load_simulated_trial(sim, protocol, url)
    out = export_trial(url, tmp_path / "export")
    from frailtrial.edc.services.integrity import verify_store

    assert verify_store().ok  # every row of a whole trial matches its last audited value
    assert summary["randomized"] == 30 and summary["locked"]
    assert not out["blinded"]
    ds = read_dataset(tmp_path / "export", protocol)

    a = sim.participants.set_index("participant_id")
    b = ds.participants.set_index("participant_id")
    assert (b.loc[a.index, "arm"] == a["arm"]).all()
    assert (b.loc[a.index, "age"] == a["age"]).all()
    assert b.loc["P005", "withdrawal_reason"] == "withdrew consent"
    assert np.allclose(b.loc[a.index, "fried_score"], a["fried_score"])

    key = ["participant_id", "visit", "variable"]
    ma = sim.measurements.set_index(key)["value"].sort_index()
    mb = ds.measurements.set_index(key)["value"].sort_index()
    assert ma.index.equals(mb.index) and np.allclose(ma, mb)
    days = ds.measurements.set_index(key)["day"].sort_index()
    assert (days == sim.measurements.set_index(key)["day"].sort_index()).all()

    assert len(ds.adverse_events) == 3
    assert ds.adverse_events.set_index("term").loc["Pneumonia", "onset_day"] == 45
    da = sim.dosing.set_index(["participant_id", "dose_number"])["cells"].sort_index()
    db = ds.dosing.set_index(["participant_id", "dose_number"])["cells"].sort_index()
    assert np.allclose(da, db)

    s = ds.screening.set_index("screening_id")
    assert s["reason_not_randomized"].notna().sum() == 8
    assert s.loc["S031", "reason_not_randomized"] == "age 81 outside 60-80"
    assert "stroke" in s.loc["S033", "reason_not_randomized"]
    assert s.loc["S035", "reason_not_randomized"] == "investigator: refused blood draw"
    assert s.loc["S037", "reason_not_randomized"] == "declined consent"
    v = ds.visits.set_index(["participant_id", "visit"])["status"]
    assert v[("P008", "month2")] == "missed" and v[("P005", "month6")] == "withdrawn"


def test_statistical_files_hold_the_same_numbers(tmp_path: Path) -> None:
    import pyreadstat

    from frailtrial.edc.pipeline import export_trial, load_simulated_trial

    protocol = load("huc-msc-2024")
    sim = fake_simulation(protocol, n=6)
    sim.screening = sim.screening.iloc[:6]
    sim.adverse_events = sim.adverse_events[sim.adverse_events["participant_id"] == "P002"]
    url = sqlite_url(tmp_path)
    load_simulated_trial(sim, protocol, url)
    out = tmp_path / "x"
    export_trial(url, out)
    csv = pd.read_csv(out / "measurements.csv")
    long = csv.set_index(["participant_id", "visit", "variable"])["value"].sort_index()
    sav, _ = pyreadstat.read_sav(str(out / "spss" / "measurements.sav"))
    xpt, meta = pyreadstat.read_xport(str(out / "sas" / "measurem.xpt"))
    assert list(meta.column_labels[:4]) == ["participant_id", "visit", "day", "pcs"]
    from_sav = sav.melt(["participant_id", "visit", "day"], var_name="variable")
    xpt.columns = meta.column_labels
    from_xpt = xpt.melt(["participant_id", "visit", "day"], var_name="variable")
    for got in (from_sav, from_xpt):
        got = got.set_index(["participant_id", "visit", "variable"])["value"].sort_index()
        assert got.index.equals(long.index) and np.allclose(got, long)
    dm = pd.read_csv(out / "sdtm" / "dm.csv")
    assert set(dm["ARMCD"]) <= {"MSCS", "PLACEBO"} and len(dm) == 6
    qs = pd.read_csv(out / "sdtm" / "qs.csv")
    lb = pd.read_csv(out / "sdtm" / "lb.csv")
    assert len(qs) + len(lb) == len(csv)
    assert set(lb["LBTESTCD"]) == {"IL8", "IL17", "IFNG", "TNFA"}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["huc-msc-2024", "cratus-2017"])
def test_the_simulator_trial_goes_through_the_store(name: str, tmp_path: Path) -> None:
    from frailtrial.edc.pipeline import export_trial, load_simulated_trial
    from frailtrial.simulate import simulate_trial

    protocol = load(name)
    sim = simulate_trial(protocol, 42)
    url = sqlite_url(tmp_path)
    summary = load_simulated_trial(sim, protocol, url, list_seed=42)
    export_trial(url, tmp_path / "out")
    ds = read_dataset(tmp_path / "out", protocol)
    assert summary["randomized"] == len(sim.participants)
    a = sim.participants.set_index("participant_id")["arm"]
    assert (ds.participants.set_index("participant_id").loc[a.index, "arm"] == a).all()
    key = ["participant_id", "visit", "variable"]
    ma = sim.measurements.set_index(key)["value"].sort_index()
    mb = ds.measurements.set_index(key)["value"].sort_index()
    assert ma.index.equals(mb.index) and np.allclose(ma, mb)
    # every screen failure keeps a reason naming the same criterion the simulator chose
    failures = sim.screening[sim.screening["participant_id"].isna()]
    stored = ds.screening.set_index("screening_id").loc[failures["screening_id"]]
    assert stored["reason_not_randomized"].notna().all()
    assert not stored["reason_not_randomized"].str.startswith("investigator").any()
    assert len(ds.adverse_events) == len(sim.adverse_events)
    # one derivation of the populations (dataset/populations.py): the same trial, simulated
    # and exported from the store, has the same ITT, safety and per-protocol members
    flags = ["itt", "safety", "per_protocol"]
    got_flags = ds.participants.set_index("participant_id").loc[a.index, flags]
    pd.testing.assert_frame_equal(got_flags, sim.participants.set_index("participant_id")[flags])
    cells = sim.dosing.set_index(["participant_id", "dose_number"])["cells"].sort_index()
    got = ds.dosing.set_index(["participant_id", "dose_number"])["cells"].sort_index()
    assert np.allclose(cells, got, rtol=1e-9)


@pytest.mark.slow
def test_open_label_arms_with_their_own_schedules_keep_their_per_protocol_members(
    tmp_path: Path,
) -> None:
    """Per-protocol means every dose of the participant's own arm: with placebo given once
    and the cells twice (open label), the export once counted placebo against the cells'
    two doses and dropped every placebo participant from the per-protocol population."""
    from frailtrial.edc.pipeline import export_trial, load_simulated_trial
    from frailtrial.simulate import simulate_trial

    data = raw("huc-msc-2024")
    data["blinding"]["level"] = "open"
    for arm in data["arms"]:
        if arm["role"] == "placebo":
            arm["dose"]["infusion_days"] = [1]
    protocol = parse(data, "open-label.yaml")
    sim = simulate_trial(protocol, 42)
    url = sqlite_url(tmp_path)
    load_simulated_trial(sim, protocol, url, list_seed=42)
    export_trial(url, tmp_path / "out")
    ds = read_dataset(tmp_path / "out", protocol)
    flags = ["itt", "safety", "per_protocol"]
    want = sim.participants.set_index("participant_id")[flags]
    got = ds.participants.set_index("participant_id").loc[want.index, flags]
    pd.testing.assert_frame_equal(got, want)
    placebo = sim.participants["arm"] == protocol.control_arm.name
    assert sim.participants.loc[placebo, "per_protocol"].sum() >= 10  # most are per protocol
