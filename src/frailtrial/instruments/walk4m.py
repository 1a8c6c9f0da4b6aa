"""Timed usual-pace walk (4-m walk test): time -> gait speed.

Gait speed = course length / time; ``course_m`` (default 4 m) sets the course and ``trials``
which trial counts: ``"fastest"`` (default, as in the SPPB) or ``"mean"`` of the recorded
trials. Flags: slow by AWGS 2019 (< 1.0 m/s) and by EWGSOP2 (<= 0.8 m/s). Missing rule: the
result is missing when no trial is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from frailtrial.instruments.base import FlatResult, Item, validate_answers
from frailtrial.instruments.options import WalkTrials, option_choice, option_number

# Slow gait: AWGS 2019 below 1.0 m/s (fried.py uses it too), EWGSOP2 at or below 0.8 m/s.
AWGS2019_SLOW_M_S = 1.0
EWGSOP2_SLOW_M_S = 0.8
ITEMS: tuple[Item, ...] = (
    Item("time_1_s", "Walk time, trial 1", kind="number", minimum=0.5, maximum=300, unit="s"),
    Item("time_2_s", "Walk time, trial 2", kind="number", minimum=0.5, maximum=300, unit="s"),
)


@dataclass(frozen=True)
class WalkResult(FlatResult):
    """Time used, gait speed and the slow-gait flags."""

    time_s: float | None
    gait_speed_m_s: float | None
    slow_awgs2019: bool | None
    slow_ewgsop2: bool | None


@dataclass
class Walk4m:
    """Timed walk; options ``course_m`` (metres, default 4) and ``trials`` fastest|mean."""

    result_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "time_s": (ITEMS[0].minimum, ITEMS[0].maximum)
    }

    course_m: float = 4.0
    trials: WalkTrials = "fastest"
    name: str = field(default="walk4m", init=False, repr=False)
    title: str = field(default="4-metre usual-pace walk", init=False, repr=False)

    def __post_init__(self) -> None:
        self.course_m = option_number(self.name, "course_m", self.course_m, 1, 50)
        self.trials = option_choice(self.name, "trials", self.trials, WalkTrials)

    @property
    def items(self) -> Sequence[Item]:
        return ITEMS

    def required_items(self, answers: Mapping[str, Any]) -> tuple[str, ...]:
        """A complete form has the first trial (a second is optional)."""
        return ("time_1_s",)

    def score(self, answers: Mapping[str, Any]) -> WalkResult:
        """Gait speed from the chosen trial time; missing when no trial is recorded."""
        a = validate_answers(self.name, ITEMS, answers)
        times = [t for t in (a["time_1_s"], a["time_2_s"]) if t is not None]
        if not times:
            return WalkResult(None, None, None, None)
        t = min(times) if self.trials == "fastest" else sum(times) / len(times)
        speed = self.course_m / t
        return WalkResult(t, speed, speed < AWGS2019_SLOW_M_S, speed <= EWGSOP2_SLOW_M_S)
