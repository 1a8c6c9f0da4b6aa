"""``frailtrial demo`` and ``frailtrial analyze --json`` end to end (in-process)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from frailtrial.cli.main import run
from test_analysis_tables import with_primary, write_folder


def _run(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["frailtrial", *args])
    try:
        run()
    except SystemExit as exc:
        assert exc.code in (0, None)


def test_analyze_json_prints_one_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_folder(tmp_path / "data")
    with_primary(data)
    _run(monkeypatch, "analyze", "--data", str(data), "--protocol", "huc-msc-2024",
         "--out", str(tmp_path / "out"), "--json")  # fmt: skip
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["consort"]["screened"] == 11
    assert doc["provenance"]["protocol"]["name"] == "huc-msc-2024"
    assert len(doc["provenance"]["protocol"]["sha256"]) == 64
    assert captured.err == ""  # no progress bar when not on a terminal
    assert (tmp_path / "out" / "report.html").is_file()
    # --json prints results.json, the same document the folder holds
    assert captured.out == (tmp_path / "out" / "results.json").read_text("utf-8")


@pytest.mark.slow
def test_demo_writes_report_and_prints_headline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "frailtrial-demo"
    _run(monkeypatch, "demo", "--out", str(out), "--seed", "3")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"report: {out / 'report.html'}"
    assert lines[1].startswith("screened 110, excluded 80, randomized 30")
    assert any(line.startswith("primary endpoint, PCS") for line in lines)
    # the demo goes through the EDC store: its SQLite file, locked, and the export analysed
    assert lines[-1].startswith(f"EDC store: {out / 'trial.sqlite3'}")
    assert (out / "trial.sqlite3").is_file() and (out / "export" / "participants.csv").is_file()
    html = (out / "report.html").read_text("utf-8")
    assert "Table 1. Baseline characteristics" in html and "<svg" in html
    results = json.loads((out / "results.json").read_text("utf-8"))
    assert results["provenance"]["seed"] == 3
    for name in ("table1.csv", "table2.csv", "table3.csv", "models.csv"):
        assert (out / "tables" / name).is_file()
    assert (out / "tables.docx").is_file()
