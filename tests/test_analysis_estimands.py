"""``frailtrial analyze`` runs the plan's sensitivity analyses: a protocol declaring an
estimand with JR for withdrawals shows the primary analysis and its sensitivity analyses
side by side in report.html (table, forest plot, tipping-point plot), in
tables/sensitivity.csv and in results.json ``sensitivity``; a 3-arm user protocol compares
each active arm with placebo."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cli_inprocess import completed
from frailtrial.analysis.sensitivity import one_event_each, sensitivity_data
from frailtrial.dataset import read_dataset, write_dataset
from frailtrial.protocol import load
from frailtrial.simulate import simulate_trial
from frailtrial.stats import mmrm
from test_protocol_estimands import three_arm_with_estimand

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow

HUC = load("huc-msc-2024")


def _analyze(data: Path, protocol: str, out: Path) -> None:
    r = completed("analyze", "--data", str(data), "--protocol", protocol, "--out", str(out))
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def huc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("estimand")
    data, out = base / "data", base / "out"
    write_dataset(simulate_trial(HUC, 3, n_per_arm=40), data)
    _analyze(data, HUC.name, out)
    return {
        "data": data,
        "out": out,
        "html": (out / "report.html").read_text("utf-8"),
        "json": json.loads((out / "results.json").read_text("utf-8")),
        "csv": pd.read_csv(out / "tables" / "sensitivity.csv"),
    }


def _row(csv: pd.DataFrame, analysis: str, visit: str = "month6", arm: str = "mscs") -> pd.Series:
    sel = (csv["analysis"] == analysis) & (csv["visit"] == visit) & (csv["arm"] == arm)
    (i,) = np.flatnonzero(sel)
    return csv.iloc[i]


def test_primary_and_sensitivity_analyses_side_by_side_in_the_report(huc: dict) -> None:
    html = huc["html"]
    table = re.search(r'<table class="sensitivity-table" id="sensitivity-pcs_6m">(.*?)</table>',
                      html, re.S)  # fmt: skip
    assert table is not None
    rows = re.findall(r'<tr data-analysis="([a-z_]+)">(.*?)</tr>', table.group(1), re.S)
    assert [name for name, _ in rows] == ["primary", "mar", "jr", "cr", "cir", "jr_tipping_point"]
    csv = huc["csv"]
    for name, cells in rows:  # each row prints the numbers of tables/sensitivity.csv
        r = _row(csv, name)
        assert f"{r['estimate']:+.2f} ({r['ci_low']:.2f} to {r['ci_high']:.2f})" in cells
    # the primary row is the primary MMRM's effect at the endpoint visit
    models = pd.read_csv(huc["out"] / "tables" / "models.csv")
    prim = models[(models["model"] == "mmrm_change") & (models["variable"] == "pcs")]
    prim = prim[prim["visit"] == "month6"].iloc[0]
    assert _row(csv, "primary")["estimate"] == pytest.approx(prim["estimate"], rel=1e-12)
    assert "withdrawal: jump to reference (JR)" in html
    assert 'class="forest-plot"' in html and 'class="tipping-plot"' in html
    figures = huc["out"] / "figures"
    assert (figures / "forest_pcs_6m.svg").is_file()
    assert (figures / "tipping_pcs_6m_jr_tipping_point.svg").is_file()
    assert '<a href="#estimands">' in html


def test_results_json_holds_the_estimand_and_every_analysis(huc: dict) -> None:
    (est,) = huc["json"]["sensitivity"]["estimands"]
    assert est["endpoint"] == "pcs_6m" and est["population"] == "itt"
    assert est["intercurrent_events"][0] == {"event": "withdrawal", "strategy": "JR"}
    assert [a["name"] for a in est["analyses"]] == ["mar", "jr", "cr", "cir", "jr_tipping_point"]
    jr = next(a for a in est["analyses"] if a["name"] == "jr")
    month6 = next(e for e in jr["effects"] if e["visit"] == "month6")
    assert set(month6) >= {"estimate", "se", "ci_low", "ci_high", "p_value", "arm", "visit"}
    assert month6["estimate"] == pytest.approx(_row(huc["csv"], "jr")["estimate"], rel=1e-12)
    (tip,) = next(a for a in est["analyses"] if a["name"] == "jr_tipping_point")["tipping_points"]
    assert tip["visit"] == "month6" and tip["arm"] == "mscs"


def test_recorded_jr_strategy_is_the_one_used(huc: dict) -> None:
    """The CSV records JR for withdrawals: 'as recorded' equals an explicit JR, differs from
    MAR after the first withdrawal's visit, and the tipping grid at delta 0 is that effect."""
    csv = huc["csv"]
    ice = pd.read_csv(huc["data"] / "intercurrent_events.csv")
    assert len(ice) and set(ice["strategy"]) == {"JR"}
    jr, explicit, mar = (_row(csv, a) for a in ("jr", "jr_tipping_point", "mar"))
    assert jr["estimate"] == pytest.approx(explicit["estimate"], rel=1e-12)
    assert jr["se"] == pytest.approx(explicit["se"], rel=1e-12)
    assert abs(jr["estimate"] - mar["estimate"]) > 1e-6
    grid = pd.read_csv(huc["out"] / "tables" / "tipping_point.csv")
    at0 = grid[np.isclose(grid["delta"], 0.0)].iloc[0]
    assert at0["estimate"] == pytest.approx(jr["estimate"], rel=1e-9)
    assert np.all(np.diff(grid.sort_values("delta")["estimate"]) > 0)  # more delta, more effect


def test_an_analysis_strategy_leaves_treatment_policy_events_alone(
    huc: dict, tmp_path: Path
) -> None:
    """The estimand keeps the data after a treatment discontinuation (treatment policy); an
    analysis that assumes JR for the missing data must not turn those events into JR: with
    withdrawals recorded JR, the explicit-JR analysis equals the as-recorded one."""
    data = Path(shutil.copytree(huc["data"], tmp_path / "data"))
    ice = pd.read_csv(data / "intercurrent_events.csv", dtype=str)
    m = pd.read_csv(data / "measurements.csv")
    full = m[(m["variable"] == "pcs") & (m["visit"] == "month6")]["participant_id"]
    stayed = sorted(set(full) - set(ice["participant_id"]))[:12]
    stops = pd.DataFrame({"participant_id": stayed, "visit": "month1"}).assign(
        event="treatment_discontinuation", strategy="treatment_policy"
    )
    pd.concat([ice, stops]).to_csv(data / "intercurrent_events.csv", index=False)
    _analyze(data, HUC.name, tmp_path / "out")
    csv = pd.read_csv(tmp_path / "out" / "tables" / "sensitivity.csv")
    recorded, explicit = _row(csv, "jr"), _row(csv, "jr_tipping_point")
    assert explicit["estimate"] == pytest.approx(recorded["estimate"], rel=1e-12)
    assert explicit["se"] == pytest.approx(recorded["se"], rel=1e-12)
    assert recorded["estimate"] == pytest.approx(_row(huc["csv"], "jr")["estimate"], rel=1e-12)


def test_analyses_with_the_same_imputations_share_one_fit(
    huc: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """jr (the recorded JR) and jr_tipping_point (explicit JR) impute alike: 4 fits for the
    5 analyses of HUC-MSC, the same numbers as fitted apart (the module fixture). The
    calls are counted in this process: no worker process fits the models."""
    from frailtrial.stats import sensitivity

    calls: list[str] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["method"])
        return prepare(*args, **kwargs)

    prepare = sensitivity.prepare_imputations
    monkeypatch.setattr(sensitivity, "prepare_imputations", counted)
    monkeypatch.setenv("FRAILTRIAL_NO_FORK", "1")
    _analyze(huc["data"], HUC.name, tmp_path / "out")
    assert len(calls) == 4
    csv = pd.read_csv(tmp_path / "out" / "tables" / "sensitivity.csv")
    pd.testing.assert_frame_equal(csv, huc["csv"], rtol=1e-12)


def test_mar_conditional_mean_equals_the_mmrm_of_the_imputation_model(huc: dict) -> None:
    """Under MAR the conditional-mean estimate equals the treatment effect of the MMRM with
    the same terms (Wolbers et al. 2022): an independent check of the data laid out for the
    engine (population, baseline, every visit)."""
    ds = read_dataset(huc["data"], HUC)
    itt = ds.participants.set_index("participant_id")
    itt = itt.loc[itt["itt"], "arm"]
    d = sensitivity_data(ds.measurements, itt, "pcs", HUC, ds.participants, [])
    d = d.assign(arm=pd.Categorical(d["arm"], categories=["placebo", "mscs"]))
    fit = mmrm.mmrm(d.dropna(subset=["change"]), "change ~ base * visit + arm * visit",
                    "participant_id", "visit")  # fmt: skip
    effects = fit.treatment_contrasts("arm")
    expected = effects[effects["visit"].astype(str) == "month6"]["estimate"].iloc[0]
    assert _row(huc["csv"], "mar")["estimate"] == pytest.approx(expected, rel=1e-6)
    assert _row(huc["csv"], "mar")["n_subjects"] == d["participant_id"].nunique()


def test_the_report_names_the_imputation_and_analysis_models(huc: dict) -> None:
    """The MAR row differs from the primary MMRM (one baseline slope) because the imputation
    model lets the slope vary by visit, as the per-visit ANCOVA does: the report says so,
    with the formulas the engine ran (the MMRM of the test above reproduces the MAR row)."""
    block = huc["html"].split('id="sensitivity-pcs_6m"')[1].split("</p>")[0]
    assert (
        "Imputation model: <code>change ~ base * visit + arm * visit</code> (us covariance)"
        in block
    )
    assert "analysis model at each visit: <code>change ~ arm + base</code>" in block
    assert "primary model (<code>change ~ base + arm * visit</code>)" in block


def test_one_event_per_participant_prefers_the_earliest_that_changes_the_imputation() -> None:
    ice = pd.DataFrame(
        {
            "participant_id": ["P1", "P1", "P2", "P3", "P3"],
            "visit": ["month1", "month3", "month6", "week1", "month2"],
            "event": [
                "treatment_discontinuation",
                "withdrawal",
                "withdrawal",
                "withdrawal",
                "treatment_discontinuation",
            ],
            "strategy": ["treatment_policy", "JR", "treatment_policy", "CR", "MAR"],
        }
    )
    got = one_event_each(ice, HUC)
    assert got.values.tolist() == [
        ["P1", "month3", "JR"],
        ["P2", "month6", "treatment_policy"],
        ["P3", "week1", "CR"],
    ]


def test_three_arms_compare_each_active_arm_with_placebo(tmp_path: Path) -> None:
    path = three_arm_with_estimand(tmp_path)
    protocol = load(str(path))
    write_dataset(simulate_trial(protocol, 11, n_per_arm=25), tmp_path / "data")
    _analyze(tmp_path / "data", str(path), tmp_path / "out")
    csv = pd.read_csv(tmp_path / "out" / "tables" / "sensitivity.csv")
    parts = pd.read_csv(tmp_path / "data" / "participants.csv")
    m = pd.read_csv(tmp_path / "data" / "measurements.csv")
    with_base = set(
        m.loc[(m["visit"] == "baseline") & (m["variable"] == "sixmwd"), "participant_id"]
    )
    for arm in ("high_dose", "low_dose"):
        pair = parts[parts["arm"].isin(["placebo", arm]) & parts["itt"].astype(bool)]
        for name in ("mar", "jr", "jr_tipping"):
            r = _row(csv, name, "month12", arm)
            assert np.isfinite(r["estimate"]), r["note"]
            assert r["n_subjects"] == len(set(pair["participant_id"]) & with_base)
    assert set(csv["visit"]) >= {"month3", "month6", "month12"}
    html = (tmp_path / "out" / "report.html").read_text("utf-8")
    assert html.count('class="tipping-plot"') == 1
    tips = pd.read_csv(tmp_path / "out" / "tables" / "tipping_point.csv")
    assert sorted(set(tips["arm"])) == ["high_dose", "low_dose"]


def test_a_sensitivity_analysis_the_engine_refuses_is_reported_not_fatal(
    huc: dict, tmp_path: Path
) -> None:
    """LMCF at the first post-baseline visit has no earlier mean to carry forward: the
    analysis taking the recorded strategies says why; the others and the report go on."""
    data = Path(shutil.copytree(huc["data"], tmp_path / "data"))
    ice = pd.read_csv(data / "intercurrent_events.csv", dtype=str)
    ice.loc[0, ["visit", "strategy"]] = ["week1", "LMCF"]
    ice.to_csv(data / "intercurrent_events.csv", index=False)
    _analyze(data, HUC.name, tmp_path / "out")
    csv = pd.read_csv(tmp_path / "out" / "tables" / "sensitivity.csv")
    jr = csv[csv["analysis"] == "jr"]
    assert len(jr) == 1 and np.isnan(jr["estimate"].iloc[0])
    assert jr["note"].iloc[0].startswith("not estimated: LMCF for an intercurrent event at the")
    assert np.isfinite(_row(csv, "mar")["estimate"])  # the analyses with a strategy ran
    html = (tmp_path / "out" / "report.html").read_text("utf-8")
    row = re.search(r'<tr data-analysis="jr">(.*?)</tr>', html, re.S)
    assert row is not None and "not estimated" in row.group(1)
    assert "jr: not estimated: LMCF" in html


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed")
def test_the_report_page_shows_the_table_and_both_plots_in_chromium(huc: dict) -> None:
    from playwright.sync_api import sync_playwright

    from browser_support import ARGS

    artifacts = Path(__file__).resolve().parents[1] / "test-artifacts" / "analysis"
    artifacts.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto((huc["out"] / "report.html").resolve().as_uri())
        page.click('a[href="#estimands"]')
        table = page.locator("#sensitivity-pcs_6m")
        assert table.is_visible()
        assert table.locator("tr[data-analysis]").count() == 6
        for plot in ("svg.forest-plot", "svg.tipping-plot"):
            box = page.locator(plot).bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 150
        page.locator("#estimands").screenshot(path=str(artifacts / "estimands.png"))
        browser.close()
