"""The export formats: each name (``--format``) and the module whose ``write`` makes its files.

The registry names the modules without importing them, so that the CLI checks ``--format``
before it opens the store (and imports neither Django nor pandas for a wrong name).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from frailtrial.errors import InputError

if TYPE_CHECKING:
    from frailtrial.edc.services.exports.tidy import ExportTables
    from frailtrial.protocol import Protocol

    Writer = Callable[[ExportTables, Path, Protocol], list[Path]]

FORMATS: dict[str, str] = {  # in the order they are written
    "csv": "tidy",  # the tidy dataset: what the analysis reads
    "spss": "spss",
    "sas": "sas",
    "sdtm": "sdtm",
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


def writer(name: str) -> Writer:
    """The ``write(tables, out, protocol) -> files`` of the format ``name``."""
    module = importlib.import_module(f"{__package__}.{FORMATS[name]}")
    write: Writer = module.write
    return write
