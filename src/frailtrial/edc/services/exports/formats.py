"""The export formats: each name (``--format``) and the writer of its files."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from frailtrial.edc.services.exports import sas, sdtm, spss, tidy
from frailtrial.errors import InputError
from frailtrial.protocol import Protocol

Writer = Callable[[tidy.ExportTables, Path, Protocol], list[Path]]

FORMATS: dict[str, Writer] = {  # in the order they are written
    "csv": tidy.write,  # the tidy dataset: what the analysis reads
    "spss": spss.write,
    "sas": sas.write,
    "sdtm": sdtm.write,
}


def select(names: Iterable[str]) -> tuple[str, ...]:
    """The named formats in registry order, each once; InputError names an unknown one and
    lists the allowed ones."""
    asked = list(names)
    bad = [n for n in asked if n not in FORMATS]
    if bad or not asked:
        raise InputError(
            f"--format {','.join(asked)}: unknown format {bad[0] if bad else ''!r}; "
            f"allowed: {', '.join(FORMATS)} (comma-separated)"
        )
    return tuple(n for n in FORMATS if n in asked)


def parse_formats(text: str) -> tuple[str, ...]:
    """``"sas,csv"`` -> ``("csv", "sas")`` (see :func:`select`)."""
    return select(n.strip() for n in text.split(","))
