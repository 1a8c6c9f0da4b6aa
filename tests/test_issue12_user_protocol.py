"""Issue 12, "Done when": a user's 3-arm protocol stratified by sex, visits at months 3, 6
and 12, Holm across the doses and the covariate sex, through the real commands
(``protocol validate``, ``simulate``, ``randomization generate``, ``analyze --json``): visits
in time order, each dose vs placebo (treatment − placebo), Holm-adjusted primary p-values
(computed here by hand), sex in every model, stratified blocks balanced within sex, the
adjusted p in report.html. And ``analyze`` of a simulated CRATUS trial puts the TE-SAE
incidence in the headline and the report (its exact counts, CIs and tests against R are in
tests/test_analysis_cratus.py, on a hand-made data set)."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from frailtrial.cli.main import run

PROTOCOL = Path(__file__).parent / "protocols" / "three-arm-sex.yaml"
SEED, N_PER_ARM = 12, 30
VISITS = ["month3", "month6", "month12"]
# an alternative hypothesis the user writes into the derived calibration: the high dose
# gains, the low dose loses 6MWD against placebo (opposite signs test the orientation)
SHIFTS = {"high_dose": [30.0, 60.0, 90.0], "low_dose": [-20.0, -40.0, -60.0]}


def _cli(*args: str) -> str:
    """stdout of ``frailtrial ARGS`` run in this process; fails unless it exits 0."""
    out, err = io.StringIO(), io.StringIO()
    code: Any = 0
    with (
        pytest.MonkeyPatch.context() as mp,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        mp.setattr("sys.argv", ["frailtrial", *args])
        try:
            run()
        except SystemExit as exc:
            code = exc.code
    assert code in (0, None), f"frailtrial {' '.join(args)}: {code} {err.getvalue()}"
    return out.getvalue()


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """validate -> simulate (derived calibration) -> edit its shifts -> simulate -> analyze."""
    tmp = tmp_path_factory.mktemp("issue12")
    assert "valid protocol 'three-arm-sex'" in _cli("protocol", "validate", str(PROTOCOL))
    rehearsal = tmp / "rehearsal"
    _cli("simulate", "--protocol", str(PROTOCOL), "--seed", str(SEED), "--out", str(rehearsal))
    cal = yaml.safe_load((rehearsal / "calibration.yaml").read_text("utf-8"))
    cal["outcomes"]["baseline"]["sixmwd"] = [350.0, 100.0]
    cal["outcomes"]["shifts"]["sixmwd"].update(SHIFTS)
    edited = tmp / "my-calibration.yaml"
    edited.write_text(yaml.safe_dump(cal, sort_keys=False), "utf-8")
    data = tmp / "data"
    _cli(
        "simulate", "--protocol", str(PROTOCOL), "--seed", str(SEED), "--out", str(data),
        "--n-per-arm", str(N_PER_ARM), "--calibration", str(edited),
    )  # fmt: skip
    n = 3 * N_PER_ARM
    _cli(
        "randomization", "generate", "--protocol", str(PROTOCOL), "--seed", str(SEED),
        "--weak-seed", "--n", str(n), "--out", str(tmp / "list.csv"),
    )  # fmt: skip
    lines = (tmp / "list.csv").read_text("utf-8").splitlines()
    listed = pd.read_csv(io.StringIO("\n".join(x for x in lines if not x.startswith("#"))))
    out = tmp / "analysis"
    printed = _cli(
        "analyze", "--data", str(data), "--protocol", str(PROTOCOL), "--out", str(out),
        "--seed", str(SEED), "--json",
    )  # fmt: skip
    results = json.loads((out / "results.json").read_text("utf-8"))
    assert json.loads(printed) == results
    return {
        "results": results,
        "report": (out / "report.html").read_text("utf-8"),
        "participants": pd.read_csv(data / "participants.csv"),
        "measurements": pd.read_csv(data / "measurements.csv"),
        "list": listed,
    }


def _table(html: str, table_id: str) -> str:
    start = html.index(f'id="{table_id}"')
    return html[start : html.index("</table>", start)]


def test_visits_in_time_order_in_results_and_report(trial: dict[str, Any]) -> None:
    r = trial["results"]
    effects = pd.DataFrame(r["models"]["effects"])
    for (model, variable, arm), rows in effects.groupby(["model", "variable", "arm"], sort=False):
        visits = [v for v in rows["visit"] if v != "overall"]
        assert visits == VISITS, (model, variable, arm)
    cells = pd.DataFrame(r["table3"]["cells"])
    for _, rows in cells.groupby(["variable", "arm"], sort=False):
        assert list(rows["visit"]) == ["baseline", *VISITS]
    html = trial["report"]
    for table_id in ("table3-table", "models-mmrm_change", "models-dose_response"):
        head = _table(html, table_id).split("</tr>")[0]
        found = re.findall(r"<th[^>]*>(\d+ months|Baseline)</th>", head)
        assert [f for f in found if f != "Baseline"] == ["3 months", "6 months", "12 months"]
    assert re.findall(r'data-visit="(month\d+)"', _table(html, "table3-table"))[:3] == VISITS


def _raw_change(trial: dict[str, Any], visit: str) -> pd.Series:
    """Mean change from baseline of 6MWD per arm, straight from measurements.csv."""
    m = trial["measurements"]
    wide = m[m["variable"] == "sixmwd"].pivot(
        index="participant_id", columns="visit", values="value"
    )
    change = (wide[visit] - wide["baseline"]).dropna()
    arm = trial["participants"].set_index("participant_id")["arm"]
    return change.groupby(arm.reindex(change.index)).mean()


def test_each_dose_vs_placebo_with_holm_adjusted_p(trial: dict[str, Any]) -> None:
    h = trial["results"]["headline"]
    assert (h["endpoint"], h["visit"], h["comparator"]) == ("sixmwd_12m", "month12", "placebo")
    entries = h["effect_vs_control"]
    assert [e["arm"] for e in entries] == ["high_dose", "low_dose"]
    raw = _raw_change(trial, "month12")
    for arm in ("high_dose", "low_dose", "placebo"):
        assert h["mean_change"][arm] == pytest.approx(raw[arm], abs=1e-9)
    effects = pd.DataFrame(trial["results"]["models"]["effects"])
    at = effects[
        (effects["model"] == "mmrm_change")
        & (effects["variable"] == "sixmwd")
        & (effects["visit"] == "month12")
    ].set_index("arm")
    for e in entries:
        diff = raw[e["arm"]] - raw["placebo"]  # treatment - placebo in the raw data
        assert (e["estimate"] > 0) == (diff > 0)
        assert abs(e["estimate"] - diff) < 0.5 * abs(diff)  # adjusted, not another contrast
        assert e["ci_low"] < e["estimate"] < e["ci_high"]
        assert e["p"] == at.at[e["arm"], "p"] and e["estimate"] == at.at[e["arm"], "estimate"]
        assert "holm" in e["adjustment"] and e["arm"] in e["method"]
    assert entries[0]["estimate"] > 0 > entries[1]["estimate"]  # the calibrated directions
    # Holm by hand: ordered p_(1) <= p_(2); adjusted p_(i) = min(1, max_{j<=i} (k - j + 1) p_(j))
    k = len(entries)
    ordered = sorted(entries, key=lambda e: e["p"])
    running = 0.0
    for i, e in enumerate(ordered, start=1):
        running = max(running, min(1.0, (k - i + 1) * e["p"]))
        assert e["p_adjusted"] == pytest.approx(running, rel=1e-12)
    assert any(e["p_adjusted"] != e["p"] for e in entries)  # an adjustment took place


def test_the_report_shows_the_adjusted_p(trial: dict[str, Any]) -> None:
    table = _table(trial["report"], "effect-sixmwd_12m")
    assert "p adjusted (holm)" in table
    rows = table.split("</tr>")[1:3]
    labels = {"high_dose": "200M MSCs", "low_dose": "100M MSCs"}
    for e, row in zip(trial["results"]["headline"]["effect_vs_control"], rows, strict=True):
        cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
        assert cells[0] == f"{labels[e['arm']]} − Placebo"
        shown = cells[3]
        if shown == "<0.001" or shown == "&lt;0.001":
            assert e["p_adjusted"] < 0.001
        else:
            assert float(shown) == pytest.approx(e["p_adjusted"], abs=5e-4)


def test_the_plans_covariate_in_every_model(trial: dict[str, Any]) -> None:
    fits = trial["results"]["models"]["fits"]
    assert {f["model"] for f in fits} == {"mmrm_change", "dose_response"}
    for f in fits:
        terms = re.split(r"\s*[~+]\s*", f["formula"])
        assert "sex" in terms, f["formula"]


def test_stratified_blocks_balanced_within_sex(trial: dict[str, Any]) -> None:
    parts = trial["participants"].sort_values("participant_id")  # randomization order
    lst = trial["list"]
    assert set(parts["sex"]) == {"male", "female"}
    for sex, group in parts.groupby("sex"):
        entries = lst[lst["stratum"] == f"sex={sex}"].sort_values("sequence").head(len(group))
        assert list(group["arm"]) == list(entries["arm"])  # the EDC's list, stratum by stratum
        arms = group["arm"].to_numpy()
        full = len(arms) // 6 * 6
        assert full >= 6
        for block in arms[:full].reshape(-1, 6):
            assert sorted(pd.Series(block).value_counts().tolist()) == [2, 2, 2]


def test_simulated_cratus_headline_is_the_te_sae_incidence(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    _cli("simulate", "--protocol", "cratus-2017", "--seed", "4", "--out", str(data))
    args = ["--data", str(data), "--protocol", "cratus-2017", "--out", str(out), "--json"]
    results = json.loads(_cli("analyze", *args))
    h = results["headline"]
    assert h["endpoint"] == "te_sae_1m" and h["comparator"] == "placebo"
    # TE-SAE by hand: serious, onset from the first dose to 30 days after it
    ae = pd.read_csv(data / "adverse_events.csv")
    first = pd.read_csv(data / "dosing.csv").groupby("participant_id")["day"].min()
    ae = ae[ae["participant_id"].isin(first.index)]
    day0 = first.reindex(ae["participant_id"]).to_numpy()
    hit = ae[(ae["serious"] == 1) & (ae["onset_day"] >= day0) & (ae["onset_day"] <= day0 + 30)]
    parts = pd.read_csv(data / "participants.csv")
    safety = parts[parts["safety"] == 1]
    for row in h["arms"]:
        ids = set(safety.loc[safety["arm"] == row["arm"], "participant_id"])
        assert row["n"] == len(ids)
        assert row["events"] == len(ids & set(hit["participant_id"]))
    assert [e["arm"] for e in h["effect_vs_control"]] == ["mscs_100m", "mscs_200m"]
    assert all("Fisher" in e["method"] for e in h["effect_vs_control"])
    html = (out / "report.html").read_text("utf-8")
    assert "Primary endpoint <code>te_sae_1m</code>" in html
    table = _table(html, "incidence-te_sae_1m")
    for row in h["arms"]:
        assert f"{row['events']} / {row['n']}" in table
