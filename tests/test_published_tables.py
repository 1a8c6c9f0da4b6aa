"""The published HUC-MSC tables as transcribed: complete, consistent with the protocol, and
with exactly the paper's own inconsistencies flagged."""

# ruff: noqa: E501  (the paper's table rows below are kept whole, as printed)

from __future__ import annotations

import re

import pytest

from frailtrial.errors import InputError
from frailtrial.protocol import load
from frailtrial.protocol.published import Cell, decimals, load_published, printed_as

PUB = load_published("huc-msc-2024")
PROTOCOL = load("huc-msc-2024")


def test_every_protocol_variable_and_visit_has_a_table3_cell() -> None:
    visits = [v.name for v in PROTOCOL.assessment_visits]
    assert PUB.table3.visits == visits
    assert [r.variable for r in PUB.table3.rows] == [v.name for v in PROTOCOL.variables]
    for row in PUB.table3.rows:
        for arm in PROTOCOL.arm_names:
            assert list(row.cells[arm]) == visits


def test_table1_rows_are_baseline_characteristics() -> None:
    names = {c.name for c in PROTOCOL.baseline_characteristics}
    assert {r.name for r in PUB.table1.rows} == names


def test_attendance_adds_up_to_the_printed_totals() -> None:
    att = PUB.attendance
    scheduled = sum(PUB.n_randomized.values()) * len(att.visits)
    attended = sum(sum(v.values()) for v in att.visits.values())
    assert (
        (scheduled, scheduled - attended) == (180, 14) == (att.scheduled_visits, att.missed_visits)
    )
    assert att.visits["month2"] == {"mscs": 12, "placebo": 12}
    assert att.visits["month3"] == {"mscs": 12, "placebo": 13}
    assert att.visits["month6"] == {"mscs": 12, "placebo": 15}
    # the paper prints 7.77 % where 14/180 is 7.78 %
    assert not printed_as(100 * 14 / 180, att.missed_percent_printed)
    assert (PUB.screening.screened, PUB.screening.excluded, PUB.screening.randomized) == (
        110, 80, 30,
    )  # fmt: skip


def test_printed_percentages_match_counts_except_the_noted_misprints() -> None:
    wrong = []
    for row in [*PUB.table1.rows, *PUB.table2.rows]:
        n_arm = PUB.table1.n if row in PUB.table1.rows else PUB.table2.n
        for arm, cell in row.cells.items():
            if cell.n is None or cell.pct is None:
                continue
            if abs(100 * cell.n / n_arm[arm] - float(cell.pct)) > 0.5 * 10 ** -decimals(cell.pct):
                wrong.append((getattr(row, "name", getattr(row, "term", "")), arm))
                assert row.note, f"{wrong[-1]} differs from n/N but carries no note"
    assert wrong == [("dyslipidemia", "mscs"), ("Dizziness", "mscs")]


def test_printed_strings_keep_their_decimals() -> None:
    eq = PUB.table3.row("eq_vas").cells
    assert eq["mscs"]["week1"].mean == "76.0"
    assert decimals(PUB.table3.row("psqi").cells["placebo"]["month2"].sd) == 1
    assert PUB.table3.row("pcs").cells["mscs"]["month6"].markers == ["**", "†"]


def test_unknown_publication_is_an_input_error() -> None:
    with pytest.raises(InputError, match="available"):
        load_published("no-such-trial")


def test_text_changes_agree_with_table3_where_everyone_attended() -> None:
    pcs = PUB.table3.row("pcs").cells["mscs"]
    for change in PUB.table3.changes_from_baseline:
        if PUB.attendance.visits[change.visit]["mscs"] != 15:
            continue  # month 6 holds 12 of 15: the difference of means is not the mean change
        diff = float(str(pcs[change.visit].mean)) - float(str(pcs["baseline"].mean))
        assert abs(diff - float(change.mean)) <= 0.01 + 1e-9, change.visit


# The paper's own tables (Zhu et al. 2024, Stem Cell Res Ther, doi 10.1186/s13287-024-03707-2), copied as printed with " | " between
# cells: the independent reference for the transcription in published/huc-msc-2024.yaml, to
# which the simulator's --match-published mode and `frailtrial replicate` are calibrated.
PAPER_TABLE1 = """\
Age (years) | 67.27 ± 5.23 | 69.27 ± 5.02
Male | 5 (33.33) | 7 (46.67)
Female | 10 (66.67) | 8 (53.33)
BMI (kg/m ²) | 24.03 ± 2.89 | 24.95 ± 3.67
Fried frailty phenotype scale | 2 (2, 2) | 2 (2, 3)
Hypertension (%) | 4 (26.67) | 7 (46.67)
Dyslipidemia (%) | 4 (46.67) | 1 (6.67)
Type 2 diabetes mellitus (%) | 3 (20) | 5 (33.33)
Ischemic cardiomyopathy (%) | 2 (13.33) | 2 (13.33)
Aspirin (%) | 2 (13.33) | 1 (6.67)
ACEI/ARB (%) | 2 (13.33) | 4 (26.67)
Calcium antagonists (%) | 2 (13.33) | 1 (6.67)
Metformin (%) | 1 (6.67) | 2 (13.33)
Other oral antidiabetics (%) | 2 (13.33) | 3 (20)
Insulin (%) | 2 (13.33) | 2 (13.33)
Statin (%) | 5 (33.33) | 1 (6.67)
Hemoglobin (g/L) | 135.80 ± 7.72 | 132.47 ± 13.71
White blood cell count (10 ⁹ /L) | 5.89 ± 1.37 | 5.69 ± 1.45
Platelet count (10 ⁹ /L) | 203.2 ± 42.75 | 206.4 ± 73.50
AST (U/L) | 23.07 ± 14.26 | 23.73 ± 8.68
ALT (U/L) | 22.73 ± 18.18 | 21.00 ± 12.62
GFR (mL/min per 1.73 m ²) | 70.73 ± 13.98 | 75.93 ± 16.35
FBG (mmol/L) | 5.94 ± 1.41 | 5.89 ± 1.26
"""
PAPER_TABLE2 = """\
Back pain | 0 (0) | 1 (6.67) | NS | No
Dizziness | 1 (6.77) | 0 (0) | NS | No
Lower extremity edema | 0 (0) | 1 (6.67) | NS | No
"""
PAPER_TABLE3 = """\
PCS | MSCs | 239.87±72.15* | 315.40±68.25** | 337.13±66.44** | 353.75±42.81** | 293.00±153.86** | 351.83±68.35**,†
 | Placebo | 213.27±98.27 | 227.07±100.10 | 249.87±81.22 | 263.92±92.71 | 234.46±98.05 | 240.27±116.08
MCS | MSCs | 287.81±72.44** | 348.27±47.09** | 361.65±27.76** | 363.11±25.62** | 296.33±154.75** | 365.29±19.81**
 | Placebo | 262.18±88.17 | 256.76±97.73 | 275.46±91.12 | 281.18±102.73 | 280.32±88.34 | 307.53±77.12
EQ-VAS | MSCs | 66.67 ± 13.58 | 76.0 ± 13.65 | 79.67 ± 10.77* | 84.58 ± 11.76**,† | 83.17 ± 6.83**,‡ | 82.92 ± 8.38**,‡
 | Placebo | 67.33 ± 10.50 | 71.4 ± 10.86 | 75.33 ± 9.72 | 76.42 ± 8.39 | 73.46 ± 8.51 | 72.87 ± 11.70
PSQI | MSCs | 8.60 ± 3.99 | 6.13 ± 3.07 | 6.20 ± 3.55 | 6.17 ± 4.55 | 6.33 ± 3.85 | 7.33 ± 4.23
 | Placebo | 9.60 ± 5.05 | 8.80 ± 3.17 | 8.33 ± 3.20 | 9.0 ± 4.0 | 8.23 ± 4.23 | 8.0 ± 4.11
TUG(s) | MSCs | 10.20 ± 2.75 | 8.36 ± 1.70† | 8.25 ± 1.34† | 7.66 ± 1.46**,† | 7.92 ± 1.35*,† | 7.78 ± 1.63*,†
 | Placebo | 10.98 ± 2.46 | 11.17 ± 3.75 | 11.05 ± 4.36 | 11.08 ± 4.66 | 10.77 ± 3.46 | 10.97 ± 5.27
4MWT(s) | MSCs | 5.04 ± 0.96 | 4.15 ± 0.69 | 4.18 ± 0.52* | 3.89 ± 0.53** | 3.94 ± 0.67** | 4.04 ± 0.45**,†
 | Placebo | 5.90 ± 1.49 | 5.82 ± 2.37 | 5.68 ± 2.46 | 5.47 ± 2.18 | 5.68 ± 1.87 | 6.09 ± 3.39
Grip strength (Kg) | MSCs | 17.99 ± 7.31 | 21.92 ± 7.54 | 22.27 ± 7.29 | 23.63 ± 7.13† | 24.96 ± 6.56† | 25.44 ± 5.44 ‡
 | Placebo | 17.04 ± 9.65 | 18.89 ± 9.06 | 18.76 ± 8.41 | 17.33 ± 9.28 | 19.08 ± 9.38 | 18.33 ± 10.11
FTTST(s) | MSCs | 15.10 ± 8.13 | 11.89 ± 3.41 | 11.37 ± 3.28 | 10.33 ± 3.45 | 10.69 ± 3.47 | 11.27 ± 3.07
 | Placebo | 17.37 ± 10.71 | 17.25 ± 13.67 | 16.81 ± 13.45 | 15.68 ± 12.22 | 16.87 ± 12.26 | 17.50 ± 9.44
IL-8(pg/mL) | MSCs | 14.30 ± 4.52 | 12.72 ± 3.14 | 11.40 ± 4.57 | 14.27 ± 7.51 | 9.59 ± 6.06 | 10.21 ± 3.32
 | Placebo | 21.29 ± 14.62 | 15.70 ± 6.28 | 15.29 ± 5.38 | 20.28 ± 20.63 | 13.43 ± 4.72 | 13.14 ± 6.33
IL-17(pg/mL) | MSCs | 19.25 ± 27.76 | 12.70 ± 2.63 | 14.69 ± 6.11 | 21.82 ± 14.60 | 17.22 ± 10.06 | 18.50 ± 22.70†
 | Placebo | 11.78 ± 3.36 | 13.79 ± 3.86 | 17.66 ± 19.41 | 19.05 ± 6.70 | 14.50 ± 4.35 | 32.76 ± 42.96
IFN-γ(pg/mL) | MSCs | 2.70 ± 0.40 | 3.00 ± 0.34 | 2.63 ± 0.22 | 3.10 ± 0.54 | 3.17 ± 0.73 | 2.79 ± 0.50
 | Placebo | 2.60 ± 0.22 | 3.00 ± 0.38 | 2.64 ± 0.27 | 3.19 ± 0.46 | 3.04 ± 0.64 | 3.12 ± 0.58
TNFα(pg/m) | MSCs | 2.53 ± 0.10 | 2.59 ± 0.14 | 2.51 ± 0.04 | 2.68 ± 0.22 | 2.76 ± 0.39 | 2.61 ± 0.25†
 | Placebo | 2.53 ± 0.08 | 2.68 ± 0.20 | 2.51 ± 0.03 | 2.73 ± 0.42 | 2.60 ± 0.25 | 3.13 ± 1.22
"""
TABLE1_ROWS = [
    ("age", None), ("sex", "male"), ("sex", "female"), ("bmi", None), ("fried_score", None),
    ("hypertension", None), ("dyslipidemia", None), ("t2dm", None),
    ("ischemic_cardiomyopathy", None), ("aspirin", None), ("acei_arb", None),
    ("calcium_antagonist", None), ("metformin", None), ("other_oral_antidiabetic", None),
    ("insulin", None), ("statin", None), ("hemoglobin", None), ("wbc", None),
    ("platelets", None), ("ast", None), ("alt", None), ("egfr", None), ("fbg", None),
]  # fmt: skip
TABLE3_ROWS = ["pcs", "mcs", "eq_vas", "psqi", "tug", "walk4m", "grip", "ftsst", "il8", "il17",
               "ifng", "tnfa"]  # fmt: skip
_MEAN_SD = re.compile(r"^([\d.]+)\s*±\s*([\d.]+)\s*(.*)$")
_N_PCT = re.compile(r"^(\d+) \(([\d.]+)\)$")
_MEDIAN_IQR = re.compile(r"^(\d+) \((\d+), (\d+)\)$")


def _cells(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("|")] for line in table.splitlines()]


def _printed(cell: Cell) -> tuple[object, ...]:
    """A transcribed cell as the paper prints it: (mean, sd, markers), (n, pct) or IQR."""
    if cell.mean is not None:
        return (cell.mean, cell.sd, cell.markers)
    if cell.median is not None:
        return (cell.median, cell.q1, cell.q3)
    return (str(cell.n), cell.pct)


def _paper(text: str) -> tuple[object, ...]:
    if m := _MEAN_SD.match(text):
        markers = [x.strip() for x in m.group(3).split(",") if x.strip()]
        return (m.group(1), m.group(2), markers)
    if m := _MEDIAN_IQR.match(text):
        return m.groups()
    m = _N_PCT.match(text)
    assert m, text
    return m.groups()


def test_table1_is_the_papers_table1_cell_by_cell() -> None:
    rows = {(r.name, r.level): r for r in PUB.table1.rows}
    paper = _cells(PAPER_TABLE1)
    assert len(paper) == len(TABLE1_ROWS) == len(rows)
    for key, (_, mscs, placebo) in zip(TABLE1_ROWS, paper, strict=True):
        got = rows[key].cells
        assert (_printed(got["mscs"]), _printed(got["placebo"])) == (_paper(mscs), _paper(placebo))


def test_table2_is_the_papers_table2() -> None:
    paper = _cells(PAPER_TABLE2)
    assert len(paper) == len(PUB.table2.rows)
    for row, (term, mscs, placebo, p, related) in zip(PUB.table2.rows, paper, strict=True):
        assert row.term == term and row.p == p and row.related == (related == "Yes")
        assert (_printed(row.cells["mscs"]), _printed(row.cells["placebo"])) == (
            _paper(mscs), _paper(placebo),
        )  # fmt: skip


def test_table3_is_the_papers_table3_cell_by_cell() -> None:
    paper = _cells(PAPER_TABLE3)
    assert len(paper) == 2 * len(TABLE3_ROWS) == 2 * len(PUB.table3.rows)
    checked = 0
    for i, (_, group, *cells) in enumerate(paper):
        arm = {"MSCs": "mscs", "Placebo": "placebo"}[group]
        by_visit = PUB.table3.row(TABLE3_ROWS[i // 2]).cells[arm]
        assert list(by_visit) == PUB.table3.visits
        for visit, printed in zip(PUB.table3.visits, cells, strict=True):
            assert _printed(by_visit[visit]) == _paper(printed), (TABLE3_ROWS[i // 2], arm, visit)
            checked += 1
    assert checked == 12 * 2 * 6
