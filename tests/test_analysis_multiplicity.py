"""The plan's multiplicity, covariates, visit order and comparator in the analysis of a
protocol that is not built in (tests/protocols/dose_months_holm.yaml: low_dose and
high_dose vs placebo, visits month3 / month6 / month12, Holm, covariate sex, a fixed
sequence). Numbers against R: tests/reference/multiplicity.R fitted the same data
(sim_three_arm.csv, visits m0..m12 renamed to the protocol's) with nlme::gls and emmeans /
mvtnorm."""

from __future__ import annotations

import dataclasses
import json
from html import escape as html_escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis_data import make_dataset
from frailtrial.analysis.format import p_phrase
from frailtrial.analysis.models import fit_models
from frailtrial.analysis.pipeline import analyze, write_outputs
from frailtrial.analysis.plan import adjust
from frailtrial.analysis.provenance import provenance
from frailtrial.analysis.table3 import _footnote as table3_footnote
from frailtrial.protocol import Protocol, load
from frailtrial.protocol.loader import ProtocolError, parse, read_yaml
from frailtrial.stats import mmrm

HERE = Path(__file__).parent
REF = json.loads((HERE / "reference" / "multiplicity.json").read_text())
PROTOCOL = load(HERE / "protocols" / "dose_months_holm.yaml")
ARMS = {"dose_low": "low_dose", "dose_high": "high_dose", "placebo": "placebo"}
VISITS = {"m0": "baseline", "m3": "month3", "m6": "month6", "m12": "month12"}


def _plan(**update: Any) -> Protocol:
    """The test protocol with its analysis plan changed (no fixed sequence unless given)."""
    update = {"fixed_sequence": [], **update}
    return PROTOCOL.model_copy(update={"analysis": PROTOCOL.analysis.model_copy(update=update)})


def _mmrm(df: str = "residual", covariates: tuple[str, ...] = ("sex",)) -> list[Any]:
    spec = PROTOCOL.analysis.models[0]
    return [spec.model_copy(update={"df": df, "covariates": list(covariates)})]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """sim_three_arm.csv as 6MWD of the test protocol (and a second variable, sppb, with
    its own noise), and participants with the made-up sex of the R script."""
    d = pd.read_csv(HERE / "reference" / "sim_three_arm.csv")
    m = pd.DataFrame(
        {
            "participant_id": d["pid"],
            "visit": d["visit"].map(VISITS),
            "variable": "sixmwd",
            "value": d["y"],
            "arm": d["arm"].map(ARMS),
        }
    )
    noise = np.random.default_rng(5).normal(0, 1.5, len(m))
    m = pd.concat([m, m.assign(variable="sppb", value=m["value"] / 3 + noise)], ignore_index=True)
    ids = d["pid"].drop_duplicates()
    sex = np.where(ids.str[1:].astype(int) % 2 == 0, "female", "male")
    return m, pd.DataFrame({"participant_id": ids, "sex": sex})


def _rows(effects: pd.DataFrame, model: str = "mmrm_change", variable: str = "sixmwd") -> Any:
    return effects[(effects["model"] == model) & (effects["variable"] == variable)]


def test_dunnett_for_mmrm_contrasts_matches_r(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """gls(change ~ base + sex + arm * visit, unstructured): each dose vs placebo per visit
    with single-step Dunnett p-values and simultaneous 95 % CIs from the bivariate t with
    the contrasts' own correlation (residual df), as emmeans / mvtnorm give them."""
    m, parts = data
    e = fit_models(m, _plan(multiplicity="dunnett", models=_mmrm(), dose_response=False), parts)
    rows = _rows(e.effects).set_index(["visit", "arm"])
    for case in REF["mmrm_dunnett"]:
        visit = VISITS[case["visit"]]
        arms = [ARMS[c.split(" - ")[0]] for c in case["contrast"]]
        got = rows.loc[[(visit, a) for a in arms]]
        np.testing.assert_allclose(got["estimate"], case["estimate"], rtol=1e-5)
        np.testing.assert_allclose(got["se"], case["se"], rtol=1e-4)
        want = case["precise_residual_df"]
        np.testing.assert_allclose(got["p_adjusted"], want["p_adjusted"], atol=2e-5)
        np.testing.assert_allclose(got["ci_low_adj"], want["ci_low"], atol=2e-4)
        np.testing.assert_allclose(got["ci_high_adj"], want["ci_high"], atol=2e-4)
        assert set(got["adjustment"]) == {"dunnett across 2 arms vs placebo"}


@pytest.mark.parametrize("method", ["holm", "hochberg", "bonferroni"])
def test_p_value_adjustment_across_the_doses(
    method: str, data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    """At each visit the two doses vs placebo form one family: Holm, Hochberg or
    Bonferroni of their two p-values (by hand); Bonferroni's simultaneous CIs use
    t(1 - 0.05 / 4, df)."""
    m, parts = data
    e = fit_models(m, _plan(multiplicity=method, models=_mmrm("kenward_roger")), parts)
    for visit, fam in _rows(e.effects).groupby("visit"):
        p = fam["p"].to_numpy()
        lo, hi = np.sort(p)
        by_hand = {
            "holm": np.where(p == lo, 2 * lo, max(2 * lo, hi)),
            "hochberg": np.where(p == lo, min(2 * lo, hi), hi),
            "bonferroni": 2 * p,
        }[method]
        np.testing.assert_allclose(fam["p_adjusted"], np.minimum(by_hand, 1), rtol=1e-12)
        assert (fam["adjustment"] == f"{method} across 2 arms vs placebo").all(), visit
        if method == "bonferroni":
            half = stats.t.ppf(1 - 0.05 / 4, fam["df"]) * fam["se"]
            np.testing.assert_allclose(fam["ci_low_adj"], fam["estimate"] - half, rtol=1e-12)
        else:
            assert fam["ci_low_adj"].isna().all()  # Holm and Hochberg give no intervals


def _holm2(p: Any) -> Any:
    """Holm of two p-values by hand: the smaller times 2, the larger at least that."""
    p = np.asarray(p, dtype=float)
    lo = 2 * p.min()
    return np.minimum(1, np.where(p == p.min(), lo, np.maximum(lo, p)))


def test_fixed_sequence_gates_the_second_endpoint(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """sixmwd_12m then sppb_12m: Holm within each; the second endpoint's adjusted p is at
    least every adjusted p of the first; the other visits are not in the sequence. In the
    reverse order the roles swap."""
    m, parts = data

    def at12(seq: list[str], variable: str) -> pd.DataFrame:
        plan = _plan(models=_mmrm(), dose_response=False, fixed_sequence=seq)
        e = fit_models(m, plan, parts).effects
        return _rows(e, variable=variable).set_index("visit").loc[["month12"]]

    first, second = (
        at12(["sixmwd_12m", "sppb_12m"], "sixmwd"),
        at12(["sixmwd_12m", "sppb_12m"], "sppb"),
    )
    np.testing.assert_allclose(first["p_adjusted"], _holm2(first["p"]), rtol=1e-12)
    gate = _holm2(first["p"]).max()
    np.testing.assert_allclose(second["p_adjusted"], np.maximum(_holm2(second["p"]), gate))
    assert (second["adjustment"] == "holm across 2 arms vs placebo; fixed sequence 2 of 2").all()
    swapped = at12(["sppb_12m", "sixmwd_12m"], "sixmwd")
    gate = _holm2(second["p"]).max()
    np.testing.assert_allclose(swapped["p_adjusted"], np.maximum(_holm2(first["p"]), gate))
    plan = _plan(models=_mmrm(), dose_response=False)
    month6 = _rows(fit_models(m, plan, parts).effects, variable="sppb")
    assert not month6[month6["visit"] == "month6"]["adjustment"].str.contains("sequence").any()


def test_dose_response_takes_the_plan_covariates(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """The dose-response MMRM adjusts for baseline and sex like the primary model: slope per
    visit as gls(change ~ base + sex + visit + visit:dose) gives it."""
    m, parts = data
    models = fit_models(m, _plan(models=_mmrm(), dose_response=True), parts)
    fit = models.fits.set_index(["model", "variable"]).loc[("dose_response", "sixmwd")]
    assert fit["formula"] == "change ~ base + sex + visit + visit:dose"
    got = _rows(models.effects, model="dose_response").set_index("visit")
    ref = REF["dose_response"]
    want = pd.DataFrame(ref, index=[VISITS[v] for v in ref["visit"]])
    assert list(got.index) == ["month3", "month6", "month12"]
    np.testing.assert_allclose(got["estimate"], want["estimate"], rtol=1e-5)
    np.testing.assert_allclose(got["se"], want["se"], rtol=1e-4)


def test_every_model_of_the_plan_takes_its_covariates(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    m, parts = data
    fits = fit_models(m, PROTOCOL, parts).fits
    assert set(fits["model"]) == {"mmrm_change", "mixed_value", "dose_response"}
    assert fits["n_obs"].notna().all(), fits["note"].tolist()
    assert all(" sex + " in f for f in fits["formula"]), fits["formula"].tolist()


def test_analyze_orders_visits_by_the_protocol_and_compares_with_placebo(tmp_path: Path) -> None:
    """A dataset where only high_dose improves (by about 3 points per visit): effects are
    treatment - placebo (positive for high_dose), rows in the protocol's visit order,
    adjusted by Holm, and the headline names both doses."""
    ds = make_dataset(PROTOCOL, n_per_arm=10, seed=3)
    meas = ds.measurements
    arm = meas["participant_id"].map(ds.participants.set_index("participant_id")["arm"])
    shift = np.where(arm == "low_dose", -meas["visit"].map(_step).to_numpy() * 3.0, 0.0)
    ds = dataclasses.replace(ds, measurements=meas.assign(value=meas["value"] + shift))
    result = analyze(ds, PROTOCOL, provenance(PROTOCOL, None, 3))
    e = result.models.effects
    primary = _rows(e)
    assert list(dict.fromkeys(primary["visit"])) == ["month3", "month6", "month12", "overall"]
    assert list(dict.fromkeys(primary["arm"])) == ["low_dose", "high_dose"]
    at12 = primary.set_index("arm")
    at12 = at12[at12["visit"] == "month12"]
    assert at12.loc["high_dose", "estimate"] > 4  # placebo ~ 0, high_dose ~ +9 from baseline
    assert abs(at12.loc["low_dose", "estimate"]) < 3
    assert (primary["adjustment"].str.startswith("holm across 2 arms vs placebo")).all()
    head = {e["arm"]: e for e in result.headline["effect_vs_control"]}
    assert set(head) == {"low_dose", "high_dose"}
    for arm, e in head.items():  # the headline carries the model's own adjusted p
        assert e["p_adjusted"] == pytest.approx(float(at12.loc[arm, "p_adjusted"]))
    doc = json.loads(result.to_json())
    row = doc["models"]["effects"][0]
    assert {"p_adjusted", "adjustment", "ci_low_adj", "ci_high_adj"} <= set(row)
    html = write_outputs(result, tmp_path)["report"].read_text(encoding="utf-8")
    assert "Adjusted p: Holm across the 2 active arms vs Placebo" in html
    assert "Fixed sequence" in html and "sixmwd_12m → sppb_12m" in html
    high = at12.loc["high_dose"]
    assert html_escape(f"adj. {p_phrase(float(high['p_adjusted']))}") in html


def _step(visit: str) -> float:
    """make_dataset's arm effect grows by one unit per assessment visit up to the third."""
    order = [v.name for v in PROTOCOL.assessment_visits]
    return float(min(order.index(visit), 3))


def test_comparator_is_placebo_even_after_a_fit_in_string_order(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """The stats engine memoises a formula's design: a fit of the same formula with the arms
    in string order (high_dose first) before must not make the analysis compare with
    high_dose (it did: the memo ignored the Categorical's order)."""
    m, parts = data
    post = m[(m["variable"] == "sixmwd")].merge(parts, on="participant_id")
    base = post[post["visit"] == "baseline"].set_index("participant_id")["value"]
    post = post[post["visit"] != "baseline"].assign(base=lambda f: f["participant_id"].map(base))
    post = post.assign(
        change=post["value"] - post["base"],
        arm=pd.Categorical(post["arm"], sorted(ARMS.values())),
        visit=pd.Categorical(post["visit"], ["month3", "month6", "month12"]),
    )
    first = mmrm.mmrm(post, "change ~ base + sex + arm * visit", "participant_id", "visit")
    assert first.treatment_contrasts("arm")["contrast"].iloc[0] == "low_dose - high_dose"
    e = fit_models(m, _plan(models=_mmrm(), dose_response=False), parts).effects
    rows = _rows(e).set_index(["visit", "arm"])
    case = REF["mmrm_dunnett"][-1]  # m12
    arms = [ARMS[c.split(" - ")[0]] for c in case["contrast"]]
    got = rows.loc[[("month12", a) for a in arms], "estimate"]
    np.testing.assert_allclose(got, case["estimate"], rtol=1e-5)


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ({"fixed_sequence": ["sixmwd_12m", "grip_12m"]}, "'grip_12m' is not an endpoint"),
        ({"fixed_sequence": ["sppb_12m", "sppb_12m"]}, "lists an endpoint twice"),
        ({"multiplicity": "sidak"}, "multiplicity"),
    ],
)
def test_plan_multiplicity_is_validated(plan: dict[str, Any], message: str) -> None:
    text = (HERE / "protocols" / "dose_months_holm.yaml").read_text(encoding="utf-8")
    data = read_yaml(text, "test protocol")
    data["analysis"].update(plan)
    with pytest.raises(ProtocolError) as err:
        parse(data, "test protocol")
    assert message in str(err.value)


def test_fixed_sequence_refuses_an_incidence_endpoint_and_a_missing_model() -> None:
    data = read_yaml((HERE / "protocols" / "dose_months_holm.yaml").read_text("utf-8"), "t")
    data["endpoints"].append(
        {"name": "sae", "kind": "safety", "variable": "sae", "visit": "month12",
         "measure": "incidence"}
    )  # fmt: skip
    data["analysis"]["fixed_sequence"] = ["sixmwd_12m", "sae"]
    data["analysis"]["models"] = [m for m in data["analysis"]["models"] if m["kind"] == "mmrm"]
    with pytest.raises(ProtocolError) as err:
        parse(data, "t")
    assert "fixed_sequence[1]" in str(err.value) and "incidence endpoint" in str(err.value)
    data["analysis"]["fixed_sequence"] = ["sixmwd_12m"]
    data["endpoints"][0]["measure"] = "value"
    with pytest.raises(ProtocolError, match="no model of the plan has outcome value"):
        parse(data, "t")


def test_p_value_families_of_a_dunnett_plan_take_bonferroni() -> None:
    """Table 3's visits have only p-values (no joint distribution): a Dunnett plan adjusts
    them by Bonferroni, and the footnote names the method used; a Hochberg plan by
    Hochberg."""
    p = np.array([0.01, 0.02, 0.04])
    dunnett = _plan(multiplicity="dunnett")
    np.testing.assert_allclose(adjust(p, dunnett.analysis), [0.03, 0.06, 0.12])
    assert "Bonferroni adjustment over the 3 post-baseline visits" in table3_footnote(dunnett)
    hochberg = _plan(multiplicity="hochberg")
    np.testing.assert_allclose(adjust(p, hochberg.analysis), [0.03, 0.04, 0.04])
    assert "Hochberg adjustment over the 3" in table3_footnote(hochberg)
