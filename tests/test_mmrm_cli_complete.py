"""``frailtrial stats mmrm`` flags of the complete MMRM interface: --vcov, --conf-level,
--type3, --contrast/--adjust, --compare, --predict, --residuals, --diagnostics, --summary.
References: SAS listings (tests/reference/sas/) and the R fixture mmrm_complete.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.cli_inprocess import completed

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow

REF = Path(__file__).parent / "reference"
FIX = json.loads((REF / "mmrm_complete.json").read_text())
FEV = ["--data", str(REF / "fev_data.csv"), "--subject", "USUBJID", "--visit", "AVISIT"]
THREE = [
    "--data",
    str(REF / "sim_three_arm.csv"),
    "--subject",
    "pid",
    "--visit",
    "visit",
    "--formula",
    "y ~ arm*visit",
    "--covariance",
    "cs",
    "--levels",
    "arm=placebo,dose_low,dose_high",
]


def _json(*args: str) -> dict:
    out = completed("stats", "mmrm", *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_vcov_sandwich_is_sas_empirical_with_between_within_df() -> None:
    doc = _json(
        *FEV, "--formula", "FEV1 ~ ARMCD", "--levels", "ARMCD=PBO,TRT", "--vcov", "sandwich"
    )
    assert doc["vcov"] == "sandwich" and doc["df_method"] == "between_within"
    sas = pd.read_csv(REF / "sas" / "robust" / "empirical_us_lsmean.csv").iloc[0]
    diff = doc["contrasts"][0]
    assert diff["se"] == pytest.approx(sas.StdErr, rel=1e-4) and diff["df"] == 195


def test_type3_flag_matches_sas() -> None:
    doc = _json(*FEV, "--formula", "FEV1 ~ ARMCD*FEV1_BL", "--covariance", "ar1", "--type3")
    sas = pd.read_csv(REF / "sas" / "anova" / "test3_1.csv")
    assert [r["F"] for r in doc["type3"]] == pytest.approx(list(sas.FValue), rel=1e-5)
    assert [r["den_df"] for r in doc["type3"]] == pytest.approx(list(sas.DenDF), rel=1e-5)


def test_contrast_adjust_and_conf_level_match_emmeans() -> None:
    doc = _json(*THREE, "--contrast", "pairwise", "--adjust", "tukey")
    rows = pd.DataFrame(doc["named_contrasts"][0]["rows"])
    ref = pd.DataFrame(FIX["contrasts"]["pairwise_tukey"])
    assert list(rows.contrast) == list(ref.contrast)
    assert np.allclose(rows.p, ref.p, atol=1e-6) and np.allclose(rows.ci_low, ref.ci_low, atol=2e-6)
    doc = _json(
        *THREE,
        "--contrast",
        "pairwise",
        "--contrast",
        "dose_high - dose_low",
        "--conf-level",
        "0.9",
    )
    assert doc["conf_level"] == 0.9 and len(doc["named_contrasts"]) == 2
    rows = pd.DataFrame(doc["named_contrasts"][0]["rows"])
    ref = pd.DataFrame(FIX["contrasts"]["pairwise_none_90"])
    assert np.allclose(rows.ci_high, ref.ci_high, atol=2e-6)
    custom = pd.DataFrame(doc["named_contrasts"][1]["rows"])
    assert list(custom.contrast.unique()) == ["dose_high - dose_low"]


def test_contrast_names_levels_with_spaces_and_dashes(tmp_path: Path) -> None:
    """Three arms whose names hold spaces and ' - ': a 'LEVEL - LEVEL' contrast finds the
    split into two levels (emmeans' pairwise estimates, opposite sign)."""
    names = {"placebo": "Placebo", "dose_low": "Dose low", "dose_high": "Dose high - 20 mg"}
    data = pd.read_csv(REF / "sim_three_arm.csv")
    data["arm"] = data["arm"].map(names)
    path = tmp_path / "three_arm_names.csv"
    data.to_csv(path, index=False)
    args = [*THREE[:-1], "arm=Placebo,Dose low,Dose high - 20 mg"]
    args[args.index("--data") + 1] = str(path)
    doc = _json(*args, "--contrast", "Dose high - 20 mg - Dose low", "--conf-level", "0.9")
    rows = pd.DataFrame(doc["named_contrasts"][0]["rows"])
    assert list(rows.contrast.unique()) == ["Dose high - 20 mg - Dose low"]
    ref = pd.DataFrame(FIX["contrasts"]["pairwise_none_90"])
    ref = ref[ref.contrast == "dose_low - dose_high"]
    assert list(rows.visit) == list(ref.visit)
    assert np.allclose(rows.estimate, -ref.estimate, atol=1e-6)
    assert np.allclose(rows.ci_low, -ref.ci_high, atol=2e-6)
    run = completed("stats", "mmrm", *args, "--contrast", "Dose high - 20 mg - Dose mid")
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert "'Dose high - 20 mg - Dose mid': use pairwise, trt.vs.ctrl or 'LEVEL - LEVEL'" in (
        run.stderr
    )


def test_compare_runs_the_likelihood_ratio_test() -> None:
    doc = _json(
        *FEV, "--formula", FIX["sandwich"]["formula"], "--covariance", "us", "--compare", "cs"
    )
    lr = doc["lr_test"]
    assert lr["null"] == "cs" and lr["alternative"] == "us"
    assert lr["statistic"] == pytest.approx(FIX["lr"]["cs_us_reml"]["statistic"], abs=1e-6)


def test_summary_and_files(tmp_path: Path) -> None:
    out = completed(
        "stats",
        "mmrm",
        *FEV,
        "--formula",
        "FEV1 ~ RACE + SEX + ARMCD*AVISIT",
        "--summary",
        "--predict",
        str(tmp_path / "p.csv"),
        "--residuals",
        str(tmp_path / "r.csv"),
        "--diagnostics",
        str(tmp_path / "d.png"),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("mmrm fit") and "Covariance estimate:" in out.stdout
    pred = pd.read_csv(tmp_path / "p.csv")
    res = pd.read_csv(tmp_path / "r.csv")
    assert len(pred) == len(res) == 800  # one row per row of the data
    assert pred.predicted.notna().all() and res.response.notna().sum() == 537
    # R mmrm's published normalized residual of the first observation
    assert res.normalized.dropna().iloc[0] == pytest.approx(-0.23957, abs=1e-4)
    assert (tmp_path / "d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--vcov", "robust"], "vcov"),
        (["--vcov", "sandwich", "--df", "kr"], "Kenward-Roger"),
        (["--conf-level", "1.2"], "conf_level"),
        (["--contrast", "TRT - NOPE"], "levels: PBO, TRT"),
        (["--contrast", "trt.vs.ctrl", "--adjust", "tukey"], "pairwise"),
        (["--adjust", "holm"], "--contrast"),
        (["--compare", "ar1"], "not nested"),
        (["--summary", "--json"], "choose one"),
        (["--summary", "--type3"], "--summary prints R's summary of the fit only"),
        (["--summary", "--contrast", "pairwise"], "--type3, --contrast and --compare"),
        (["--summary", "--compare", "us"], "drop --summary or them"),
        (["--predict", "no/such/folder/p.csv"], "does not exist"),
        (["--diagnostics", "plot.txt"], ".png"),
    ],
)
def test_bad_flags_exit_2_with_one_line(extra: list[str], message: str) -> None:
    out = completed(
        "stats", "mmrm", *FEV, "--formula", "FEV1 ~ ARMCD*AVISIT", "--covariance", "cs", *extra
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1
    assert message in out.stderr


def test_output_never_overwrites_the_input_data(tmp_path: Path) -> None:
    """Attack: --residuals pointed at the --data file (through another spelling of its
    path) would replace the data with residuals; it is refused and the file is unchanged."""
    data = tmp_path / "fev.csv"
    data.write_bytes((REF / "fev_data.csv").read_bytes())
    before = data.read_bytes()
    for flag in ("--predict", "--residuals"):
        out = completed(
            "stats",
            "mmrm",
            "--data",
            str(data),
            "--subject",
            "USUBJID",
            "--visit",
            "AVISIT",
            "--formula",
            "FEV1 ~ ARMCD*AVISIT",
            flag,
            str(tmp_path / "." / "fev.csv"),
        )
        assert out.returncode == 2 and "overwrite the --data file" in out.stderr
    assert data.read_bytes() == before
