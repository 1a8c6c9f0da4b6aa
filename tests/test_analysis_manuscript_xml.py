"""tables.docx's tables are written as XML text (analysis/manuscript.py): the same XML,
cell for cell, as python-docx's own API writes for the same texts."""

from __future__ import annotations

import pytest
from docx import Document
from lxml import etree

from frailtrial.analysis.manuscript import _table

HEADER = ["Characteristic", "MSCs (N=15)", "p (MSCs)"]
ROWS = [
    ["Age, years", "72.1 ± 5.3", "0.41"],
    ["  severe", "3 (20.0 %)", ""],  # leading blanks kept, an empty cell
    ["AE <grade 3> & more", "trailing ", "p < 0.001"],  # markup characters escaped
    ["女性", "", "—"],
]


def _by_api(header: list[str], rows: list[list[str]]) -> bytes:
    doc = Document()
    t = doc.add_table(rows=1 + len(rows), cols=len(header))
    t.style = "Light Grid Accent 1"
    for row, texts in zip(t.rows, [header, *rows], strict=True):
        for cell, text in zip(row.cells, texts, strict=True):
            cell.paragraphs[0].add_run(text)
    return etree.tostring(t._tbl, encoding="utf-8")


def _by_text(header: list[str], rows: list[list[str]]) -> bytes:
    doc = Document()
    _table(doc, header, rows)
    return etree.tostring(doc.tables[0]._tbl, encoding="utf-8")


def test_the_table_xml_equals_python_docx_cell_by_cell() -> None:
    assert _by_text(HEADER, ROWS) == _by_api(HEADER, ROWS)


def test_a_header_only_table_equals_python_docx() -> None:
    assert _by_text(HEADER, []) == _by_api(HEADER, [])


def test_a_cell_with_a_line_break_is_refused() -> None:
    with pytest.raises(ValueError, match="line break"):
        _by_text(HEADER, [["a\nb", "", ""]])
