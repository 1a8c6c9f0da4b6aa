"""Flow-cytometry percentage (CRATUS immune markers): share of a parent population, 0-100 %.

Used for B-cell intracellular TNF-alpha and early (CD69+) / late (CD25+) activated T cells.
A missing percentage leaves the result missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from frailtrial.instruments.base import FlatResult, Item, validate_answers

ITEMS: tuple[Item, ...] = (
    Item(
        "percent",
        "Positive cells, % of the parent population",
        kind="number",
        minimum=0,
        maximum=100,
        unit="%",
    ),
)


@dataclass(frozen=True)
class FlowResult(FlatResult):
    """The percentage as recorded."""

    percent: float | None


@dataclass
class FlowCytometry:
    """A flow-cytometry percentage; no options."""

    name: str = field(default="flow_cytometry", init=False, repr=False)
    title: str = field(default="Flow-cytometry percentage", init=False, repr=False)

    @property
    def items(self) -> Sequence[Item]:
        return ITEMS

    def score(self, answers: Mapping[str, Any]) -> FlowResult:
        """The validated percentage."""
        return FlowResult(validate_answers(self.name, ITEMS, answers)["percent"])
