"""``frailtrial randomization``: generate an allocation list and verify its commitment."""

from __future__ import annotations

from pathlib import Path

import typer

from frailtrial.cli.output import emit_json

app = typer.Typer(help="Allocation lists and their SHA-256 commitments.", no_args_is_help=True)


@app.command()
def generate(
    protocol: str = typer.Option(..., "--protocol", help="Built-in name or YAML file."),
    n: int = typer.Option(..., "--n", help="Entries per stratum."),
    out: Path = typer.Option(..., "--out", help="CSV file to write."),
    seed: int | None = typer.Option(
        None,
        "--seed",
        help="Reproducible list from this seed (at least 128 bits); default: a secret seed.",
    ),
    weak_seed: bool = typer.Option(
        False,
        "--weak-seed",
        help="Accept a seed of fewer than 128 bits: a rehearsal list a live trial refuses.",
    ),
    json_: bool = typer.Option(
        False, "--json", help="Print {file, sha256, n, seed} as JSON (seed: secret/given/weak)."
    ),
) -> None:
    """Write the list and print its SHA-256, the commitment to publish before enrolment."""
    from frailtrial.protocol import load
    from frailtrial.randomization import generate_list, list_seed, write_list  # loaded when run

    p = load(protocol)
    value, kind = list_seed(seed, weak_seed)
    frame = generate_list(p, value, n)
    digest = write_list(frame, out, p.name, kind)
    if json_:
        emit_json({"file": str(out), "sha256": digest, "n": len(frame), "seed": kind})
        return
    note = " (weak seed: rehearsal only)" if kind == "weak" else ""
    typer.echo(f"{out}: {len(frame)} entries; SHA-256 commitment {digest}{note}")


@app.command()
def verify(
    file: Path = typer.Argument(..., help="The list file."),
    sha256: str = typer.Option(..., "--sha256", help="The published commitment."),
) -> None:
    """Check a list file against its published SHA-256 (exit 2 when it differs)."""
    from frailtrial.randomization import verify_list

    verify_list(file, sha256)
    typer.echo(f"{file}: matches the commitment")
