"""Protocol model: built-ins hold the published facts; a wrong protocol reports every problem."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli_inprocess import completed
from frailtrial.errors import InputError
from frailtrial.protocol import ProtocolError, builtin_names, load, parse
from protocol_support import assert_problem as _assert_problem
from protocol_support import raw as _raw


def test_a_random_intercept_model_defaults_to_the_df_it_reports() -> None:
    data = _raw("huc-msc-2024")
    data["analysis"]["models"][1].pop("df")
    assert parse(data, "mine.yaml").analysis.models[1].df == "satterthwaite"


def test_builtins_are_listed_and_load() -> None:
    assert builtin_names() == ["cratus-2017", "huc-msc-2024"]
    for name in builtin_names():
        assert load(name).name == name


def test_huc_msc_holds_published_facts() -> None:
    p = load("huc-msc-2024")
    assert p.identity.registry_id == "NCT04314011"
    assert p.identity.phase == "I/II"
    assert [(a.name, a.role, a.ratio) for a in p.arms] == [
        ("mscs", "active", 1),
        ("placebo", "placebo", 1),
    ]
    mscs = p.arm("mscs").dose
    assert mscs.kind == "per_kg" and mscs.cells_per_kg == 1e6
    assert mscs.infusion_days == [1, 30] == p.arm("placebo").dose.infusion_days
    assert p.randomization.scheme == "permuted_blocks"
    assert p.randomization.block_sizes == [6]
    assert p.enrollment.target_randomized == 30 and p.enrollment.screened == 110
    assert (p.eligibility.age_min, p.eligibility.age_max) == (60, 80)
    fr = p.eligibility.frailty
    assert (fr.instrument, fr.score_min, fr.score_max) == ("fried", 1, 4)
    assert len(p.eligibility.exclusions) == 17
    # baseline + 1 week, 1, 2, 3, 6 months: six assessment visits (30 x 6 = 180 scheduled)
    assert [v.name for v in p.assessment_visits] == [
        "baseline",
        "week1",
        "month1",
        "month2",
        "month3",
        "month6",
    ]
    assert p.primary_endpoint.variable == "pcs" and p.primary_endpoint.visit == "month6"
    secondary = {e.variable for e in p.endpoints if e.kind == "secondary"}
    assert secondary == {
        "mcs",
        "eq_vas",
        "psqi",
        "tug",
        "walk4m",
        "grip",
        "ftsst",
        "tnfa",
        "ifng",
        "il8",
        "il17",
    }
    assert p.analysis.within_group_alpha == 0.01 and p.analysis.multiplicity == "bonferroni"
    assert p.analysis.markers_vs_baseline == {"*": 0.01, "**": 0.002}
    assert p.analysis.markers_vs_control == {"†": 0.05, "‡": 0.01}
    assert "dsmb" in p.blinding.unblinded_roles and "investigator" in p.blinding.blinded_roles
    assert p.conventions.sf36_summary == "sum"


def test_cratus_holds_published_facts() -> None:
    p = load("cratus-2017")
    assert p.identity.registry_id == "NCT02065245"
    assert [(a.name, a.ratio) for a in p.arms] == [
        ("mscs_100m", 1),
        ("mscs_200m", 1),
        ("placebo", 1),
    ]
    assert p.arm("mscs_100m").dose.cells == 1e8 and p.arm("mscs_200m").dose.cells == 2e8
    assert all(a.dose.infusion_days == [1] for a in p.arms)
    assert (p.eligibility.age_min, p.eligibility.age_max) == (60, 95)
    fr = p.eligibility.frailty
    assert (fr.instrument, fr.score_min, fr.score_max) == ("cfs", 4, 7)
    labs = {lab.variable: (lab.minimum, lab.maximum) for lab in p.eligibility.labs}
    assert labs["hemoglobin"] == (8, None) and labs["inr"] == (None, 1.5)
    assert labs["platelets"] == (80000, None) and labs["bilirubin"] == (None, 1.5)
    assert p.primary_endpoint.name == "te_sae_1m" and p.primary_endpoint.measure == "incidence"
    assert p.analysis.te_sae_window_days == 30 and p.analysis.dose_response
    assert {"sixmwd", "sppb", "fev1", "sqolf", "tnfa"} <= {v.name for v in p.variables}
    assert p.assumptions, "facts the abstract does not give must be labelled as assumptions"


@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [
        (lambda d: d["arms"][1].update(ratio=0), "arms[1].ratio", "must be a positive integer"),
        (lambda d: d["arms"][1].update(ratio="two"), "arms[1].ratio", "must be an integer"),
        (lambda d: d["arms"][0].update(role="drug"), "arms[0].role", "'drug' is not allowed"),
        (lambda d: d.pop("visits"), "visits", "is required"),
        (lambda d: d["identity"].update(colour="red"), "identity.colour", "not a known field"),
        (lambda d: d["arms"][0].update(name="MSC s"), "arms[0].name", "must be lowercase"),
        (lambda d: d["analysis"].update(alpha=1.5), "analysis.alpha", "less than 1"),
        (
            lambda d: d["analysis"]["models"][1].update(df="residual"),
            "analysis.models[1]",
            "a random_intercept model reports Satterthwaite df",
        ),
    ],
)
def test_structural_errors_name_their_path(edit: Any, path: str, message: str) -> None:
    _assert_problem(edit, path, message)


@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [
        (
            lambda d: d["randomization"].update(block_sizes=[5]),
            "randomization.block_sizes[0]",
            "not a multiple of the sum of arm ratios (2)",
        ),
        (
            lambda d: d["arms"][0]["dose"].pop("cells_per_kg"),
            "arms[0].dose.cells_per_kg",
            "required when kind is per_kg",
        ),
        (lambda d: d["arms"][0].update(role="placebo"), "arms", "exactly one placebo arm"),
        (
            lambda d: d["arms"][1]["dose"].update(infusion_days=[1]),
            "arms",
            "share one infusion schedule",
        ),
        (
            lambda d: d["endpoints"][0].update(visit="month9"),
            "endpoints[0].visit",
            "'month9' is not a visit",
        ),
        (
            lambda d: d["endpoints"][0].update(variable="pcs2"),
            "endpoints[0].variable",
            "'pcs2' is not a variable",
        ),
        (
            lambda d: d["endpoints"][1].update(kind="primary"),
            "endpoints",
            "exactly one primary endpoint",
        ),
        (lambda d: d["visits"][2].update(day=400), "visits", "strictly increasing"),
        (lambda d: d["visits"][1].update(kind="follow_up"), "visits", "exactly one baseline"),
        (lambda d: d["eligibility"].update(age_min=90), "eligibility.age_min", "age_max"),
        (
            lambda d: d["blinding"]["unblinded_roles"].append("investigator"),
            "blinding",
            "both blinded and unblinded",
        ),
        (lambda d: d["arms"][1].update(name="mscs"), "arms[1].name", "duplicate name 'mscs'"),
        (
            lambda d: d["randomization"].update(block_sizes=[2, 6]),
            "randomization.block_sizes",
            "for several use random_permuted_blocks",
        ),
        (
            lambda d: d["analysis"]["populations"].pop(0),
            "analysis.primary_population",
            "'itt' is not among analysis.populations (completers, per_protocol, safety)",
        ),
        (
            lambda d: d["randomization"].update(strata=["colour"]),
            "randomization.strata[0]",
            "'colour' is neither site nor a baseline characteristic (acei_arb, age, alt",
        ),
    ],
)
def test_cross_field_errors_name_their_path(edit: Any, path: str, message: str) -> None:
    _assert_problem(edit, path, message)


def test_every_problem_is_reported_at_once() -> None:
    data = _raw("huc-msc-2024")
    data["arms"][1]["ratio"] = 0
    data["analysis"]["alpha"] = 2
    data["identity"]["phase"] = "V"
    with pytest.raises(ProtocolError) as info:
        parse(data, "mine.yaml")
    paths = {p for p, _ in info.value.problems}
    assert {"arms[1].ratio", "analysis.alpha", "identity.phase"} <= paths


def test_users_yaml_works_like_a_builtin(tmp_path: Path) -> None:
    data = _raw("cratus-2017")
    data["name"] = "my-trial"
    data["enrollment"]["target_randomized"] = 90
    f = tmp_path / "my.yaml"
    f.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    p = load(f)
    assert p.name == "my-trial" and p.enrollment.target_randomized == 90


def test_unknown_protocol_and_bad_yaml_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="neither a built-in"):
        load("no-such-trial")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", "utf-8")
    with pytest.raises(InputError, match="not valid YAML at line"):
        load(bad)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return completed("protocol", *args)


def test_cli_validate_prints_each_problem_with_path(tmp_path: Path) -> None:
    data = _raw("huc-msc-2024")
    data["arms"][1]["ratio"] = 0
    data["identity"]["phase"] = "V"
    f = tmp_path / "wrong.yaml"
    f.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    out = _cli("validate", str(f))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert any("arms[1].ratio: must be a positive integer" in x for x in lines)
    assert any(x.startswith("error:") and "identity.phase" in x for x in lines)
    assert "Traceback" not in out.stderr


def test_cli_show_json_and_list() -> None:
    import json

    out = _cli("show", "huc-msc-2024", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["randomization"]["block_sizes"] == [6]
    listed = _cli("list")
    assert listed.returncode == 0 and "cratus-2017" in listed.stdout
    missing = _cli("show", "nope")
    assert missing.returncode == 2 and "neither a built-in" in missing.stderr
