"""``frailtrial protocol``: list, show and validate trial protocols."""

from __future__ import annotations

import sys

import typer

from frailtrial.cli.output import emit_json

# the protocol models (pydantic, the instrument registry) and rich load inside each command
app = typer.Typer(help="List, show and validate trial protocols.", no_args_is_help=True)


@app.command("list")
def list_() -> None:
    """List the built-in protocols."""
    from rich.console import Console
    from rich.table import Table

    from frailtrial.protocol import builtin_names, load

    console = Console()
    table = Table("name", "registry", "phase", "arms", "title")
    for name in builtin_names():
        p = load(name)
        arms = ":".join(str(a.ratio) for a in p.arms) + " " + ", ".join(p.arm_names)
        table.add_row(name, p.identity.registry_id, p.identity.phase, arms, p.identity.short_title)
    console.print(table)


@app.command()
def show(
    protocol: str = typer.Argument(..., help="Built-in name or YAML file."),
    json_: bool = typer.Option(False, "--json", help="Print the whole protocol as JSON."),
) -> None:
    """Show a protocol: arms, doses, visits, endpoints and analysis plan."""
    from rich.console import Console
    from rich.table import Table

    from frailtrial.protocol import load

    p = load(protocol)
    if json_:
        emit_json(p.model_dump(mode="json"))
        return
    console = Console()
    console.print(
        f"[bold]{p.identity.short_title}[/bold] ({p.identity.registry_id}, phase "
        f"{p.identity.phase}) — {p.identity.design}"
    )
    arms = Table("arm", "role", "ratio", "dose", "infusion days", title="Arms")
    for a in p.arms:
        d = a.dose
        dose = (
            f"{d.cells_per_kg:.3g} cells/kg"
            if d.kind == "per_kg"
            else f"{d.cells:.3g} cells"
            if d.kind == "fixed"
            else d.product
        )
        arms.add_row(a.label, a.role, str(a.ratio), dose, ", ".join(map(str, d.infusion_days)))
    console.print(arms)
    r = p.randomization
    console.print(
        f"Randomization: {r.scheme}, block sizes {r.block_sizes or '-'}, "
        f"strata {r.strata or 'none'}"
    )
    console.print(f"Blinded roles: {', '.join(p.blinding.blinded_roles)}")
    visits = Table("visit", "day", "window", "instruments", title="Visits")
    for v in p.visits:
        visits.add_row(
            v.label, str(v.day), f"-{v.window_before}/+{v.window_after}", ", ".join(v.instruments)
        )
    console.print(visits)
    eps = Table("endpoint", "kind", "variable", "visit", "measure", "benefit", title="Endpoints")
    for e in p.endpoints:
        eps.add_row(e.name, e.kind, e.variable, e.visit, e.measure, e.direction)
    console.print(eps)
    for note in p.assumptions:
        console.print(f"[dim]assumption:[/dim] {note}")


@app.command()
def validate(file: str = typer.Argument(..., help="Protocol YAML file to check.")) -> None:
    """Check a protocol file; every problem is printed with its path."""
    from frailtrial.protocol import ProtocolError, load

    try:
        p = load(file)
    except ProtocolError as exc:
        for path, message in exc.problems:
            sys.stderr.write(f"error: {exc.source}: {path}: {message}\n")
        raise typer.Exit(code=2) from None
    typer.echo(f"{file}: valid protocol {p.name!r} ({len(p.arms)} arms, {len(p.visits)} visits)")
