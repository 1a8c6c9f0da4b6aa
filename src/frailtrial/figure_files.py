"""Figure files every layer writes: the formats matplotlib renders here, checked once."""

from __future__ import annotations

from pathlib import Path

from frailtrial.errors import InputError

FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def check_plot_path(path: str | Path) -> Path:
    """The plot file, if its extension is one matplotlib writes here (.png, .svg, .pdf)."""
    out = Path(path)
    if out.suffix.lower() not in FIGURE_SUFFIXES:
        raise InputError(f"plot file must end in .png, .svg or .pdf, got {out.name!r}")
    return out
