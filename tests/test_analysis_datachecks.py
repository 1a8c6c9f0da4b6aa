"""``frailtrial analyze`` refuses data it cannot analyse correctly: exit status 2 and one
line per problem naming file, line and column. Each bad dataset is a simulated trial with one
corruption (issue 12: these were analysed silently)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from cli_inprocess import invoke
from frailtrial.dataset import read_dataset, write_dataset
from frailtrial.protocol import load
from frailtrial.simulate import simulate_trial

CRATUS = load("cratus-2017")
HUC = load("huc-msc-2024")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("sim")
    out = {}
    for p in (CRATUS, HUC):
        write_dataset(simulate_trial(p, 5), base / p.name)
        out[p.name] = base / p.name
    return out


def _copy(simulated: dict[str, Path], name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(simulated[name], tmp_path / "data"))


def _csv(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, dtype=str, keep_default_na=False)


def _put(folder: Path, name: str, frame: pd.DataFrame) -> None:
    frame.to_csv(folder / name, index=False)


def _analyze(
    mp: pytest.MonkeyPatch, cap: pytest.CaptureFixture[str], data: Path, protocol: str
) -> tuple[int, list[str]]:
    code, _, err = invoke(
        mp, cap, "analyze", "--data", str(data), "--protocol", protocol,
        "--out", str(data.parent / "out"),
    )  # fmt: skip
    return code, err.splitlines()


def test_simulated_datasets_pass_every_check(simulated: dict[str, Path]) -> None:
    for p in (CRATUS, HUC):
        read_dataset(simulated[p.name], p)


def test_values_outside_the_instrument_range(
    simulated: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = _copy(simulated, "cratus-2017", tmp_path)
    m = _csv(data, "measurements.csv")
    walk = m.index[m["variable"] == "sixmwd"][3]
    sppb = m.index[m["variable"] == "sppb"][7]
    m.loc[walk, "value"] = "-20"
    m.loc[sppb, "value"] = "15"
    _put(data, "measurements.csv", m)
    code, lines = _analyze(monkeypatch, capsys, data, "cratus-2017")
    assert code == 2
    assert lines == [
        f"error: measurements.csv line {walk + 2}, column value: -20 is out of range for "
        "sixmwd (allowed: 0 to 1500, the range of instrument 6mwd result distance_m)",
        f"error: measurements.csv line {sppb + 2}, column value: 15 is out of range for "
        "sppb (allowed: 0 to 12, the range of instrument sppb result total)",
    ]
    assert not (data.parent / "out" / "results.json").exists()


def test_empty_and_missing_measurements(
    simulated: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = _copy(simulated, "huc-msc-2024", tmp_path)
    _put(data, "measurements.csv", _csv(data, "measurements.csv").iloc[:0])
    code, lines = _analyze(monkeypatch, capsys, data, "huc-msc-2024")
    assert code == 2
    assert lines == [
        "error: measurements.csv: no rows, only a header; the analysis needs the outcome "
        "measurements to analyse"
    ]
    (data / "measurements.csv").write_text("")
    code, lines = _analyze(monkeypatch, capsys, data, "huc-msc-2024")
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(f"error: {data / 'measurements.csv'}: empty file, not even a header")
    (data / "measurements.csv").unlink()
    (data / "dosing.csv").unlink()
    code, lines = _analyze(monkeypatch, capsys, data, "huc-msc-2024")
    assert code == 2
    needs = "participants.csv, measurements.csv, adverse_events.csv, screening.csv, dosing.csv"
    assert lines == [
        f"error: {data / f}: missing; a trial dataset needs {needs}"
        for f in ("measurements.csv", "dosing.csv")
    ]


def test_measurement_at_a_missed_visit_and_a_visit_absent_from_visits_csv(
    simulated: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = _copy(simulated, "huc-msc-2024", tmp_path)
    v = _csv(data, "visits.csv")
    m = _csv(data, "measurements.csv")
    missed = v.index[v["status"] == "missed"][0]
    pid, visit = v.loc[missed, ["participant_id", "visit"]]
    extra = m.iloc[[0]].assign(participant_id=pid, visit=visit, variable="tug", value="12.5")
    m = pd.concat([m, extra], ignore_index=True)
    _put(data, "measurements.csv", m)
    attended = v.index[(v["status"] == "attended") & (v["visit"] == "month3")][0]
    gone_pid = v.loc[attended, "participant_id"]
    _put(data, "visits.csv", v.drop(index=attended))
    code, lines = _analyze(monkeypatch, capsys, data, "huc-msc-2024")
    assert code == 2
    first = m.index[(m["participant_id"] == gone_pid) & (m["visit"] == "month3")][0] + 2
    assert lines == [
        f"error: measurements.csv line {first}, column visit: {gone_pid} has measurements at "
        "month3 but visits.csv has no row for that visit (a measured visit needs a row with "
        "status attended)",
        f"error: measurements.csv line {len(m) + 1}, column visit: {pid} has measurements at "
        f"{visit}, which visits.csv line {missed + 2} marks missed (a visit with measurements "
        "must have status attended)",
    ]


def test_primary_endpoint_without_data(
    simulated: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = _copy(simulated, "huc-msc-2024", tmp_path)
    m = _csv(data, "measurements.csv")
    arms = _csv(data, "participants.csv").set_index("participant_id")["arm"]
    placebo = m["participant_id"].map(arms) == "placebo"
    m = m[~(placebo & (m["variable"] == "pcs") & (m["visit"] == "month6"))]
    _put(data, "measurements.csv", m)
    code, lines = _analyze(monkeypatch, capsys, data, "huc-msc-2024")
    assert code == 2
    primary = (
        "error: measurements.csv: no data for the primary endpoint pcs_6m in arm placebo: "
        "no participant has both a baseline and a month6 value of pcs"
    )
    assert lines == [primary]
    # reported with the dataset's other problems, all at once
    m = m.reset_index(drop=True)
    tug = m.index[m["variable"] == "tug"][0]
    m.loc[tug, "value"] = "0.5"
    _put(data, "measurements.csv", m)
    code, lines = _analyze(monkeypatch, capsys, data, "huc-msc-2024")
    assert code == 2
    assert lines == [
        f"error: measurements.csv line {tug + 2}, column value: 0.5 is out of range for tug "
        "(allowed: 1 to 600, the range of instrument tug result seconds)",
        primary,
    ]
    # reading a dataset (export, replicate) does not ask for the primary endpoint's data
    m.loc[tug, "value"] = "10.5"
    _put(data, "measurements.csv", m)
    read_dataset(data, HUC)


def test_every_problem_is_reported_at_once(
    simulated: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = _copy(simulated, "cratus-2017", tmp_path)
    m = _csv(data, "measurements.csv")
    m.loc[m["variable"] == "sppb", "value"] = "13"
    _put(data, "measurements.csv", m)
    p = _csv(data, "participants.csv")
    p.loc[0, "sex"] = "M"
    _put(data, "participants.csv", p)
    code, lines = _analyze(monkeypatch, capsys, data, "cratus-2017")
    assert code == 2
    n = int((m["variable"] == "sppb").sum())
    assert lines[0] == (
        "error: participants.csv line 2, column sex: 'M' is not a sex value (allowed: male, female)"
    )
    assert len(lines) == 1 + 5 + 1
    assert lines[-1] == f"error: measurements.csv, values out of range: {n - 5} more"
