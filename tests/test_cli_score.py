"""``frailtrial score``: JSON on stdin, one result per input, options and errors (exit 2)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cli_inprocess import completed

REF = Path(__file__).parent / "reference"


def _score(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``frailtrial score ARGS`` in this process (the entry point's own process is tested in
    test_simulate.py and test_cli.py): exit status, stdout and stderr."""
    return completed("score", *args, stdin=stdin)


def _ok(*args: str, payload: Any) -> list[dict[str, Any]]:
    out = _score(*args, "--json", stdin=json.dumps(payload))
    assert out.returncode == 0, out.stderr
    result: list[dict[str, Any]] = json.loads(out.stdout)
    return result


def test_sf36_list_of_inputs_gives_results_in_order() -> None:
    cases = json.loads((REF / "sf36_lbscorer.json").read_text())["cases"][:3]
    results = _ok("sf36", payload=[c["answers"] for c in cases])
    assert len(results) == 3
    assert results[0]["PCS"] == pytest.approx(21.57120, abs=1e-5)
    assert results[1]["GH"] is None and results[1]["PCS"] is None
    assert set(results[2]) >= {"PF", "MH", "PCS", "MCS", "PCS_sum", "MCS_sum", "PCS_mean"}


def test_single_object_gives_a_list_of_one() -> None:
    results = _ok(
        "eq5d5l",
        "--value-set",
        "US",
        payload={
            "mobility": 5,
            "self_care": 5,
            "usual_activities": 5,
            "pain_discomfort": 5,
            "anxiety_depression": 5,
            "vas": 20,
        },
    )
    assert results == [{"index": -0.573, "vas": 20, "state": "55555", "value_set": "US"}]


def test_sf36_options_version_norms_scoring() -> None:
    case = json.loads((REF / "sf36_v2_rederived.json").read_text())["cases"][0]
    v2 = _ok("sf36", "--version", "v2", "--norms=us1990", payload=case["answers"])[0]
    assert v2["PCS"] == pytest.approx(case["expected"]["us1990"]["PCS"])
    rand = _ok("sf36", "--scoring", "rand36", payload={"3a": 3, "3b": 2})[0]
    assert rand["PF"] == 75 and rand["PCS"] is None


def test_eq5d3l_and_psqi() -> None:
    state = dict.fromkeys(
        ["mobility", "self_care", "usual_activities", "pain_discomfort", "anxiety_depression"], 3
    )
    assert _ok("eq5d3l", "--value-set", "CN", payload=state)[0]["index"] == pytest.approx(-0.149)
    psqi = {
        "q1": "23:30",
        "q2": 15,
        "q3": "06:30",
        "q4": 7,
        "q5a": 0,
        "q6": 1,
        "q7": 0,
        "q8": 0,
        "q9": 1,
    } | {f"q5{c}": 0 for c in "bcdefghij"}
    result = _ok("psqi", payload=psqi)[0]
    assert result["global"] == 2 and result["C2"] == 0 and result["C3"] == 0


def test_plain_output_without_json() -> None:
    out = _score("eq5d5l", stdin='{"mobility": 1}')
    assert out.returncode == 0 and out.stdout.startswith("[0] index=null")


@pytest.mark.parametrize(
    ("args", "stdin", "needle"),
    [
        (["sf36"], '[{"3a": 1}, {"3a": 4}]', "input 1: sf36: item '3a' = 4"),
        (["sf36"], '{"3a": "x"}', "expected an integer from 1 to 3"),
        (["eq5d5l"], '{"walking": 1}', "unknown item 'walking'"),
        (["eq5d5l"], '{"mobility": 1', "not valid JSON"),
        (["eq5d5l"], "", "no input"),
        (["eq5d5l"], "[1, 2]", "input 0: expected a JSON object"),
        (["eq5d5l", "--norms", "us1990"], "{}", "takes --value-set"),
        (["eq5d3l", "--value-set", "US"], "{}", "use one of CN, UK"),
        (["sf36", "--version"], "{}", "needs a value"),
        (["walk4m", "--course-m", "far"], "{}", "'far' is not allowed; expected a number"),
        (["fried", "--allow-missing", "maybe"], "{}", "expected true or false"),
        (["nosuch"], "{}", "unknown instrument 'nosuch'"),
        ([], "", "missing instrument NAME"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], stdin: str, needle: str) -> None:
    out = _score(*args, "--json", stdin=stdin)
    assert out.returncode == 2
    assert needle in out.stderr
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("error: ")
    assert out.stdout == ""


def test_list_and_per_instrument_help() -> None:
    listing = _score("--list", "--json")
    names = [row["name"] for row in json.loads(listing.stdout)]
    assert {"sf36", "eq5d5l", "eq5d3l", "psqi"} <= set(names)
    general = _score("--help")
    assert general.returncode == 0 and "frailtrial score NAME" in general.stdout
    help_ = _score("sf36", "--version", "v2", "--help")
    assert help_.returncode == 0
    assert "--norms us1990|us1998" in help_.stdout
    assert "4a   an integer from 1 to 5" in help_.stdout  # v2 ranges from the item schema
    psqi = _score("psqi", "--help").stdout
    assert "q1   a clock time HH:MM" in psqi and "85 %" in psqi
    assert "--value-set CN|UK|US (default UK)" in _score("eq5d5l", "--help").stdout
