"""One analysis of a trial dataset by its protocol's plan, and the files it writes."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from frailtrial.analysis import compliance as comp
from frailtrial.analysis.consort import consort_flow, consort_png, consort_svg, primary_left_out
from frailtrial.analysis.endpoints import check_primary, headline, incidence_endpoints
from frailtrial.analysis.figures import change_svg, schedule_svg
from frailtrial.analysis.fitting import fit_plan
from frailtrial.analysis.forked import Worker
from frailtrial.analysis.models import combine, fit_kind
from frailtrial.analysis.populations import attended_last_visit, build_populations
from frailtrial.analysis.results import AnalysisResult, write_tables
from frailtrial.analysis.table1 import table1
from frailtrial.analysis.table2 import table2
from frailtrial.analysis.table3 import Table3, itt_measurements, table3
from frailtrial.dataset import TrialDataset
from frailtrial.protocol import Protocol

Step = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def _nothing() -> None:
    return None


def analyze(
    ds: TrialDataset,
    protocol: Protocol,
    provenance: dict[str, Any],
    step: Step = _quiet,
    worker: Worker | None = None,
) -> AnalysisResult:
    """Populations, CONSORT, compliance, missing data, Tables 1-3, the plan's models, the
    incidence endpoints and the primary endpoint's headline (InputError when the primary
    cannot be analysed: refused before any fitting when the protocol alone says so).

    The models are fitted by ``worker`` (a process forked when the command started, which
    has loaded the model engines meanwhile), else by a process forked here; either runs
    them here when it cannot fork (analysis/forked.py)."""
    check_primary(protocol)
    step("populations and compliance")
    att = comp.attendance(ds, protocol)
    pops = build_populations(ds, protocol, attended_last_visit(att, protocol))
    primary = pops.arms(protocol.analysis.primary_population)
    m = itt_measurements(ds.measurements, primary)
    with worker or Worker(_nothing) as fitter:  # fits on the second core while the tables
        pending = fitter.submit(  # are built
            fit_plan, m, protocol, ds.participants, ds.measurements, pops,
            ds.intercurrent_events,
        )  # fmt: skip
        counts = pops.counts(protocol.arm_names)
        compliance = comp.compliance(att, primary.index, protocol)
        missing = comp.missing_data(ds, att, protocol)
        step("Tables 1 and 2")
        t1 = table1(ds.participants, primary, protocol)
        t2 = table2(ds, pops.arms("safety"), protocol)
        incidence = incidence_endpoints(ds, pops.arms("safety"), protocol)
        step("Table 3")
        t3 = table3(m, protocol)
        step("models and sensitivity analyses")
        intercepts = fit_kind(m, protocol, ds.participants, "random_intercept")
        prepare_writing()  # while the worker still fits
        drawn = _drawn_or_later(protocol, t3)
        mmrms, sensitivity = pending.result()
        fitted = combine([mmrms, intercepts], m, protocol, ds.participants, primary)
    flow = consort_flow(ds, protocol, primary, primary_left_out(fitted, protocol))
    return AnalysisResult(
        protocol=protocol,
        populations=pops,
        population_counts=counts,
        consort=flow,
        compliance=compliance,
        missing=missing,
        table1=t1,
        table2=t2,
        table3=t3,
        models=fitted,
        provenance=provenance,
        headline=headline(t3.cells, fitted, incidence, protocol),
        incidence=incidence,
        sensitivity=sensitivity,
        drawn=drawn,
    )


def draw_early(protocol: Protocol, t3: Table3) -> dict[str, str]:
    """The figures that need neither the models nor the CONSORT counts, drawn while the
    worker fits: the visit schedule and Table 3's change figures (SVG by file name)."""
    names = _early_names(protocol, t3)
    drawn = {names[0]: schedule_svg(protocol)}
    for name in names[1:]:
        drawn[name] = change_svg(t3.cells, name.removeprefix("change_"), protocol)
    return drawn


def _early_names(protocol: Protocol, t3: Table3) -> list[str]:
    shown = set(t3.cells["variable"])
    names = [f"change_{var.name}" for var in protocol.variables if var.name in shown]
    return ["visit_schedule", *names]


def _drawn_or_later(protocol: Protocol, t3: Table3) -> dict[str, str]:
    """:func:`draw_early`, or nothing when drawing fails: write_outputs draws them then and
    meets the failure after the worker's result, whose own error (bad data for a model) is
    the one to report first."""
    try:
        return draw_early(protocol, t3)
    except Exception:  # drawn again, and raised, by write_outputs
        return {}


def prepare_writing() -> None:
    """Import the writers' libraries (python-docx, Jinja2 and the report's modules, Pillow:
    ~0.1 s), which nothing before the writing needs: :func:`analyze` calls it while the
    worker fits the models, so that neither the command's start nor its outputs wait for
    them (the forked writer inherits them)."""
    for name in ("PIL.ImageDraw", "frailtrial.analysis.manuscript", "frailtrial.analysis.report"):
        importlib.import_module(name)


def write_outputs(result: AnalysisResult, out: Path, step: Step = _quiet) -> dict[str, Path]:
    """report.html, tables/*.csv, tables.docx, figures/, results.json in ``out``; the Word
    document, the CONSORT PNG and results.json are written by a forked process meanwhile
    (analysis/forked.py: here when it cannot fork)."""
    out.mkdir(parents=True, exist_ok=True)
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    protocol = result.protocol
    label = protocol.analysis.primary_population.upper()

    from frailtrial.analysis.manuscript import write_docx
    from frailtrial.analysis.report import render_report
    from frailtrial.analysis.sensitivity_report import estimand_figures

    report, results = out / "report.html", out / "results.json"

    def beside() -> None:
        consort_png(result.consort, figdir / "consort.png", label)
        write_docx(result, out / "tables.docx")
        results.write_text(result.to_json() + "\n", encoding="utf-8")

    with Worker(beside, task_follows=False) as writer:
        step("figures")
        svgs: dict[str, str] = {}
        svgs["consort"] = consort_svg(result.consort, label)
        (figdir / "consort.svg").write_text(svgs["consort"], encoding="utf-8")
        drawn = result.drawn
        if sorted(drawn) != sorted(_early_names(protocol, result.table3)):  # none, or not
            drawn = draw_early(protocol, result.table3)  # this result's: drawn here
        for name, text in drawn.items():
            (figdir / f"{name}.svg").write_text(text, encoding="utf-8")
        svgs["schedule"] = drawn["visit_schedule"]
        changes = [
            {"variable": var.name, "svg": drawn[f"change_{var.name}"]}
            for var in protocol.variables
            if f"change_{var.name}" in drawn
        ]
        estimand_svgs = estimand_figures(result)
        for f in estimand_svgs:
            (figdir / f"{f['name']}.svg").write_text(f["svg"], encoding="utf-8")
        step("tables and report")
        write_tables(result, out / "tables")
        report.write_text(render_report(result, svgs, changes, estimand_svgs), encoding="utf-8")
        writer.result()
    return {
        "report": report,
        "results": results,
        "tables": out / "tables",
        "docx": out / "tables.docx",
        "figures": figdir,
    }
