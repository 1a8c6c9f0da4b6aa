"""SAS export: one transport (V5) ``sas/<table>.xpt`` per table (measurements wide)."""

from __future__ import annotations

from pathlib import Path

from frailtrial.edc.services.exports.statfiles import stat_frames
from frailtrial.edc.services.exports.tidy import ExportTables
from frailtrial.protocol import Protocol


def _xpt_names(columns: list[str]) -> dict[str, str]:
    """SAS V5 names: at most 8 characters, upper case, unique."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for c in columns:
        base = "".join(ch for ch in c.upper() if ch.isalnum() or ch == "_")[:8] or "VAR"
        name, i = base, 1
        while name in used:
            i += 1
            name = f"{base[: 8 - len(str(i))]}{i}"
        used.add(name)
        out[c] = name
    return out


def write(tables: ExportTables, out: Path, protocol: Protocol) -> list[Path]:
    """Write the .xpt files under ``out / "sas"`` (file and table names cut to 8 characters,
    the full column names kept as labels)."""
    import pyreadstat

    folder = out / "sas"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in stat_frames(tables, protocol):
        xpt = folder / f"{name[:8]}.xpt"
        pyreadstat.write_xport(
            frame.rename(columns=_xpt_names(list(frame.columns))),
            str(xpt),
            table_name=name[:8].upper(),
            column_labels=list(frame.columns),
            file_format_version=5,
        )
        written.append(xpt)
    return written
