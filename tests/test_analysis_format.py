"""How numbers print in the tables and the report (issue 12's cosmetics): no "-0", no
"p=<0.001", no empty marker sentence in Table 3's footnote."""

from __future__ import annotations

import re
from html import unescape

import pandas as pd
import pytest

from frailtrial.analysis.format import fmt, mean_sd, median_iqr, n_pct, p_phrase, signed
from frailtrial.analysis.models import Models
from frailtrial.analysis.table3 import table3
from frailtrial.protocol import load

PROTOCOL = load("huc-msc-2024")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (fmt(-0.001), "0.00"),
        (fmt(-0.4, 0), "0"),
        (fmt(-0.6, 0), "-1"),
        (fmt(-0.005, 2), "-0.01"),  # 0.005 is stored below it: rounds to -0.01
        (mean_sd(-0.004, 1.2), "0.00 ± 1.20"),
        (median_iqr(-0.2, -1.4, 0.3), "0 (-1, 0)"),
        (n_pct(0, -0.0), "0 (0.00)"),
        (signed(-0.004), "0.00"),
        (signed(0.004), "0.00"),
        (signed(0.5), "+0.50"),
        (signed(-0.5), "-0.50"),
    ],
)
def test_a_value_rounding_to_zero_has_no_sign(text: str, expected: str) -> None:
    assert text == expected


def test_p_phrase() -> None:
    assert p_phrase(0.0004) == "p<0.001"
    assert p_phrase(0.0123) == "p=0.012"
    assert p_phrase(0.0004, " ") == "p < 0.001"
    assert p_phrase(float("nan")) == ""


def test_report_model_cells() -> None:
    from frailtrial.analysis import report

    effects = pd.DataFrame(
        {
            "model": "mmrm_change",
            "variable": "tug",
            "arm": "mscs",
            "visit": ["week1", "month1"],
            "estimate": [-0.001, 1.5],
            "se": 1.0,
            "df": 10.0,
            "ci_low": [-0.004, 0.5],
            "ci_high": [0.9, 2.5],
            "p": [0.00002, 0.04],
            "df_method": "kr df",
        }
    )
    fits = pd.DataFrame(
        [{"model": "mmrm_change", "variable": "tug", "n_obs": 20, "note": "", "n_excluded": 0}]
    )

    class Result:
        protocol = PROTOCOL
        models = Models(effects, fits)

    html = report._models_html(Result())  # type: ignore[arg-type]
    cells = [unescape(c) for c in re.findall(r'<td class="num">([^<]*)</td>', html)]
    assert "0.00 (0.00, 0.90) p<0.001" in cells
    assert "+1.50 (0.50, 2.50) p=0.040" in cells
    assert "p=&lt;" not in html and "-0.00" not in html


def test_table3_footnote_without_markers() -> None:
    plan = PROTOCOL.analysis.model_copy(
        update={"markers_vs_baseline": {}, "markers_vs_control": {}}
    )
    protocol = PROTOCOL.model_copy(update={"analysis": plan})
    m = pd.DataFrame(
        {
            "participant_id": ["P1", "P1", "P2", "P2"],
            "visit": ["baseline", "week1"] * 2,
            "variable": "tug",
            "value": [10.0, 9.0, 11.0, 10.5],
            "arm": ["mscs", "mscs", "placebo", "placebo"],
        }
    )
    note = table3(m, protocol).footnote
    assert note.startswith("Mean ± SD. Within arm: paired t test")
    assert " ; " not in note and ". ." not in note and ";." not in note
    with_marks = table3(m, PROTOCOL).footnote
    assert with_marks.startswith(
        "Mean ± SD. * p ≤ 0.01 vs baseline; ** p ≤ 0.002 vs baseline; † p ≤ 0.05 vs Placebo; "
        "‡ p ≤ 0.01 vs Placebo. Within arm:"
    )


@pytest.mark.parametrize(
    ("lo", "hi", "labels"),
    [
        (-0.7, 0.0, ["-0.8", "-0.6", "-0.4", "-0.2", "0"]),  # was "-2.22045e-16" for 0
        (-0.03, 0.0, ["-0.03", "-0.02", "-0.01", "0"]),
        (-1.3, 0.25, ["-1.5", "-1", "-0.5", "0", "0.5"]),
    ],
)
def test_figure_axis_ticks_print_zero_as_0(lo: float, hi: float, labels: list[str]) -> None:
    from frailtrial.analysis.figures import axis_ticks

    assert [f"{t:g}" for t in axis_ticks(lo, hi)] == labels
