"""``frailtrial stats sensitivity``: reference-based / delta-adjusted multiple imputation."""

from __future__ import annotations

from pathlib import Path

import typer

from frailtrial.cli.output import emit_json, fail
from frailtrial.errors import ConvergenceError, InputError

METHOD_HELP = "condmean-jackknife, condmean-bootstrap or approx-bayes"
STRATEGY_HELP = "MAR, TP (treatment policy), JR, CR, CIR or LMCF"


def sensitivity_command(
    data: Path = typer.Option(..., "--data", help="CSV file, one row per subject and visit."),
    ice: Path | None = typer.Option(
        None,
        "--ice",
        help="CSV of intercurrent events: the subject column, the visit column (first visit "
        "affected) and optionally strategy (else --strategy).",
    ),
    formula: str = typer.Option(
        ..., "--formula", help='Imputation MMRM, e.g. "CHANGE ~ BASVAL*VISIT + THERAPY*VISIT".'
    ),
    subject: str = typer.Option(..., "--subject", help="Subject identifier column."),
    visit: str = typer.Option(..., "--visit", help="Visit column (natural order unless --levels)."),
    group: str = typer.Option(..., "--group", help="Treatment group column."),
    levels: list[str] = typer.Option(
        [], "--levels", metavar="COLUMN=L1,L2,...", help="Order of a factor's levels; repeatable."
    ),
    reference: str = typer.Option(
        ..., "--reference", help="Group whose distribution JR/CR/CIR borrow; effects are vs it."
    ),
    analysis: str = typer.Option(
        ..., "--analysis", help='ANCOVA at each visit, e.g. "CHANGE ~ THERAPY + BASVAL".'
    ),
    method: str = typer.Option("condmean-jackknife", "--method", help=METHOD_HELP + "."),
    strategy: str = typer.Option(
        "MAR", "--strategy", help=f"Strategy of ICEs without one: {STRATEGY_HELP}."
    ),
    delta: float = typer.Option(
        0.0, "--delta", help="Added to every imputed value of the non-reference groups."
    ),
    samples: int | None = typer.Option(
        None, "--samples", help="Bootstrap samples (default 1000) or imputations (default 20)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (bootstrap, approx-bayes)."),
    conf_level: float = typer.Option(0.95, "--conf-level", help="Confidence level."),
    bootstrap_ci: str = typer.Option(
        "percentile", "--bootstrap-ci", help="condmean-bootstrap CI: percentile or normal."
    ),
    covariance: str = typer.Option("us", "--covariance", help="Imputation MMRM covariance."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Multiple imputation of missing visits under MAR, reference-based (JR, CR, CIR) or
    LMCF assumptions, with a delta adjustment; effects per visit pooled as R rbmi."""
    from frailtrial.cli.stats import _print_tables, _read_csv, _table
    from frailtrial.stats.levels import declare_levels, parse_levels
    from frailtrial.stats.sensitivity import run_sensitivity

    try:
        declared = parse_levels(levels)
        text = list(dict.fromkeys([subject, visit, group, *declared]))
        frame = declare_levels(_read_csv(data, text), declared)
        events = None
        if ice is not None:
            if not ice.is_file():
                raise InputError(f"--ice {ice}: no such file")
            events = _read_csv(ice, [subject, visit, "strategy"])
        result = run_sensitivity(
            frame,
            formula=formula,
            subject=subject,
            visit=visit,
            group=group,
            reference=reference,
            analysis=analysis,
            ice=events,
            strategy=strategy,
            method=method,
            delta=delta,
            samples=samples,
            seed=seed,
            conf_level=conf_level,
            bootstrap_ci=bootstrap_ci,
            covariance=covariance,
        )
    except (InputError, ConvergenceError) as exc:
        fail(str(exc))
    doc = result.to_dict()
    if as_json:
        emit_json(doc)
        return
    header = (
        f"Sensitivity analysis: {doc['method']} ({doc['pooling']}), {doc['n_subjects']} "
        f"subjects, {doc['n_samples']} samples, delta {doc['delta']}; reference "
        f"{doc['reference']}; intercurrent events: "
        + (", ".join(f"{k} {v}" for k, v in doc["intercurrent_events"].items()) or "none")
    )
    _print_tables(
        header, [_table("Effects", doc["effects"]), _table("Least-squares means", doc["lsmeans"])]
    )
