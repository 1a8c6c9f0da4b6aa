"""Simulation-based power: generator moments, batched inference, agreement with analytic
power where both apply, type I error under the null, dask grid, command line."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cli_inprocess import invoke
from frailtrial.design.sample_size import sample_size
from frailtrial.design.simulated_power import (
    FORMULA,
    Scenario,
    _contrasts,
    power_grid,
    ramp_means,
    simulate_power,
)
from frailtrial.errors import InputError
from frailtrial.simulate.outcomes import correlation_matrix, simulate_outcomes
from frailtrial.stats.mmrm import estimate_many, fit_many

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow

VISITS = ("week1", "month1", "month3")
MonkeyPatch = pytest.MonkeyPatch
Capture = pytest.CaptureFixture[str]


# --- outcome generator ---------------------------------------------------------------------


def test_generator_reproduces_means_correlation_and_dropout() -> None:
    means = np.array([[0.0, 0.5, 1.0], [1.0, 2.0, 3.0]])
    sim = simulate_outcomes(
        2000, (20, 20), VISITS, means, sd=2.0, rho=0.6, correlation="ar1",
        dropout=[0.1, 0.2, 0.0], baseline_mean=10.0, rng=3,
    )  # fmt: skip
    vals = sim.values.reshape(-1, 4)
    arm = np.tile(sim.arm_index, 2000)
    for k in range(2):
        got = vals[arm == k].mean(axis=0)
        want = 10.0 + np.concatenate([[0.0], means[k]])
        assert got == pytest.approx(want, abs=4 * 2.0 / math.sqrt(40_000))
    corr = np.corrcoef(vals.T - 0.0)  # pooled over arms: means differ, so centre per arm
    centred = np.concatenate([vals[arm == k] - vals[arm == k].mean(axis=0) for k in range(2)])
    corr = np.corrcoef(centred.T)
    assert corr == pytest.approx(correlation_matrix(4, 0.6, "ar1"), abs=0.02)
    assert centred.std(axis=0) == pytest.approx(2.0, rel=0.02)
    seen = sim.observed.reshape(-1, 3).mean(axis=0)
    assert seen == pytest.approx([0.9, 0.72, 0.72], abs=0.01)
    # monotone: once missing, missing at every later visit
    obs = sim.observed.reshape(-1, 3)
    assert not np.any(~obs[:, 0] & obs[:, 1]) and not np.any(~obs[:, 1] & obs[:, 2])


def test_generator_frames_are_tidy_and_match_arrays() -> None:
    sim = simulate_outcomes(3, (4, 5), VISITS, np.zeros((2, 3)), 1.0, 0.3, "cs", 0.2, rng=1)
    frames = sim.to_frames()
    assert len(frames) == 3
    f = frames[1]
    assert list(f.columns) == ["participant_id", "arm", "visit", "baseline", "change"]
    assert list(f["visit"].cat.categories) == list(VISITS)
    assert len(f) == int(sim.observed[1].sum())
    row = f.iloc[-1]
    pid, vis = int(row["participant_id"]), VISITS.index(row["visit"])
    assert row["change"] == pytest.approx(sim.values[1, pid, vis + 1] - sim.values[1, pid, 0])


def test_long_frame_holds_the_picked_trials_and_fits_like_the_frames() -> None:
    sim = simulate_outcomes(4, (6, 6), VISITS, np.zeros((2, 3)), 1.0, 0.4, "ar1", 0.2, rng=3)
    long = sim.to_long_frame([3, 1], categorical=False)
    frames = sim.to_frames([3, 1], categorical=False)
    for k, frame in enumerate(frames):
        part = long[long["trial"] == k].drop(columns="trial")
        pd.testing.assert_frame_equal(part, frame)
    assert len(long) == int(sim.observed[[3, 1]].sum())
    by_list = fit_many(frames, FORMULA, "participant_id", "visit")
    by_long = fit_many(long, FORMULA, "participant_id", "visit", dataset="trial")
    for a, b in zip(by_list, by_long, strict=True):
        assert a.loglik == pytest.approx(b.loglik, rel=1e-10)


@pytest.mark.parametrize(
    "kwargs",
    [{"sd": 0.0}, {"rho": 1.0}, {"dropout": 1.0}, {"n_per_arm": (5,)}, {"correlation": "us"}],
)
def test_generator_rejects_bad_input(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {
        "n_trials": 2, "n_per_arm": (5, 5), "visits": VISITS, "mean_change": np.zeros((2, 3)),
        "sd": 1.0, "rho": 0.5,
    }  # fmt: skip
    args.update(kwargs)
    with pytest.raises(InputError):
        simulate_outcomes(**args)


# --- the primary contrast -----------------------------------------------------------------


def test_primary_contrast_is_the_treatment_contrast_at_the_primary_visit() -> None:
    means = np.asarray(ramp_means(2, VISITS, 0.7, "month1"))
    sim = simulate_outcomes(3, (10, 10), VISITS, means, 1.0, 0.5, "ar1", 0.1, rng=5)
    fits = fit_many(sim.to_frames(), FORMULA, "participant_id", "visit")
    labels, lmat = fits[0].treatment_contrast_matrix("arm")
    want = lmat[(labels["visit"] == "month1").to_numpy()][0]
    got = _contrasts(fits[0].terms, ("control", "treatment"), "month1")[0]
    assert got == pytest.approx(want)


def test_contrast_does_not_depend_on_level_order() -> None:
    means = np.asarray(ramp_means(2, VISITS, 0.7, "month3"))
    sim = simulate_outcomes(4, (8, 8), VISITS, means, 1.0, 0.5, "ar1", 0.1, rng=9)
    ordered = fit_many(sim.to_frames(), FORMULA, "participant_id", "visit")
    plain = fit_many(sim.to_frames(categorical=False), FORMULA, "participant_id", "visit")
    arms = ("control", "treatment")
    a = estimate_many(ordered, _contrasts(ordered[0].terms, arms, "month3")[0])
    b = estimate_many(plain, _contrasts(plain[0].terms, arms, "month3")[0])
    # the same model; the fits differ only within the optimiser's tolerance
    assert a["estimate"].to_numpy() == pytest.approx(b["estimate"].to_numpy(), abs=1e-5)
    assert a["p"].to_numpy() == pytest.approx(b["p"].to_numpy(), abs=1e-4)


# --- simulation vs analytic power; type I error -------------------------------------------


def _two_visit_scenario(n: int, effect: float, rho: float) -> Scenario:
    visits = ("month3", "month6")
    return Scenario(
        n_per_arm=(n, n),
        visits=visits,
        mean_change=((0.0, 0.0), (effect / 2, effect)),
        sd=1.0,
        rho=rho,
        correlation="cs",
    )


@pytest.mark.parametrize(("n", "effect", "rho"), [(20, 0.7, 0.5), (12, 0.9, 0.7)])
def test_simulated_power_agrees_with_analytic_ancova_power(
    n: int, effect: float, rho: float
) -> None:
    # complete data: the MMRM contrast at the last visit is (nearly) the ANCOVA on baseline,
    # whose exact power is the noncentral t with d / sqrt(1 - rho^2), df = 2n - 3
    sims = 1200
    result = simulate_power(_two_visit_scenario(n, effect, rho), n_sims=sims, seed=11, null_sims=0)
    analytic = sample_size("ttest", effect_size=effect, n=n, ancova_rho=rho).achieved_power
    mc_se = math.sqrt(analytic * (1 - analytic) / sims)
    assert result.n_converged == sims
    assert result.power[0] == pytest.approx(analytic, abs=3.5 * mc_se + 0.01)
    est = result.estimated_effect[0]
    assert est.mean == pytest.approx(effect, abs=4 * est.sd / math.sqrt(sims))


@pytest.mark.slow
def test_type_one_error_is_close_to_nominal_with_dropout() -> None:
    means = tuple(tuple(r) for r in ramp_means(2, VISITS, 0.5, "month3"))
    scenario = Scenario((15, 15), VISITS, means, 1.0, 0.6, "ar1", (0.05,))
    result = simulate_power(scenario, n_sims=2, seed=4, null_sims=3000)
    assert result.type1_error is not None and result.type1_mc_se is not None
    mc_se = math.sqrt(0.05 * 0.95 / 3000)
    assert result.type1_error[0] == pytest.approx(0.05, abs=3 * mc_se)


def test_effect_distribution_and_null_are_reported() -> None:
    means = tuple(tuple(r) for r in ramp_means(2, VISITS, 0.8, "month3"))
    scenario = Scenario((10, 10), VISITS, means, 1.0, 0.5, "ar1", (0.05,))
    result = simulate_power(scenario, n_sims=60, seed=2, null_sims=60)
    est = result.estimated_effect[0]
    assert est.true == 0.8
    q = est.quantiles
    assert q["2.5%"] < q["25%"] < q["50%"] < q["75%"] < q["97.5%"]
    assert result.type1_error is not None and 0 <= result.type1_error[0] <= 1
    assert result.power_mc_se[0] == pytest.approx(
        math.sqrt(result.power[0] * (1 - result.power[0]) / 60)
    )


def test_heavy_dropout_leaves_out_unanalysable_trials() -> None:
    means = tuple(tuple(r) for r in ramp_means(2, VISITS, 0.8, "month3"))
    scenario = Scenario((5, 5), VISITS, means, 1.0, 0.5, "ar1", (0.2,))
    result = simulate_power(scenario, n_sims=20, seed=1, null_sims=0)
    assert 2 <= result.n_converged < 20
    assert any("left out" in note for note in result.notes)


def test_same_seed_same_result_and_three_arms() -> None:
    means = tuple(tuple(r) for r in ramp_means(3, VISITS, 0.8, "month3"))
    scenario = Scenario((8, 8, 8), VISITS, means, 1.0, 0.5, "ar1", (0.0,))
    a = simulate_power(scenario, n_sims=20, seed=5, null_sims=0)
    b = simulate_power(scenario, n_sims=20, seed=5, null_sims=0)
    assert a.power == b.power and len(a.power) == 2
    assert a.estimated_effect[1].mean == b.estimated_effect[1].mean


def test_worker_processes_give_the_same_result() -> None:
    means = tuple(tuple(r) for r in ramp_means(2, VISITS, 0.8, "month3"))
    scenario = Scenario((8, 8), VISITS, means, 1.0, 0.5, "ar1", (0.05,))
    one = simulate_power(scenario, n_sims=40, seed=8, null_sims=20, chunk=15)
    two = simulate_power(scenario, n_sims=40, seed=8, null_sims=20, chunk=15, workers=2)
    assert one == two


# --- grids: local and on a dask LocalCluster -----------------------------------------------


def test_grid_on_dask_local_cluster_equals_local() -> None:
    distributed = pytest.importorskip("distributed")
    means = tuple(tuple(r) for r in ramp_means(2, VISITS, 0.8, "month3"))
    base = Scenario((10, 10), VISITS, means, 1.0, 0.5, "ar1", (0.0,))
    kwargs: dict[str, Any] = {
        "n_values": [8, 12], "effect_values": [0.5, 1.0], "n_sims": 25, "seed": 3, "null_sims": 0,
    }  # fmt: skip
    local = power_grid(base, **kwargs)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        remote = power_grid(base, client=client, **kwargs)
    assert [(p.n_per_arm, p.effect) for p in remote] == [(p.n_per_arm, p.effect) for p in local]
    assert [p.result.power for p in remote] == [p.result.power for p in local]
    assert [p.result.estimated_effect[0].mean for p in remote] == [
        p.result.estimated_effect[0].mean for p in local
    ]


# --- command line --------------------------------------------------------------------------


def test_cli_power_grid_json_and_plot(
    monkeypatch: MonkeyPatch, capsys: Capture, tmp_path: Path
) -> None:
    plot = tmp_path / "power.svg"
    code, out, err = invoke(
        monkeypatch, capsys,
        "design", "power", "--n", "8,12", "--effect", "1.0", "--dropout", "0,0.1",
        "--visits", "week1,month1,month3", "--sims", "20", "--null-sims", "10",
        "--plot", str(plot), "--json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert len(doc["points"]) == 4
    point = doc["points"][0]
    for key in ("n_per_arm", "effect", "dropout", "power", "power_mc_se", "type1_error"):
        assert key in point
    assert point["estimated_effect"][0]["true"] == 1.0
    assert plot.exists() and plot.read_text().lstrip().startswith("<?xml")
    assert err == ""  # quiet when not on a terminal


def test_cli_dropout_by_visit(monkeypatch: MonkeyPatch, capsys: Capture) -> None:
    code, out, err = invoke(
        monkeypatch, capsys,
        "design", "power", "--n", "8", "--effect", "1.0", "--visits", "week1,month3",
        "--dropout-by-visit", "0.1,0.2", "--sims", "10", "--null-sims", "0", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["points"][0]["scenario"]["dropout"] == [0.1, 0.2]


def test_cli_power_with_scheduler_address(monkeypatch: MonkeyPatch, capsys: Capture) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        code, out, err = invoke(
            monkeypatch, capsys,
            "design", "power", "--n", "8", "--effect", "1.0", "--visits", "week1,month3",
            "--sims", "10", "--null-sims", "0", "--scheduler", cluster.scheduler_address, "--json",
        )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert doc["scheduler"] == cluster.scheduler_address and len(doc["points"]) == 1


@pytest.mark.parametrize(
    "args",
    [
        ("power", "--effect", "1", "--visits", "week1"),
        ("power", "--effect", "1", "--dropout", "1.5"),
        ("power", "--n", "ten", "--effect", "1"),
        ("power", "--n", "inf", "--effect", "1"),
        ("power", "--effect", "1", "--sims", "2", "--null-sims", "-1"),
        ("power", "--n", "10"),
        ("power", "--effect", "1", "--primary-visit", "year2"),
        ("power", "--mean-change", "0,0;1,1", "--visits", "a,b,c"),
        ("power", "--effect", "1", "--plot", "out.gif", "--sims", "2", "--null-sims", "0"),
        ("power", "--effect", "1", "--dropout-by-visit", "0.1,0.1"),
        ("power", "--effect", "1", "--dropout", "0,0.1", "--dropout-by-visit", "0,0,0,0,0"),
    ],
)
def test_cli_power_bad_input_is_one_line_exit_2(
    monkeypatch: MonkeyPatch, capsys: Capture, args: tuple[str, ...]
) -> None:
    code, _, err = invoke(monkeypatch, capsys, "design", *args)
    assert code == 2
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
