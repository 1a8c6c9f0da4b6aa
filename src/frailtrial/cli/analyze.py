"""``frailtrial analyze``: a tidy trial dataset through the protocol's analysis plan."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # the protocol and analysis stacks load only when a command runs
    from frailtrial.analysis.forked import Worker
    from frailtrial.analysis.results import AnalysisResult
    from frailtrial.dataset import TrialDataset
    from frailtrial.protocol import Protocol

Step = Callable[[str], None]
STEPS = 7  # read, populations, Tables 1-2, Table 3, models and sensitivity, figures, report


@contextmanager
def progress(total: int, quiet: bool = False) -> Iterator[Step]:
    """A Rich progress bar on a terminal (stderr), drawn at each step; silent when piped or
    ``quiet`` (then Rich is not even imported, unless FORCE_COLOR or TTY_COMPATIBLE asks it
    to decide)."""
    forced = any(os.environ.get(v) for v in ("FORCE_COLOR", "TTY_COMPATIBLE"))
    if quiet or not (sys.stderr.isatty() or forced):
        yield lambda _: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda _: None
        return
    with Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        auto_refresh=False,  # no refresh thread: analyze forks its model fitting (forked.py)
    ) as bar:
        task = bar.add_task("starting", total=total)
        bar.refresh()

        def step(what: str) -> None:
            bar.update(task, advance=1, description=what, refresh=True)

        yield step


def run(
    ds: TrialDataset,
    protocol: Protocol,
    data_dir: Path | None,
    out: Path,
    seed: int | None,
    step: Step,
    worker: Worker | None = None,
) -> AnalysisResult:
    """Analyse and write every output into ``out`` (the models fitted by ``worker``, see
    analysis/forked.py)."""
    from frailtrial.analysis.pipeline import analyze, write_outputs
    from frailtrial.analysis.provenance import provenance

    result = analyze(ds, protocol, provenance(protocol, data_dir, seed), step, worker)
    write_outputs(result, out, step)
    return result


def summary_lines(result: AnalysisResult, out: Path) -> list[str]:
    """What the commands print at the end: where the report is and headline numbers."""
    c, comp = result.consort, result.compliance
    arms = ", ".join(f"{a.label} {a.allocated}" for a in c.arms)
    lines = [
        f"report: {out / 'report.html'}",
        f"screened {c.screened}, excluded {c.excluded}, randomized {c.randomized} ({arms})",
        f"visits missed: {comp['missed']} of {comp['scheduled']} ({comp['missed_pct']:.2f} %)",
    ]
    h = result.headline  # always the primary endpoint (analyze refuses one it cannot give)
    lines.append(
        f"primary endpoint {h['endpoint']}, {h['label']}: {h['text']}"
        + (f" ({h['detail']})" if h["detail"] else "")
    )
    return lines


def analyze_command(
    data: Path = typer.Option(..., "--data", help="Folder holding the tidy trial dataset."),
    protocol: str = typer.Option(..., "--protocol", help="Built-in protocol name or YAML file."),
    out: Path = typer.Option(Path("frailtrial-analysis"), "--out", help="Output folder."),
    seed: int | None = typer.Option(None, "--seed", help="Seed that produced the data, if any."),
    json_: bool = typer.Option(False, "--json", help="Print results.json to stdout."),
) -> None:
    """Analyse a trial dataset: tables, figures, CONSORT, models and report.html.

    The dataset is checked first (types, keys, instrument ranges, visits.csv against
    measurements.csv, data for the primary endpoint); every problem is printed, one line
    each, and the exit status is 2."""
    from frailtrial.analysis.fitting import warm_up
    from frailtrial.analysis.forked import Worker
    from frailtrial.dataset import read_dataset
    from frailtrial.protocol import load

    # a second process loads the model engines while this one reads, then fits the models
    with Worker(warm_up) as worker, progress(STEPS, quiet=json_) as step:
        proto = load(protocol)
        step("reading the dataset")
        ds = read_dataset(data, proto, for_analysis=True)  # every problem, one line each
        result = run(ds, proto, data, out, seed, step, worker)
    if json_:  # the document just written, not a second serialization of the result
        sys.stdout.write((out / "results.json").read_text(encoding="utf-8"))
        return
    for line in summary_lines(result, out):
        typer.echo(line)
