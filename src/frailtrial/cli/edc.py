"""``frailtrial edc``: create a trial in a store, import its list, lock, export, back up, restore.

Every command takes ``--db URL`` (default: ``DATABASE_URL``, else ``frailtrial.sqlite3`` here).
A refused permission (role or blinding) is one line on stderr and exit status 3.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer

from frailtrial.cli.output import emit_json

app = typer.Typer(
    help="The trial data store: create, import the list, lock, export, back up, restore.",
    no_args_is_help=True,
)
DB = typer.Option(None, "--db", help="Database URL (sqlite:///FILE or postgresql://...).")
TRIAL = typer.Option(None, "--trial", help="Trial name when the store holds several.")
F = TypeVar("F", bound=Callable[..., Any])


def denied_exits_3(func: F) -> F:
    """Turn AccessDenied into one line on stderr and exit status 3."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from frailtrial.edc.errors import AccessDenied  # the edc package loads when run

        try:
            return func(*args, **kwargs)
        except AccessDenied as exc:
            typer.echo(f"error: permission denied: {exc}", err=True)
            raise typer.Exit(code=3) from None

    return wrapper  # type: ignore[return-value]


def _member(db: str | None, trial: str | None, as_user: str | None, role: str) -> Any:
    """Open the store and find the acting member: ``as_user``, else the first with ``role``."""
    from frailtrial.edc import setup

    setup(db)
    from frailtrial.edc.services.trials import find_member

    return find_member(trial, as_user, role)


@app.command()
@denied_exits_3
def init(
    protocol: str = typer.Option(..., "--protocol", help="Built-in name or YAML file."),
    db: str | None = DB,
    name: str | None = typer.Option(None, "--name", help="Trial name (default: protocol name)."),
    json_: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Create a trial from a protocol, with its sites and one member per role (user = role)."""
    from frailtrial.edc import setup
    from frailtrial.protocol import load

    proto = load(protocol)
    url = setup(db)
    from frailtrial.edc.models import ROLES
    from frailtrial.edc.services import trials

    trial = trials.create_trial(proto, name)
    for role in ROLES:
        trials.add_member(trial, role, role)
    out = {
        "trial": trial.name,
        "protocol_sha256": trial.protocol_sha256,
        "db": url,
        "sites": [s.code for s in trial.sites.all()],
        "members": list(ROLES),
    }
    if json_:
        emit_json(out)
    else:
        typer.echo(
            f"trial {trial.name} created in {url} (protocol SHA-256 "
            f"{trial.protocol_sha256[:16]}...)"
        )


@app.command("import-list")
@denied_exits_3
def import_list(
    file: Path = typer.Option(..., "--list", help="Randomization list CSV."),
    sha256: str = typer.Option(..., "--commitment", help="The published SHA-256 of the file."),
    db: str | None = DB,
    trial: str | None = TRIAL,
    as_user: str | None = typer.Option(None, "--as", help="Acting user (default: admin)."),
) -> None:
    """Import the randomization list after checking it against its commitment (a list from
    a weak seed, for rehearsal, is refused)."""
    admin = _member(db, trial, as_user, "admin")
    from frailtrial.edc.services import randomization

    n = randomization.import_list(admin, file, sha256)
    typer.echo(f"{n} list entries imported (commitment verified)")


@app.command()
@denied_exits_3
def lock(
    reason: str = typer.Option(..., "--reason", help="Why the database is locked."),
    db: str | None = DB,
    trial: str | None = TRIAL,
    unblind_statistician: bool = typer.Option(
        False, "--unblind-statistician", help="Also unblind the statistician for analysis."
    ),
    accept: list[str] = typer.Option(
        [],
        "--accept",
        help="Accept a pre-lock checklist item: KEY=REASON (repeat for each item).",
    ),
    lock_date: str | None = typer.Option(
        None, "--lock-date", help="No trial date may lie after it (YYYY-MM-DD; default today)."
    ),
) -> None:
    """Lock the database (nothing changes afterwards); optionally unblind the statistician.

    Refused (exit 2, one line naming each item) while the pre-lock checklist has open items:
    unacknowledged SAEs, open queries, missing CRFs, dates after the lock date; accept each
    with ``--accept KEY=REASON``."""
    from frailtrial.edc.services.common import parse_date
    from frailtrial.errors import InputError

    accepted: dict[str, str] = {}
    for item in accept:
        key, sep, why = item.partition("=")
        if not sep or not key.strip() or not why.strip():
            raise InputError(f"--accept {item!r}: expected KEY=REASON with both given")
        accepted[key.strip()] = why
    day = parse_date(lock_date, "--lock-date") if lock_date else None
    admin = _member(db, trial, None, "admin")
    from frailtrial.edc.services import trials

    trials.lock(admin, reason, accepted, day)
    typer.echo(f"trial {admin.trial.name} locked")
    if unblind_statistician:
        statistician = trials.find_member(trial, None, "statistician")
        trials.unblind_statistician(admin, statistician, reason)
        typer.echo("statistician unblinded for analysis")


@app.command()
@denied_exits_3
def export(
    out: Path = typer.Option(..., "--out", help="Folder to write the export into."),
    db: str | None = DB,
    trial: str | None = TRIAL,
    as_user: str | None = typer.Option(
        None, "--as", help="Acting user (default: the statistician); blinded roles get no arm."
    ),
    formats: str | None = typer.Option(
        None,
        "--format",
        help="Formats to write, comma-separated, of csv (the tidy dataset), spss, sas, sdtm "
        "(default: all).",
    ),
    json_: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Write the tidy trial dataset (csv), SPSS .sav, SAS .xpt and/or SDTM-style domains."""
    from frailtrial.edc.services.exports.formats import FORMATS, parse_formats

    # a bad name fails before the store is opened
    asked = tuple(FORMATS) if formats is None else parse_formats(formats)
    actor = _member(db, trial, as_user, "statistician")
    from frailtrial.edc.services.exports.run import export as exporting

    summary = exporting(actor, out, asked)
    if json_:
        emit_json(summary)
        return
    note = " (blinded: no arms)" if summary["blinded"] else ""
    typer.echo(
        f"{summary['participants']} participants, {summary['measurements']} measurements, "
        f"{summary['adverse_events']} adverse events -> {out}{note}"
    )


@app.command()
def backup(
    out: Path = typer.Option(..., "--out", help="The backup file to write (never overwritten)."),
    db: str | None = DB,
) -> None:
    """Write a consistent copy of the running store (SQLite backup API, or pg_dump)."""
    from frailtrial.cli.audit import open_store

    url = open_store(db)
    from frailtrial.edc.services import backup as backups
    from frailtrial.edc.services.audit import key_path

    backups.backup(url, out)
    typer.echo(
        f"backup of {url} written to {out}; the audit key {key_path(url)} is not in it: "
        "back it up separately"
    )


@app.command()
def restore(
    file: Path = typer.Argument(..., help="A file written by `frailtrial edc backup`."),
    db: str | None = DB,
    replace: bool = typer.Option(
        False, "--replace", help="Restore over an existing SQLite store (kept aside first)."
    ),
) -> None:
    """Restore a backup after verifying its audit trail; warn if it is older than an anchor.

    Exit 1 when the backup's trail is broken or its rows differ from it (nothing restored
    on SQLite); 2 for bad input, including an existing store without --replace.
    """
    from frailtrial.edc import database_url
    from frailtrial.edc.services import backup as backups

    try:
        done = backups.restore(file, database_url(db), replace)
    except backups.TamperedBackup as exc:
        typer.echo(f"error: backup {file} fails the audit check: {exc}", err=True)
        raise typer.Exit(code=1) from None
    if done.kept_aside:
        typer.echo(f"the replaced store is kept in {done.kept_aside}")
    for finding in done.older_than_anchors:
        typer.echo(f"warning: the restored store is older than an anchor: {finding}", err=True)
    typer.echo(f"restored {file} into {done.db}: audit trail of {done.rows} rows verified")
