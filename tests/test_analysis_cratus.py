"""The 3-arm dose-finding protocol (cratus-2017): each dose against placebo, the
dose-response trend, and the 1-month TE-SAE window of Table 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis_data import make_dataset
from cli_inprocess import invoke
from frailtrial.analysis.manuscript import write_docx
from frailtrial.analysis.pipeline import analyze
from frailtrial.analysis.provenance import provenance
from frailtrial.analysis.replicate import render_abstract_replication, replicate_abstract
from frailtrial.analysis.report import render_report
from frailtrial.analysis.results import AnalysisResult
from frailtrial.analysis.table2 import table2
from frailtrial.cli.analyze import summary_lines
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol, load
from frailtrial.protocol.published.abstract import load_abstract
from test_analysis_tables import write_folder

# over 2 s of test time on 2 workers (stores, processes, many fits): left out of
# `make quick`, run by `make test`
pytestmark = pytest.mark.slow

PROTOCOL = load("cratus-2017")


@pytest.fixture(scope="module")
def result() -> AnalysisResult:
    ds = make_dataset(PROTOCOL, n_per_arm=8, seed=3)
    return analyze(ds, PROTOCOL, provenance(PROTOCOL, None, 3))


def test_each_dose_against_placebo(result: AnalysisResult) -> None:
    cells = result.table3.cells
    for arm in ("mscs_100m", "mscs_200m"):
        assert cells.loc[cells["arm"] == arm, "p_vs_control"].notna().all()
    assert cells.loc[cells["arm"] == "placebo", "p_vs_control"].isna().all()
    assert {"p_mscs_100m", "p_mscs_200m"} <= set(result.table1.rows.columns)
    mm = result.models.effects
    primary = mm[mm["model"] == "mmrm_change"]
    assert set(primary["arm"]) == {"mscs_100m", "mscs_200m"}


def test_dose_response_trend_is_a_per_visit_slope(result: AnalysisResult) -> None:
    e = result.models.effects
    trend = e[e["model"] == "dose_response"]
    assert set(trend["arm"]) == {"trend"}
    assert set(trend["visit"]) == {"month1", "month3", "month6"}
    assert len(trend) == 3 * len(PROTOCOL.variables)
    assert (trend["ci_low"] < trend["estimate"]).all()


def test_te_sae_window_of_thirty_days() -> None:
    ds = make_dataset(PROTOCOL, n_per_arm=3, seed=4)
    ids = ds.participants["participant_id"].tolist()
    ds.adverse_events = pd.DataFrame(
        {
            "participant_id": [ids[0], ids[0], ids[-1]],
            "term": ["Pneumonia", "Pneumonia", "Stroke"],
            "body_system": ["Infections", "Infections", "Nervous system"],
            "onset_day": pd.array([20, 45, 32], dtype="Int64"),
            "serious": [True, True, True],
            "severity": ["severe"] * 3,
            "related": [False, False, False],
            "outcome": ["recovered"] * 3,
        }
    )
    arms = ds.participants.set_index("participant_id")["arm"]
    rows = table2(ds, arms, PROTOCOL).rows.set_index("term")
    # first dose on day 1: day 20 is 19 days after it (within 30); days 45 and 32 are not
    assert rows.at["Pneumonia", "mscs_100m_te_sae"] == 1
    assert rows.at["Pneumonia", "mscs_100m_serious"] == 2
    assert rows.at["Stroke", "placebo_te_sae"] == 0
    assert np.isclose(rows.at["Pneumonia", "mscs_100m_pct"], 100 / 3)


# ---------------------------------------------------------------- the primary endpoint

REF = json.loads((Path(__file__).parent / "reference" / "incidence.json").read_text())
CONTRACT = {"arm", "estimate", "ci_low", "ci_high", "p", "p_adjusted", "method"}


def _ref(section: str, key: str, value: list[int]) -> dict[str, Any]:
    return next(c for c in REF[section] if c[key] == value)


def _ae(rows: list[tuple[str, int, bool, bool]]) -> pd.DataFrame:
    """Adverse events (participant, onset day, serious, related)."""
    return pd.DataFrame(
        {
            "participant_id": [r[0] for r in rows],
            "term": "Event",
            "body_system": "General",
            "onset_day": pd.array([r[1] for r in rows], dtype="Int64"),
            "serious": [r[2] for r in rows],
            "severity": "severe",
            "related": [r[3] for r in rows],
            "outcome": "recovered",
        }
    )


@pytest.fixture(scope="module")
def te_sae() -> AnalysisResult:
    """10 per arm (P0001-10 100M, P0011-20 200M, P0021-30 placebo), first dose on day 1.
    TE-SAE within 30 days: P0001 (twice), P0002 (day 31: 30 days after the dose), P0011;
    not: a non-serious event, a serious one on day 32, one before the dose (day 0)."""
    ds = make_dataset(PROTOCOL, n_per_arm=10, seed=3)
    ds.adverse_events = _ae(
        [
            ("P0001", 5, True, False),
            ("P0001", 12, True, True),
            ("P0002", 31, True, False),
            ("P0011", 2, True, False),
            ("P0012", 3, False, False),
            ("P0021", 32, True, False),
            ("P0022", 0, True, False),
        ]
    )
    return analyze(ds, PROTOCOL, provenance(PROTOCOL, None, 3))


def test_te_sae_incidence_is_the_headline(te_sae: AnalysisResult) -> None:
    h = te_sae.headline
    assert h["endpoint"] == "te_sae_1m" and h["comparator"] == "placebo"
    counts = {r["arm"]: (r["events"], r["n"]) for r in h["arms"]}
    assert counts == {"mscs_100m": (2, 10), "mscs_200m": (1, 10), "placebo": (0, 10)}
    ci = {r["arm"]: [r["ci_low"], r["ci_high"]] for r in h["arms"]}
    for arm, (x, n) in counts.items():  # R binom.test
        ref = next(c["ci"] for c in REF["binom"] if [c["events"], c["n"]] == [x, n])
        assert ci[arm] == pytest.approx(ref, rel=1e-9)
    eff = {e["arm"]: e for e in h["effect_vs_control"]}
    assert [e["arm"] for e in h["effect_vs_control"]] == ["mscs_100m", "mscs_200m"]
    for arm, x in (("mscs_100m", 2), ("mscs_200m", 1)):
        r = _ref("fisher", "counts", [x, 10, 0, 10])  # R fisher.test and Newcombe
        assert set(eff[arm]) >= CONTRACT
        assert eff[arm]["estimate"] == pytest.approx(r["rd"])  # treatment - placebo
        assert [eff[arm]["ci_low"], eff[arm]["ci_high"]] == pytest.approx(r["newcombe"])
        assert eff[arm]["p"] == pytest.approx(r["p"], rel=1e-9)
        assert eff[arm]["p_adjusted"] == eff[arm]["p"]  # the plan says multiplicity: none
        assert "Fisher" in eff[arm]["method"]
    trend = _ref("trend", "events", [0, 2, 1])  # placebo < 100M < 200M, R prop.trend.test
    assert h["trend"]["p"] == pytest.approx(trend["p"], rel=1e-9)
    assert h["trend"]["z"] == pytest.approx(trend["z"], rel=1e-9)
    # the Table 2 TE-SAE column counts the same events
    t2 = te_sae.table2.rows.set_index("term")
    assert t2.at["Event", "mscs_100m_te_sae"] == 3 and t2.at["Event", "placebo_te_sae"] == 0


def test_headline_in_results_json_and_report(te_sae: AnalysisResult) -> None:
    doc = json.loads(te_sae.to_json())
    assert doc["headline"]["endpoint"] == "te_sae_1m"
    assert [set(e) >= CONTRACT for e in doc["headline"]["effect_vs_control"]] == [True, True]
    assert {a["endpoint"] for a in doc["incidence"]} == {"te_sae_1m", "ae"}
    html = render_report(te_sae, {"consort": "", "schedule": ""}, [])
    table = html[html.index('id="incidence-te_sae_1m"') :]
    table = table[: table.index("</table>")]
    assert "2 / 10" in table and "1 / 10" in table and "0 / 10" in table
    assert "Primary endpoint <code>te_sae_1m</code>" in html
    # the MMRM of the secondary endpoints is not the primary model
    assert "Primary model" not in html and "Model of secondary endpoints" in html
    lines = summary_lines(te_sae, Path("out"))
    assert lines[-1].startswith("primary endpoint te_sae_1m, treatment-emergent serious")
    assert "100M allo-hMSCs 2/10" in lines[-1]


def _variant(protocol: Protocol, **changes: Any) -> Protocol:
    """``protocol`` with its primary endpoint's fields changed (or another primary)."""
    primary = changes.pop("primary", protocol.primary_endpoint.name)
    eps = []
    for e in protocol.endpoints:
        kind = "primary" if e.name == primary else ("secondary" if e.kind == "primary" else e.kind)
        eps.append(e.model_copy(update={"kind": kind, **(changes if kind == "primary" else {})}))
    analysis = protocol.analysis.model_copy(update=changes.pop("analysis", {}))
    return protocol.model_copy(update={"endpoints": eps, "analysis": analysis})


def test_continuous_primary_each_dose_vs_placebo_holm() -> None:
    """A 3-arm MMRM primary: one entry per dose, the plan's MMRM effect, Holm across doses."""
    protocol = _variant(PROTOCOL, primary="sixmwd_6m")
    protocol = protocol.model_copy(
        update={"analysis": protocol.analysis.model_copy(update={"multiplicity": "holm"})}
    )
    ds = make_dataset(protocol, n_per_arm=8, seed=3)
    res = analyze(ds, protocol, provenance(protocol, None, 3))
    h = res.headline
    assert h["endpoint"] == "sixmwd_6m" and h["model"] == "mmrm_change"
    e = res.models.effects
    mm = e[(e["model"] == "mmrm_change") & (e["variable"] == "sixmwd") & (e["visit"] == "month6")]
    by = mm.set_index("arm")
    entries = h["effect_vs_control"]
    assert [x["arm"] for x in entries] == ["mscs_100m", "mscs_200m"]
    for x in entries:
        assert set(x) >= CONTRACT
        assert x["estimate"] == by.at[x["arm"], "estimate"]
        assert x["p"] == by.at[x["arm"], "p"]
    p = sorted(x["p"] for x in entries)  # Holm by hand: 2 p_(1), then max with p_(2)
    holm = {p[0]: min(1.0, 2 * p[0]), p[1]: max(min(1.0, 2 * p[0]), p[1])}
    assert [x["p_adjusted"] for x in entries] == [holm[x["p"]] for x in entries]
    html = render_report(res, {"consort": "", "schedule": ""}, [])
    assert "Primary model (endpoint sixmwd_6m)" in html


def test_huc_headline_contract() -> None:
    protocol = load("huc-msc-2024")
    res = analyze(make_dataset(protocol, 6, 2), protocol, provenance(protocol, None, 2))
    (entry,) = res.headline["effect_vs_control"]
    assert set(entry) >= CONTRACT and entry["arm"] == "mscs"
    e = res.models.effects
    row = e[(e["model"] == "mmrm_change") & (e["variable"] == "pcs") & (e["visit"] == "month6")]
    assert entry["estimate"] == row["estimate"].item()
    assert entry["p_adjusted"] == entry["p"]  # Bonferroni over one active arm


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"visit": "screening"}, r"visit 'screening' is a screening visit"),
        ({"visit": "baseline"}, r"visit 'baseline' is a baseline visit"),
        ({"variable": "falls"}, r"incidence of 'falls' cannot be analysed; allowed: ae, sae"),
        (
            {"primary": "sixmwd_6m", "analysis": {"models": []}},
            r"needs a mmrm model in analysis.models",
        ),
    ],
)
def test_primary_that_cannot_be_analysed_is_an_error(changes: dict[str, Any], match: str) -> None:
    protocol = _variant(PROTOCOL, **changes)
    ds = make_dataset(PROTOCOL, n_per_arm=3, seed=4)
    with pytest.raises(InputError, match=match):
        analyze(ds, protocol, provenance(protocol, None, 4))


def test_primary_without_data_is_an_error() -> None:
    protocol = load("huc-msc-2024")
    ds = make_dataset(protocol, 6, 2)
    ds.measurements = ds.measurements[ds.measurements["variable"] != "pcs"]
    with pytest.raises(InputError, match=r"pcs_6m.*no effect of pcs at month6"):
        analyze(ds, protocol, provenance(protocol, None, 2))
    ds = make_dataset(PROTOCOL, n_per_arm=3, seed=4)
    ds.participants.loc[ds.participants["arm"] == "placebo", "safety"] = False  # not dosed
    with pytest.raises(InputError, match=r"no participant of arm\(s\) placebo in the safety"):
        analyze(ds, PROTOCOL, provenance(PROTOCOL, None, 4))


def test_cli_primary_error_is_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_folder(tmp_path / "data")
    m = pd.read_csv(data / "measurements.csv")
    m[m["variable"] != "pcs"].to_csv(data / "measurements.csv", index=False)
    code, out, err = invoke(
        monkeypatch, capsys, "analyze", "--data", str(data), "--protocol", "huc-msc-2024",
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "no data for the primary endpoint pcs_6m" in err
    assert not (tmp_path / "out" / "results.json").exists()


# ---------------------------------------------------------------- replicate cratus-2017


def test_replicate_abstract_compares_statements(te_sae: AnalysisResult) -> None:
    ab = load_abstract("cratus-2017")
    ds = make_dataset(PROTOCOL, n_per_arm=10, seed=3)
    ds.adverse_events = _ae([("P0001", 12, True, True)])  # a therapy-related TE-SAE
    res = analyze(ds, PROTOCOL, provenance(PROTOCOL, None, 3))
    rep = replicate_abstract(ab, res, ds)
    c = rep.cells
    related = c[c["statistic"] == "participants with a therapy-related TE-SAE"].iloc[0]
    assert (related["published"], related["ours"], related["equal"]) == ("0", "1", False)
    assert c.loc[c["item"] == "randomized", "ours"].item() == "30"
    assert c.loc[c["item"] == "arms", "equal"].item()
    # a finding: our Table 3 change and within-arm p at 6 months, in its benefit direction
    f = c[(c["item"] == "sixmwd") & (c["arm"] == "mscs_100m")].iloc[0]
    cell = res.table3.cells.set_index(["variable", "arm", "visit"]).loc[
        ("sixmwd", "mscs_100m", "month6")
    ]
    improved = cell["mean_change"] > 0 and cell["p_vs_baseline"] < 0.05
    assert f["ours"].startswith(("improved" if improved else "not improved") + ": ")
    assert f"{cell['mean_change']:+.2f}" in f["ours"] and bool(f["equal"]) == bool(improved)
    assert len(c[c["kind"] == "finding"]) == len(ab.findings) == 19
    assert any("per arm" in x for x in rep.not_given)
    assert set(rep.summary["table"]) == {"Design", "Primary endpoint", "6-month findings"}
    html = render_abstract_replication(rep, ab, res)
    assert 'id="not-given"' in html and "therapy-related" in html


@pytest.mark.slow
def test_replicate_cratus_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = invoke(
        monkeypatch, capsys, "replicate", "cratus-2017", "--out", str(tmp_path), "--json"
    )
    assert code == 0, err
    doc = json.loads(out)
    summary = {r["table"]: r for r in doc["summary"]}
    assert summary["Primary endpoint"]["compared"] == 1
    assert summary["6-month findings"]["compared"] == 19
    assert doc["not_given"] and (tmp_path / "replicate.html").is_file()
    results = json.loads((tmp_path / "results.json").read_text("utf-8"))
    assert results["headline"]["endpoint"] == "te_sae_1m"


def test_replicate_unknown_publication_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = invoke(monkeypatch, capsys, "replicate", "vigor-2025", "--out", str(tmp_path))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "'vigor-2025'; available: cratus-2017, huc-msc-2024" in err
    with pytest.raises(InputError, match="no published abstract for 'x'; available: cratus-2017"):
        load_abstract("x")


def test_tables_docx_holds_the_primary_endpoint(te_sae: AnalysisResult, tmp_path: Path) -> None:
    import docx

    doc = docx.Document(str(write_docx(te_sae, tmp_path / "tables.docx")))
    texts = [[c.text for c in row.cells] for t in doc.tables for row in t.rows]
    assert ["100M allo-hMSCs", "2 / 10", "20.0", "2.5 to 55.6"] in texts  # R binom.test
    headings = [p.text for p in doc.paragraphs if p.style.name.startswith("Heading")]
    assert any(h.startswith("Primary endpoint te_sae_1m") for h in headings)
    assert not any(h.startswith("Primary model") for h in headings)


def test_incidence_under_a_dunnett_plan_says_it_was_adjusted_by_bonferroni() -> None:
    """Fisher p-values have no joint distribution for Dunnett: the plan's Dunnett adjusts
    them by Bonferroni, and the headline, incidence.csv and the report say Bonferroni."""
    plan = PROTOCOL.analysis.model_copy(update={"multiplicity": "dunnett"})
    protocol = PROTOCOL.model_copy(update={"analysis": plan})
    ds = make_dataset(protocol, n_per_arm=10, seed=3)
    ds.adverse_events = _ae([("P0001", 12, True, True), ("P0002", 5, True, False)])
    res = analyze(ds, protocol, provenance(protocol, None, 3))
    effects = res.headline["effect_vs_control"]
    raw = np.array([e["p"] for e in effects])
    assert [e["adjustment"] for e in effects] == ["bonferroni"] * 2
    assert [e["p_adjusted"] for e in effects] == pytest.approx(np.minimum(1, 2 * raw))
    html = render_report(res, {"consort": "", "schedule": ""}, [])
    assert "p adjusted (bonferroni)" in html and "p adjusted (dunnett)" not in html
