"""``frailtrial stats``: statistical models on a CSV file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from frailtrial.cli.output import emit_json, fail
from frailtrial.cli.sensitivity import sensitivity_command
from frailtrial.errors import ConvergenceError, InputError
from frailtrial.stats.model_options import (
    CONTRAST_ADJUSTMENTS,
    COVARIANCE_STRUCTURES,
    DF_METHODS,
    METHODS,
)

if TYPE_CHECKING:  # pandas, rich and the MMRM load only when the command runs
    import pandas as pd
    from rich.table import Table

    from frailtrial.stats.mmrm import MmrmFit

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
    df: str | None = typer.Option(
        None,
        "--df",
        help=f"Degrees of freedom: {', '.join(DF_METHODS)} (also kr, kr-linear). Default: "
        "satterthwaite; between-within with an empirical --vcov (SAS's default).",
    ),
    vcov: str = typer.Option(
        "model",
        "--vcov",
        help="Covariance of the fixed effects: model, or empirical: sandwich (SAS EMPIRICAL), "
        "jackknife, bias-reduced (R mmrm's Empirical-Jackknife, Empirical-Bias-Reduced).",
    ),
    conf_level: float = typer.Option(
        0.95, "--conf-level", help="Level of every confidence interval, in (0, 1)."
    ),
    type3: bool = typer.Option(False, "--type3", help="Add type III F tests of every term."),
    contrast: list[str] = typer.Option(
        [],
        "--contrast",
        metavar="SPEC",
        help="Named contrasts of the treatment's LS means per visit: pairwise, trt.vs.ctrl, "
        "or 'LEVEL - LEVEL'; repeatable.",
    ),
    adjust: str = typer.Option(
        "none",
        "--adjust",
        help="Multiplicity adjustment of --contrast within each visit: "
        f"{', '.join(CONTRAST_ADJUSTMENTS)}.",
    ),
    compare: str | None = typer.Option(
        None,
        "--compare",
        metavar="COVARIANCE",
        help="Also fit this covariance structure and test the nested pair by likelihood ratio.",
    ),
    predict_out: Path | None = typer.Option(
        None, "--predict", metavar="FILE.csv", help="Write marginal and conditional predictions."
    ),
    residuals_out: Path | None = typer.Option(
        None, "--residuals", metavar="FILE.csv", help="Write marginal and conditional residuals."
    ),
    diagnostics_out: Path | None = typer.Option(
        None,
        "--diagnostics",
        metavar="FILE.png",
        help="Write a residual diagnostics figure (.png, .svg or .pdf).",
    ),
    summary: bool = typer.Option(
        False, "--summary", help="Print the fit as R's summary(mmrm_fit) lays it out."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Fit a mixed model for repeated measures and print estimates, LS means and contrasts."""
    from frailtrial.stats.levels import declare_levels, parse_levels
    from frailtrial.stats.mmrm import mmrm
    from frailtrial.stats.mmrm_sandwich import vcov_method

    try:
        if summary and as_json:
            raise InputError("--summary and --json: choose one output")
        if summary and (type3 or contrast or compare is not None):
            raise InputError(
                "--summary prints R's summary of the fit only; --type3, --contrast and "
                "--compare go to the tables or --json: drop --summary or them"
            )
        if adjust != "none" and not contrast:
            raise InputError("--adjust needs --contrast")
        vcov = vcov_method(vcov)
        df = df or ("satterthwaite" if vcov == "model" else "between_within")
        for path in (predict_out, residuals_out, diagnostics_out):
            _check_output(path, data)
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
        doc = {} if summary else fit.to_dict(df=df, vcov=vcov, conf_level=conf_level)
        if type3:
            doc["type3"] = _records(fit.type3(df, vcov))
        if contrast:
            doc["named_contrasts"] = [
                {
                    "spec": spec,
                    "adjust": adjust,
                    "rows": _records(
                        fit.contrast(spec, adjust=adjust, df=df, vcov=vcov, conf_level=conf_level)
                    ),
                }
                for spec in contrast
            ]
        if compare is not None:
            doc["lr_test"] = _lr_test(fit, frame, compare)
        _write_extras(fit, predict_out, residuals_out, diagnostics_out)
    except (InputError, ConvergenceError) as exc:
        fail(str(exc))
    if summary:
        typer.echo(fit.summary(df, vcov))
        return
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
    tables = [
        _table("Coefficients", doc["coefficients"]),
        _table("Covariance", cov_rows),
        _table("Least-squares means", doc["lsmeans"]),
        _table("Treatment contrasts", doc["contrasts"]),
    ]
    if "type3" in doc:
        tables.append(_table("Type III tests", doc["type3"]))
    for named in doc.get("named_contrasts", []):
        tables.append(_table(f"Contrasts {named['spec']} (adjust {adjust})", named["rows"]))
    if "lr_test" in doc:
        tables.append(_table("Likelihood-ratio test", [doc["lr_test"]]))
    if vcov != "model":
        header += f"\nFixed-effects covariance: {vcov} (empirical); df {doc['df_method']}"
    if conf_level != 0.95:
        header += f"\nConfidence intervals: {conf_level:g}"
    _print_tables(header, tables)


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _check_output(path: Path | None, data: Path) -> None:
    """An output file goes into an existing folder and never over the input data."""
    if path is None:
        return
    if not path.parent.is_dir():
        raise InputError(f"{path}: the folder {path.parent} does not exist")
    if path.exists() and data.exists() and path.resolve() == data.resolve():
        raise InputError(f"{path}: would overwrite the --data file; choose another name")


def _lr_test(fit: MmrmFit, frame: pd.DataFrame, other: str) -> dict[str, object]:
    """Fit ``other`` too and test the nested pair (whichever contains the other)."""
    from frailtrial.stats.mmrm import mmrm
    from frailtrial.stats.mmrm_compare import nested
    from frailtrial.stats.model_options import covariance_structure

    other = covariance_structure(other)
    mine = fit.structure.name
    if not (nested(other, mine) or nested(mine, other)):
        raise InputError(
            f"--compare {other}: not nested with --covariance {mine}; nested pairs are a "
            "special case and its generalisation (e.g. cs and us, ar1 and ar1h)"
        )
    alt = mmrm(frame, fit.frame.formula, fit.frame.subject, fit.frame.visit, other, fit.method)
    return alt.lr_test(fit) if nested(other, mine) else fit.lr_test(alt)


def _write_extras(
    fit: MmrmFit, predict_out: Path | None, residuals_out: Path | None, diag: Path | None
) -> None:
    if predict_out is not None:
        fit.predict().to_csv(predict_out, index=False)
    if residuals_out is not None:
        fit.residuals().to_csv(residuals_out, index=False)
    if diag is not None:
        from frailtrial.stats.mmrm_predict import diagnostics_plot

        diagnostics_plot(fit, str(diag))


app.command("sensitivity")(sensitivity_command)
