"""Short Physical Performance Battery (Guralnik et al. 1994), total 0-12.

- Balance, stands held up to 10 s, in order, stopping at the first failed stand: side-by-side
  10 s -> 1 point, semi-tandem 10 s -> 1, tandem 10 s -> 2, 3-9.99 s -> 1, < 3 s -> 0.
  A stand after a failed one is not part of the test: any time recorded for it is ignored.
- 4 m usual-pace walk, faster of the two trials: < 4.82 s -> 4, 4.82-6.20 -> 3,
  6.21-8.70 -> 2, > 8.70 -> 1, unable -> 0.
- Five chair stands: <= 11.19 s -> 4, 11.20-13.69 -> 3, 13.70-16.69 -> 2, 16.70-60 -> 1,
  > 60 s or unable -> 0.

Times are rounded to 0.01 s (the resolution of the published cut points) before they are
classified, so a time between two printed bands (6.203 s) goes where its recorded value would.

Missing rule: a component is missing when the answers needed to score it are absent (a
balance stand that was reached but not recorded; neither walk trial nor ``gait_unable``; no
chair time nor ``chair_unable``); the total is missing when any component is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from frailtrial.instruments.base import FlatResult, Item, validate_answers

GAIT_COURSE_M = 4.0
ITEMS: tuple[Item, ...] = (
    Item(
        "side_by_side_s", "Side-by-side stand held", kind="number", minimum=0, maximum=10, unit="s"
    ),
    Item("semi_tandem_s", "Semi-tandem stand held", kind="number", minimum=0, maximum=10, unit="s"),
    Item("tandem_s", "Tandem stand held", kind="number", minimum=0, maximum=10, unit="s"),
    Item("gait_time_1_s", "4 m walk, trial 1", kind="number", minimum=1, maximum=120, unit="s"),
    Item("gait_time_2_s", "4 m walk, trial 2", kind="number", minimum=1, maximum=120, unit="s"),
    Item("gait_unable", "Unable to walk 4 m", kind="boolean"),
    Item("chair_stands_s", "Five chair stands", kind="number", minimum=1, maximum=600, unit="s"),
    Item(
        "chair_unable", "Unable to complete five chair stands (or the single stand)", kind="boolean"
    ),
)


@dataclass(frozen=True)
class SPPBResult(FlatResult):
    """Component scores, the faster walk time and speed, and the total (None when missing)."""

    balance: int | None
    gait: int | None
    chair: int | None
    total: int | None
    gait_time_s: float | None
    gait_speed_m_s: float | None


def balance_score(side: float | None, semi: float | None, tandem: float | None) -> int | None:
    """Balance points 0-4 with the stop-at-first-failure rule (None when a reached stand is
    unrecorded)."""
    if side is None:
        return None
    if side < 10:
        return 0
    if semi is None:
        return None
    if semi < 10:
        return 1
    if tandem is None:
        return None
    t = round(tandem, 2)
    return 2 + (2 if t >= 10 else 1 if t >= 3 else 0)


def gait_score(time_s: float | None) -> int | None:
    """Points 1-4 for the faster 4 m walk time (0 for unable is handled by the caller)."""
    if time_s is None:
        return None
    t = round(time_s, 2)
    if t < 4.82:
        return 4
    if t <= 6.20:
        return 3
    if t <= 8.70:
        return 2
    return 1


def chair_score(time_s: float | None) -> int | None:
    """Points 0-4 for the five-chair-stand time."""
    if time_s is None:
        return None
    t = round(time_s, 2)
    if t <= 11.19:
        return 4
    if t <= 13.69:
        return 3
    if t <= 16.69:
        return 2
    if t <= 60:
        return 1
    return 0


@dataclass
class SPPB:
    """SPPB scorer (4 m course, Guralnik 1994 cut points); no options."""

    result_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        **dict.fromkeys(("balance", "gait", "chair"), (0.0, 4.0)),
        "total": (0.0, 12.0),
    }

    name: str = field(default="sppb", init=False, repr=False)
    title: str = field(default="Short Physical Performance Battery", init=False, repr=False)

    @property
    def items(self) -> Sequence[Item]:
        return ITEMS

    def required_items(self, answers: Mapping[str, Any]) -> tuple[str, ...]:
        """What the missing rule needs: each balance stand reached (the test stops at the
        first one not held 10 s), a walk trial unless unable (a second is optional, the
        faster counts), the chair time unless unable."""
        needed = ["side_by_side_s"]
        for held, following in (("side_by_side_s", "semi_tandem_s"), ("semi_tandem_s", "tandem_s")):
            t = answers.get(held)
            if isinstance(t, bool) or not isinstance(t, int | float) or t < 10:
                break
            needed.append(following)
        if answers.get("gait_unable") is not True:
            needed.append("gait_time_1_s")
        if answers.get("chair_unable") is not True:
            needed.append("chair_stands_s")
        return tuple(needed)

    def score(self, answers: Mapping[str, Any]) -> SPPBResult:
        """Component scores and total; missing components follow the module's rule."""
        a = validate_answers(self.name, ITEMS, answers)
        balance = balance_score(a["side_by_side_s"], a["semi_tandem_s"], a["tandem_s"])
        trials = [t for t in (a["gait_time_1_s"], a["gait_time_2_s"]) if t is not None]
        walk = min(trials) if trials else None
        if a["gait_unable"]:
            gait: int | None = 0
            walk = None
        else:
            gait = gait_score(walk)
        chair = 0 if a["chair_unable"] else chair_score(a["chair_stands_s"])
        parts = (balance, gait, chair)
        total = None if any(p is None for p in parts) else sum(p for p in parts if p is not None)
        return SPPBResult(
            balance=balance,
            gait=gait,
            chair=chair,
            total=total,
            gait_time_s=walk,
            gait_speed_m_s=None if walk is None else GAIT_COURSE_M / walk,
        )
