"""The instrument registry: each name leads to its instrument, every instrument module is
registered, and asking for one instrument imports only its module."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from frailtrial import instruments
from frailtrial.errors import InputError

PACKAGE = Path(instruments.__file__).parent
SHARED = {"__init__", "base", "options", "wording"}  # modules that hold no instrument


@pytest.mark.parametrize("name", instruments.names())
def test_each_name_gives_the_instrument_of_that_name(name: str) -> None:
    assert instruments.get(name).name == name


def test_every_instrument_module_is_registered() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")} - SHARED
    registered = {where.partition(":")[0] for where in instruments.REGISTRY._where.values()}
    assert registered == modules


def test_unknown_instrument_names_the_known_ones() -> None:
    with pytest.raises(InputError, match=r"unknown instrument 'sppx'; known: 6mwd, cfs"):
        instruments.get("sppx")


def test_one_instrument_imports_only_its_module() -> None:
    code = (
        "import json, sys\n"
        "from frailtrial import instruments\n"
        "instruments.get('sppb')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('frailtrial.instruments.')"
        " or m in ('numpy', 'pydantic'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [
        "frailtrial.instruments.base",
        "frailtrial.instruments.sppb",
    ]
