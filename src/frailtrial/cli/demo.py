"""``frailtrial demo``: the main job, end to end.

Simulate the HUC-MSC trial, run it through the EDC services into a SQLite store
(screening, randomization from a generated list, dosing, visits, CRFs, AEs), lock the
database, export the tidy dataset as the unblinded statistician, analyse the export and
write ``OUT/report.html``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from frailtrial.cli.analyze import STEPS, progress, run, summary_lines

DEMO_PROTOCOL = "huc-msc-2024"
STORE = "trial.sqlite3"


def _fresh_store(out: Path) -> str:
    """The demo's own SQLite store, recreated on each run (it holds only simulated data)."""
    out.mkdir(parents=True, exist_ok=True)
    db = out / STORE
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{db.resolve()}"


def demo_command(
    out: Path = typer.Option(Path("frailtrial-demo"), "--out", help="Output folder."),
    seed: int = typer.Option(2024, "--seed", help="Seed of the simulated trial."),
) -> None:
    """Simulate the HUC-MSC trial through the EDC store, analyse the export, write a report."""
    from frailtrial.dataset import read_dataset
    from frailtrial.edc.pipeline import export_trial, load_simulated_trial
    from frailtrial.protocol import load
    from frailtrial.simulate import simulate_trial

    protocol = load(DEMO_PROTOCOL)
    with progress(STEPS + 3) as step:
        step("simulating the trial")
        simulated = simulate_trial(protocol, seed)
        step("entering it through the EDC")
        url = _fresh_store(out)
        loaded = load_simulated_trial(simulated, protocol, url, list_seed=seed)
        step("locking and exporting")
        data_dir = out / "export"
        export_trial(url, data_dir)
        step("reading the export")
        ds = read_dataset(data_dir, protocol)
        result = run(ds, protocol, data_dir, out, seed, step)
    for line in summary_lines(result, out):
        typer.echo(line)
    typer.echo(f"EDC store: {out / STORE} (randomization list SHA-256 {loaded['list_sha256']})")
