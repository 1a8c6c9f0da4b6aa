"""Participants a model leaves out are counted, with the reason, and the counts agree in
CONSORT, the model's notes, results.json and report.html (issue 12: three participants
without a baseline vanished from the ITT MMRM while CONSORT said "Excluded (n = 0)")."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from frailtrial.analysis.pipeline import analyze, write_outputs
from frailtrial.analysis.provenance import provenance
from frailtrial.analysis.results import AnalysisResult
from frailtrial.protocol import load
from frailtrial.simulate import simulate_trial

PROTOCOL = load("huc-msc-2024")


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[AnalysisResult, Path, list[str]]:
    """A simulated trial whose first three MSC participants have no baseline at all, and a
    fourth (placebo) has a baseline but no later value of PCS."""
    ds = simulate_trial(PROTOCOL, 5)
    parts = ds.participants
    no_base = parts.loc[parts["arm"] == "mscs", "participant_id"].head(3).tolist()
    no_post = parts.loc[parts["arm"] == "placebo", "participant_id"].iloc[0]
    m = ds.measurements
    drop = (m["participant_id"].isin(no_base) & (m["visit"] == "baseline")) | (
        (m["participant_id"] == no_post) & (m["variable"] == "pcs") & (m["visit"] != "baseline")
    )
    ds.measurements = m[~drop]
    out = tmp_path_factory.mktemp("excl")
    result = analyze(ds, PROTOCOL, provenance(PROTOCOL, None, 5))
    write_outputs(result, out)
    return result, out, no_base


def test_consort_counts_the_participants_left_out(
    analysed: tuple[AnalysisResult, Path, list[str]],
) -> None:
    result = analysed[0]
    arms = {a.arm: a for a in result.consort.arms}
    assert arms["mscs"].excluded_from_analysis == 3
    assert arms["mscs"].exclusion_reasons == {"no baseline value of PCS": 3}
    assert arms["mscs"].analysed == arms["mscs"].allocated - 3
    assert arms["placebo"].exclusion_reasons == {"no post-baseline value of PCS": 1}
    assert arms["placebo"].analysed == arms["placebo"].allocated - 1


def test_model_notes_say_how_many_and_why(
    analysed: tuple[AnalysisResult, Path, list[str]],
) -> None:
    result, _, no_base = analysed
    f = result.models.fits.set_index(["model", "variable"])
    pcs = f.loc[("mmrm_change", "pcs")]
    assert pcs["n_excluded"] == 4 and pcs["n_subjects"] == 30 - 4
    assert pcs["note"] == (
        "4 of 30 participants left out: no baseline value of PCS (3); "
        "no post-baseline value of PCS (1)"
    )
    tug = f.loc[("mmrm_change", "tug")]
    assert tug["n_excluded"] == 3 and tug["n_subjects"] == 27
    assert tug["note"] == "3 of 30 participants left out: no baseline value of TUG (3)"
    # the random-intercept model uses every value: nobody is left out of it
    assert (f.loc["mixed_ml", "n_excluded"] == 0).all()
    assert (f.loc["mixed_ml", "n_subjects"] == 30).all()
    e = result.models.excluded
    assert set(e.loc[e["reason"] == "no baseline value of TUG", "participant_id"]) == set(no_base)
    # every fitted model: its subjects and the participants it left out make the population
    fitted = result.models.fits.dropna(subset=["n_subjects"])
    assert (fitted["n_subjects"] + fitted["n_excluded"] == 30).all()


def test_the_numbers_agree_in_results_json_and_the_report(
    analysed: tuple[AnalysisResult, Path, list[str]],
) -> None:
    _, out, _ = analysed
    doc = json.loads((out / "results.json").read_text("utf-8"))
    arms = {a["arm"]: a for a in doc["consort"]["arms"]}
    assert arms["mscs"]["excluded_from_analysis"] == 3
    assert arms["mscs"]["exclusion_reasons"] == {"no baseline value of PCS": 3}
    fits = {(r["model"], r["variable"]): r for r in doc["models"]["fits"]}
    assert fits[("mmrm_change", "pcs")]["n_excluded"] == 4
    assert fits[("mmrm_change", "pcs")]["note"].startswith("4 of 30 participants left out")
    svg = ET.parse(out / "figures" / "consort.svg").getroot()
    texts = [t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert "Excluded from analysis (n = 3)" in texts
    assert "  no baseline value of PCS (n = 3)" in texts
    html = (out / "report.html").read_text("utf-8")
    assert '<td>Excluded from analysis</td><td class="num">3</td><td class="num">1</td>' in html
    assert "Left out of the model: pcs: 4 of 30 participants left out" in html
    csv = (out / "tables" / "consort.csv").read_text("utf-8")
    assert "excluded_from_analysis,mscs,no baseline value of PCS,3" in csv


def test_a_missing_covariate_is_a_reason() -> None:
    spec = PROTOCOL.analysis.models[0].model_copy(update={"covariates": ["hypertension"]})
    analysis = PROTOCOL.analysis.model_copy(update={"models": [spec]})
    protocol = PROTOCOL.model_copy(update={"analysis": analysis})
    ds = simulate_trial(protocol, 6)
    who = ds.participants["participant_id"].iloc[4]
    ds.participants.loc[ds.participants.index[4], "hypertension"] = None
    result = analyze(ds, protocol, provenance(protocol, None, 6))
    f = result.models.fits.set_index("variable")
    assert f.loc["pcs", "n_excluded"] == 1 and f.loc["pcs", "n_subjects"] == 29
    assert (
        f.loc["pcs", "note"] == "1 of 30 participants left out: missing covariate hypertension (1)"
    )
    e = result.models.excluded
    assert set(e["participant_id"]) == {who}
