"""Estimands in the analysis plan (ICH E9(R1)): the built-in HUC-MSC protocol declares one,
a user's 3-arm protocol with other visit names can too, and ``protocol validate`` names the
field and what is allowed for each wrong one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from cli_inprocess import invoke
from frailtrial.protocol import load
from protocol_support import assert_problem

THREE_ARM = Path(__file__).parent / "protocols" / "three-arm-sex.yaml"


def _estimand(d: dict[str, Any]) -> dict[str, Any]:
    est: dict[str, Any] = d["analysis"]["estimands"][0]
    return est


def three_arm_with_estimand(folder: Path) -> Path:
    """tests/protocols/three-arm-sex.yaml (3 arms, visits month3/6/12) with an estimand of
    its primary endpoint: withdrawals jump to placebo, and a MAR and a JR tipping-point
    sensitivity analysis."""
    data = yaml.safe_load(THREE_ARM.read_text("utf-8"))
    data["name"] = "three-arm-estimand"
    data["analysis"]["estimands"] = [
        {
            "endpoint": "sixmwd_12m",
            "population": "itt",
            "variable": "sixmwd",
            "intercurrent_events": [{"event": "withdrawal", "strategy": "JR"}],
            "summary_measure": "difference_in_means",
            "sensitivity": [
                {"name": "mar", "method": "condmean-jackknife", "strategy": "MAR"},
                {"name": "jr", "method": "condmean-jackknife"},
                {
                    "name": "jr_tipping",
                    "method": "condmean-jackknife",
                    "strategy": "JR",
                    "tipping_point": {"low": -80, "high": 0, "steps": 5},
                },
            ],
        }
    ]
    path = folder / "three-arm-estimand.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    return path


def test_the_builtin_protocol_declares_jr_for_withdrawals() -> None:
    p = load("huc-msc-2024")
    (est,) = p.analysis.estimands
    assert (est.endpoint, est.population, est.variable) == ("pcs_6m", "itt", "pcs")
    assert est.strategy_of("withdrawal") == "JR"
    assert est.summary_measure == "difference_in_means"
    names = [s.name for s in est.sensitivity]
    assert names == ["mar", "jr", "cr", "cir", "jr_tipping_point"]
    tp = est.sensitivity[-1].tipping_point
    assert tp is not None and (tp.low, tp.high, tp.steps) == (-400, 0, 21)


def test_a_user_protocol_with_three_arms_validates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = three_arm_with_estimand(tmp_path)
    code, out, err = invoke(monkeypatch, capsys, "protocol", "validate", str(path))
    assert code == 0, err
    assert "valid protocol 'three-arm-estimand' (3 arms" in out
    p = load(str(path))
    assert len(p.arms) == 3
    assert p.analysis.estimands[0].sensitivity[2].tipping_point is not None


def test_a_wrong_estimand_is_one_line_naming_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load(three_arm_with_estimand(tmp_path).read_text("utf-8"))
    _estimand(data)["intercurrent_events"][0]["strategy"] = "BOCF"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    code, out, err = invoke(monkeypatch, capsys, "protocol", "validate", str(bad))
    assert code == 2 and out == ""
    (line,) = err.splitlines()
    assert "analysis.estimands[0].intercurrent_events[0].strategy: 'BOCF' is not allowed" in line
    assert "'MAR', 'JR', 'CR', 'CIR', 'LMCF' or 'treatment_policy'" in line


@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [
        (
            lambda e: e.update(endpoint="pcs_12m"),
            "analysis.estimands[0].endpoint",
            "'pcs_12m' is not an endpoint; allowed: pcs_6m, mcs_6m",
        ),
        (
            lambda e: e.update(variable="mcs"),
            "analysis.estimands[0].variable",
            "'mcs' is not the variable of endpoint 'pcs_6m'; allowed: pcs",
        ),
        (
            lambda e: e.update(population="everyone"),
            "analysis.estimands[0].population",
            "'everyone' is not allowed; expected 'itt', 'safety', 'per_protocol' or 'completers'",
        ),
        (
            lambda e: e["intercurrent_events"].append({"event": "withdrawal", "strategy": "CR"}),
            "analysis.estimands[0].intercurrent_events[2].event",
            "duplicate event 'withdrawal' (also analysis.estimands[0].intercurrent_events[0])",
        ),
        (
            lambda e: e["intercurrent_events"].append({"event": "death", "strategy": "CR"}),
            "analysis.estimands[0].intercurrent_events[2].event",
            "'death' is not allowed; expected 'withdrawal' or 'treatment_discontinuation'",
        ),
        (
            lambda e: e.update(summary_measure="ratio"),
            "analysis.estimands[0].summary_measure",
            "'ratio' is not allowed; expected 'difference_in_means'",
        ),
        (
            lambda e: e["sensitivity"][0].update(method="multiple-imputation"),
            "analysis.estimands[0].sensitivity[0].method",
            "'multiple-imputation' is not allowed; expected 'condmean-jackknife', "
            "'condmean-bootstrap' or 'approx-bayes'",
        ),
        (
            lambda e: e["sensitivity"][0].update(strategy="BOCF"),
            "analysis.estimands[0].sensitivity[0].strategy",
            "'BOCF' is not allowed; expected 'MAR', 'JR', 'CR', 'CIR', 'LMCF' or "
            "'treatment_policy'",
        ),
        (
            lambda e: e["sensitivity"][4]["tipping_point"].pop("high"),
            "analysis.estimands[0].sensitivity[4].tipping_point.high",
            "is required",
        ),
        (
            lambda e: e["sensitivity"][0].update(samples=100),
            "analysis.estimands[0].sensitivity[0].samples",
            "condmean-jackknife leaves out one participant at a time and takes no samples",
        ),
        (
            lambda e: e["sensitivity"][0].update(method="condmean-bootstrap"),
            "analysis.estimands[0].sensitivity[0].samples",
            "is required for condmean-bootstrap (a positive integer)",
        ),
        (
            lambda e: e["sensitivity"][0].update(method="approx-bayes", samples=0),
            "analysis.estimands[0].sensitivity[0].samples",
            "must be a positive integer",
        ),
        (
            lambda e: e["sensitivity"][4]["tipping_point"].update(low=10),
            "analysis.estimands[0].sensitivity[4].tipping_point",
            "low 10 must be below high 0 (the grid of deltas)",
        ),
        (
            lambda e: e["sensitivity"][4]["tipping_point"].update(steps=1),
            "analysis.estimands[0].sensitivity[4].tipping_point.steps",
            "must be at least 2",
        ),
        (
            lambda e: e["sensitivity"][1].update(name="mar"),
            "analysis.estimands[0].sensitivity[1].name",
            "duplicate name 'mar' (also analysis.estimands[0].sensitivity[0])",
        ),
        (
            lambda e: e["sensitivity"][1].update(name="primary"),
            "analysis.estimands[0].sensitivity[1].name",
            "'primary' names the primary model's row beside the sensitivity analyses",
        ),
        (
            lambda e: e["sensitivity"][1].update(seed=-1),
            "analysis.estimands[0].sensitivity[1].seed",
            "must be at least 0",
        ),
    ],
)
def test_each_wrong_estimand_field_is_named(edit: Any, path: str, message: str) -> None:
    assert_problem(lambda d: edit(_estimand(d)), path, message)


def test_an_incidence_endpoint_has_no_imputation_estimand() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["analysis"]["estimands"] = [
            {
                "endpoint": "te_sae_1m",
                "population": "itt",
                "variable": "te_sae",
                "intercurrent_events": [{"event": "withdrawal", "strategy": "MAR"}],
            }
        ]

    assert_problem(
        edit,
        "analysis.estimands[0].endpoint",
        "'te_sae_1m' is an incidence endpoint; an estimand with imputation takes a "
        "continuous endpoint (sixmwd_6m",
        name="cratus-2017",
    )


def test_sensitivity_analyses_need_a_change_from_baseline() -> None:
    assert_problem(
        lambda d: d["endpoints"][0].update(measure="value"),
        "analysis.estimands[0].sensitivity",
        "sensitivity analyses impute changes from baseline; allowed only for an endpoint "
        "with measure change_from_baseline",
    )


def test_sensitivity_analyses_need_an_mmrm_of_change_in_the_plan() -> None:
    """Their imputation model takes the plan's MMRM of change covariates and covariance;
    without one, validate says so (analyze used to go on with guessed defaults)."""
    assert_problem(
        lambda d: d["analysis"].update(models=d["analysis"]["models"][1:]),
        "analysis.estimands[0].sensitivity",
        "needs an mmrm model of change_from_baseline in analysis.models",
    )
