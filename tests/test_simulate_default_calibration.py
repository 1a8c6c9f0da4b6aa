"""A protocol without a calibration is simulated with one derived from the protocol (issue 12:
"simulate every protocol that validates"): values in the instruments' ranges, no treatment
effect, every number a labelled assumption, written next to the data and read back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cli_inprocess import invoke
from frailtrial import instruments
from frailtrial.dataset import read_dataset
from frailtrial.errors import InputError
from frailtrial.instruments.base import result_range
from frailtrial.protocol import load, parse
from frailtrial.simulate import simulate_trial
from frailtrial.simulate.bounds import Bounds
from frailtrial.simulate.calibration import load_calibration
from frailtrial.simulate.default_calibration import (
    calibration_yaml,
    default_calibration,
    outcome_baseline,
)

HERE = Path(__file__).parent / "protocols"
PROTOCOLS = [HERE / "three-arm-sex.yaml", HERE / "dose_months_holm.yaml"]


@pytest.mark.parametrize("path", PROTOCOLS, ids=lambda p: p.stem)
def test_simulates_without_a_calibration_file(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sim"
    code, stdout, err = invoke(
        monkeypatch, capsys, "simulate", "--protocol", str(path), "--seed", "5", "--out", str(out)
    )
    assert code == 0, err
    written = out / "calibration.yaml"
    assert written.is_file()
    assert f"written to {written}" in stdout
    p = load(str(path))
    f = default_calibration(p)
    # every assumption is printed, and each is labelled
    assert all(a.startswith("ASSUMPTION: ") and f"  {a}" in stdout for a in f.assumptions)
    ds = read_dataset(out, p)
    assert len(ds.participants) == p.enrollment.target_randomized
    e = p.eligibility
    assert ds.participants["age"].between(e.age_min, e.age_max).all()
    assert ds.participants["bmi"].between(16, 45).all()
    m = ds.measurements
    for var in p.variables:
        lo, hi = result_range(instruments.get(var.instrument), var.result)
        values = m.loc[m["variable"] == var.name, "value"]
        assert len(values) > 0
        assert values.between(lo, hi).all(), var.name
    # the follow-up visits of the protocol, every arm
    assert set(m["visit"]) == {v.name for v in p.assessment_visits}
    assert set(ds.participants["arm"]) == set(p.arm_names)


def test_three_arm_levels_and_the_null_hypothesis() -> None:
    """cfs_score draws the protocol's levels equally; all shifts are 0 (no effect): over a large
    trial each arm's mean change is near 0 (SE about 1.5 * sqrt(2 * 0.35) / sqrt(n))."""
    p = load(str(PROTOCOLS[0]))
    f = default_calibration(p)
    cfs = next(b for b in f.baseline if b.name == "cfs_score")
    assert cfs.levels == [4, 5, 6, 7] and cfs.probs["all"] == [0.25] * 4
    assert all(v == 0 for s in f.outcomes.shifts.values() for a in s.values() for v in a)
    ds = simulate_trial(p, 2, n_per_arm=400)
    assert set(ds.participants["cfs_score"]) == {4, 5, 6, 7}
    m = ds.measurements[ds.measurements["variable"] == "sppb"]
    wide = m.pivot_table(index="participant_id", columns="visit", values="value")
    change = (wide["month12"] - wide["baseline"]).dropna()
    arms = ds.participants.set_index("participant_id")["arm"].reindex(change.index)
    by_arm = change.groupby(arms).agg(["mean", "count"])
    se = 1.5 * np.sqrt(2 * (1 - 0.3 - 0.7 * 0.5**3)) / np.sqrt(by_arm["count"])
    assert (by_arm["mean"].abs() < 4 * se).all(), by_arm
    # baseline centred at the midpoint of 0-12, SD 1.5
    base = m.loc[m["visit"] == "baseline", "value"]
    assert base.mean() == pytest.approx(6.0, abs=0.15)
    assert base.std() == pytest.approx(1.5, abs=0.15)


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        (Bounds(0, 1500), (750.0, 187.5)),
        (Bounds(0, 12), (6.0, 1.5)),
        (Bounds(0, None, True), (100.0, 25.0)),
        (Bounds(None, 1.0), (0.75, 0.1)),
        (Bounds(None, None), (50.0, 10.0)),
    ],
)
def test_outcome_baseline_from_the_range(bounds: Bounds, expected: tuple[float, float]) -> None:
    mean, sd, _ = outcome_baseline(bounds)
    assert (mean, sd) == pytest.approx(expected)


def test_the_written_calibration_reads_back_to_the_same_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(PROTOCOLS[1])
    a, b = tmp_path / "a", tmp_path / "b"
    for out, extra in ((a, []), (b, ["--calibration", str(tmp_path / "a" / "calibration.yaml")])):
        code, _, err = invoke(
            monkeypatch,
            capsys,
            "simulate",
            "--protocol",
            path,
            "--seed",
            "9",
            "--out",
            str(out),
            *extra,
        )
        assert code == 0, err
    p = load(path)
    assert load_calibration(p, a / "calibration.yaml").file == default_calibration(p)
    assert not (b / "calibration.yaml").exists()  # a calibration given is not rewritten
    for csv in sorted(a.glob("*.csv")):
        assert csv.read_bytes() == (b / csv.name).read_bytes(), csv.name


def test_an_edited_shift_is_simulated(tmp_path: Path) -> None:
    """The user states an effect in the written file: +3 SPPB points at month 12 in high_dose."""
    p = load(str(PROTOCOLS[0]))
    text = calibration_yaml(default_calibration(p))
    old = "    sppb:\n      high_dose: [0.0, 0.0, 0.0]"
    assert old in text
    edited = tmp_path / "cal.yaml"
    edited.write_text(text.replace(old, "    sppb:\n      high_dose: [0.0, 0.0, 3.0]"))
    ds = simulate_trial(p, 4, n_per_arm=200, calibration=edited)
    m = ds.measurements[(ds.measurements["variable"] == "sppb")]
    wide = m.pivot_table(index="participant_id", columns="visit", values="value")
    arms = ds.participants.set_index("participant_id")["arm"]
    change = (wide["month12"] - wide["baseline"]).groupby(arms.reindex(wide.index)).mean()
    assert change["high_dose"] - change["placebo"] == pytest.approx(3.0, abs=0.6)


def test_deterministic_per_seed() -> None:
    p = load(str(PROTOCOLS[0]))
    one, two, other = simulate_trial(p, 7), simulate_trial(p, 7), simulate_trial(p, 8)
    pd.testing.assert_frame_equal(one.measurements, two.measurements)
    pd.testing.assert_frame_equal(one.participants, two.participants)
    assert not one.measurements["value"].equals(other.measurements["value"])


def test_characteristics_without_a_known_scale_are_labelled_assumptions() -> None:
    """An ordinal without levels is scored on the frailty instrument it names (the eligibility
    range), else 0-4; a continuous one of unknown scale 50 ± 10; a categorical one without
    levels two made-up levels; each said in the assumptions."""
    data = load(str(PROTOCOLS[0])).model_dump(mode="json")
    data["baseline_characteristics"] += [
        {"name": "cfs_entry", "label": "CFS", "kind": "ordinal", "summary": "median_iqr"},
        {"name": "mood", "label": "Mood", "kind": "ordinal", "summary": "median_iqr"},
        {"name": "crp", "label": "CRP", "kind": "continuous", "summary": "mean_sd"},
        {"name": "race", "label": "Race", "kind": "categorical"},
    ]
    p = parse(data, "test")
    f = default_calibration(p)
    spec = {b.name: b for b in f.baseline}
    assert spec["cfs_entry"].levels == [4, 5, 6, 7]
    assert spec["mood"].levels == [0, 1, 2, 3, 4]
    assert (spec["crp"].cells["all"].mean, spec["crp"].cells["all"].sd) == (50.0, 10.0)
    said = " ".join(f.assumptions)
    assert "mood: levels 0, 1, 2, 3, 4 (its scale is not known to frailtrial)" in said
    assert "crp: 50 ± 10 (its scale is not known to frailtrial)" in said
    assert "race: levels level_1, level_2 (the protocol names no levels) equally likely" in said
    ds = simulate_trial(p, 1)
    assert set(ds.participants["race"]) == {"level_1", "level_2"}
    assert set(ds.participants["mood"]) <= {0, 1, 2, 3, 4}
    assert set(ds.participants["cfs_entry"]) <= {4, 5, 6, 7}


def test_ordinal_levels_that_are_not_numbers_are_one_line() -> None:
    data = load(str(PROTOCOLS[0])).model_dump(mode="json")
    data["baseline_characteristics"].append(
        {"name": "nyha", "label": "NYHA", "kind": "ordinal", "levels": ["I", "II", "III"]}
    )
    with pytest.raises(InputError, match=r"baseline_characteristics.nyha: ordinal levels"):
        simulate_trial(parse(data, "test"), 1)


def test_every_date_is_in_the_past() -> None:
    """The EDC refuses a visit dated in the future: a rehearsal trial must end before today."""
    p = load(str(PROTOCOLS[0]))
    ds = simulate_trial(p, 3)
    start = pd.to_datetime(ds.participants.set_index("participant_id")["randomized_on"])
    days = pd.to_timedelta(ds.measurements["day"] - 1, unit="D")
    dated = start.reindex(ds.measurements["participant_id"]).to_numpy() + days.to_numpy()
    assert dated.max() < np.datetime64(dt.date.today())


@pytest.mark.parametrize(
    "randomization",
    [
        {"scheme": "minimization", "block_sizes": [], "strata": ["sex", "cfs_score"]},
        {"scheme": "permuted_blocks", "block_sizes": [6], "strata": ["sex", "cfs_score"]},
        {"scheme": "simple", "block_sizes": [], "strata": []},
    ],
    ids=["minimization", "two-strata", "simple"],
)
def test_every_scheme_simulates_with_the_derived_calibration(randomization: dict[str, Any]) -> None:
    """The stratification factors come from the derived baseline (levels equally likely)."""
    data = load(str(PROTOCOLS[0])).model_dump(mode="json")
    data["randomization"].update(randomization)
    ds = simulate_trial(parse(data, "test"), 6, n_per_arm=20)
    parts = ds.participants
    assert len(parts) == 60 and set(parts["arm"]) == {"high_dose", "low_dose", "placebo"}
    assert set(parts["cfs_score"]) == {4, 5, 6, 7}
