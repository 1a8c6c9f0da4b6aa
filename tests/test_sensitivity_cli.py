"""``frailtrial stats sensitivity``: the contract's flags and JSON keys, and bad input
refused with exit status 2 and one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_inprocess import completed
from sensitivity_support import REF, antidepressant_ice

DATA = str(REF / "antidepressant_data.csv")
BASE = [
    "stats", "sensitivity", "--data", DATA,
    "--formula", "CHANGE ~ BASVAL*VISIT + THERAPY*VISIT", "--subject", "PATIENT",
    "--visit", "VISIT", "--group", "THERAPY", "--levels", "THERAPY=PLACEBO,DRUG",
    "--reference", "PLACEBO", "--analysis", "CHANGE ~ THERAPY + BASVAL",
]  # fmt: skip


@pytest.fixture()
def ice_csv(tmp_path: Path) -> str:
    path = tmp_path / "ice.csv"
    antidepressant_ice().to_csv(path, index=False)
    return str(path)


def test_jackknife_jr_json_has_the_contract_keys(ice_csv: str) -> None:
    run = completed(*BASE, "--ice", ice_csv, "--method", "condmean-jackknife",
                    "--strategy", "JR", "--json")  # fmt: skip
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    visit7 = next(e for e in doc["effects"] if e["visit"] == "7")
    assert set(visit7) >= {"visit", "estimate", "se", "ci_low", "ci_high", "p_value"}
    assert visit7["estimate"] == pytest.approx(-2.12553, rel=3e-5)  # rbmi.md: PLACEBO - DRUG
    assert visit7["se"] == pytest.approx(0.85814, rel=1e-5)
    groups = {(r["group"], r["visit"]) for r in doc["lsmeans"]}
    assert groups == {(g, v) for g in ("PLACEBO", "DRUG") for v in ("4", "5", "6", "7")}
    assert doc["intercurrent_events"] == {"JR": 43} and doc["n_samples"] == 172


def test_strategy_column_of_the_ice_file_and_delta(ice_csv: str, tmp_path: Path) -> None:
    with_strategy = tmp_path / "ice_cr.csv"
    antidepressant_ice("CR").to_csv(with_strategy, index=False)
    cr = json.loads(
        completed(*BASE, "--ice", str(with_strategy), "--strategy", "JR", "--json").stdout
    )
    assert cr["intercurrent_events"] == {"CR": 43}
    plain = json.loads(completed(*BASE, "--ice", ice_csv, "--strategy", "JR", "--json").stdout)
    shifted = json.loads(
        completed(*BASE, "--ice", ice_csv, "--strategy", "JR", "--delta", "5", "--json").stdout
    )
    assert shifted["delta"] == 5.0
    assert shifted["effects"][3]["estimate"] > plain["effects"][3]["estimate"]
    assert shifted["effects"][0]["estimate"] == pytest.approx(plain["effects"][0]["estimate"])


def test_bootstrap_and_approx_bayes_from_the_cli(ice_csv: str) -> None:
    boot = completed(*BASE, "--ice", ice_csv, "--strategy", "JR", "--method",
                     "condmean-bootstrap", "--samples", "50", "--seed", "2", "--json")  # fmt: skip
    assert boot.returncode == 0, boot.stderr
    doc = json.loads(boot.stdout)
    assert doc["pooling"] == "bootstrap (percentile)" and doc["n_samples"] == 50
    assert doc["effects"][3]["se"] is None  # percentile: no SE (JSON null)
    mi = completed(*BASE, "--ice", ice_csv, "--strategy", "JR", "--method", "approx-bayes",
                   "--samples", "5", "--seed", "2")  # fmt: skip
    assert mi.returncode == 0, mi.stderr
    assert "rubin" in mi.stdout and "Effects" in mi.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "mcmc"], "method 'mcmc': allowed condmean-jackknife"),
        (["--strategy", "JUMP"], "unknown strategy 'JUMP'"),
        (["--ice", "missing.csv"], "--ice missing.csv: no such file"),
        (["--reference", "NONE"], "--reference 'NONE' is not a level of THERAPY"),
        (["--samples", "10"], "--samples is for condmean-bootstrap and approx-bayes"),
        (["--method", "approx-bayes", "--samples", "1"], "samples 1: need at least 2"),
        (["--conf-level", "1.5"], "conf_level 1.5: must be between 0 and 1"),
        (["--bootstrap-ci", "bca"], "bootstrap CI 'bca': allowed percentile, normal"),
        (["--covariance", "banded"], "unknown covariance 'banded'"),
    ],
)
def test_bad_input_exits_2_with_one_line(extra: list[str], message: str) -> None:
    run = completed(*BASE, *extra)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and message in run.stderr
    assert "Traceback" not in run.stderr


def test_bad_ice_rows_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "ice.csv"
    bad.write_text("PATIENT,VISIT,strategy\n1503,9,JR\n")
    run = completed(*BASE, "--ice", str(bad))
    assert run.returncode == 2 and "--ice row 2: visit '9' is not a visit" in run.stderr
    bad.write_text("PATIENT,VISIT,strategy\n1503,5,JUMP\n")
    run = completed(*BASE, "--ice", str(bad))
    assert run.returncode == 2 and "--ice row 2: unknown strategy 'JUMP'" in run.stderr
