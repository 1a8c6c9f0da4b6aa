"""``frailtrial demo``: the main job, end to end.

Simulate the HUC-MSC trial, run it through the EDC services into a SQLite store
(screening, randomization from a generated list, dosing, visits, CRFs, AEs), lock the
database, export the tidy dataset as the unblinded statistician, analyse the export and
write ``OUT/report.html``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from pathlib import Path

import typer

from frailtrial.cli.analyze import STEPS, progress, run, summary_lines

DEMO_PROTOCOL = "huc-msc-2024"
STORE = "trial.sqlite3"


def _fresh_store(out: Path) -> str:
    """The demo's own SQLite store, recreated on each run (it holds only simulated data) and
    opened as the load opens it (synchronous NORMAL: see ``load_simulated_trial``): a copy
    of the migrated empty store (:func:`_empty_store`) when the cache has one (opened
    without a migration check), else migrated in place."""
    from frailtrial.edc.config import owner_only_sqlite, setup

    out.mkdir(parents=True, exist_ok=True)
    db = out / STORE
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    empty = _empty_store()
    if empty is not None:
        owner_only_sqlite(db)  # created 0600, then filled (the copy keeps the mode)
        shutil.copyfile(empty, db)
    return setup(f"sqlite:///{db.resolve()}", migrate=empty is None, synchronous="NORMAL")


def _empty_store() -> Path | None:
    """An empty SQLite store with every migration applied, made once per user and schema in
    the user cache (named by the SHA-256 of Django's version, the EDC settings and its
    migrations), so that a demo copies it instead of migrating (1-2 s of CPU). None when
    the cache cannot be written: the demo's store is then migrated in place."""
    import django

    from frailtrial import edc
    from frailtrial.edc import config
    from frailtrial.user_cache import cache_root

    folder = Path(edc.__file__).parent
    h = hashlib.sha256(django.__version__.encode())
    for source in [folder / "config.py", *sorted((folder / "migrations").glob("*.py"))]:
        h.update(source.name.encode() + b"\0" + source.read_bytes())
    path = cache_root() / "stores" / f"empty-{h.hexdigest()[:16]}.sqlite3"
    if path.is_file():
        return path
    building = path.with_name(f"{path.stem}.{os.getpid()}.building")
    try:
        config.setup(f"sqlite:///{building}")  # creates it 0600 in a 0700 folder, migrates
        from django.db import connections

        connections.close_all()  # checkpoints the WAL into the file
        os.replace(building, path)  # whole or absent, also for demos running at once
    except OSError:
        return None
    finally:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):  # gone, or the cache was never writable
                Path(f"{building}{suffix}").unlink(missing_ok=True)
    return path


def demo_command(
    out: Path = typer.Option(Path("frailtrial-demo"), "--out", help="Output folder."),
    seed: int = typer.Option(2024, "--seed", help="Seed of the simulated trial."),
) -> None:
    """Simulate the HUC-MSC trial through the EDC store, analyse the export, write a report."""
    from frailtrial.analysis.fitting import warm_up
    from frailtrial.analysis.forked import Worker
    from frailtrial.dataset import read_dataset
    from frailtrial.edc.pipeline import export_trial, load_simulated_trial
    from frailtrial.protocol import load
    from frailtrial.simulate import simulate_trial

    protocol = load(DEMO_PROTOCOL)
    # a second process loads the model engines while this one runs the EDC, then fits the
    # models (analysis/forked.py)
    with Worker(warm_up) as worker, progress(STEPS + 3) as step:
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
        result = run(ds, protocol, data_dir, out, seed, step, worker)
    for line in summary_lines(result, out):
        typer.echo(line)
    typer.echo(f"EDC store: {out / STORE} (randomization list SHA-256 {loaded['list_sha256']})")
