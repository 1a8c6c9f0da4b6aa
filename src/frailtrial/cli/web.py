"""``frailtrial web``: passwords (with the password rules), deactivation and API tokens for
the web EDC."""

from __future__ import annotations

import sys

import typer

from frailtrial.errors import InputError

app = typer.Typer(
    help="Web EDC accounts: set passwords, deactivate, issue API tokens.", no_args_is_help=True
)
DB = typer.Option(None, "--db", help="Database URL (sqlite:///FILE or postgresql://...).")


@app.command("set-password")
def set_password(
    username: str = typer.Argument(..., help="User name (members are created by edc init)."),
    db: str | None = DB,
) -> None:
    """Set a user's password, read from stdin (one line) or asked twice on a terminal."""
    from frailtrial.web.config import setup

    setup(db)
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise InputError(f"no user {username!r} in this store")
    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise InputError("password refused: " + " ".join(exc.messages)) from None
    user.set_password(password)
    user.save()
    typer.echo(f"password of {username} set")


@app.command("deactivate")
def deactivate(
    username: str = typer.Argument(..., help="User name."),
    reason: str = typer.Option(..., "--reason", help="Why the account ends (audited)."),
    db: str | None = DB,
) -> None:
    """End an account on every trial of the store: no login, session or API token; its
    audit rows stay."""
    from frailtrial.web.config import setup

    setup(db)
    from frailtrial.edc.services.people import deactivate_account

    deactivate_account(username, reason)
    typer.echo(f"account {username} deactivated")


@app.command("token")
def token(
    username: str = typer.Argument(..., help="User name."),
    role: str | None = typer.Option(None, "--role", help="Role when the user holds several."),
    trial: str | None = typer.Option(
        None, "--trial", help="Trial name when the store holds several."
    ),
    db: str | None = DB,
) -> None:
    """Issue an API token for the user's membership; prints the token (shown only once)."""
    from frailtrial.web.config import setup

    setup(db)
    from frailtrial.edc.models import Membership
    from frailtrial.edc.services.trials import get_trial
    from frailtrial.web.security import issue_token

    the_trial = get_trial(trial)
    held = list(Membership.objects.filter(trial=the_trial, user__username=username))
    members = [m for m in held if role in (None, m.role)]
    roles = ", ".join(sorted(m.role for m in held))
    where = f"user {username!r} in trial {the_trial.name!r}"
    if not held:
        raise InputError(f"{where} holds no role")
    if not members:
        raise InputError(f"{where} does not hold the role {role!r} (roles: {roles})")
    if len(members) > 1:
        raise InputError(f"{where} holds several roles ({roles}); give --role ROLE")
    typer.echo(issue_token(members[0]))
