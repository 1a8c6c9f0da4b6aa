"""MMRM completeness against R: type III tests (lmerTest / pbkrtest), emmeans contrasts,
sandwich variants (clubSandwich; R mmrm's bias-reduced form by hand), residuals (nlme, R
mmrm's published values) and likelihood-ratio tests (nlme::anova).

Fixture: tests/reference/mmrm_complete.json, made by mmrm_complete.R beside it. A
compound-symmetry MMRM with a positive between-subject variance is the random-intercept
model, so lme4-based references apply to our ``cs`` fits (same REML optimum).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from frailtrial.errors import InputError
from frailtrial.stats.mmrm import MmrmFit, mmrm
from frailtrial.stats.mmrm_compare import nested

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow

REF = Path(__file__).parent / "reference"
FIX = json.loads((REF / "mmrm_complete.json").read_text())


@cache
def _fev() -> pd.DataFrame:
    fev = pd.read_csv(REF / "fev_data.csv")
    fev["ARMCD"] = pd.Categorical(fev["ARMCD"], ["PBO", "TRT"])
    return fev


@cache
def _three() -> pd.DataFrame:
    d = pd.read_csv(REF / "sim_three_arm.csv")
    d["arm"] = pd.Categorical(d["arm"], ["placebo", "dose_low", "dose_high"])
    return d


@cache
def _fit(formula: str, covariance: str, method: str = "reml") -> MmrmFit:
    return mmrm(_fev(), formula, "USUBJID", "AVISIT", covariance, method)


@cache
def _three_fit() -> MmrmFit:
    return mmrm(_three(), "y ~ arm*visit", "pid", "visit", "cs")


# ---- type III -------------------------------------------------------------------------
def test_type3_satterthwaite_matches_lmertest() -> None:
    ref = FIX["type3"]
    fit = _fit("FEV1 ~ ARMCD*AVISIT + RACE + FEV1_BL", "cs")
    ours = fit.type3().set_index("effect")
    r = pd.DataFrame(ref["satterthwaite"]).set_index("effect")
    assert list(ours.index) == list(r.index)
    assert np.allclose(ours.num_df, r.num_df)
    assert np.allclose(ours.F, r.F, rtol=1e-6)
    # lmerTest differentiates numerically; our derivatives are analytic
    assert np.allclose(ours.den_df, r.den_df, rtol=5e-4)
    assert np.allclose(ours.p, r.p, rtol=2e-3)


def test_type3_kenward_roger_near_pbkrtest() -> None:
    """pbkrtest takes the expected information of the variance parameters where SAS (and
    we, matching SAS's ddfm=kr in test_mmrm_sas_empirical.py) take the observed one: with
    missing visits the df differ by a few percent, the F statistics by < 3e-4."""
    fit = _fit("FEV1 ~ ARMCD*AVISIT + RACE + FEV1_BL", "cs")
    ours = fit.type3("kr").set_index("effect")
    r = pd.DataFrame(FIX["type3"]["kenward_roger"]).set_index("effect")
    assert np.allclose(ours.F, r.F, rtol=3e-4)
    assert np.allclose(ours.den_df, r.den_df, rtol=0.06)


@pytest.mark.parametrize(
    ("df", "key"), [("satterthwaite", "satterthwaite"), ("kr", "kenward_roger")]
)
def test_multi_df_type3_matches_lmertest_on_balanced_data(df: str, key: str) -> None:
    """Complete, balanced three-arm trial: pbkrtest's expected information equals the
    observed one, so its multi-df Kenward-Roger F and df are exact references here."""
    ours = _three_fit().type3(df)
    ref = pd.DataFrame(FIX["type3_three_arm"][key])
    assert list(ours.effect) == list(ref.effect)
    assert np.allclose(ours.num_df, ref.num_df)
    assert np.allclose(ours["F"], ref["F"], rtol=1e-6)
    assert np.allclose(ours.den_df, ref.den_df, rtol=1e-6)
    assert np.allclose(ours.p, ref.p, rtol=1e-6)


def test_type3_f_does_not_depend_on_the_basis_of_the_hypothesis() -> None:
    """The Wald F of a q-row hypothesis is the same for any basis of its row space."""
    fit = _fit("FEV1 ~ ARMCD*AVISIT + RACE + FEV1_BL", "cs")
    from frailtrial.stats.mmrm_anova import f_test, type3_contrasts

    lmat = type3_contrasts(fit)["AVISIT"]
    base = f_test(fit, lmat)
    rotated = f_test(fit, np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [1.0, 0.0, 1.0]]) @ lmat)
    assert rotated["F"] == pytest.approx(base["F"], rel=1e-10)
    assert f_test(fit, lmat, "kr")["F"] == pytest.approx(
        f_test(fit, 2.0 * lmat, "kr")["F"], rel=1e-10
    )


# ---- named contrasts (emmeans on lmer, Satterthwaite / Kenward-Roger df) -------------
def test_three_arm_fit_is_lmers() -> None:
    fit = _three_fit()
    assert fit.neg2loglik == pytest.approx(FIX["contrasts"]["neg2loglik"], abs=1e-8)
    assert fit.covariance_parameters().estimate[0] == pytest.approx(
        FIX["contrasts"]["sigma_b2"], rel=1e-6
    )


CONTRAST_CASES = {
    "pairwise_tukey": ("pairwise", "tukey", "satterthwaite", 0.95),
    "pairwise_holm": ("pairwise", "holm", "satterthwaite", 0.95),
    "pairwise_none_90": ("pairwise", "none", "satterthwaite", 0.90),
    "trt_vs_ctrl_bonferroni": ("trt.vs.ctrl", "bonferroni", "satterthwaite", 0.95),
    "trt_vs_ctrl_kr_none": ("trt.vs.ctrl", "none", "kr", 0.95),
    "custom_high_low": ("dose_high - dose_low", "none", "satterthwaite", 0.95),
}


@pytest.mark.parametrize("case", list(CONTRAST_CASES))
def test_named_contrasts_match_emmeans(case: str) -> None:
    spec, adjust, df, level = CONTRAST_CASES[case]
    ours = _three_fit().contrast(spec, adjust=adjust, df=df, conf_level=level)
    ref = pd.DataFrame(FIX["contrasts"][case])
    assert list(ours.contrast) == list(ref.contrast)
    assert list(ours.visit) == list(ref.visit)
    assert np.allclose(ours.estimate, ref.estimate, rtol=0, atol=1e-9)
    assert np.allclose(ours.se, ref.se, rtol=1e-6)
    assert np.allclose(ours.df, ref.df, rtol=1e-5)
    assert np.allclose(ours.p, ref.p, rtol=0, atol=1e-6)
    assert np.allclose(ours.ci_low, ref.ci_low, rtol=0, atol=2e-6)
    assert np.allclose(ours.ci_high, ref.ci_high, rtol=0, atol=2e-6)


def test_dunnett_contrasts_match_emmeans_mvt() -> None:
    """emmeans' adjust='mvt' integrates the multivariate t by Monte Carlo (mvtnorm,
    absolute error ~1e-3); ours by quadrature."""
    ours = _three_fit().contrast("trt.vs.ctrl", adjust="dunnett")
    ref = pd.DataFrame(FIX["contrasts"]["trt_vs_ctrl_dunnett"])
    assert np.allclose(ours.p, ref.p, rtol=0, atol=1e-3)
    assert np.allclose(ours.ci_low, ref.ci_low, rtol=0, atol=5e-3)
    unadjusted = _three_fit().contrast("trt.vs.ctrl")
    assert (ours.p > unadjusted.p).all() and (ours.ci_low < unadjusted.ci_low).all()


def test_contrast_errors_name_the_levels() -> None:
    fit = _three_fit()
    with pytest.raises(InputError, match="levels: placebo, dose_low, dose_high"):
        fit.contrast("dose_high - nope")
    with pytest.raises(InputError, match="pairwise"):
        fit.contrast("trt.vs.ctrl", adjust="tukey")
    with pytest.raises(InputError, match="allowed"):
        fit.contrast("pairwise", adjust="scheffe")
    with pytest.raises(InputError, match="itself"):
        fit.contrast("placebo - placebo")
    with pytest.raises(InputError, match="conf_level"):
        fit.contrast("pairwise", conf_level=1.5)


def test_contrast_averaged_over_visits_is_the_mean_of_the_visits() -> None:
    fit = _three_fit()
    per_visit = fit.contrast("trt.vs.ctrl")
    overall = fit.contrast("trt.vs.ctrl", by_visit=False)
    assert list(overall.visit) == ["overall", "overall"]
    means = per_visit.groupby("contrast", sort=False).estimate.mean()
    assert np.allclose(overall.estimate, means.to_numpy(), atol=1e-12)


# ---- conf_level --------------------------------------------------------------------------
def test_conf_level_intervals_follow_the_t_quantile() -> None:
    fit = _fit("FEV1 ~ ARMCD*AVISIT + RACE", "us")
    c95 = fit.coefficients()
    c80 = fit.coefficients(conf_level=0.8)
    from scipy import stats

    ratio = stats.t.ppf(0.9, c95.df) / stats.t.ppf(0.975, c95.df)
    assert np.allclose((c80.ci_high - c80.estimate), (c95.ci_high - c95.estimate) * ratio)
    for bad in (0.0, 1.0, float("nan")):
        with pytest.raises(InputError, match="conf_level"):
            fit.lsmeans(conf_level=bad)


# ---- sandwich variants ---------------------------------------------------------------
@pytest.mark.parametrize(("covariance", "tol"), [("ar1", 1e-7), ("us", 2e-5)])
@pytest.mark.parametrize(
    ("method", "key"),
    [("sandwich", "CR0"), ("jackknife", "CR3"), ("bias-reduced", "bias_reduced")],
)
def test_sandwich_variants_match_r(covariance: str, tol: float, method: str, key: str) -> None:
    """us: nlme::gls stops ~3e-8 short of the REML optimum in -2 log L, hence the looser
    tolerance there."""
    ref = FIX["sandwich"][covariance]
    fit = _fit(FIX["sandwich"]["formula"], covariance)
    assert fit.terms == ref["terms"]
    expected = np.array(ref[key])
    ours = fit.beta_vcov(method, "residual")
    assert np.abs(ours - expected).max() <= tol * np.abs(expected).max()


@pytest.mark.parametrize(("covariance", "tol"), [("ar1", 1e-8), ("us", 2e-5)])
@pytest.mark.parametrize(("method", "key"), [("sandwich", "CR0"), ("jackknife", "CR3")])
def test_empirical_satterthwaite_df_match_clubsandwich(
    covariance: str, tol: float, method: str, key: str
) -> None:
    """Bell-McCaffrey df (R mmrm's Satterthwaite with an empirical covariance) against
    clubSandwich::coef_test(..., test = "Satterthwaite")."""
    fit = _fit(FIX["sandwich"]["formula"], covariance)
    ours = fit.coefficients(vcov=method).df.to_numpy()
    assert np.allclose(ours, FIX["sandwich"][covariance][f"{key}_df"], rtol=tol)
    model_based = fit.coefficients().df.to_numpy()
    assert not np.allclose(ours, model_based, rtol=1e-2)


def test_bias_reduced_df_near_clubsandwich_cr2() -> None:
    """clubSandwich's CR2 adjusts in another metric than R mmrm's (see above): its df
    agree to 1e-5 here, not to rounding."""
    fit = _fit(FIX["sandwich"]["formula"], "us")
    ours = fit.coefficients(vcov="bias-reduced").df.to_numpy()
    assert np.allclose(ours, FIX["sandwich"]["us"]["CR2_df"], rtol=2e-5)


def test_bias_reduced_lies_between_sandwich_and_jackknife() -> None:
    fit = _fit(FIX["sandwich"]["formula"], "ar1")
    se = {m: np.sqrt(np.diag(fit.beta_vcov(m, "bw"))) for m in ("sandwich", "jackknife")}
    mid = np.sqrt(np.diag(fit.beta_vcov("bias-reduced", "bw")))
    assert (se["sandwich"] < mid).all() and (mid < se["jackknife"]).all()


# ---- residuals and predictions -------------------------------------------------------
def test_residuals_match_nlme() -> None:
    ref = pd.DataFrame(FIX["residuals"])
    fit = _fit(FIX["sandwich"]["formula"], "us")
    res = fit.residuals().dropna(subset=["response"]).reset_index(drop=True)
    assert (res.USUBJID.to_numpy() == ref.USUBJID.to_numpy()).all()
    assert (res.AVISIT.to_numpy() == ref.AVISIT.to_numpy()).all()
    for col in ("response", "pearson", "fitted"):
        assert np.allclose(res[col], ref[col], rtol=0, atol=5e-5), col


def test_residuals_match_r_mmrm_published_values() -> None:
    """R mmrm's tests (tests/testthat/test-tmb-methods.R, 'residuals works as expected'):
    FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID) on fev_data, first five
    observations, printed to 5 significant digits."""
    fit = mmrm(
        pd.read_csv(REF / "fev_data.csv"),
        "FEV1 ~ RACE + SEX + ARMCD*AVISIT",
        "USUBJID",
        "AVISIT",
        "us",
    )
    res = fit.residuals().dropna(subset=["response"]).head(5)
    published = {
        "response": [-1.2349, -31.6025, -4.1618, -4.2406, 2.9770],
        "pearson": [-0.23957, -3.23296, -0.80740, -1.09871, 0.30455],
        "normalized": [-0.23957, -3.23322, -0.80740, -0.99548, 0.43232],
    }
    for col, values in published.items():
        assert np.allclose(res[col], values, rtol=1e-4, atol=1e-4), col


def test_conditional_residuals_are_leave_one_visit_out() -> None:
    """y_j minus its conditional mean given the subject's other observed visits, by the
    conditional-normal formula (here) against the precision identity (the module)."""
    fit = _fit(FIX["sandwich"]["formula"], "us")
    res = fit.residuals().dropna(subset=["response"])
    visits = {v: i for i, v in enumerate(fit.visits)}
    for sid in ("PT2", "PT3", "PT10"):
        sub = res[res.USUBJID.eq(sid)]
        idx = [visits[v] for v in sub.AVISIT]
        e = sub.response.to_numpy()
        for j in range(len(idx)):
            o = [k for k in range(len(idx)) if k != j]
            s = fit.sigma[np.ix_(idx, idx)]
            gain = s[j, o] @ np.linalg.inv(s[np.ix_(o, o)])
            cond = e[j] - gain @ e[o]
            sd = np.sqrt(s[j, j] - gain @ s[o, j])
            assert sub.conditional.iloc[j] == pytest.approx(cond, rel=1e-10)
            assert sub.conditional_standardized.iloc[j] == pytest.approx(cond / sd, rel=1e-10)


def test_conditional_predictions_fill_missing_visits() -> None:
    fit = _fit(FIX["sandwich"]["formula"], "us")
    pred = fit.predict()
    data = _fev().reset_index(drop=True)
    visits = {v: i for i, v in enumerate(fit.visits)}
    sub = pred[pred.USUBJID == "PT1"]
    y = data.loc[sub.index, "FEV1"].to_numpy()
    obs = ~np.isnan(y)
    assert np.allclose(sub.predicted[obs], y[obs]) and (sub.conditional_sd[obs] == 0).all()
    idx = np.array([visits[v] for v in sub.AVISIT])
    s = fit.sigma[np.ix_(idx, idx)]
    mu = sub.fitted.to_numpy()
    gain = s[np.ix_(~obs, obs)] @ np.linalg.inv(s[np.ix_(obs, obs)])
    expected = mu[~obs] + gain @ (y[obs] - mu[obs])
    assert np.allclose(sub.predicted[~obs], expected, rtol=1e-12)
    cvar = np.diag(s)[~obs] - np.einsum("mo,mo->m", gain, s[np.ix_(~obs, obs)])
    assert np.allclose(sub.conditional_sd[~obs], np.sqrt(cvar), rtol=1e-12)
    # marginal fitted values are nlme's (all rows with an outcome)
    ref = pd.DataFrame(FIX["residuals"])
    has_y = data.FEV1.notna().to_numpy()
    assert np.allclose(pred.fitted[has_y], ref.fitted, atol=5e-5)
    # new data without outcomes: the marginal mean
    new = data.head(8).assign(FEV1=np.nan)
    fresh = fit.predict(new)
    assert np.allclose(fresh.predicted, fresh.fitted)
    with pytest.raises(InputError, match="visit"):
        fit.predict(new.assign(AVISIT="VIS9"))


# ---- likelihood-ratio tests ----------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "small", "big", "method"),
    [
        ("cs_us_reml", "cs", "us", "reml"),
        ("ar1_us_reml", "ar1", "us", "reml"),
        ("ar1_us_ml", "ar1", "us", "ml"),
    ],
)
def test_likelihood_ratio_matches_nlme(key: str, small: str, big: str, method: str) -> None:
    formula = FIX["sandwich"]["formula"]
    out = _fit(formula, small, method).lr_test(_fit(formula, big, method))
    ref = FIX["lr"][key]
    assert out["df"] == ref["df"]
    assert out["statistic"] == pytest.approx(ref["statistic"], abs=1e-6)
    assert out["p"] == pytest.approx(ref["p"], rel=1e-6)


def test_likelihood_ratio_refuses_non_nested_or_different_models() -> None:
    formula = FIX["sandwich"]["formula"]
    with pytest.raises(InputError, match="special case"):
        _fit(formula, "us").lr_test(_fit(formula, "cs"))
    with pytest.raises(InputError, match="special case"):
        _fit(formula, "csh").lr_test(_fit(formula, "ar1h"))
    with pytest.raises(InputError, match="method"):
        _fit(formula, "ar1", "ml").lr_test(_fit(formula, "us"))
    with pytest.raises(InputError, match="formula"):
        _fit("FEV1 ~ ARMCD*AVISIT", "ar1").lr_test(_fit(formula, "us"))
    assert nested("ar1", "adh") and nested("cs", "toep") and not nested("toep", "cs")


# ---- summary -------------------------------------------------------------------------
def test_summary_reads_like_r() -> None:
    fit = mmrm(
        pd.read_csv(REF / "fev_data.csv"),
        "FEV1 ~ RACE + SEX + ARMCD*AVISIT",
        "USUBJID",
        "AVISIT",
        "us",
    )
    text = fit.summary()
    # SAS PROC MIXED (tests/reference/sas/sas_log_reml.txt): AIC 3406.4, -2 Res Log L 3386.4
    assert "3406.4" in text and "3386.4" in text
    assert "used 537 observations from 197 subjects with maximum 4 timepoints" in text
    assert "unstructured (10 variance parameters)" in text
    assert "Method:      Satterthwaite" in text and "Inference:   REML" in text
    row = next(ln for ln in text.splitlines() if ln.startswith("ARMCDTRT "))
    coef = fit.coefficients().set_index("term").loc["ARMCDTRT"]
    assert f"{coef.estimate:.5g}" in row and f"{coef.df:.1f}" in row and row.endswith("***")
    assert "Vcov Method: Empirical" in fit.summary("bw", "sandwich")
