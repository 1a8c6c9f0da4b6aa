"""``frailtrial stats``: statistical models on a CSV file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from frailtrial.cli.output import emit_json, fail
from frailtrial.cli.sensitivity import sensitivity_command
from frailtrial.errors import ConvergenceError, InputError
from frailtrial.stats.model_options import COVARIANCE_STRUCTURES, DF_METHODS, METHODS

if TYPE_CHECKING:  # pandas, rich and the MMRM load only when the command runs
    import pandas as pd
    from rich.table import Table

app = typer.Typer(
    help="Statistical models: MMRM on a long-format CSV (one row per subject x visit)."
)


def _read_csv(path: Path, text_columns: list[str] | None = None) -> pd.DataFrame:
    """The CSV file; ``text_columns`` are read as written (``--levels`` compares text)."""
    import pandas as pd

    if not path.is_file():
        raise InputError(f"--data {path}: no such file")
    try:
        header = pd.read_csv(path, nrows=0).columns
        dtype = {c: str for c in text_columns or [] if c in header}
        return pd.read_csv(path, dtype=dtype)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"--data {path}: not a readable CSV file ({exc})") from exc


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}"
    return str(value)


def _table(title: str, rows: list[dict[str, object]]) -> Table:
    """A table whose cells are never cut: columns do not wrap or shorten their text."""
    from rich.table import Table

    table = Table(title=title)
    if rows:
        for col in rows[0]:
            table.add_column(str(col), justify="right", no_wrap=True)
        for row in rows:
            table.add_row(*(_fmt(v) for v in row.values()))
    return table


def _print_tables(header: str, tables: list[Table]) -> None:
    """Print at the terminal's width, widened to the widest table (the terminal, or the
    file when piped, then holds whole lines instead of cut cells)."""
    from rich.console import Console

    measure = Console(width=10_000)
    needed = max(
        measure.measure(t, options=measure.options.update(width=10_000)).maximum for t in tables
    )
    console = Console()
    console = Console(width=max(console.width, needed), soft_wrap=True)
    console.print(header)
    for table in tables:
        console.print(table)


@app.command("mmrm")
def mmrm_command(
    data: Path = typer.Option(..., "--data", help="CSV file, one row per subject and visit."),
    formula: str = typer.Option(
        ..., "--formula", help='Fixed effects, e.g. "FEV1 ~ ARMCD*AVISIT".'
    ),
    subject: str = typer.Option(..., "--subject", help="Subject identifier column."),
    visit: str = typer.Option(
        ...,
        "--visit",
        help="Visit column; visits in natural order (week2 < week4 < week12) unless --levels.",
    ),
    levels: list[str] = typer.Option(
        [],
        "--levels",
        metavar="COLUMN=L1,L2,...",
        help="Order of a factor's levels, COLUMN=L1,L2,... (first = reference, as R's factor "
        "levels); repeatable. Without it: natural order.",
    ),
    covariance: str = typer.Option(
        "us", "--covariance", help=f"Covariance structure: {', '.join(COVARIANCE_STRUCTURES)}."
    ),
    method: str = typer.Option("reml", "--method", help=f"{' or '.join(METHODS)}."),
    df: str = typer.Option(
        "satterthwaite",
        "--df",
        help=f"Degrees of freedom: {', '.join(DF_METHODS)} (also kr, kr-linear).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Fit a mixed model for repeated measures and print estimates, LS means and contrasts."""
    from frailtrial.stats.levels import declare_levels, parse_levels
    from frailtrial.stats.mmrm import mmrm

    try:
        declared = parse_levels(levels)
        frame = declare_levels(_read_csv(data, list(declared)), declared)
        fit = mmrm(frame, formula, subject, visit, covariance=covariance, method=method)
        factors = [visit, *(f for f in fit.frame.factors if f != visit)]
        for column in declared:
            if column not in factors:
                raise InputError(
                    f"--levels {column}=...: {column} is not a factor of the model "
                    f"(factors: {', '.join(factors)})"
                )
        doc = fit.to_dict(df=df)
    except (InputError, ConvergenceError) as exc:
        fail(str(exc))
    if as_json:
        emit_json(doc)
        return
    header = (
        f"MMRM {doc['covariance_structure']} {doc['method'].upper()}, df {doc['df_method']}: "
        f"{doc['n_subjects']} subjects, {doc['n_obs']} observations; logLik {doc['loglik']:.4f}, "
        f"AIC {doc['aic']:.4f}, BIC {doc['bic']:.4f}; converged {doc['converged']} "
        f"({doc['convergence']['iterations']} iterations)\nLevels (first = reference): "
        + "; ".join(f"{k}: {', '.join(v)}" for k, v in doc["levels"].items() if v)
    )
    visits = doc["covariance"]["visits"]
    cov_rows = [
        {"visit": v, **dict(zip(visits, row, strict=True))}
        for v, row in zip(visits, doc["covariance"]["matrix"], strict=True)
    ]
    _print_tables(
        header,
        [
            _table("Coefficients", doc["coefficients"]),
            _table("Covariance", cov_rows),
            _table("Least-squares means", doc["lsmeans"]),
            _table("Treatment contrasts", doc["contrasts"]),
        ],
    )


app.command("sensitivity")(sensitivity_command)
