"""Simulating stratified and minimization protocols (issue 12) with the EDC's allocation code:
a user's 3-arm protocol stratified by sex (visits at months 3, 6, 12) and minimization."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cli_inprocess import invoke
from edc_support import sqlite_url
from frailtrial.dataset import TrialDataset, write_dataset
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol, load, parse
from frailtrial.randomization import generate_list
from frailtrial.simulate import simulate_trial

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow

HERE = Path(__file__).parent / "protocols"
YAML = HERE / "three-arm-sex.yaml"
CAL = HERE / "three-arm-sex.calibration.yaml"
THREE = load(str(YAML))


def _variant(**randomization: Any) -> Protocol:
    data = THREE.model_dump(mode="json")
    data["randomization"].update(randomization)
    return parse(data, "test")


def _sim(protocol: Protocol, seed: int, n_per_arm: int | None = None) -> TrialDataset:
    return simulate_trial(protocol, seed, n_per_arm=n_per_arm, calibration=CAL)


def _strata(parts: pd.DataFrame, factors: list[str]) -> pd.Series:
    return (
        parts[factors].astype(str).apply(lambda r: "|".join(f"{f}={r[f]}" for f in factors), axis=1)
    )


def test_the_three_arm_protocol_stratified_by_sex_simulates_with_its_visits() -> None:
    ds = _sim(THREE, 11)
    assert len(ds.participants) == 36
    assert set(ds.participants["arm"]) == {"high_dose", "low_dose", "placebo"}
    assert set(ds.visits["visit"]) == {"baseline", "month3", "month6", "month12"}
    assert set(ds.participants["sex"]) == {"male", "female"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_within_each_sex_the_arms_follow_the_stratified_blocks(seed: int) -> None:
    ds = _sim(THREE, seed, n_per_arm=20)
    parts = ds.participants.sort_values("participant_id")  # P001... is randomization order
    lst = generate_list(THREE, seed, len(parts))
    for sex, group in parts.groupby("sex"):
        entries = lst[lst["stratum"] == f"sex={sex}"].sort_values("sequence").head(len(group))
        # the k-th participant of a stratum takes the stratum's k-th entry, number and arm
        assert list(group["arm"]) == list(entries["arm"])
        assert list(group["randomization_number"]) == list(entries["randomization_number"])
        # hence every complete block of 6 within the stratum holds 2 of each arm
        arms = group["arm"].to_numpy()
        full = len(arms) // 6 * 6
        for block in arms[:full].reshape(-1, 6):
            assert sorted(pd.Series(block).value_counts().tolist()) == [2, 2, 2]
    # the two strata interleave in time: the sex-blind sequence is not one list in order
    assert list(parts["arm"]) != list(lst["arm"][: len(parts)])


def test_an_ordinal_with_levels_stratifies_too() -> None:
    p = _variant(strata=["sex", "cfs_score"])
    ds = _sim(p, 5, n_per_arm=30)
    parts = ds.participants.sort_values("participant_id")
    labels = _strata(parts, ["sex", "cfs_score"])
    assert labels.str.match(r"^sex=(male|female)\|cfs_score=[4-7]$").all()
    lst = generate_list(p, 5, len(parts)).set_index("randomization_number")
    assert (lst.loc[parts["randomization_number"], "stratum"].to_numpy() == labels.to_numpy()).all()
    assert (lst.loc[parts["randomization_number"], "arm"].to_numpy() == parts["arm"]).all()
    for _, group in parts.groupby(labels.to_numpy()):
        blocks = lst.loc[group["randomization_number"], "block"].to_numpy()
        assert list(blocks) == sorted(blocks)  # each stratum's list is used in order


def _imbalance(parts: pd.DataFrame, factors: list[str]) -> int:
    worst = 0
    for f in factors:
        for _, g in parts.groupby(f):
            counts = g["arm"].value_counts().reindex(THREE.arm_names, fill_value=0)
            worst = max(worst, int(counts.max() - counts.min()))
    return worst


def test_a_minimization_protocol_simulates_and_is_balanced_on_every_factor() -> None:
    factors = ["sex", "cfs_score"]
    p = _variant(scheme="minimization", block_sizes=[], strata=factors)
    simple = _variant(scheme="simple", block_sizes=[], strata=[])
    mini, rand = [], []
    for seed in range(8):
        parts = _sim(p, seed, n_per_arm=20).participants
        assert parts["randomization_number"].str.fullmatch(r"M\d{4}").all()
        counts = parts["arm"].value_counts()
        assert counts.max() - counts.min() <= 3  # overall balance within 3 of 60
        mini.append(_imbalance(parts, factors))
        rand.append(_imbalance(_sim(simple, seed, n_per_arm=20).participants, factors))
    assert max(mini) <= 3  # each level of each factor within 3 across arms
    assert np.mean(mini) < np.mean(rand) / 2  # far better than simple randomization


@pytest.mark.parametrize("scheme", ["permuted_blocks", "minimization"])
def test_same_seed_byte_identical_files(tmp_path: Path, scheme: str) -> None:
    p = THREE if scheme == "permuted_blocks" else _variant(scheme=scheme, block_sizes=[])
    for name, seed in (("a", 8), ("b", 8), ("c", 9)):
        write_dataset(_sim(p, seed), tmp_path / name)
    a, b, c = ({f.name: f.read_bytes() for f in (tmp_path / n).iterdir()} for n in "abc")
    assert a == b
    assert a["participants.csv"] != c["participants.csv"]


def test_match_published_is_refused_for_a_stratified_protocol() -> None:
    data = load("huc-msc-2024").model_dump(mode="json")
    data["randomization"]["strata"] = ["sex"]
    with pytest.raises(InputError, match="allocates by the participants' characteristics"):
        simulate_trial(parse(data, "test"), 1, match_published=True)


def test_cli_simulates_the_users_yaml_protocol_from_a_small_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = invoke(
        monkeypatch, capsys, "simulate", "--protocol", str(YAML), "--calibration", str(CAL),
        "--seed", "3", "--out", str(tmp_path / "d"),
    )  # fmt: skip
    assert code == 0, err
    assert "36 randomized" in out


def test_the_store_allocates_the_simulated_stratified_trial_identically(tmp_path: Path) -> None:
    """The EDC, fed the simulator's list for the same seed, gives every participant the
    simulated arm (load_simulated_trial refuses any difference); strata by sex and by an
    ordinal whose recorded value is a whole number (the store spelled it 'yes' before)."""
    from frailtrial.edc.pipeline import load_simulated_trial

    p = _variant(strata=["sex", "cfs_score"])
    ds = _sim(p, 4, n_per_arm=8)
    got = load_simulated_trial(ds, p, sqlite_url(tmp_path), list_seed=4)
    assert got["randomized"] == 24
    from frailtrial.edc.models import Participant  # once the store is set up

    stored = dict(Participant.objects.values_list("participant_id", "stratum"))
    parts = ds.participants.set_index("participant_id")
    expected = _strata(parts, ["sex", "cfs_score"])
    assert stored == expected.to_dict()


def test_sites_are_drawn_when_the_list_is_stratified_by_site() -> None:
    data = THREE.model_dump(mode="json")
    data["identity"]["sites"] = ["North Hospital", "South Hospital"]
    data["randomization"]["strata"] = ["site", "sex"]
    p = parse(data, "test")
    parts = _sim(p, 6, n_per_arm=20).participants.sort_values("participant_id")
    assert set(parts["site"]) == {"North Hospital", "South Hospital"}
    labels = _strata(parts, ["site", "sex"])
    lst = generate_list(p, 6, len(parts)).set_index("randomization_number")
    assert (lst.loc[parts["randomization_number"], "stratum"].to_numpy() == labels.to_numpy()).all()
    assert (lst.loc[parts["randomization_number"], "arm"].to_numpy() == parts["arm"]).all()


def test_the_store_allocates_the_simulated_minimization_trial_identically(tmp_path: Path) -> None:
    """Minimization through the store with the simulator's (rehearsal) secret: every
    participant gets the simulated arm, so both run the same allocation step."""
    from frailtrial.edc.pipeline import load_simulated_trial

    p = _variant(scheme="minimization", block_sizes=[], strata=["sex", "cfs_score"])
    ds = _sim(p, 9, n_per_arm=8)
    got = load_simulated_trial(ds, p, sqlite_url(tmp_path), list_seed=9)
    assert got["randomized"] == 24 and got["list_sha256"] is None
    with pytest.raises(InputError, match="pass the simulation seed as list_seed"):
        load_simulated_trial(ds, p, sqlite_url(tmp_path))
