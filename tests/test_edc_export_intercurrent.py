"""The EDC's tidy export maps a recorded withdrawal and a recorded treatment discontinuation to
intercurrent_events.csv: one row at the first visit each affects, with the strategy the
protocol declares for the event."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from edc_support import dose_first, enroll, new_trial, sqlite_url, use_store


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("ice")
    use_store(sqlite_url(base))
    t = new_trial()
    from frailtrial.edc.services import logs, visits
    from frailtrial.edc.services.exports.run import export

    coord = t["m"]["coordinator"]
    pids = []
    for i in range(3):
        r = enroll(t, f"I{i}")
        dose_first(t, r.participant_id)  # day 1 is 2024-03-05
        visits.attend(coord, r.participant_id, "baseline", "2024-03-05")
        pids.append(r.participant_id)
    visits.attend(coord, pids[0], "week1", "2024-03-12")
    visits.withdraw(coord, pids[0], "2024-03-20", "moved away")  # month1 is the first missed
    visits.withdraw(coord, pids[1], "2024-03-06", "adverse event")  # week1 is the first
    # still followed, but no second infusion: week1 (planned 2024-03-12) is the first visit after
    stop = {"on": "2024-03-08", "reason": "infusion reaction, no further dose"}
    logs.add(coord, pids[2], "treatment_discontinuation", stop)
    export(t["m"]["statistician"], base / "out", ("csv",))
    return base / "out"


def test_withdrawals_become_intercurrent_events(exported: Path) -> None:
    ice = pd.read_csv(exported / "intercurrent_events.csv", dtype=str)
    parts = pd.read_csv(exported / "participants.csv", dtype=str)
    withdrawn = parts.loc[parts["withdrawn_on"].notna(), "participant_id"].tolist()
    assert len(withdrawn) == 2
    rows = ice.set_index("participant_id").loc[withdrawn]
    assert rows["visit"].tolist() == ["month1", "week1"]
    assert rows["event"].tolist() == ["withdrawal", "withdrawal"]
    assert rows["strategy"].tolist() == ["JR", "JR"]  # what huc-msc-2024 declares
    assert len(ice) == 3


def test_a_treatment_discontinuation_becomes_an_intercurrent_event(exported: Path) -> None:
    ice = pd.read_csv(exported / "intercurrent_events.csv", dtype=str)
    stops = pd.read_csv(exported / "treatment_discontinuations.csv", dtype=str)
    assert len(stops) == 1 and stops["on"].tolist() == ["2024-03-08"]
    row = ice[ice["event"] == "treatment_discontinuation"]
    assert row["participant_id"].tolist() == stops["participant_id"].tolist()
    assert row["visit"].tolist() == ["week1"]
    assert row["strategy"].tolist() == ["treatment_policy"]  # what huc-msc-2024 declares


def test_a_user_protocol_maps_both_events_to_its_own_visits(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """On tests/protocols/three-arm-sex.yaml (three arms, visits baseline (day 1), month3
    (day 90), ...; no strategy declared, so MAR): randomized 2024-03-02, month3 is planned
    for 2024-05-30, the first visit after a withdrawal on 2024-04-20 and a stop on 2024-03-08."""
    base = tmp_path_factory.mktemp("ice-user")
    use_store(sqlite_url(base))
    t = new_trial(str(Path(__file__).parent / "protocols" / "three-arm-sex.yaml"))
    from frailtrial.edc.services import logs, visits
    from frailtrial.edc.services.exports.run import export

    coord = t["m"]["coordinator"]
    pids = []
    for i in range(3):
        pid = enroll(t, f"U{i}").participant_id
        dose_first(t, pid)
        visits.attend(coord, pid, "baseline", "2024-03-02")
        pids.append(pid)
    visits.withdraw(coord, pids[0], "2024-04-20", "moved away")
    stop = {"on": "2024-03-08", "reason": "infusion reaction, no further dose"}
    logs.add(coord, pids[2], "treatment_discontinuation", stop)
    export(t["m"]["statistician"], base / "out", ("csv",))
    ice = pd.read_csv(base / "out" / "intercurrent_events.csv", dtype=str)
    assert ice.values.tolist() == [
        [pids[0], "month3", "withdrawal", "MAR"],
        [pids[2], "month3", "treatment_discontinuation", "MAR"],
    ]
