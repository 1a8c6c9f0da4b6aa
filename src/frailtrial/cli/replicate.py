"""``frailtrial replicate``: a simulated data set through the full analysis, against what the
publication states: its printed tables (huc-msc-2024, data matched to them), or, for a trial
known by its abstract only (cratus-2017), the abstract's statements."""

from __future__ import annotations

from pathlib import Path

import typer

from frailtrial.cli.analyze import STEPS, progress, run, summary_lines
from frailtrial.cli.output import emit_json
from frailtrial.errors import InputError


def replicate_command(
    name: str = typer.Argument(..., help="Publication to reproduce, e.g. huc-msc-2024."),
    out: Path = typer.Option(Path("frailtrial-replicate"), "--out", help="Output folder."),
    seed: int = typer.Option(1, "--seed", help="Seed of the simulated data set."),
    json_: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Reproduce a paper: simulate its data set (matched to the printed tables when there are
    any), analyse it, and write OUT/replicate.html (+ tables/replicate.csv) comparing what the
    paper states with ours."""
    from frailtrial.analysis.replicate import (
        render_abstract_replication,
        render_replication,
        replicate,
        replicate_abstract,
    )
    from frailtrial.dataset import read_dataset, write_dataset
    from frailtrial.protocol import load
    from frailtrial.protocol.published import load_published, published_names
    from frailtrial.protocol.published.abstract import abstract_names, load_abstract
    from frailtrial.simulate import simulate_trial

    tables, abstracts = published_names(), abstract_names()
    if name not in tables and name not in abstracts:
        known = ", ".join(sorted({*tables, *abstracts}))
        raise InputError(f"no published tables or abstract for {name!r}; available: {known}")
    pub = load_published(name) if name in tables else None
    ab = None if pub is not None else load_abstract(name)
    protocol = load(pub.protocol if pub is not None else ab.protocol)  # type: ignore[union-attr]
    from frailtrial.analysis.fitting import warm_up
    from frailtrial.analysis.forked import Worker

    # a second process loads the model engines while this one simulates (analysis/forked.py)
    with Worker(warm_up) as worker, progress(STEPS + 2, quiet=json_) as step:
        step("simulating data")
        data_dir = out / "data"
        write_dataset(simulate_trial(protocol, seed, match_published=pub is not None), data_dir)
        step("reading the dataset")
        ds = read_dataset(data_dir, protocol)
        result = run(ds, protocol, data_dir, out, seed, step, worker)
        step("comparing with the paper")
        if pub is not None:
            rep = replicate(pub, result)
            html = render_replication(rep, pub, result)
        else:
            assert ab is not None
            rep = replicate_abstract(ab, result, ds)
            html = render_abstract_replication(rep, ab, result)
        (out / "tables").mkdir(parents=True, exist_ok=True)
        rep.cells.to_csv(out / "tables" / "replicate.csv", index=False, lineterminator="\n")
        page = out / "replicate.html"
        page.write_text(html, encoding="utf-8")
    if json_:
        emit_json(
            {
                "summary": rep.summary.to_dict(orient="records"),
                "cells": rep.cells.to_dict(orient="records"),
                "not_given": list(rep.not_given),
            }
        )
        return
    for line in summary_lines(result, out):
        typer.echo(line)
    typer.echo(f"comparison: {page}")
    for r in rep.summary.to_dict(orient="records"):
        typer.echo(f"  {r['table']}: {r['equal']} of {r['compared']} equal")
    if rep.not_given:
        typer.echo("not given by the publication: " + "; ".join(rep.not_given))
