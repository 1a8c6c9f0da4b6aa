"""Five-times sit-to-stand: seconds to stand up five times from a chair, arms folded.

Flags: AWGS 2019 low physical performance at >= 12 s; EWGSOP2 low performance at > 15 s.
``unable`` (could not complete five stands) meets both flags with no time. Missing time and
not ``unable`` leaves the result missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from frailtrial.instruments.base import FlatResult, Item, validate_answers

ITEMS: tuple[Item, ...] = (
    Item("time_s", "Time for five chair stands", kind="number", minimum=1, maximum=600, unit="s"),
    Item("unable", "Unable to complete five stands", kind="boolean"),
)


@dataclass(frozen=True)
class STS5Result(FlatResult):
    """Seconds and the AWGS 2019 (>= 12 s) and EWGSOP2 (> 15 s) flags."""

    seconds: float | None
    slow_awgs2019: bool | None
    slow_ewgsop2: bool | None


@dataclass
class STS5:
    """Five-times sit-to-stand; no options."""

    result_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "seconds": (ITEMS[0].minimum, ITEMS[0].maximum)
    }

    name: str = field(default="sts5", init=False, repr=False)
    title: str = field(default="Five-times sit-to-stand", init=False, repr=False)

    @property
    def items(self) -> Sequence[Item]:
        return ITEMS

    def required_items(self, answers: Mapping[str, Any]) -> tuple[str, ...]:
        """A complete form has the time, unless the participant was unable."""
        return () if answers.get("unable") is True else ("time_s",)

    def score(self, answers: Mapping[str, Any]) -> STS5Result:
        """Seconds and the two published flags."""
        a = validate_answers(self.name, ITEMS, answers)
        if a["unable"]:
            return STS5Result(None, True, True)
        t = a["time_s"]
        if t is None:
            return STS5Result(None, None, None)
        return STS5Result(t, t >= 12.0, t > 15.0)
