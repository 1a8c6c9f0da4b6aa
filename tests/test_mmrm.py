"""MMRM: fit_many against single fits, input errors, and the command line."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from scipy import stats as sps
from typer.testing import CliRunner

from cli_inprocess import completed
from frailtrial.cli.main import app
from frailtrial.errors import ConvergenceError, InputError
from frailtrial.stats.mmrm import estimate_many, fit_many, mmrm

REF = Path(__file__).parent / "reference"
SIM = [pd.read_csv(REF / f"mmrm_sim_trial_{k}.csv") for k in (1, 2, 3)]
SIM_ARGS = {"formula": "Y ~ BASE + ARM*VISIT", "subject": "USUBJID", "visit": "VISIT"}
FEV = pd.read_csv(REF / "fev_data.csv")


def _datasets() -> list[pd.DataFrame]:
    """The three simulated trials plus variants: fewer subjects, extra missing values."""
    fewer = SIM[0][~SIM[0].USUBJID.isin(["S01", "S02", "S17"])]
    holes = SIM[1].copy()
    holes.loc[holes.index % 7 == 3, "Y"] = np.nan
    return [*SIM, fewer, holes]


@pytest.mark.parametrize("covariance", ["us", "cs", "ar1h", "toeph"])
@pytest.mark.parametrize("method", ["reml", "ml"])
def test_fit_many_equals_single_fits(covariance: str, method: str) -> None:
    data = _datasets()
    many = fit_many(data, covariance=covariance, method=method, **SIM_ARGS)
    assert len(many) == len(data)
    for d, got in zip(data, many, strict=True):
        one = mmrm(d, covariance=covariance, method=method, **SIM_ARGS)
        assert got.converged
        assert got.n_obs == one.n_obs and got.n_subjects == one.n_subjects
        assert got.loglik == pytest.approx(one.loglik, rel=1e-10)
        np.testing.assert_allclose(got.beta, one.beta, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(got.sigma, one.sigma, rtol=1e-6, atol=1e-8)
        a = got.coefficients()
        b = one.coefficients()
        np.testing.assert_allclose(a[["se", "df"]], b[["se", "df"]], rtol=1e-5)


@pytest.mark.parametrize("df", ["satterthwaite", "residual", "kr"])
def test_estimate_many_equals_per_fit_inference(df: str) -> None:
    fits = fit_many(_datasets(), **SIM_ARGS)
    labels, lmat = fits[0].treatment_contrast_matrix()
    assert list(labels.VISIT)[-1] == "overall" and len(labels) == 7
    many = estimate_many(fits, lmat, df=df)
    assert len(many) == len(fits) * len(lmat)
    for i, fit in enumerate(fits):
        one = fit.treatment_contrasts(df=df)
        got = many[many.fit == i].reset_index(drop=True)
        cols = ["estimate", "se", "df", "p", "ci_low", "ci_high"]
        np.testing.assert_allclose(got[cols], one[cols], rtol=1e-6)


def test_estimate_many_uses_the_fits_exact_hessians_or_evaluates_them() -> None:
    """fit_many's us fits carry the exact Hessian of their optimum: Satterthwaite's df from
    it equal those of a fresh exact evaluation (fits without one), in any mixture."""
    fits = fit_many(_datasets(), **SIM_ARGS)
    assert all(f.hessian is not None for f in fits)
    lmat = fits[0].treatment_contrast_matrix()[1]
    given = estimate_many(fits, lmat)
    bare = [dataclasses.replace(f, hessian=None, _cache={}) for f in fits]
    evaluated = estimate_many(bare, lmat)
    mixed = estimate_many([bare[i] if i % 2 else f for i, f in enumerate(fits)], lmat)
    assert given["df"].between(1, 1000).all()
    np.testing.assert_allclose(given["df"], evaluated["df"], rtol=1e-8)
    np.testing.assert_allclose(mixed["df"], evaluated["df"], rtol=1e-8)
    np.testing.assert_array_equal(mixed["fit"], evaluated["fit"])


def test_estimate_many_reads_what_the_fits_hold() -> None:
    """estimate_many takes its rows from fit_many's arrays only while every fit still holds
    its own views of them: a fit given other values (or a subset, reordered) is read as
    it is."""
    fits = fit_many(_datasets(), **SIM_ARGS)
    lmat = fits[0].treatment_contrast_matrix()[1][-2:-1]
    before = estimate_many(fits, lmat)
    fits[2].beta = fits[2].beta + 1.0
    after = estimate_many(fits, lmat)
    shift = float(lmat[0].sum())
    assert after["estimate"][2] == pytest.approx(before["estimate"][2] + shift, rel=1e-12)
    np.testing.assert_array_equal(after["estimate"].drop(2), before["estimate"].drop(2))
    picked = estimate_many([fits[4], fits[1]], lmat)
    np.testing.assert_array_equal(picked["df"], before["df"][[4, 1]])


@pytest.mark.parametrize("df", ["satterthwaite", "kr"])
def test_estimate_many_takes_the_confidence_level(df: str) -> None:
    """90 % intervals: est -/+ t(0.95, df) se (scipy's quantile), as the per-fit table has."""
    fits = fit_many(_datasets()[:3], **SIM_ARGS)
    lmat = fits[0].treatment_contrast_matrix()[1]
    many = estimate_many(fits, lmat, df=df, conf_level=0.90)
    half = sps.t.ppf(0.95, many["df"]) * many["se"]
    np.testing.assert_allclose(many["ci_high"] - many["estimate"], half, rtol=1e-10)
    one = fits[1].treatment_contrasts(df=df, conf_level=0.90)
    got = many[many.fit == 1].reset_index(drop=True)
    np.testing.assert_allclose(got[["ci_low", "ci_high"]], one[["ci_low", "ci_high"]], rtol=1e-6)
    with pytest.raises(InputError, match="conf"):
        estimate_many(fits, lmat, conf_level=95)


def test_fit_many_counts_subjects_with_missing_visits() -> None:
    fit = mmrm(FEV, "FEV1 ~ ARMCD*AVISIT", "USUBJID", "AVISIT")
    assert fit.n_subjects == 197  # 3 of 200 subjects have no FEV1 at all
    assert fit.n_obs == 537
    assert fit.bic == pytest.approx(fit.neg2loglik + 10 * np.log(197))


def test_unknown_column_is_named_with_the_columns_available() -> None:
    with pytest.raises(InputError, match=r"unknown column\(s\) FOO; columns are: USUBJID"):
        mmrm(FEV, "FEV1 ~ ARMCD + FOO", "USUBJID", "AVISIT")
    with pytest.raises(InputError, match="SUBJ"):
        mmrm(FEV, "FEV1 ~ ARMCD", "SUBJ", "AVISIT")


def test_visit_with_one_subject_is_an_input_error() -> None:
    data = FEV.copy()
    vis4 = data.AVISIT == "VIS4"
    first = data.index[vis4 & data.FEV1.notna()][0]
    data.loc[vis4 & (data.index != first), "FEV1"] = np.nan
    with pytest.raises(InputError, match=r"visit 'VIS4' has 1 subject"):
        mmrm(data, "FEV1 ~ ARMCD", "USUBJID", "AVISIT")


def test_singular_design_names_the_aliased_column() -> None:
    data = FEV.assign(ARM2=FEV.ARMCD.map({"PBO": "A", "TRT": "B"}))
    with pytest.raises(InputError, match=r"singular fixed-effects design.*ARM2"):
        mmrm(data, "FEV1 ~ ARMCD + ARM2", "USUBJID", "AVISIT")


def test_duplicate_visit_rows_are_an_input_error() -> None:
    data = pd.concat([FEV, FEV.iloc[[1]]])
    with pytest.raises(InputError, match="more than one row"):
        mmrm(data, "FEV1 ~ ARMCD", "USUBJID", "AVISIT")


def test_non_convergence_says_what_was_tried() -> None:
    with pytest.raises(ConvergenceError, match=r"Newton-Raphson.*1 iterations"):
        mmrm(FEV, "FEV1 ~ RACE + ARMCD*AVISIT", "USUBJID", "AVISIT", max_iter=1)
    with pytest.raises(ConvergenceError, match=r"did not converge \(iteration limit 1 reached\)"):
        mmrm(FEV, "FEV1 ~ RACE + ARMCD*AVISIT", "USUBJID", "AVISIT", max_iter=1)
    many = fit_many([FEV], "FEV1 ~ RACE + ARMCD*AVISIT", "USUBJID", "AVISIT", max_iter=1)
    assert not many[0].converged


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"covariance": "un"}, "unknown covariance 'un'; allowed: us, cs"),
        ({"method": "reml2"}, "unknown method"),
    ],
)
def test_bad_options(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        mmrm(FEV, "FEV1 ~ ARMCD", "USUBJID", "AVISIT", **kwargs)


def test_bad_df_method() -> None:
    fit = mmrm(FEV, "FEV1 ~ ARMCD", "USUBJID", "AVISIT", covariance="cs")
    with pytest.raises(InputError, match="unknown df method"):
        fit.coefficients(df="containment")
    ml = mmrm(FEV, "FEV1 ~ ARMCD", "USUBJID", "AVISIT", covariance="cs", method="ml")
    with pytest.raises(InputError, match="REML"):
        ml.coefficients(df="kr")


def test_residual_and_between_within_df() -> None:
    fit = mmrm(FEV, "FEV1 ~ RACE + SEX + ARMCD*AVISIT", "USUBJID", "AVISIT")
    res = fit.coefficients(df="residual")
    assert (res.df == 537 - 11).all()
    bw = fit.coefficients(df="between-within").set_index("term").df
    # between-subject terms: subjects - rank(intercept, race, sex, arm) = 197 - 5
    assert bw["(Intercept)"] == bw["SEXMale"] == bw["ARMCDTRT"] == 192
    # within-subject terms: N - subjects - rank(visit, arm x visit) = 537 - 197 - 6
    assert bw["AVISITVIS2"] == bw["ARMCDTRT:AVISITVIS3"] == 334


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return completed("stats", "mmrm", *args)


def test_cli_json_document() -> None:
    out = _cli(
        "--data",
        str(REF / "fev_data.csv"),
        "--formula",
        "FEV1 ~ RACE + SEX + ARMCD*AVISIT",
        "--subject",
        "USUBJID",
        "--visit",
        "AVISIT",
        "--df",
        "kr",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    for key in (
        "loglik",
        "aic",
        "n_subjects",
        "n_obs",
        "converged",
        "coefficients",
        "covariance",
        "lsmeans",
    ):
        assert key in doc
    assert doc["n_subjects"] == 197 and doc["n_obs"] == 537 and doc["converged"] is True
    assert doc["df_method"] == "kenward_roger"  # --df kr: the one spelling in the output
    # SAS PROC MIXED: tests/reference/sas/sas_log_reml.txt (-2 Res Log Likelihood)
    assert -2 * doc["loglik"] == pytest.approx(3386.44987722, abs=1e-5)
    assert set(doc["coefficients"][0]) >= {
        "term",
        "estimate",
        "se",
        "df",
        "t",
        "p",
        "ci_low",
        "ci_high",
    }
    assert doc["covariance"]["visits"] == ["VIS1", "VIS2", "VIS3", "VIS4"]
    assert len(doc["covariance"]["matrix"]) == 4
    assert len(doc["lsmeans"]) == 8
    assert {"ARMCD", "AVISIT", "estimate", "se", "df"} <= set(doc["lsmeans"][0])


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(app, ["stats", "mmrm", *args])


def test_cli_table_and_errors() -> None:
    base = ["--data", str(REF / "fev_data.csv"), "--subject", "USUBJID", "--visit", "AVISIT"]
    ok = _invoke(*base, "--formula", "FEV1 ~ ARMCD*AVISIT", "--covariance", "ar1")
    assert ok.exit_code == 0 and "Least-squares means" in ok.output
    for extra in (
        ["--formula", "FEV1 ~ NOPE"],
        ["--formula", "FEV1 ~ ARMCD", "--df", "x"],
        ["--formula", "FEV1 ~ ARMCD", "--covariance", "x"],
    ):
        bad = _invoke(*base, *extra)
        assert bad.exit_code == 2
        assert bad.output.startswith("error: ") and bad.output.count("\n") == 1
    missing = _invoke(
        "--data", "no/such.csv", "--formula", "Y ~ 1", "--subject", "s", "--visit", "v"
    )
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_fit_many_keeps_going_past_a_degenerate_data_set() -> None:
    """A data set that cannot be fitted (an infinite or overflowing outcome, a singular
    design) comes back unconverged with a reason; the others are fitted, and tested by
    estimate_many, as if it were absent."""
    good = _datasets()[:2]
    infinite = SIM[2].copy()
    infinite.loc[infinite.index[5], "Y"] = np.inf
    huge = SIM[2].assign(Y=SIM[2].Y * 1e160)
    fits = fit_many([good[0], infinite, good[1], huge], **SIM_ARGS)
    for bad in (fits[1], fits[3]):
        assert not bad.converged
        assert "not finite at the starting values" in bad.reason
    single_arm = SIM[0].assign(ARM=SIM[0].ARM.iloc[0])  # arm column all zero: singular
    fits.append(fit_many([good[0], single_arm], **SIM_ARGS)[1])
    assert not fits[-1].converged and "singular fixed-effects design" in fits[-1].reason
    _, lmat = fits[0].treatment_contrast_matrix()
    tests = estimate_many(fits[:4], lmat[-1])
    for k, (d, got) in enumerate(zip(good, (fits[0], fits[2]), strict=True)):
        one = mmrm(d, **SIM_ARGS)
        assert got.converged and got.reason == ""
        assert got.loglik == pytest.approx(one.loglik, rel=1e-10)
        np.testing.assert_allclose(got.beta, one.beta, rtol=1e-6, atol=1e-8)
        want = one.estimate(lmat[-1:]).iloc[0]
        row = tests[tests.fit == 2 * k].iloc[0]
        assert row.df == pytest.approx(want.df, rel=1e-6)
        assert row.p == pytest.approx(want.p, rel=1e-6)


def test_infinite_outcome_is_refused_naming_the_row() -> None:
    """One data set: an infinite FEV1 is bad input (row and what is allowed), not a
    'did not converge, try a simpler covariance'."""
    data = FEV.copy()
    data.loc[5, "FEV1"] = np.inf
    with pytest.raises(InputError, match=r"outcome FEV1 is infinite at data row 6 \("):
        mmrm(data, "FEV1 ~ ARMCD*AVISIT", "USUBJID", "AVISIT")
    many = fit_many([FEV, data, data], "FEV1 ~ ARMCD*AVISIT", "USUBJID", "AVISIT")
    assert many[0].converged and not many[1].converged
    assert "outcome FEV1 is infinite in data set 2" in many[2].reason


def test_fit_many_takes_one_long_frame_with_a_data_set_column() -> None:
    data = _datasets()
    long = pd.concat([d.assign(SIM=f"trial{k}") for k, d in enumerate(data)], ignore_index=True)
    fits = fit_many(long, dataset="SIM", **SIM_ARGS)
    assert len(fits) == len(data)
    for d, got in zip(data, fits, strict=True):
        one = mmrm(d, **SIM_ARGS)
        assert got.n_obs == one.n_obs and got.n_subjects == one.n_subjects
        assert got.loglik == pytest.approx(one.loglik, rel=1e-10)
        np.testing.assert_allclose(got.beta, one.beta, rtol=1e-6, atol=1e-8)
    with pytest.raises(InputError, match="dataset="):
        fit_many(long, **SIM_ARGS)
