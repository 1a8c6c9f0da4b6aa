"""tables.docx: the manuscript tables (Tables 1-3, the primary endpoint and its model) in
Word.

The cells are the report's own display strings, so the two never disagree.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from docx import Document
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Pt

from frailtrial.analysis.endpoints import primary_model
from frailtrial.analysis.format import fmt, n_pct, pvalue, signed

if TYPE_CHECKING:
    from frailtrial.analysis.results import AnalysisResult


def _table(doc: object, header: list[str], rows: list[list[str]]) -> None:
    """A table of ``header`` and ``rows``: python-docx makes the empty table (grid, style),
    its rows are parsed from one XML text, the XML python-docx writes for a cell given its
    text (a cell at a time through its API took 0.1 s of ``analyze``)."""
    t = doc.add_table(rows=0, cols=len(header))  # type: ignore[attr-defined]
    t.style = "Light Grid Accent 1"
    tbl = t._tbl
    width = tbl.tblGrid.gridCol_lst[0].get(qn("w:w")) if header else "0"
    cell = f'<w:tc><w:tcPr><w:tcW w:type="dxa" w:w="{width}"/></w:tcPr><w:p>{{}}</w:p></w:tc>'
    trs = "".join(
        "<w:tr>" + "".join(cell.format(_run(text)) for text in texts) + "</w:tr>"
        for texts in [header, *rows]
    )
    for tr in parse_xml(f"<w:tbl {nsdecls('w')}>{trs}</w:tbl>"):
        tbl.append(tr)


def _run(text: str) -> str:
    """The run python-docx's ``add_run(text)`` makes: none for no text, ``xml:space``
    preserved around leading or trailing blanks (tabs and line breaks are not expected in a
    table cell and are refused)."""
    if not text:
        return "<w:r/>"
    if any(c in text for c in "\t\n\r"):
        raise ValueError(f"a table cell with a tab or line break: {text!r}")
    space = ' xml:space="preserve"' if text.strip() != text else ""
    return f"<w:r><w:t{space}>{escape(text, quote=False)}</w:t></w:r>"


def _primary_endpoint(doc: object, result: AnalysisResult) -> None:
    """The primary endpoint's analysis as report.html shows it (incidence per arm, if any,
    and each active arm against placebo)."""
    from frailtrial.analysis.report import endpoint_display

    b = endpoint_display(result.headline, result)
    doc.add_heading(f"Primary endpoint {b['endpoint']}: {b['label']}", level=2)  # type: ignore[attr-defined]
    if b["arms"]:
        rows = [[r["label"], f"{r['events']} / {r['n']}", r["pct"], r["ci"]] for r in b["arms"]]
        _table(doc, ["Group", "With the event / N", "%", "95 % CI (exact)"], rows)
    header = ["Comparison", f"{b['estimate_label']} (95 % CI)", "p", "p adjusted", "Method"]
    rows = [
        [e["comparison"], e["estimate"], e["p"], e["p_adjusted"], e["method"]] for e in b["effects"]
    ]
    _table(doc, header, rows)
    note = b["note"] + (f" {b['trend']}." if b["trend"] else "")
    doc.add_paragraph(note).runs[0].font.size = Pt(8)  # type: ignore[attr-defined]


def write_docx(result: AnalysisResult, path: Path) -> Path:
    """Write Tables 1, 2, 3, the primary endpoint's analysis and the primary model's
    effects to ``path``."""
    from frailtrial.analysis.report import table1_display, table3_display

    p = result.protocol
    doc = Document()
    doc.styles["Normal"].font.size = Pt(8)
    doc.add_heading(f"{p.identity.short_title} ({p.identity.registry_id})", level=1)
    actives = p.active_arms

    doc.add_heading("Table 1. Baseline characteristics", level=2)
    header = ["Characteristic"] + [f"{a.label} (N={result.table1.n[a.name]})" for a in p.arms]
    header += [f"p ({a.label})" for a in actives]
    rows = []
    for r in table1_display(result):
        if r["group_header"]:
            rows.append([r["group_header"]] + [""] * (len(header) - 1))
        rows.append([r["label"], *r["cells"], *(t["p"] for t in r["tests"])])
    _table(doc, header, rows)
    doc.add_paragraph(result.table1.footnote).runs[0].font.size = Pt(8)

    doc.add_heading("Table 2. Adverse events", level=2)
    t2 = result.table2.rows
    header = ["Adverse event"] + [f"{a.label} (N={result.table2.n[a.name]})" for a in p.arms]
    header += [f"p ({a.label})" for a in actives]
    rows = [
        [
            ("  " if r["level"] == "term" else "") + str(r["term"]),
            *(n_pct(r[f"{a.name}_participants"], r[f"{a.name}_pct"]) for a in p.arms),
            *(pvalue(float(r[f"p_{a.name}"])) for a in actives),
        ]
        for r in t2.to_dict(orient="records")
    ]
    _table(doc, header, rows)
    doc.add_paragraph(result.table2.footnote).runs[0].font.size = Pt(8)

    doc.add_heading("Table 3. Outcomes by arm and visit", level=2)
    visits = p.assessment_visits
    rows = [
        [
            r["variable_label"] if r["first"] else "",
            r["arm_label"],
            *(c["text"] for c in r["cells"]),
        ]
        for r in table3_display(result)[0]
    ]
    _table(doc, ["Variable", "Group", *(v.label for v in visits)], rows)
    doc.add_paragraph(result.table3.footnote).runs[0].font.size = Pt(8)

    _primary_endpoint(doc, result)
    primary = primary_model(p)
    spec = primary or next(iter(p.analysis.models), None)
    if spec is not None:  # only the primary endpoint's model is called primary
        e = result.models.effects
        e = e[e["model"] == spec.name]
        role = "Primary model" if spec == primary else "Model"
        doc.add_heading(f"{role} ({spec.name}): treatment effect per visit", level=2)
        rows = [
            [
                p.variable(str(r["variable"])).label,
                str(r["arm"]),
                str(r["visit"]),
                f"{signed(r['estimate'])} ({fmt(r['ci_low'])}, {fmt(r['ci_high'])})",
                pvalue(float(r["p"])),
            ]
            for r in e.to_dict(orient="records")
        ]
        _table(doc, ["Variable", "Arm vs control", "Visit", "Effect (95 % CI)", "p"], rows)
    doc.core_properties.title = f"{p.name} manuscript tables"
    doc.save(str(path))
    return path
