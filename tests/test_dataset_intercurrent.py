"""intercurrent_events.csv in the tidy dataset: written by the simulator from its
withdrawals, read back, and refused with one line per problem (exit status 2)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from cli_inprocess import invoke
from frailtrial.dataset import DatasetError, read_dataset, write_dataset
from frailtrial.dataset.intercurrent import declared_strategy, withdrawals
from frailtrial.protocol import load
from frailtrial.simulate import simulate_trial

HUC = load("huc-msc-2024")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "data"
    write_dataset(simulate_trial(HUC, 3, n_per_arm=40), out)
    return out


def test_simulator_writes_one_row_per_withdrawal_at_its_first_withdrawn_visit(
    simulated: Path,
) -> None:
    ice = pd.read_csv(simulated / "intercurrent_events.csv", dtype=str)
    visits = pd.read_csv(simulated / "visits.csv", dtype=str)
    order = {v.name: i for i, v in enumerate(HUC.visits)}
    gone = visits[visits["status"] == "withdrawn"]
    expected = {
        pid: min(g["visit"], key=order.__getitem__) for pid, g in gone.groupby("participant_id")
    }
    assert len(expected) > 0  # seed 3 with 40 per arm has withdrawals
    assert dict(zip(ice["participant_id"], ice["visit"], strict=True)) == expected
    assert set(ice["event"]) == {"withdrawal"}
    assert set(ice["strategy"]) == {declared_strategy(HUC, "withdrawal")}
    ds = read_dataset(simulated, HUC)
    pd.testing.assert_frame_equal(
        ds.intercurrent_events.reset_index(drop=True),
        withdrawals(ds.visits, HUC),
    )


def test_strategy_comes_from_the_primary_endpoints_estimand() -> None:
    raw = HUC.model_dump()
    raw["analysis"]["estimands"] = []
    assert declared_strategy(type(HUC).model_validate(raw), "withdrawal") == "MAR"  # none
    raw["analysis"]["estimands"] = [
        {
            "endpoint": "mcs_6m",
            "population": "itt",
            "variable": "mcs",
            "intercurrent_events": [{"event": "withdrawal", "strategy": "CR"}],
        },
        {
            "endpoint": "pcs_6m",
            "population": "itt",
            "variable": "pcs",
            "intercurrent_events": [{"event": "withdrawal", "strategy": "CIR"}],
        },
    ]
    protocol = type(HUC).model_validate(raw)
    assert declared_strategy(protocol, "withdrawal") == "CIR"  # the primary's, not the first
    assert declared_strategy(protocol, "treatment_discontinuation") == "MAR"
    assert declared_strategy(HUC, "withdrawal") == "JR"  # the built-in protocol's estimand


def test_a_dataset_without_the_file_reads_with_no_events(simulated: Path, tmp_path: Path) -> None:
    data = Path(shutil.copytree(simulated, tmp_path / "data"))
    (data / "intercurrent_events.csv").unlink()
    assert read_dataset(data, HUC).intercurrent_events.empty


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        (
            "strategy",
            "BOCF",
            "intercurrent_events.csv line 2, column strategy: 'BOCF' is not a strategy value "
            "(allowed: MAR, JR, CR, CIR, LMCF, treatment_policy)",
        ),
        (
            "participant_id",
            "P999",
            "intercurrent_events.csv line 2, column participant_id: 'P999' is not in "
            "participants.csv",
        ),
        (
            "visit",
            "month9",
            "intercurrent_events.csv line 2, column visit: 'month9' is not a visit of "
            "huc-msc-2024 (allowed: screening, baseline, week1, month1, month2, month3, "
            "month6)",
        ),
        (
            "visit",
            "baseline",
            "intercurrent_events.csv line 2, column visit: 'baseline' is not a post-baseline "
            "visit, the first visit the event affects (allowed: week1, month1, month2, month3, "
            "month6)",
        ),
        (
            "event",
            "death",
            "intercurrent_events.csv line 2, column event: 'death' is not an event value "
            "(allowed: withdrawal, treatment_discontinuation)",
        ),
    ],
)
def test_bad_event_row_is_exit_2_with_one_line(
    simulated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    column: str,
    value: str,
    expected: str,
) -> None:
    data = Path(shutil.copytree(simulated, tmp_path / "data"))
    ice = pd.read_csv(data / "intercurrent_events.csv", dtype=str, keep_default_na=False)
    ice.loc[0, column] = value
    ice.to_csv(data / "intercurrent_events.csv", index=False)
    code, out, err = invoke(
        monkeypatch, capsys, "analyze", "--data", str(data), "--protocol", HUC.name,
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 2
    assert out == ""
    assert err.splitlines() == [f"error: {expected}"]


def test_a_withdrawal_needs_the_participants_withdrawal_date(
    simulated: Path, tmp_path: Path
) -> None:
    data = Path(shutil.copytree(simulated, tmp_path / "data"))
    parts = pd.read_csv(data / "participants.csv", dtype=str, keep_default_na=False)
    stayed = parts.loc[parts["withdrawn_on"] == "", "participant_id"].iloc[0]
    ice = pd.read_csv(data / "intercurrent_events.csv", dtype=str)
    ice.loc[0, "participant_id"] = stayed
    ice.to_csv(data / "intercurrent_events.csv", index=False)
    with pytest.raises(DatasetError) as info:
        read_dataset(data, HUC)
    assert str(info.value).splitlines() == [
        f"intercurrent_events.csv line 2, column event: withdrawal of {stayed}, whom "
        "participants.csv gives no withdrawn_on (a withdrawal needs the participant's "
        "withdrawal date there)"
    ]


def test_the_same_participant_and_event_twice_is_refused(simulated: Path, tmp_path: Path) -> None:
    data = Path(shutil.copytree(simulated, tmp_path / "data"))
    ice = pd.read_csv(data / "intercurrent_events.csv", dtype=str)
    pd.concat([ice, ice.iloc[[0]]]).to_csv(data / "intercurrent_events.csv", index=False)
    with pytest.raises(Exception, match=r"duplicate participant x intercurrent event"):
        read_dataset(data, HUC)
