"""Built-in protocols as raw mappings, edited by a test and checked for one problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from frailtrial.protocol import ProtocolError, parse

BUILTIN = Path(__file__).parents[1] / "src/frailtrial/protocol/builtin"


def raw(name: str) -> dict[str, Any]:
    """The built-in protocol ``name`` as the mapping its YAML file holds."""
    data: dict[str, Any] = yaml.safe_load((BUILTIN / f"{name}.yaml").read_text("utf-8"))
    return data


def assert_problem(
    edit: Callable[[dict[str, Any]], Any], path: str, message: str, name: str = "huc-msc-2024"
) -> None:
    """The built-in protocol ``name``, edited, is rejected with ``message`` at ``path``."""
    data = raw(name)
    edit(data)
    with pytest.raises(ProtocolError) as info:
        parse(data, "mine.yaml")
    assert any(p == path and message in m for p, m in info.value.problems), info.value.problems
