"""``frailtrial randomization``: generate an allocation list and verify its commitment."""

from __future__ import annotations

from pathlib import Path

import typer

from frailtrial.cli.output import emit_json

app = typer.Typer(help="Allocation lists and their SHA-256 commitments.", no_args_is_help=True)


@app.command()
def generate(
    protocol: str = typer.Option(..., "--protocol", help="Built-in name or YAML file."),
    seed: int = typer.Option(..., "--seed", help="Seed of the list (non-negative integer)."),
    n: int = typer.Option(..., "--n", help="Entries per stratum."),
    out: Path = typer.Option(..., "--out", help="CSV file to write."),
    json_: bool = typer.Option(False, "--json", help="Print {file, sha256, n} as JSON."),
) -> None:
    """Write the list and print its SHA-256, the commitment to publish before enrolment."""
    from frailtrial.protocol import load
    from frailtrial.randomization import generate_list, write_list  # loaded when run

    p = load(protocol)
    frame = generate_list(p, seed, n)
    digest = write_list(frame, out)
    if json_:
        emit_json({"file": str(out), "sha256": digest, "n": len(frame)})
        return
    typer.echo(f"{out}: {len(frame)} entries; SHA-256 commitment {digest}")


@app.command()
def verify(
    file: Path = typer.Argument(..., help="The list file."),
    sha256: str = typer.Option(..., "--sha256", help="The published commitment."),
) -> None:
    """Check a list file against its published SHA-256 (exit 2 when it differs)."""
    from frailtrial.randomization import verify_list

    verify_list(file, sha256)
    typer.echo(f"{file}: matches the commitment")
