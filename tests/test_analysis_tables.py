"""Tables, compliance, CONSORT and the report on a hand-made 8-participant data set.

Expected values are computed here independently of frailtrial.stats: numpy formulas for
counts, means and SDs, and scipy.stats for the tests the plan chooses (Shapiro-Wilk rule,
t / Mann-Whitney, paired t / Wilcoxon, Fisher exact).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from frailtrial.analysis.models import Models
from frailtrial.analysis.pipeline import analyze, write_outputs
from frailtrial.analysis.plan import between, within
from frailtrial.analysis.provenance import provenance
from frailtrial.analysis.report import render_report
from frailtrial.analysis.results import AnalysisResult
from frailtrial.analysis.table3 import TABLE3_COLUMNS
from frailtrial.cli.main import run
from frailtrial.dataset import read_dataset
from frailtrial.protocol import Protocol, load


def _tug_primary(protocol: Protocol) -> Protocol:
    """huc-msc-2024 with TUG at 1 month (the random-intercept model's arm difference) as its
    primary endpoint: the hand-made data hold TUG only, too few for the MMRM to converge, and
    an analysis refuses a primary endpoint it cannot estimate."""
    eps = [
        e.model_copy(
            update={"kind": "secondary"}
            if e.kind == "primary"
            else {"kind": "primary", "visit": "month1", "measure": "value"}
            if e.name == "tug_6m"
            else {}
        )
        for e in protocol.endpoints
    ]
    return protocol.model_copy(update={"endpoints": eps})


PROTOCOL = _tug_primary(load("huc-msc-2024"))


def write_protocol(path: Path) -> Path:
    """PROTOCOL as a YAML file, for the command line."""
    path.write_text(yaml.safe_dump(PROTOCOL.model_dump(mode="json"), allow_unicode=True))
    return path


ARMS = ["mscs"] * 4 + ["placebo"] * 4
IDS = [f"P{i}" for i in range(1, 9)]
AGE = [61, 66, 70, 75, 64, 69, 72, 79]
SEX = ["male", "female", "female", "female", "male", "male", "female", "male"]
HYPERTENSION = [1, 0, 0, 0, 1, 1, 1, 0]
# TUG seconds at baseline, week 1 and 1 month; P4 misses the 1-month visit.
TUG = {
    "baseline": [10.2, 11.5, 9.1, 12.8, 10.9, 11.1, 13.0, 9.7],
    "week1": [9.1, 10.2, 8.8, 11.1, 11.2, 10.7, 13.4, 9.9],
    "month1": [8.5, 9.6, 8.1, None, 10.6, 11.5, 12.7, 10.3],
}
DAYS = {"baseline": 1, "week1": 8, "month1": 30}


def write_folder(folder: Path) -> Path:
    """The data set as the CSV files of the tidy contract."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    parts = pd.DataFrame(
        {
            "participant_id": IDS,
            "site": "SH",
            "arm": ARMS,
            "randomized_on": "2021-03-01",
            "age": AGE,
            "sex": SEX,
            "height_cm": 165,
            "weight_kg": 65,
            "bmi": np.round(rng.normal(24, 2, 8), 1),
            "itt": 1,
            "safety": 1,
            "per_protocol": 1,
            "withdrawn_on": ["", "", "", "2021-04-10", "", "", "", ""],
            "withdrawal_reason": ["", "", "", "withdrew consent", "", "", "", ""],
        }
    )
    for c in PROTOCOL.baseline_characteristics:
        if c.name in parts:
            continue
        if c.kind == "binary":
            parts[c.name] = HYPERTENSION if c.name == "hypertension" else 0
        elif c.kind == "ordinal":
            parts[c.name] = [2, 2, 3, 2, 2, 3, 3, 2]
        else:
            parts[c.name] = np.round(rng.normal(100, 10, 8), 2)
    parts.to_csv(folder / "participants.csv", index=False)
    rows = [
        (pid, visit, DAYS[visit], "tug", v, "s")
        for visit, values in TUG.items()
        for pid, v in zip(IDS, values, strict=True)
        if v is not None
    ]
    pd.DataFrame(
        rows, columns=["participant_id", "visit", "day", "variable", "value", "unit"]
    ).to_csv(folder / "measurements.csv", index=False)
    pd.DataFrame(
        {
            "participant_id": ["P1", "P5", "P6", "P6"],
            "term": ["Dizziness", "Back pain", "Fall", "Back pain"],
            "body_system": ["Nervous system", "Musculoskeletal", "Injury", "Musculoskeletal"],
            "onset_day": [3, -2, 20, 40],
            "serious": [0, 0, 1, 0],
            "severity": ["mild", "mild", "severe", "mild"],
            "related": [0, 0, 0, 1],
            "outcome": "recovered",
        }
    ).to_csv(folder / "adverse_events.csv", index=False)
    pd.DataFrame(
        {
            "screening_id": [f"S{i}" for i in range(11)],
            "screened_on": "2021-02-01",
            "eligible": [1] * 8 + [0] * 3,
            "reason_not_randomized": [""] * 8 + ["age above 80", "age above 80", "declined"],
            "participant_id": [*IDS, "", "", ""],
        }
    ).to_csv(folder / "screening.csv", index=False)
    pd.DataFrame(
        [(pid, k + 1, day, 6.5e7, 1e6, "L1") for pid in IDS for k, day in enumerate((1, 30))],
        columns=["participant_id", "dose_number", "day", "cells", "cells_per_kg", "lot"],
    ).to_csv(folder / "dosing.csv", index=False)
    return folder


def with_primary(data: Path) -> Path:
    """Add PCS at baseline and month 6 to the hand-made data set (it holds TUG only), as
    ``analyze`` refuses a primary endpoint without data."""
    m = pd.read_csv(data / "measurements.csv")
    ids = sorted(set(m["participant_id"]))
    pcs = pd.DataFrame(
        [
            (pid, visit, day, "pcs", 250.0 + 7 * i + (12 if visit == "month6" else 0), "score")
            for i, pid in enumerate(ids)
            for visit, day in (("baseline", 1), ("month6", 180))
        ],
        columns=m.columns,
    )
    pd.concat([m, pcs]).to_csv(data / "measurements.csv", index=False)
    return data


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[AnalysisResult, Path]:
    base = tmp_path_factory.mktemp("hand")
    data = write_folder(base / "data")
    ds = read_dataset(data, PROTOCOL)
    result = analyze(ds, PROTOCOL, provenance(PROTOCOL, data, seed=None))
    write_outputs(result, base / "out")
    return result, base / "out"


def _between(a: np.ndarray, b: np.ndarray) -> float:
    if stats.shapiro(a).pvalue > 0.05 and stats.shapiro(b).pvalue > 0.05:
        return float(stats.ttest_ind(a, b).pvalue)
    return float(stats.mannwhitneyu(a, b, alternative="two-sided", method="exact").pvalue)


def _within(before: np.ndarray, after: np.ndarray) -> float:
    if stats.shapiro(after - before).pvalue > 0.05:
        return float(stats.ttest_rel(after, before).pvalue)
    return float(stats.wilcoxon(after, before, method="exact").pvalue)


def test_table3_cells_match_formulas_and_scipy(analysed: tuple[AnalysisResult, Path]) -> None:
    result, _ = analysed
    cells = result.table3.cells.set_index(["variable", "arm", "visit"])
    for arm, idx in (("mscs", slice(0, 4)), ("placebo", slice(4, 8))):
        base = np.array(TUG["baseline"][idx], dtype=float)
        for visit in ("baseline", "week1", "month1"):
            v = np.array([np.nan if x is None else x for x in TUG[visit][idx]], dtype=float)
            got = cells.loc[("tug", arm, visit)]
            assert got["n"] == np.isfinite(v).sum()
            assert got["mean"] == pytest.approx(np.nanmean(v), abs=1e-12)
            assert got["sd"] == pytest.approx(np.nanstd(v, ddof=1), abs=1e-12)
            if visit != "baseline":
                ok = np.isfinite(v)
                expected = _within(base[ok], v[ok])
                assert got["p_vs_baseline"] == pytest.approx(expected, rel=1e-6)
                # Bonferroni over the post-baseline visits that were tested (2 here)
                assert got["p_vs_baseline_adj"] == pytest.approx(min(1, 2 * expected), rel=1e-6)
            else:
                assert np.isnan(got["p_vs_baseline"])
    for visit in ("baseline", "week1", "month1"):
        a = np.array([x for x in TUG[visit][:4] if x is not None], dtype=float)
        b = np.array([x for x in TUG[visit][4:] if x is not None], dtype=float)
        got = cells.loc[("tug", "mscs", visit), "p_vs_control"]
        assert got == pytest.approx(_between(a, b), rel=1e-6)
        assert np.isnan(cells.loc[("tug", "placebo", visit), "p_vs_control"])


def test_markers_follow_protocol_thresholds(analysed: tuple[AnalysisResult, Path]) -> None:
    cells = analysed[0].table3.cells
    for p, mark in zip(cells["p_vs_baseline"], cells["marker_vs_baseline"], strict=True):
        expected = "" if not p <= 0.01 else ("**" if p <= 0.002 else "*")
        assert mark == expected
    for p, mark in zip(cells["p_vs_control"], cells["marker_vs_control"], strict=True):
        expected = "" if not p <= 0.05 else ("‡" if p <= 0.01 else "†")
        assert mark == expected


def test_table3_csv_has_exactly_the_contract_columns(analysed: tuple[AnalysisResult, Path]) -> None:
    frame = pd.read_csv(analysed[1] / "tables" / "table3.csv")
    assert list(frame.columns) == [
        "variable",
        "arm",
        "visit",
        "n",
        "mean",
        "sd",
        "p_vs_baseline",
        "p_vs_control",
    ]
    assert list(frame.columns) == TABLE3_COLUMNS
    assert set(frame["variable"]) == {"tug"}
    assert set(frame["arm"]) == {"mscs", "placebo"}
    assert set(frame["visit"]) == {"baseline", "week1", "month1"}


def test_table1_rows(analysed: tuple[AnalysisResult, Path]) -> None:
    rows = analysed[0].table1.rows
    age = rows[rows["characteristic"] == "age"].iloc[0]
    assert age["mscs_mean"] == pytest.approx(np.mean(AGE[:4]))
    assert age["placebo_sd"] == pytest.approx(np.std(AGE[4:], ddof=1))
    assert age["mscs"] == f"{np.mean(AGE[:4]):.2f} ± {np.std(AGE[:4], ddof=1):.2f}"
    assert age["p_mscs"] == pytest.approx(_between(np.array(AGE[:4]), np.array(AGE[4:])))
    male = rows[(rows["characteristic"] == "sex") & (rows["level"] == "male")].iloc[0]
    assert (male["mscs_count"], male["placebo_count"]) == (1, 3)
    assert male["mscs"] == "1 (25.00)"
    hyp = rows[rows["characteristic"] == "hypertension"].iloc[0]
    assert (hyp["mscs_count"], hyp["placebo_count"]) == (1, 3)
    assert hyp["p_mscs"] == pytest.approx(stats.fisher_exact([[1, 3], [3, 1]]).pvalue)
    smd = (0.25 - 0.75) / np.sqrt((0.25 * 0.75 + 0.75 * 0.25) / 2)
    assert hyp["smd_mscs"] == pytest.approx(smd)
    fried = rows[rows["characteristic"] == "fried_score"].iloc[0]
    assert fried["summary"] == "median_iqr"
    assert fried["placebo"] == "2 (2, 3)"  # median (Q1, Q3) of 2, 3, 3, 2


def test_table2_adverse_events(analysed: tuple[AnalysisResult, Path]) -> None:
    t2 = analysed[0].table2.rows.set_index("term")
    back = t2.loc["Back pain"]
    assert back["placebo_participants"] == 2 and back["placebo_events"] == 2
    assert back["placebo_te"] == 1  # the day -2 event precedes the first dose
    assert back["placebo_related"] == 1
    assert back["p_mscs"] == pytest.approx(stats.fisher_exact([[0, 4], [2, 2]]).pvalue)
    fall = t2.loc["Fall"]
    assert (fall["placebo_serious"], fall["placebo_te_sae"]) == (1, 1)
    anyae = t2.loc["Any adverse event"]
    assert (anyae["mscs_participants"], anyae["placebo_participants"]) == (1, 2)
    assert anyae["placebo_pct"] == pytest.approx(50.0)


def test_compliance_consort_and_populations(analysed: tuple[AnalysisResult, Path]) -> None:
    result = analysed[0]
    # 8 participants x 6 assessment visits; months 2, 3 and 6 never held (24) + P4 month 1
    assert result.compliance["scheduled"] == 48
    assert result.compliance["missed"] == 25
    assert result.compliance["missed_pct"] == pytest.approx(100 * 25 / 48)
    flow = result.consort
    assert (flow.screened, flow.excluded, flow.randomized) == (11, 3, 8)
    assert flow.excluded_reasons == {"age above 80": 2, "declined": 1}
    mscs = flow.arms[0]
    assert (mscs.allocated, mscs.received, mscs.withdrawn) == (4, 4, 1)
    assert mscs.withdrawal_reasons == {"withdrew consent": 1}
    assert result.population_counts["completers"]["total"] == 0  # nobody had month 6


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, str] = {}
        self.cells: dict[tuple[str, str, str], str] = {}
        self._stack: list[tuple[str | None, tuple[str, str, str] | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        key = None
        if tag == "td" and a.get("data-variable"):
            key = (a["data-variable"] or "", a["data-arm"] or "", a["data-visit"] or "")
        self._stack.append((a.get("id"), key))
        for ident, k in self._stack:
            if ident is not None:
                self.by_id.setdefault(ident, "")
            if k is not None:
                self.cells.setdefault(k, "")

    def handle_endtag(self, tag: str) -> None:
        if self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        for ident, k in self._stack:
            if ident is not None:
                self.by_id[ident] += data
            if k is not None:
                self.cells[k] += data


def test_report_html_holds_the_key_numbers(analysed: tuple[AnalysisResult, Path]) -> None:
    out = analysed[1]
    html = (out / "report.html").read_text("utf-8")
    parser = _Text()
    parser.feed(html)
    assert parser.by_id["n-screened"].strip() == "11"
    assert parser.by_id["n-randomized"].strip() == "8"
    assert parser.by_id["compliance-text"].strip() == "25 of 48 scheduled visits missed (52.08 %)"
    mean = np.mean(TUG["week1"][:4])
    sd = np.std(TUG["week1"][:4], ddof=1)
    assert parser.cells[("tug", "mscs", "week1")].startswith(f"{mean:.2f} ± {sd:.2f}")
    assert "<script" not in html and 'src="http' not in html  # self-contained
    assert html.count("<svg") >= 3  # CONSORT, schedule, one change figure


def test_outputs_written(analysed: tuple[AnalysisResult, Path]) -> None:
    out = analysed[1]
    for name in ("consort.svg", "consort.png", "visit_schedule.svg", "change_tug.svg"):
        assert (out / "figures" / name).stat().st_size > 0
    import json

    doc = json.loads((out / "results.json").read_text("utf-8"))
    assert doc["consort"]["randomized"] == 8
    assert set(doc["provenance"]["input_files_sha256"]) >= {"participants.csv"}
    assert len(doc["table3"]["cells"]) == 6
    import docx

    tables = docx.Document(str(out / "tables.docx")).tables
    first_tug = [c.text for c in tables[2].rows[1].cells]
    mean, sd = np.mean(TUG["baseline"][:4]), np.std(TUG["baseline"][:4], ddof=1)
    assert first_tug[:3] == ["TUG (s)", "MSCs", f"{mean:.2f} ± {sd:.2f}"]


def test_figures_drawn_early_equal_the_ones_drawn_when_writing(
    analysed: tuple[AnalysisResult, Path], tmp_path: Path
) -> None:
    """analyze draws the schedule and Table 3's change figures while the models are fitted;
    write_outputs draws them itself for a result without them, to the same files."""
    result, out = analysed
    shown = sorted(set(result.table3.cells["variable"]))
    assert sorted(result.drawn) == sorted(["visit_schedule", *(f"change_{v}" for v in shown)])
    partial = dict(list(result.drawn.items())[:-1])  # not this result's set: drawn again
    for k, drawn in enumerate([{}, partial]):
        write_outputs(dataclasses.replace(result, drawn=drawn), tmp_path / str(k))
        for name in result.drawn:
            svg = f"figures/{name}.svg"
            assert (tmp_path / str(k) / svg).read_bytes() == (out / svg).read_bytes()
        report = (tmp_path / str(k) / "report.html").read_text("utf-8")
        assert report == (out / "report.html").read_text("utf-8")


def test_a_figure_failing_early_fails_when_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A figure that cannot be drawn while the models are fitted does not stop analyze
    before the models' own errors: write_outputs draws it, and reports the failure."""
    from frailtrial.analysis import pipeline

    calls: list[str] = []

    def broken(protocol: Protocol, t3: object) -> dict[str, str]:
        calls.append(protocol.name)
        raise RuntimeError("cannot draw")

    monkeypatch.setattr(pipeline, "draw_early", broken)
    data = write_folder(tmp_path / "data")
    result = analyze(read_dataset(data, PROTOCOL), PROTOCOL, provenance(PROTOCOL, data, None))
    assert result.drawn == {} and calls == [PROTOCOL.name]
    assert len(result.table3.cells) == 6  # the analysis itself is whole
    with pytest.raises(RuntimeError, match="cannot draw"):
        write_outputs(result, tmp_path / "out")
    assert calls == [PROTOCOL.name] * 2


@pytest.mark.parametrize(
    ("file", "column", "value", "line", "message"),
    [
        ("participants.csv", "arm", "drug", 3, "'drug' is not an arm"),
        ("participants.csv", "participant_id", "P1", 4, "duplicate randomized participant"),
        ("measurements.csv", "visit", "month9", 5, "'month9' is not a visit"),
        ("measurements.csv", "value", "n/a", 6, "'n/a' is not a number"),
    ],
)
def test_bad_dataset_stops_analyze_with_file_line_column(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    file: str,
    column: str,
    value: str,
    line: int,
    message: str,
) -> None:
    data = with_primary(write_folder(tmp_path / "data"))
    frame = pd.read_csv(data / file, dtype=str, keep_default_na=False)
    frame.loc[line - 2, column] = value
    frame.to_csv(data / file, index=False)
    argv = [
        "frailtrial",
        "analyze",
        "--data",
        str(data),
        "--protocol",
        "huc-msc-2024",
        "--out",
        str(tmp_path / "out"),
    ]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_:
        run()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {file} line {line}, column {column}: ")
    assert message in err
    lines = err.strip().splitlines()  # every problem, one line each
    assert "Traceback" not in err and all(x.startswith("error: ") for x in lines)
    # P3 renamed P1: the duplicate, and P3's 5 measurements, 1 screening and 2 dosing rows
    assert len(lines) == (1 + 5 + 1 + 2 if column == "participant_id" else 1)


def test_report_names_each_model_that_was_not_estimated(
    analysed: tuple[AnalysisResult, Path],
) -> None:
    result = analysed[0]
    fits = result.models.fits.copy()
    fitted = fits["model"] == "mixed_ml"
    assert fits.loc[fitted, "n_obs"].notna().all()  # fitted rows carry their size
    failed = fits.loc[fitted].assign(
        model="mmrm_change", n_subjects=None, n_obs=None, note="not fitted: singular design"
    )
    models = Models(result.models.effects, pd.concat([fits[fitted], failed], ignore_index=True))
    html = render_report(replace(result, models=models), {"consort": "", "schedule": ""}, [])
    assert re.findall(r"Not estimated: [^<]*", html) == [
        "Not estimated: tug: not fitted: singular design"
    ]


def test_a_comparison_that_cannot_be_made_is_an_empty_cell_with_its_reason() -> None:
    plan = PROTOCOL.analysis
    same = np.array([10.2, 11.5, 9.1, 12.8])
    unchanged = within(same, same.copy(), plan)
    assert np.isnan(unchanged.p) and "all differences are zero" in unchanged.reason
    few = between(np.array([1.0, 2.0]), same, plan)
    assert np.isnan(few.p) and few.reason == "fewer than 3 values in a group (2, 4)"
