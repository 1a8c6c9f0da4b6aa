"""Timed Up and Go (Podsiadlo & Richardson 1991): seconds to rise, walk 3 m, turn, return, sit.

A time >= 13.5 s flags fall risk (Shumway-Cook et al. 2000). A missing time leaves the result
missing; ``unable`` (could not complete) gives no time and a fall-risk flag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from frailtrial.instruments.base import FlatResult, Item, validate_answers

FALL_RISK_S = 13.5
ITEMS: tuple[Item, ...] = (
    Item("tug_s", "Timed Up and Go", kind="number", minimum=1, maximum=600, unit="s"),
    Item("unable", "Unable to complete the test", kind="boolean"),
)


@dataclass(frozen=True)
class TUGResult(FlatResult):
    """Seconds and the fall-risk flag (>= 13.5 s or unable)."""

    seconds: float | None
    fall_risk: bool | None


@dataclass
class TUG:
    """Timed Up and Go; no options."""

    result_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "seconds": (ITEMS[0].minimum, ITEMS[0].maximum)
    }

    name: str = field(default="tug", init=False, repr=False)
    title: str = field(default="Timed Up and Go", init=False, repr=False)

    @property
    def items(self) -> Sequence[Item]:
        return ITEMS

    def required_items(self, answers: Mapping[str, Any]) -> tuple[str, ...]:
        """A complete form has the time, unless the participant was unable."""
        return () if answers.get("unable") is True else ("tug_s",)

    def score(self, answers: Mapping[str, Any]) -> TUGResult:
        """Seconds and fall-risk flag."""
        a = validate_answers(self.name, ITEMS, answers)
        if a["unable"]:
            return TUGResult(None, True)
        t = a["tug_s"]
        return TUGResult(t, None if t is None else t >= FALL_RISK_S)
