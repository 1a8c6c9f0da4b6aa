"""The CONSORT diagram (SVG and PNG) of the HUC-MSC paper's flow: 110 assessed, 80 excluded,
30 randomized, 15 per arm, one withdrawal (Figure 1 of the paper)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from frailtrial.analysis.consort import ArmFlow, ConsortFlow, consort_png, consort_svg

FLOW = ConsortFlow(
    screened=110,
    excluded=80,
    excluded_reasons={"Frailty score outside 1-4": 50, "declined": 30},
    randomized=30,
    arms=[
        ArmFlow("msc", "MSCs", 15, 15, 0, 1, {"withdrew consent": 1}, 15, 0),
        ArmFlow("placebo", "Placebo", 15, 15, 0, 0, {}, 15, 0),
    ],
)


def test_svg_is_well_formed_and_holds_the_counts() -> None:
    svg = consort_svg(FLOW, "ITT")
    root = ET.fromstring(svg)
    texts = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]
    for needed in (
        "Assessed for eligibility (n = 110)",
        "Excluded (n = 80)",
        "Randomized (n = 30)",
        "Allocated to MSCs (n = 15)",
        "Discontinued / lost to follow-up (n = 1)",
        "Analysed, ITT (n = 15)",
    ):
        assert needed in texts
    assert len(root.findall("{http://www.w3.org/2000/svg}polygon")) == 1 + 3 * 2  # arrows


def test_png_size_at_150_dpi(tmp_path: Path) -> None:
    path = tmp_path / "consort.png"
    consort_png(FLOW, path, "ITT")
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size == (7 * 150, round(7.8 * 150))
        assert img.getextrema() != ((255, 255), (255, 255), (255, 255))  # something drawn


@pytest.mark.slow  # a fresh interpreter importing the analysis
def test_analysis_does_not_import_matplotlib() -> None:
    code = "import sys, frailtrial.analysis.pipeline; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
