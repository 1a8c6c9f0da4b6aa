"""``frailtrial audit``: verify the store against its keyed audit trail; write signed anchors.

Exit status of ``verify``: 0 intact; 1 tampered (each finding names table, row and field);
2 bad input (no store, no audit key, an unreadable or foreign anchor).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer

from frailtrial.cli.output import emit_json
from frailtrial.errors import InputError

app = typer.Typer(help="The audit trail of the trial data store.", no_args_is_help=True)
DB = typer.Option(
    None, "--db", help="Database URL (default: DATABASE_URL, else frailtrial.sqlite3 here)."
)


def open_store(db: str | None) -> str:
    """Open an existing store without migrating it (reading must not create tables)."""
    from frailtrial.edc import database_url, setup

    url = database_url(db)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise InputError(f"--db {url}: no such store file; give the store's URL or file")
    setup(url, migrate=False)
    from django.db import connection

    if "edc_auditentry" not in connection.introspection.table_names():
        raise InputError(
            f"--db {url}: not a frailtrial data store (no audit table); "
            "create one with `frailtrial edc init`"
        )
    return url


@app.command()
def verify(
    db: str | None = DB,
    anchor: list[Path] = typer.Option(
        [], "--anchor", help="An anchor file kept elsewhere (repeatable)."
    ),
    json_: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Check the keyed chain, the anchors and the current rows; exit 1 naming each finding."""
    open_store(db)
    from frailtrial.edc.services.integrity import verify_store

    report = verify_store(anchor)
    if json_:
        emit_json(report.__dict__ | {"findings": [asdict(f) for f in report.findings]})
    elif report.ok:
        typer.echo(f"audit trail intact: {report.rows} rows, head {report.head}")
    else:
        if report.broken_seq is not None:
            typer.echo(f"audit trail broken at row {report.broken_seq}: {report.problem}", err=True)
        for finding in report.findings:
            typer.echo(f"tampered: {finding}", err=True)
    if not report.ok:
        raise typer.Exit(code=1)


@app.command("anchor")
def anchor_command(
    db: str | None = DB,
    out: Path | None = typer.Option(
        None, "--out", help="Also write the anchor here (to keep away from the store)."
    ),
    json_: bool = typer.Option(False, "--json", help="Print the anchor as JSON."),
) -> None:
    """Sign the audit head (sequence, hash, time) with the audit key and keep it."""
    open_store(db)
    from frailtrial.edc.services.anchor import write_anchor

    anchored, paths = write_anchor(out)
    if json_:
        emit_json(asdict(anchored) | {"files": [str(p) for p in paths]})
    else:
        typer.echo(
            f"anchored row {anchored.seq} (hash {anchored.hash[:16]}...) in "
            + ", ".join(str(p) for p in paths)
        )
