"""``frailtrial audit verify``: recompute the audit trail's hash chain."""

from __future__ import annotations

from pathlib import Path

import typer

from frailtrial.cli.output import emit_json
from frailtrial.errors import InputError

app = typer.Typer(help="The audit trail of the trial data store.", no_args_is_help=True)


@app.command()
def verify(
    db: str | None = typer.Option(
        None,
        "--db",
        help="Database URL (default: DATABASE_URL, else frailtrial.sqlite3 here).",
    ),
    json_: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Check every link of the audit chain; exit 1 naming the first altered or removed row."""
    from frailtrial.edc import database_url, setup

    url = database_url(db)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise InputError(f"--db {url}: no such store file; give the store's URL or file")
    setup(url, migrate=False)  # verifying reads only: no migration, no new tables
    from django.db import connection

    from frailtrial.edc.services.audit import verify_chain

    if "edc_auditentry" not in connection.introspection.table_names():
        raise InputError(
            f"--db {url}: not a frailtrial data store (no audit table); "
            "create one with `frailtrial edc init`"
        )
    report = verify_chain()
    if json_:
        emit_json(report.__dict__)
    elif report.ok:
        typer.echo(f"audit trail intact: {report.rows} rows, head {report.head}")
    else:
        typer.echo(f"audit trail broken at row {report.broken_seq}: {report.problem}", err=True)
    if not report.ok:
        raise typer.Exit(code=1)
