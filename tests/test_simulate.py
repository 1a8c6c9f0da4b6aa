"""The virtual trial: determinism, validity, calibration to the paper, bounds, CLI errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cli_inprocess import invoke
from frailtrial.dataset import TrialDataset, read_dataset, write_dataset
from frailtrial.errors import InputError
from frailtrial.protocol import load
from frailtrial.protocol.published import load_published
from frailtrial.randomization import generate_list
from frailtrial.simulate import simulate_trial, variable_bounds

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow

HUC = load("huc-msc-2024")
CRATUS = load("cratus-2017")
PUB = load_published("huc-msc-2024")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("match", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_same_seed_byte_identical_files(tmp_path: Path, match: bool) -> None:
    for name in ("a", "b"):
        write_dataset(simulate_trial(HUC, 123, match_published=match), tmp_path / name)
    write_dataset(simulate_trial(HUC, 124, match_published=match), tmp_path / "c")
    a, b, c = (_files(tmp_path / n) for n in "abc")
    assert a == b
    assert len(a) == 7  # the six tables and intercurrent_events.csv (its withdrawals)
    assert a["measurements.csv"] != c["measurements.csv"]


@pytest.mark.parametrize("protocol", [HUC, CRATUS], ids=lambda p: p.name)
def test_dataset_validates_after_a_round_trip(tmp_path: Path, protocol: object) -> None:
    ds = simulate_trial(protocol, 5)  # type: ignore[arg-type]
    write_dataset(ds, tmp_path)
    back = read_dataset(tmp_path, protocol)  # type: ignore[arg-type]
    assert len(back.participants) == 30
    assert len(back.measurements) == len(ds.measurements)


def test_allocation_is_the_seeds_randomization_list() -> None:
    ds = simulate_trial(HUC, 77, n_per_arm=12)
    lst = generate_list(HUC, 77, 24)
    assert list(ds.participants["arm"]) == list(lst["arm"])
    assert list(ds.participants["randomization_number"]) == list(lst["randomization_number"])


def test_screening_funnel_default_and_scaled() -> None:
    for n_per_arm, expected in ((None, (110, 80, 30)), (30, (220, 160, 60))):
        s = simulate_trial(HUC, 3, n_per_arm=n_per_arm).screening
        got = (len(s), int((~s["eligible"]).sum()), int(s["participant_id"].notna().sum()))
        assert got == expected
        criteria = {f"Exclusion: {x.text}" for x in HUC.eligibility.exclusions}
        criteria |= {f"Inclusion not met: {x.text}" for x in HUC.eligibility.inclusions}
        reasons = set(s["reason_not_randomized"].dropna())
        assert all(r in criteria or r.startswith(("Age outside", "Frailty")) for r in reasons)


@pytest.fixture(scope="module")
def large() -> TrialDataset:
    return simulate_trial(HUC, 2024, n_per_arm=2000)


@pytest.fixture(scope="module")
def large_cratus() -> TrialDataset:
    return simulate_trial(CRATUS, 8, n_per_arm=500)


def test_values_stay_in_each_instruments_range(
    large: TrialDataset, large_cratus: TrialDataset
) -> None:
    for protocol, ds in ((HUC, large), (CRATUS, large_cratus)):
        m = ds.measurements
        for var in protocol.variables:
            x = m.loc[m["variable"] == var.name, "value"].to_numpy()
            b = variable_bounds(protocol, var.name)
            assert len(x) and all(b.contains(float(v)) for v in x), var.name
        p = ds.participants
        assert p["age"].between(protocol.eligibility.age_min, protocol.eligibility.age_max).all()
    assert variable_bounds(HUC, "pcs").upper == 400
    assert variable_bounds(HUC, "psqi").upper == 21


def test_cratus_age_as_in_the_abstract_in_a_large_trial(large_cratus: TrialDataset) -> None:
    """Tompkins et al. 2017 (abstract): mean age 75.5 ± 7.3, the one published baseline number."""
    age = large_cratus.participants["age"]
    assert abs(age.mean() - 75.5) < 5 * 7.3 / np.sqrt(len(age))
    assert abs(age.std() / 7.3 - 1) < 0.1


def test_cell_means_and_sds_near_table3_in_a_large_trial(large: TrialDataset) -> None:
    m = large.measurements.merge(large.participants[["participant_id", "arm"]])
    cells = m.groupby(["variable", "arm", "visit"])["value"].agg(["mean", "std", "size"])
    for row in PUB.table3.rows:
        for arm, by_visit in row.cells.items():
            for visit, cell in by_visit.items():
                mean, sd = float(str(cell.mean)), float(str(cell.sd))
                got = cells.loc[(row.variable, arm, visit)]
                se = sd / np.sqrt(got["size"])
                assert abs(got["mean"] - mean) < 5 * se + 0.01, (row.variable, arm, visit)
                assert abs(got["std"] / sd - 1) < 0.2, (row.variable, arm, visit)


def test_attendance_rates_near_published_in_a_large_trial(large: TrialDataset) -> None:
    v = large.visits.merge(large.participants[["participant_id", "arm"]])
    rate = v.assign(ok=v["status"] == "attended").groupby(["visit", "arm"])["ok"].mean()
    for visit, by_arm in PUB.attendance.visits.items():
        for arm, n in by_arm.items():
            assert abs(rate[(visit, arm)] - n / 15) < 0.03, (visit, arm)


def test_within_person_correlation_across_visits(large: TrialDataset) -> None:
    m = large.measurements
    wide = m[m["variable"] == "grip"].pivot(index="participant_id", columns="visit", values="value")
    adjacent = wide[["baseline", "week1"]].corr(method="spearman").iloc[0, 1]
    far = wide[["baseline", "month6"]].corr(method="spearman").iloc[0, 1]
    assert 0.6 < adjacent < 0.85
    assert 0.3 < far < adjacent


def test_visit_days_within_windows(large: TrialDataset) -> None:
    v = large.visits[large.visits["status"] == "attended"]
    for visit in HUC.assessment_visits:
        days = v.loc[v["visit"] == visit.name, "day"].astype(int)
        assert days.between(visit.day - visit.window_before, visit.day + visit.window_after).all()


def test_dosing_follows_the_dose_rules(large: TrialDataset) -> None:
    d = large.dosing.merge(large.participants[["participant_id", "arm", "weight_kg"]])
    msc = d[d["arm"] == "mscs"]
    assert np.allclose(msc["cells"], 1e6 * msc["weight_kg"], rtol=1e-3)
    assert (d.loc[d["arm"] == "placebo", "cells"] == 0).all()
    assert set(d["dose_number"]) == {1, 2}
    assert (d.loc[d["dose_number"] == 1, "day"] == 1).all()
    cratus = simulate_trial(CRATUS, 1)
    c = cratus.dosing.merge(cratus.participants)
    assert c.groupby("arm")["cells"].unique().map(list).to_dict() == {
        "mscs_100m": [1e8], "mscs_200m": [2e8], "placebo": [0.0],
    }  # fmt: skip
    assert set(c["dose_number"]) == {1}


def test_bad_arguments_are_input_errors() -> None:
    with pytest.raises(InputError):
        simulate_trial(HUC, 1, n_per_arm=0)
    with pytest.raises(InputError, match="match-published"):
        simulate_trial(HUC, 1, n_per_arm=10, match_published=True)
    with pytest.raises(InputError, match="no published tables"):
        simulate_trial(CRATUS, 1, match_published=True)


def test_cli_writes_the_dataset_and_exits_2_on_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = invoke(
        monkeypatch, capsys, "simulate", "--protocol", "huc-msc-2024", "--seed", "1",
        "--out", str(tmp_path / "d"),
    )  # fmt: skip
    assert code == 0, err
    assert "110 screened, 30 randomized" in out
    read_dataset(tmp_path / "d", HUC)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for args in (
        ("--protocol", "no-such", "--seed", "1", "--out", str(tmp_path / "e")),
        ("--protocol", "huc-msc-2024", "--seed", "1", "--out", str(tmp_path / "e"),
         "--n-per-arm", "0"),
        ("--protocol", "huc-msc-2024", "--seed", "1", "--out", str(blocker / "sub")),
    ):  # fmt: skip
        code, _, err = invoke(monkeypatch, capsys, "simulate", *args)
        assert code == 2, args
        assert err.startswith("error: ")
        assert len(err.strip().splitlines()) == 1


def test_cli_subprocess_entry_point_exit_status(tmp_path: Path) -> None:
    """One real process: the console entry turns bad input into exit status 2."""
    res = subprocess.run(
        [sys.executable, "-m", "frailtrial", "simulate", "--protocol", "huc-msc-2024",
         "--seed", "1", "--out", str(tmp_path), "--n-per-arm", "0"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert res.returncode == 2
    assert "Traceback" not in res.stderr


def test_a_users_protocol_runs_with_its_own_calibration_file(tmp_path: Path) -> None:
    import yaml

    data = CRATUS.model_dump(mode="json")
    data["name"] = "my-trial"
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    mine = load(str(tmp_path / "p.yaml"))
    derived = simulate_trial(mine, 1)  # without a calibration: one derived from the protocol
    assert len(derived.participants) == 30
    cal_text = Path(__file__).parents[1] / "src/frailtrial/simulate/calibrations/cratus-2017.yaml"
    cal = yaml.safe_load(cal_text.read_text("utf-8"))
    cal["protocol"] = "my-trial"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cal, allow_unicode=True), "utf-8")
    ds = simulate_trial(mine, 1, calibration=tmp_path / "c.yaml")
    assert len(ds.participants) == 30
    del cal["outcomes"]["shifts"]["sppb"]["placebo"]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cal, allow_unicode=True), "utf-8")
    with pytest.raises(InputError, match=r"outcomes\.shifts\.sppb in arm 'placebo'"):
        simulate_trial(mine, 1, calibration=tmp_path / "c.yaml")
    with pytest.raises(InputError, match="is for protocol 'my-trial'"):
        simulate_trial(HUC, 1, calibration=tmp_path / "c.yaml")


def test_no_measurement_after_a_withdrawal_or_at_a_missed_visit(large: TrialDataset) -> None:
    v = large.visits
    m = large.measurements.merge(v, on=["participant_id", "visit"], suffixes=("", "_visit"))
    assert (m["status"] == "attended").all()
    assert (m["day"] == m["day_visit"]).all()
    p = large.participants
    gone = p[p["withdrawn_on"].notna()]
    assert len(gone)
    last = (
        m[m["participant_id"].isin(gone["participant_id"])].groupby("participant_id")["day"].max()
    )
    left = ((gone.set_index("participant_id")["withdrawn_on"] - gone.set_index("participant_id")[
        "randomized_on"]).dt.days + 1)  # fmt: skip
    assert (last < left.reindex(last.index)).all()
    ae = large.adverse_events.merge(gone[["participant_id"]])
    assert (ae["onset_day"].to_numpy() < left.reindex(ae["participant_id"]).to_numpy()).all()


def test_a_bad_calibration_file_names_the_field_or_line(tmp_path: Path) -> None:
    import yaml

    cal_file = Path(__file__).parents[1] / "src/frailtrial/simulate/calibrations/cratus-2017.yaml"
    cal = yaml.safe_load(cal_file.read_text("utf-8"))
    cal["adverse_events"]["terms"][0]["probability"] = "often"
    cal["attendance"]["colour"] = "red"
    del cal["start_date"]
    bad = tmp_path / "c.yaml"
    bad.write_text(yaml.safe_dump(cal, allow_unicode=True), "utf-8")
    with pytest.raises(InputError) as info:
        simulate_trial(CRATUS, 1, calibration=bad)
    message = str(info.value)
    assert "adverse_events.terms[0].probability: must be a number" in message
    assert "attendance.colour: is not a known field" in message
    assert "start_date: is required" in message
    bad.write_text("protocol: [cratus-2017\n", "utf-8")
    with pytest.raises(InputError, match=r"calibration .*c\.yaml: not valid YAML at line \d+"):
        simulate_trial(CRATUS, 1, calibration=bad)


@pytest.mark.xfail(
    strict=True,
    reason="calibrations/huc-msc-2024.yaml sets PCS's latent correlation (0.951 at lag 1) to "
    "give the text's change SDs, but each cell's own logit-normal map on 0-400 lowers the "
    "correlation of the values: the SDs come out ~28, ~37, ~45, and even a latent correlation "
    "of 1 leaves month 1 and month 6 at >= 27 and >= 36 (the marginal shapes, not the "
    "correlation, would have to change)",
)
def test_pcs_change_sd_near_the_papers_text_in_a_large_trial(large: TrialDataset) -> None:
    """The paper's text: PCS change in MSCs +75.53 ± 23.02 (week 1), +97.27 ± 23.02 (month 1),
    +96.41 ± 24.70 (month 6); the calibration's PCS correlation is chosen to reproduce them."""
    m = large.measurements.merge(large.participants[["participant_id", "arm"]])
    pcs = m[(m["variable"] == "pcs") & (m["arm"] == "mscs")]
    wide = pcs.pivot(index="participant_id", columns="visit", values="value")
    for visit, paper_sd in (("week1", 23.02), ("month1", 23.02), ("month6", 24.70)):
        change = wide[visit] - wide["baseline"]
        assert abs(change.std() / paper_sd - 1) < 0.2, (visit, change.std())
