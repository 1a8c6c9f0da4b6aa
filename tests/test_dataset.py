"""The tidy dataset contract: valid folders read back typed; bad cells name file, line, column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from frailtrial.dataset import DatasetError, read_dataset, write_dataset
from frailtrial.errors import InputError
from frailtrial.protocol import load

PROTOCOL = load("huc-msc-2024")
COVARIATES = [
    c.name for c in PROTOCOL.baseline_characteristics if c.name not in ("age", "sex", "bmi")
]


def _write(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    people = []
    for i, arm in enumerate(["mscs", "placebo", "mscs"], start=1):
        row = {
            "participant_id": f"P{i:03d}",
            "site": "SH",
            "arm": arm,
            "randomized_on": "2020-07-03",
            "age": 65 + i,
            "sex": "female",
            "height_cm": 160.0,
            "weight_kg": 60.0,
            "bmi": 23.4,
            "itt": 1,
            "safety": 1,
            "per_protocol": 1,
            "withdrawn_on": "",
            "withdrawal_reason": "",
        }
        row.update({c: 0 for c in COVARIATES})
        people.append(row)
    pd.DataFrame(people).to_csv(folder / "participants.csv", index=False)
    pd.DataFrame(
        [
            {
                "participant_id": "P001",
                "visit": "baseline",
                "day": 1,
                "variable": "pcs",
                "value": 240.5,
                "unit": "score",
            },
            {
                "participant_id": "P001",
                "visit": "month6",
                "day": 181,
                "variable": "pcs",
                "value": 300.25,
                "unit": "score",
            },
            {
                "participant_id": "P002",
                "visit": "baseline",
                "day": 1,
                "variable": "tug",
                "value": 10.2,
                "unit": "s",
            },
        ]
    ).to_csv(folder / "measurements.csv", index=False)
    pd.DataFrame(
        [
            {
                "participant_id": "P002",
                "term": "Back pain",
                "body_system": "Musculoskeletal",
                "onset_day": 40,
                "serious": "false",
                "severity": "mild",
                "related": "no",
                "outcome": "recovered",
            }
        ]
    ).to_csv(folder / "adverse_events.csv", index=False)
    pd.DataFrame(
        [
            {
                "screening_id": "S001",
                "screened_on": "2020-06-01",
                "eligible": 1,
                "reason_not_randomized": "",
                "participant_id": "P001",
            },
            {
                "screening_id": "S002",
                "screened_on": "2020-06-01",
                "eligible": 0,
                "reason_not_randomized": "age above 80",
                "participant_id": "",
            },
        ]
    ).to_csv(folder / "screening.csv", index=False)
    pd.DataFrame(
        [
            {
                "participant_id": "P001",
                "dose_number": 1,
                "day": 1,
                "cells": 6.0e7,
                "cells_per_kg": 1.0e6,
                "lot": "L1",
            }
        ]
    ).to_csv(folder / "dosing.csv", index=False)


def _edit(folder: Path, file: str, line: int, column: str, value: object) -> None:
    frame = pd.read_csv(folder / file, dtype=str, keep_default_na=False)
    frame.loc[line - 2, column] = value
    frame.to_csv(folder / file, index=False)


def test_valid_dataset_reads_typed_and_round_trips(tmp_path: Path) -> None:
    _write(tmp_path / "a")
    ds = read_dataset(tmp_path / "a", PROTOCOL)
    assert ds.measurements["value"].dtype == float
    assert ds.participants["itt"].dtype == bool
    assert ds.adverse_events["related"].tolist() == [False]
    assert pd.isna(ds.screening.loc[3, "participant_id"])
    write_dataset(ds, tmp_path / "b")
    again = read_dataset(tmp_path / "b", PROTOCOL)
    pd.testing.assert_frame_equal(ds.measurements, again.measurements)
    write_dataset(again, tmp_path / "c")
    for f in ("participants.csv", "measurements.csv", "dosing.csv"):
        assert (tmp_path / "b" / f).read_bytes() == (tmp_path / "c" / f).read_bytes()


@pytest.mark.parametrize(
    ("file", "line", "column", "value", "expected"),
    [
        (
            "participants.csv",
            3,
            "arm",
            "drug",
            "participants.csv line 3, column arm: 'drug' is not an arm of huc-msc-2024 "
            "(allowed: mscs, placebo)",
        ),
        (
            "participants.csv",
            4,
            "participant_id",
            "P001",
            "participants.csv line 4, column participant_id: duplicate randomized participant",
        ),
        (
            "measurements.csv",
            2,
            "visit",
            "month9",
            "measurements.csv line 2, column visit: 'month9' is not a visit of huc-msc-2024",
        ),
        (
            "measurements.csv",
            3,
            "value",
            "12,5",
            "measurements.csv line 3, column value: '12,5' is not a number",
        ),
        (
            "measurements.csv",
            4,
            "variable",
            "vo2max",
            "measurements.csv line 4, column variable: 'vo2max' is not a variable",
        ),
        (
            "measurements.csv",
            4,
            "participant_id",
            "P999",
            "measurements.csv line 4, column participant_id: 'P999' is not in participants.csv",
        ),
        (
            "adverse_events.csv",
            2,
            "serious",
            "maybe",
            "adverse_events.csv line 2, column serious: 'maybe' is not true/false",
        ),
        (
            "screening.csv",
            2,
            "screened_on",
            "01/06/2020",
            "screening.csv line 2, column screened_on: '01/06/2020' is not a date YYYY-MM-DD",
        ),
        (
            "dosing.csv",
            2,
            "dose_number",
            "1.5",
            "dosing.csv line 2, column dose_number: '1.5' is not an integer >= 1",
        ),
        (
            "participants.csv",
            2,
            "site",
            "",
            "participants.csv line 2, column site: empty, a value is required",
        ),
    ],
)
def test_bad_cell_names_file_line_column(
    tmp_path: Path, file: str, line: int, column: str, value: str, expected: str
) -> None:
    _write(tmp_path)
    _edit(tmp_path, file, line, column, value)
    with pytest.raises(InputError) as info:
        read_dataset(tmp_path, PROTOCOL)
    assert str(info.value).startswith(expected), str(info.value)


def test_missing_file_and_column(tmp_path: Path) -> None:
    _write(tmp_path)
    (tmp_path / "dosing.csv").unlink()
    with pytest.raises(InputError, match=r"dosing\.csv: missing"):
        read_dataset(tmp_path, PROTOCOL)
    _write(tmp_path)
    frame = pd.read_csv(tmp_path / "participants.csv").drop(columns=["statin"])
    frame.to_csv(tmp_path / "participants.csv", index=False)
    with pytest.raises(InputError, match="missing column statin"):
        read_dataset(tmp_path, PROTOCOL)


def test_every_bad_cell_is_a_line_of_its_own(tmp_path: Path) -> None:
    _write(tmp_path)
    _edit(tmp_path, "measurements.csv", 2, "value", "x")
    _edit(tmp_path, "measurements.csv", 3, "value", "y")
    _edit(tmp_path, "participants.csv", 3, "sex", "M")
    with pytest.raises(DatasetError) as info:
        read_dataset(tmp_path, PROTOCOL)
    assert str(info.value).splitlines() == [
        "participants.csv line 3, column sex: 'M' is not a sex value (allowed: male, female)",
        "measurements.csv line 2, column value: 'x' is not a number",
        "measurements.csv line 3, column value: 'y' is not a number",
    ]
    assert info.value.total == 3


def test_problems_of_one_kind_are_capped(tmp_path: Path) -> None:
    _write(tmp_path)
    frame = pd.read_csv(tmp_path / "measurements.csv", dtype=str)
    many = pd.concat([frame.iloc[[0]]] * 12, ignore_index=True)
    many["visit"] = "baseline"
    many["variable"] = "pcs"
    many["participant_id"] = "P001"
    many["value"] = [f"bad{i}" for i in range(12)]
    many.to_csv(tmp_path / "measurements.csv", index=False)
    with pytest.raises(DatasetError) as info:
        read_dataset(tmp_path, PROTOCOL)
    lines = str(info.value).splitlines()
    assert lines[:5] == [
        f"measurements.csv line {i + 2}, column value: 'bad{i}' is not a number" for i in range(5)
    ]
    assert lines[5] == "measurements.csv, column value: 7 more"
    assert info.value.total > 12  # the 11 duplicate keys are counted too
