"""Protocol validation against the instrument library and the schedule of assessments, and
the YAML text itself: each wrong protocol is rejected with the problem's path and words."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli_inprocess import invoke
from frailtrial.errors import InputError
from frailtrial.protocol import ProtocolError, load, parse
from frailtrial.protocol.loader import read_yaml
from protocol_support import BUILTIN, assert_problem, raw

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow


def _visit(d: dict[str, Any], name: str) -> dict[str, Any]:
    visit: dict[str, Any] = next(v for v in d["visits"] if v["name"] == name)
    return visit


# ---- against the instrument library ---------------------------------------------------


def test_an_unknown_instrument_at_a_visit_is_named() -> None:
    assert_problem(
        lambda d: _visit(d, "week1")["instruments"].append("sf63"),
        "visits[2].instruments[7]",
        "'sf63' is not an instrument; known: 6mwd, cfs, cytokine",
    )


def test_an_unknown_instrument_of_a_variable_is_named() -> None:
    assert_problem(
        lambda d: d["variables"][0].update(instrument="sf63"),
        "variables[0].instrument",
        "'sf63' is not an instrument; known: 6mwd",
    )


def test_an_unknown_result_of_an_instrument_is_named() -> None:
    assert_problem(
        lambda d: d["variables"][0].update(result="PCS_total"),
        "variables[0].result",
        "'PCS_total' is not a result of sf36; its numeric results: PF, RP, BP, GH",
    )


def test_a_variable_cannot_hold_a_text_result() -> None:
    assert_problem(
        lambda d: d["variables"][2].update(result="state"),
        "variables[2].result",
        "'state' of eq5d5l is not a number and a variable holds numbers; "
        "numeric results: index, vas",
    )


def test_a_frailty_range_lies_within_the_instruments_range() -> None:
    # the Clinical Frailty Scale has levels 1-9 (Rockwood 2005), declared in instruments.cfs
    assert_problem(
        lambda d: d["eligibility"]["frailty"].update(score_max=12),
        "eligibility.frailty.score_max",
        "12 is outside the cfs score range; allowed: 1 to 9",
        name="cratus-2017",
    )
    assert_problem(
        lambda d: d["eligibility"]["frailty"].update(score_min=0),
        "eligibility.frailty.score_min",
        "0 is outside the cfs score range; allowed: 1 to 9",
        name="cratus-2017",
    )


def test_another_instruments_range_lies_within_its_range() -> None:
    crit = {"instrument": "sppb", "score_min": 0, "score_max": 13}
    assert_problem(
        lambda d: d["eligibility"].update(other_instruments=[crit]),
        "eligibility.other_instruments[0].score_max",
        "13 is outside the sppb total range; allowed: 0 to 12",
    )


def test_a_frailty_instrument_needs_an_overall_score() -> None:
    assert_problem(
        lambda d: d["eligibility"]["frailty"].update(instrument="tug"),
        "eligibility.frailty.instrument",
        "tug has no overall score to judge eligibility; instruments with one: cfs, cytokine",
    )
    assert_problem(
        lambda d: d["eligibility"]["frailty"].update(instrument="frial"),
        "eligibility.frailty.instrument",
        "'frial' is not an instrument",
    )


# ---- against the schedule of assessments ----------------------------------------------


def test_an_endpoint_variable_must_be_collected_at_its_visit() -> None:
    assert_problem(
        lambda d: _visit(d, "month6")["instruments"].remove("psqi"),
        "endpoints[3].variable",
        "'psqi' is not collected at visit 'month6'; allowed: a visit listing instrument 'psqi'",
    )
    data = raw("huc-msc-2024")
    _visit(data, "month6")["instruments"].remove("psqi")
    with pytest.raises(ProtocolError) as info:
        parse(data, "mine.yaml")
    assert "sample" not in str(info.value)  # psqi is listed at other visits: not a lab value


def test_a_change_from_baseline_needs_the_variable_at_baseline() -> None:
    assert_problem(
        lambda d: _visit(d, "baseline")["instruments"].remove("tug"),
        "endpoints[4].variable",
        "'tug' is not collected at the baseline visit 'baseline', which a change from "
        "baseline needs",
    )


def test_a_laboratory_variable_is_collected_where_its_sample_is_taken() -> None:
    assert_problem(
        lambda d: _visit(d, "month6")["samples"].remove("edta_plasma_cytokines"),
        "endpoints[8].variable",
        "'tnfa' is not collected at visit 'month6'; allowed: a visit listing instrument "
        "'cytokine' or taking sample 'edta_plasma_cytokines'",
    )
    assert_problem(
        lambda d: d["variables"][11].pop("sample"),
        "endpoints[8].variable",
        "(or, for a laboratory variable, taking the sample it names in `sample`)",
    )


def test_a_variables_sample_is_taken_at_some_visit() -> None:
    assert_problem(
        lambda d: d["variables"][8].update(sample="urine"),
        "variables[8].sample",
        "'urine' is not a sample taken at any visit; samples: chemistry, edta_plasma_cytokines",
    )


def test_visit_windows_must_not_overlap() -> None:
    # month1 (day 30) from day 10 shares day 10 with week1's window (day 8, -2/+2)
    assert_problem(
        lambda d: _visit(d, "month1").update(window_before=20),
        "visits[3]",
        "window (days 10 to 33) overlaps the window of visits[2] 'week1' (days 6 to 10); "
        "the windows of scheduled visits must not overlap",
    )


def test_the_screening_window_may_reach_into_the_baseline_window() -> None:
    # screening (day -30, +30) precedes randomization and is not a scheduled visit
    screening, baseline = raw("huc-msc-2024")["visits"][:2]
    assert (
        screening["day"] + screening["window_after"] >= baseline["day"] - baseline["window_before"]
    )
    assert load("huc-msc-2024").visits[0].kind == "screening"


@pytest.mark.parametrize(
    ("visit", "what"),
    [("screening", "a screening visit"), ("baseline", "the baseline visit")],
)
def test_the_primary_endpoint_is_judged_after_baseline(visit: str, what: str) -> None:
    assert_problem(
        lambda d: d["endpoints"][0].update(visit=visit),
        "endpoints[0].visit",
        f"{visit!r} is {what}; an endpoint (change from baseline) is judged at a "
        "post-baseline visit (week1, month1, month2, month3, month6)",
    )


def test_an_incidence_endpoint_at_screening_is_refused() -> None:
    assert_problem(
        lambda d: d["endpoints"][0].update(visit="screening"),
        "endpoints[0].visit",
        "'screening' is a screening visit; an endpoint (incidence) is judged at a "
        "post-baseline visit (month1, month3, month6)",
        name="cratus-2017",
    )


# ---- ids, randomization, models --------------------------------------------------------


def test_a_duplicate_inclusion_id_is_refused() -> None:
    assert_problem(
        lambda d: d["eligibility"]["inclusions"][1].update(id="life_expectancy_12m"),
        "eligibility.inclusions[1].id",
        "duplicate id 'life_expectancy_12m' (also eligibility.inclusions[0]); each must be unique",
    )


def test_a_duplicate_exclusion_id_is_refused() -> None:
    assert_problem(
        lambda d: d["eligibility"]["exclusions"][16].update(id="allergy"),
        "eligibility.exclusions[16].id",
        "duplicate id 'allergy' (also eligibility.exclusions[0])",
    )


def test_a_duplicate_lab_criterion_is_refused() -> None:
    assert_problem(
        lambda d: d["eligibility"]["labs"][1].update(variable="hemoglobin"),
        "eligibility.labs[1].variable",
        "duplicate variable 'hemoglobin' (also eligibility.labs[0])",
        name="cratus-2017",
    )


def test_minimization_takes_no_block_sizes() -> None:
    assert_problem(
        lambda d: d["randomization"].update(scheme="minimization", strata=["sex"]),
        "randomization.block_sizes",
        "minimization does not use blocks; remove block_sizes (only permuted_blocks and "
        "random_permuted_blocks take them)",
    )


def test_a_stratum_on_an_ordinal_characteristic_needs_levels() -> None:
    assert_problem(
        lambda d: d["randomization"].update(strata=["fried_score"]),
        "randomization.strata[0]",
        "'fried_score' (ordinal) has no levels to stratify on; allowed: site, a binary "
        "characteristic or one with levels (give baseline_characteristics[3].levels)",
    )


def test_a_stratum_with_levels_validates() -> None:
    data = raw("huc-msc-2024")
    data["randomization"]["strata"] = ["fried_score", "sex", "hypertension", "site"]
    data["baseline_characteristics"][3]["levels"] = ["1", "2", "3", "4"]
    assert parse(data, "mine.yaml").randomization.strata[0] == "fried_score"


def test_a_stratum_is_named_once() -> None:
    assert_problem(
        lambda d: d["randomization"].update(strata=["sex", "sex"]),
        "randomization.strata[1]",
        "duplicate entry 'sex' (also randomization.strata[0])",
    )


def test_a_models_covariate_is_a_baseline_characteristic() -> None:
    assert_problem(
        lambda d: d["analysis"]["models"][0].update(covariates=["weight"]),
        "analysis.models[0].covariates[0]",
        "'weight' is not a baseline characteristic (acei_arb, age, alt",
    )


def test_a_models_covariate_is_named_once() -> None:
    assert_problem(
        lambda d: d["analysis"]["models"][0].update(covariates=["age", "age"]),
        "analysis.models[0].covariates[1]",
        "duplicate entry 'age' (also analysis.models[0].covariates[0])",
    )


def test_a_table3_marker_is_a_p_value_threshold() -> None:
    assert_problem(
        lambda d: d["analysis"]["markers_vs_control"].update({"‡": 1.5}),
        "analysis.markers_vs_control.‡",
        "1.5 is not a p-value threshold; allowed: above 0, at most 1",
    )


def test_a_visit_lists_an_instrument_once() -> None:
    assert_problem(
        lambda d: _visit(d, "week1")["instruments"].append("sf36"),
        "visits[2].instruments[7]",
        "duplicate entry 'sf36' (also visits[2].instruments[0])",
    )


def test_a_characteristic_lists_a_level_once() -> None:
    assert_problem(
        lambda d: d["baseline_characteristics"][1].update(levels=["male", "female", "male"]),
        "baseline_characteristics[1].levels[2]",
        "duplicate entry 'male' (also baseline_characteristics[1].levels[0])",
    )


def test_sex_has_the_datasets_levels() -> None:
    """A protocol with sex M/F validated, then could be neither simulated nor analysed (the
    dataset records male or female)."""
    assert_problem(
        lambda d: d["baseline_characteristics"][1].update(levels=["M", "F"]),
        "baseline_characteristics[1].levels",
        "'M' is not a level of sex; allowed: male, female (the dataset's participants.sex)",
    )


# ---- the YAML text ---------------------------------------------------------------------


def _builtin_text(name: str = "huc-msc-2024") -> str:
    return (BUILTIN / f"{name}.yaml").read_text("utf-8")


def _line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


def test_a_duplicate_yaml_key_is_an_error_with_its_line(tmp_path: Path) -> None:
    text = _builtin_text().replace("  phase: I/II\n", "  phase: I/II\n  phase: II\n", 1)
    first = _line_of(text, "  phase: I/II\n")
    f = tmp_path / "dup.yaml"
    f.write_text(text, "utf-8")
    with pytest.raises(ProtocolError) as info:
        load(f)
    assert info.value.problems == [
        (
            "identity.phase",
            f"duplicate key 'phase' at line {first + 1}, column 3 (first at line {first}); "
            "a key may appear once in a mapping",
        )
    ]


def test_duplicate_keys_in_flow_mappings_and_lists_are_found() -> None:
    text = "a: 1\nb:\n  - {c: 1, c: 2}\n  - x\na: 3\n"
    with pytest.raises(InputError) as info:
        read_yaml(text, "calibration x.yaml")
    assert str(info.value) == (
        "calibration x.yaml: b[0].c: duplicate key 'c' at line 3, column 12 (first at line 3); "
        "a key may appear once in a mapping (and 1 more)"
    )


def test_a_billion_laughs_document_is_read_without_expanding_its_aliases() -> None:
    # 7 levels of 10 aliases: 10**7 leaves if expanded (about a minute to walk); each node
    # is visited once instead, in microseconds
    lines = ["l0: &l0 [x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 8)]
    start = time.perf_counter()
    data = read_yaml("\n".join(lines) + "\n", "protocol bomb.yaml")
    assert time.perf_counter() - start < 5
    assert data["l7"][0] is data["l6"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: x\nidentity:\n\ttitle: t\n",
            "not valid YAML at line 3, column 1: a tab character cannot start a token; "
            "indent with spaces",
        ),
        (
            "name: x\narms: [a, b\nvisits: []\n",
            "not valid YAML at line 3, column 7: the '[' opened at line 2, column 7 is not "
            "closed by ']'",
        ),
        (
            "name: x\ntitle: Trial: phase II\n",
            "not valid YAML at line 2, column 13: a ':' followed by a space is not allowed here",
        ),
        (
            'name: x\ntitle: "unclosed\n',
            "not valid YAML at line 3, column 1: the quoted value opened at line 2, column 8 "
            "is never closed",
        ),
        (
            "name: x\n  title: y\n",
            "not valid YAML at line 2, column 8: a ':' followed by a space is not allowed here",
        ),
        ("name: @x\n", "not valid YAML at line 1, column 7: the character '@' cannot start"),
        (
            "name: x\narms: [\n  - a\n",
            "not valid YAML at line 3, column 3: a '- ' list item inside '[...]' or '{...}'",
        ),
    ],
)
def test_a_yaml_syntax_error_says_what_and_where(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text, "utf-8")
    with pytest.raises(InputError) as info:
        load(f)
    assert str(info.value).startswith(f"protocol {f}: {message}"), str(info.value)


# ---- the command ---------------------------------------------------------------------


def test_cli_validate_lists_every_problem_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = raw("huc-msc-2024")
    data["variables"][0]["result"] = "PCS_total"
    data["endpoints"][1]["visit"] = "screening"
    data["randomization"]["scheme"] = "minimization"
    data["eligibility"]["inclusions"][1]["id"] = "life_expectancy_12m"
    _visit(data, "month1")["window_before"] = 20
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    text = text.replace("  phase: I/II\n", "  phase: I/II\n  phase: II\n", 1)
    f = tmp_path / "wrong.yaml"
    f.write_text(text, "utf-8")
    code, out, err = invoke(monkeypatch, capsys, "protocol", "validate", str(f))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    expected = [
        "identity.phase: duplicate key 'phase'",
        "variables[0].result: 'PCS_total' is not a result of sf36",
        "endpoints[1].visit: 'screening' is a screening visit",
        "randomization.block_sizes: minimization does not use blocks",
        "eligibility.inclusions[1].id: duplicate id 'life_expectancy_12m'",
        "visits[3]: window (days 10 to 33) overlaps",
    ]
    assert len(lines) == len(expected), lines
    for want in expected:
        assert any(x.startswith(f"error: {f}: {want}") for x in lines), (want, lines)


def test_cli_validate_reports_a_yaml_syntax_error_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "tab.yaml"
    f.write_text("name: x\nidentity:\n\ttitle: t\n", "utf-8")
    code, out, err = invoke(monkeypatch, capsys, "protocol", "validate", str(f))
    assert code == 2 and out == ""
    assert err == (
        f"error: protocol {f}: not valid YAML at line 3, column 1: a tab character cannot "
        "start a token; indent with spaces\n"
    )
