"""``frailtrial simulate``: write a virtual trial's tidy dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from frailtrial.cli.output import emit_json
from frailtrial.errors import InputError

CALIBRATION_FILE = "calibration.yaml"


def simulate(
    protocol: str = typer.Option(..., "--protocol", help="Built-in name or YAML file."),
    seed: int = typer.Option(..., "--seed", help="Seed (non-negative integer)."),
    out: Path = typer.Option(..., "--out", help="Folder to write the dataset's CSV files to."),
    n_per_arm: int | None = typer.Option(
        None, "--n-per-arm", help="Participants per arm (default: the protocol's target)."
    ),
    match_published: bool = typer.Option(
        False,
        "--match-published",
        help="Reproduce the published Table 1 and Table 3 means and SDs to the printed "
        "decimals, and the published attendance.",
    ),
    calibration: Path | None = typer.Option(
        None,
        "--calibration",
        help="Calibration YAML (like simulate/calibrations/*.yaml). Default: the protocol's "
        "built-in one, else one derived from the protocol (no treatment effect), written to "
        "OUT/calibration.yaml.",
    ),
    json_: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Simulate a trial of PROTOCOL and write its tidy dataset to OUT."""
    from frailtrial.dataset import write_dataset  # the simulator (scipy.optimize) loads only
    from frailtrial.protocol import load
    from frailtrial.simulate import simulate_trial  # when this command runs
    from frailtrial.simulate.default_calibration import calibration_yaml, derived_calibration

    p = load(protocol)
    ds = simulate_trial(
        p, seed, n_per_arm=n_per_arm, match_published=match_published, calibration=calibration
    )
    derived = derived_calibration(p, calibration)  # the one simulate_trial used, if any
    try:
        files = write_dataset(ds, out)
        if derived is not None:
            written = out / CALIBRATION_FILE
            written.write_text(calibration_yaml(derived), encoding="utf-8")
            files.append(written)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    summary: dict[str, Any] = {
        "out": str(out),
        "files": [f.name for f in files],
        "screened": len(ds.screening),
        "randomized": len(ds.participants),
        "per_arm": ds.participants["arm"].value_counts().sort_index().to_dict(),
        "measurements": len(ds.measurements),
        "missed_visits": int((ds.visits["status"] != "attended").sum()),
        "scheduled_visits": len(ds.visits),
        "adverse_events": len(ds.adverse_events),
        "calibration": str(out / CALIBRATION_FILE) if derived is not None else None,
        "assumptions": derived.assumptions if derived is not None else [],
    }
    if json_:
        emit_json(summary)
        return
    arms = ", ".join(f"{a} {n}" for a, n in summary["per_arm"].items())
    typer.echo(
        f"{out}: {summary['screened']} screened, {summary['randomized']} randomized ({arms}); "
        f"{summary['measurements']} measurements; {summary['missed_visits']} of "
        f"{summary['scheduled_visits']} visits missed; {summary['adverse_events']} adverse events"
    )
    if derived is not None:
        typer.echo(
            f"{p.name} has no calibration: simulated with one derived from the protocol, "
            f"written to {summary['calibration']} (edit it and pass it back with --calibration)"
        )
        for line in derived.assumptions:
            typer.echo(f"  {line}")
