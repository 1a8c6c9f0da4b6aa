"""SPSS export: one ``spss/<table>.sav`` per table of the tidy dataset (measurements wide)."""

from __future__ import annotations

from pathlib import Path

from frailtrial.edc.services.exports.statfiles import stat_frames
from frailtrial.edc.services.exports.tidy import ExportTables
from frailtrial.protocol import Protocol


def write(tables: ExportTables, out: Path, protocol: Protocol) -> list[Path]:
    """Write the .sav files under ``out / "spss"``."""
    import pyreadstat

    folder = out / "spss"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in stat_frames(tables, protocol):
        sav = folder / f"{name}.sav"
        pyreadstat.write_sav(frame, str(sav))
        written.append(sav)
    return written
