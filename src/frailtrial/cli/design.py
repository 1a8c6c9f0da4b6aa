"""``frailtrial design``: sample size, power and planning effect sizes."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer

from frailtrial.cli.output import emit_json
from frailtrial.errors import InputError

# the design modules (scipy, the MMRM, matplotlib) are imported inside each command so
# that registering this group keeps `frailtrial --help` and other commands fast
TESTS = ("ttest", "mann-whitney", "paired-t", "wilcoxon", "two-proportions")

app = typer.Typer(
    name="design",
    help="Trial design: analytic sample size and power, planning effect sizes.",
    no_args_is_help=True,
)


@app.command("sample-size")
def sample_size(
    test: str = typer.Option(..., "--test", help=f"One of: {', '.join(TESTS)}."),
    effect_size: float | None = typer.Option(
        None, "--effect-size", help="Cohen's d (dz = mean/SD of differences for paired tests)."
    ),
    p1: float | None = typer.Option(None, "--p1", help="Control proportion (two-proportions)."),
    p2: float | None = typer.Option(None, "--p2", help="Experimental proportion."),
    alpha: float = typer.Option(0.05, "--alpha", help="Family-wise significance level."),
    power: float | None = typer.Option(None, "--power", help="Target power (omit to solve)."),
    n: int | None = typer.Option(
        None, "--n", help="Enrolled control-arm size (pairs if paired); give to solve power/effect."
    ),
    ratio: float = typer.Option(1.0, "--ratio", help="Allocation n_experimental / n_control."),
    dropout: float = typer.Option(0.0, "--dropout", help="Expected fraction lost, in [0, 1)."),
    arms: int = typer.Option(2, "--arms", help="Number of arms including the shared control."),
    multiplicity: str = typer.Option(
        "bonferroni", "--multiplicity", help="bonferroni or dunnett (t test) for --arms > 2."
    ),
    ancova_rho: float | None = typer.Option(
        None, "--ancova-rho", help="Baseline-outcome correlation for an ANCOVA (t test)."
    ),
    method: str | None = typer.Option(
        None,
        "--method",
        help="mann-whitney/wilcoxon: are (default) or noether; two-proportions: chisq "
        "(default), chisq-cc, arcsine or fisher.",
    ),
    alternative: str = typer.Option("two-sided", "--alternative", help="two-sided or greater."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Solve for n (give effect and --power), power (effect and --n) or effect (--power, --n)."""
    from frailtrial.design.sample_size import sample_size as compute_sample_size

    result = compute_sample_size(
        test,
        effect_size=effect_size,
        p1=p1,
        p2=p2,
        alpha=alpha,
        power=power,
        n=n,
        ratio=ratio,
        dropout=dropout,
        arms=arms,
        multiplicity=multiplicity,
        ancova_rho=ancova_rho,
        method=method,
        alternative=alternative,
    )
    if as_json:
        emit_json(result.to_dict())
        return
    effect = (
        f"p1 = {result.p1:g}, p2 = {result.p2:.4g}"
        if result.p2 is not None
        else f"effect size = {result.effect_size:.4g}"
    )
    per_arm = ", ".join(f"{k} {v}" for k, v in result.n_per_arm.items())
    typer.echo(f"{result.test} ({result.method}), {result.alternative}, alpha {result.alpha:g}")
    typer.echo(f"{effect}; n per arm: {per_arm}; total {result.total}")
    typer.echo(f"achieved power {result.achieved_power:.4f} (solved for {result.solved_for})")
    typer.echo(f"formula: {result.formula}")
    for note in result.notes:
        typer.echo(f"note: {note}")


@app.command("effect-size")
def effect_size(
    mean1: float = typer.Option(
        ..., "--mean1", help="Mean of group 1 (e.g. the cell-therapy arm)."
    ),
    sd1: float = typer.Option(..., "--sd1", help="SD of group 1."),
    n1: int = typer.Option(..., "--n1", help="n of group 1."),
    mean2: float = typer.Option(..., "--mean2", help="Mean of group 2 (e.g. placebo)."),
    sd2: float = typer.Option(..., "--sd2", help="SD of group 2."),
    n2: int = typer.Option(..., "--n2", help="n of group 2."),
    level: float = typer.Option(0.95, "--level", help="Confidence level."),
    ci_method: str = typer.Option(
        "noncentral-t", "--ci-method", help="noncentral-t (exact) or hedges-olkin."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Cohen's d and Hedges' g with a confidence interval from a published table."""
    from frailtrial.design.effect_size import effect_size as compute_effect_size

    result = compute_effect_size(mean1, sd1, n1, mean2, sd2, n2, level, ci_method)
    if as_json:
        emit_json(result.to_dict())
        return
    pct = f"{100 * result.ci_level:g}%"
    d_lo, d_hi = result.cohens_d_ci
    g_lo, g_hi = result.hedges_g_ci
    typer.echo(f"Cohen's d {result.cohens_d:.3f} ({pct} CI {d_lo:.3f} to {d_hi:.3f})")
    typer.echo(f"Hedges' g {result.hedges_g:.3f} ({pct} CI {g_lo:.3f} to {g_hi:.3f})")
    typer.echo(result.formula)


def _floats(text: str | None, name: str) -> list[float]:
    if text is None or not text.strip():
        return []
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError(f"{name}: expected comma-separated numbers, got {text!r}") from None


def _means(text: str, n_arms: int, n_visits: int) -> tuple[tuple[float, ...], ...]:
    rows = tuple(tuple(_floats(r, "--mean-change")) for r in text.split(";"))
    if len(rows) != n_arms or any(len(r) != n_visits for r in rows):
        raise InputError(
            f"--mean-change needs {n_arms} rows (';'-separated, control first) of "
            f"{n_visits} values (','-separated), one per visit"
        )
    return rows


@app.command("power")
def power(
    n: str = typer.Option("15", "--n", help="Participants per arm; comma list for a grid."),
    effect: str | None = typer.Option(
        None,
        "--effect",
        help="Treatment - control mean change at the primary visit (outcome units); "
        "comma list for a grid.",
    ),
    mean_change: str | None = typer.Option(
        None,
        "--mean-change",
        help="Assumed mean change by arm x visit: rows ';'-separated (control first), "
        "visits ','-separated. Alternative to a single --effect.",
    ),
    visits: str = typer.Option(
        "week1,month1,month2,month3,month6", "--visits", help="Post-baseline visits, in order."
    ),
    primary_visit: str | None = typer.Option(
        None, "--primary-visit", help="Visit of the primary contrast (default: the last)."
    ),
    arms: int = typer.Option(2, "--arms", help="Arms including the control."),
    sd: float = typer.Option(1.0, "--sd", help="SD of the outcome at every time point."),
    rho: float = typer.Option(0.6, "--rho", help="Correlation parameter over time points."),
    correlation: str = typer.Option("ar1", "--correlation", help="ar1 or cs (baseline included)."),
    dropout: str = typer.Option(
        "0", "--dropout", help="Probability of leaving before each visit; comma list for a grid."
    ),
    dropout_by_visit: str | None = typer.Option(
        None,
        "--dropout-by-visit",
        help="One leaving probability per visit (comma list), instead of a single --dropout.",
    ),
    alpha: float = typer.Option(0.05, "--alpha", help="Two-sided significance level."),
    sims: int = typer.Option(1000, "--sims", help="Simulated trials per grid point."),
    null_sims: int | None = typer.Option(
        None,
        "--null-sims",
        help="Trials under no effect for the type I error (default --sims; 0 skips).",
    ),
    seed: int = typer.Option(1, "--seed", help="Random seed (results are reproducible)."),
    workers: int = typer.Option(
        1, "--workers", help="Local processes fitting chunks of trials in parallel."
    ),
    plot: Path | None = typer.Option(
        None, "--plot", help="Write the power curves (.png, .svg or .pdf)."
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="dask.distributed scheduler ADDRESS to run the grid on."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Simulated power of the MMRM primary analysis, type I error and effect distribution."""
    from frailtrial.design.power_plot import plot_power_curves
    from frailtrial.design.simulated_power import (
        ANALYSIS,
        Scenario,
        grid_scenarios,
        power_grid,
        ramp_means,
    )
    from frailtrial.figure_files import check_plot_path

    visit_names = tuple(v.strip() for v in visits.split(",") if v.strip())
    n_given = _floats(n, "--n")
    if not n_given or not all(v.is_integer() for v in n_given):
        raise InputError(f"--n: expected whole numbers, got {n!r}")
    n_values = [int(v) for v in n_given]
    effects = _floats(effect, "--effect")
    drops = _floats(dropout, "--dropout")
    by_visit = tuple(_floats(dropout_by_visit, "--dropout-by-visit"))
    if by_visit and len(drops) > 1:
        raise InputError("give either a --dropout grid or --dropout-by-visit, not both")
    primary = primary_visit or (visit_names[-1] if visit_names else None)
    if arms < 2:
        raise InputError(f"--arms must be >= 2, got {arms}")
    if mean_change is not None:
        means = _means(mean_change, arms, len(visit_names))
    elif effects:
        if primary not in visit_names:
            raise InputError(f"primary visit {primary!r} is not one of {', '.join(visit_names)}")
        means = tuple(tuple(r) for r in ramp_means(arms, visit_names, effects[0], primary))
    else:
        raise InputError("give --effect (difference at the primary visit) or --mean-change")
    base = Scenario(
        n_per_arm=tuple(n_values[0] for _ in range(arms)),
        visits=visit_names,
        mean_change=means,
        sd=sd,
        rho=rho,
        correlation=correlation,
        dropout=by_visit or ((drops[0],) if drops else (0.0,)),
        primary_visit=primary,
        alpha=alpha,
    )
    if plot is not None:
        check_plot_path(plot)
    if workers < 1:
        raise InputError(f"--workers must be >= 1, got {workers}")
    points = grid_scenarios(base, n_values, effects or None, drops if len(drops) > 1 else None)
    per_point = sims + (sims if null_sims is None else null_sims)
    client = _dask_client(scheduler) if scheduler else None
    try:
        with _progress(len(points) * per_point) as advance:
            results = power_grid(
                base,
                n_values,
                effects or None,
                drops if len(drops) > 1 else None,
                n_sims=sims,
                seed=seed,
                null_sims=null_sims,
                progress=advance,
                client=client,
                workers=workers,
            )
    finally:
        if client is not None:
            client.close()
    written = plot_power_curves(results, plot, alpha) if plot is not None else None
    doc = {
        "analysis": ANALYSIS,
        "seed": seed,
        "scheduler": scheduler,
        "plot": str(written) if written else None,
        "points": [
            {"n_per_arm": p.n_per_arm, "effect": p.effect, "dropout": p.dropout}
            | p.result.to_dict()
            for p in results
        ],
    }
    if as_json:
        emit_json(doc)
        return
    typer.echo(ANALYSIS)
    for p in results:
        r = p.result
        t1 = (
            f", type I error {r.type1_error[0]:.3f} (MC SE {r.type1_mc_se[0]:.3f})"
            if r.type1_error is not None and r.type1_mc_se is not None
            else ""
        )
        e = r.estimated_effect[0]
        typer.echo(
            f"n {p.n_per_arm}/arm, effect {p.effect:g}, dropout {p.dropout:g}: power "
            f"{r.power[0]:.3f} (MC SE {r.power_mc_se[0]:.3f}){t1}; estimate mean {e.mean:.3f}, "
            f"SD {e.sd:.3f}, 95% range {e.quantiles['2.5%']:.3f} to {e.quantiles['97.5%']:.3f}"
        )
    if written:
        typer.echo(f"plot: {written}")


def _dask_client(address: str) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise InputError(
            "--scheduler needs dask.distributed: pip install 'frailtrial[dask]'"
        ) from None
    try:
        return Client(address, timeout="10s")
    except OSError as exc:
        raise InputError(f"cannot reach the dask scheduler at {address!r}: {exc}") from None


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None] | None]:
    """A Rich progress bar on a terminal's stderr; nothing when piped."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "simulating trials",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("sims", total=total)
        yield lambda k: bar.advance(task, k)
