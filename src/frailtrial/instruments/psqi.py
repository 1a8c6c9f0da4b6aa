"""Pittsburgh Sleep Quality Index (Buysse et al. 1989): seven components and the global score.

Items: q1 usual bedtime and q3 usual rising time (clock "HH:MM"), q2 minutes to fall asleep,
q4 hours of actual sleep, q5a-q5j sleep troubles, q6 sleep quality, q7 sleep medication,
q8 trouble staying awake, q9 keeping up enthusiasm (each 0-3).

Rules followed (the published scoring instructions):

- Boundaries fall in the better class: a latency of exactly 15 min scores 0, exactly 7 h of
  sleep scores 0 on C3, an efficiency of exactly 85 % scores 0 on C4 (likewise 30/60 min,
  6/5 h, 75/65 %). Comparisons allow 1e-9 for decimal hours.
- Time in bed = q3 - q1 on the clock, wrapping past midnight (23:00 -> 07:00 is 8 h).
  Equal bed and rising times give a time in bed of 0, which cannot yield an efficiency:
  C4 is then missing (not 24 h; a day in bed is not a plausible usual night).
- Efficiency = q4 / time in bed x 100. When the reported sleep exceeds the time in bed the
  efficiency is capped at 100 % (C4 = 0), a reporting inconsistency rather than an error.
- Missing answers: a component is missing when any item it uses is missing (C5 needs all of
  q5b-q5j), and the global score is missing when any component is. No proration.
- Poor sleeper: global > 5.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from frailtrial.instruments.base import Item, validate_answers

_EPS = 1e-9
TROUBLES = tuple(f"q5{c}" for c in "abcdefghij")
_TROUBLE_LABELS = (
    "cannot get to sleep within 30 minutes",
    "wake up in the middle of the night or early morning",
    "have to get up to use the bathroom",
    "cannot breathe comfortably",
    "cough or snore loudly",
    "feel too cold",
    "feel too hot",
    "had bad dreams",
    "have pain",
    "other reason(s)",
)
_FREQ = " (0 not in the past month .. 3 three or more times a week)"

ITEMS: tuple[Item, ...] = (
    Item("q1", "usual bedtime", "time"),
    Item("q2", "minutes to fall asleep each night", "integer", 0, 1440, unit="min"),
    Item("q3", "usual getting-up time", "time"),
    Item("q4", "hours of actual sleep per night", "number", 0, 24, unit="h"),
    *(
        Item(i, lab + _FREQ, "integer", 0, 3)
        for i, lab in zip(TROUBLES, _TROUBLE_LABELS, strict=True)
    ),
    Item("q6", "overall sleep quality (0 very good .. 3 very bad)", "integer", 0, 3),
    Item("q7", "medicine taken to help sleep" + _FREQ, "integer", 0, 3),
    Item("q8", "trouble staying awake during activities" + _FREQ, "integer", 0, 3),
    Item("q9", "problem keeping up enthusiasm (0 none .. 3 very big)", "integer", 0, 3),
)


class PSQIResult(BaseModel):
    """Components C1-C7 (0-3), global (0-21), and the sleep figures used by C4.

    The global score is the attribute ``global_`` (``global`` is a Python keyword) and is
    serialized under its published name ``global``.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    C1: int | None
    C2: int | None
    C3: int | None
    C4: int | None
    C5: int | None
    C6: int | None
    C7: int | None
    global_: int | None = Field(alias="global")
    poor_sleeper: bool | None
    time_in_bed_h: float | None
    efficiency_pct: float | None


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _band(total: int) -> int:
    """0 -> 0, 1-2 -> 1, 3-4 -> 2, 5-6 -> 3 (C2 and C7)."""
    return (total + 1) // 2


def _latency_points(minutes: int) -> int:
    if minutes <= 15:
        return 0
    if minutes <= 30:
        return 1
    if minutes <= 60:
        return 2
    return 3


def _duration(hours: float) -> int:
    if hours >= 7 - _EPS:
        return 0
    if hours >= 6 - _EPS:
        return 1
    if hours >= 5 - _EPS:
        return 2
    return 3


def _efficiency(percent: float) -> int:
    if percent >= 85 - _EPS:
        return 0
    if percent >= 75 - _EPS:
        return 1
    if percent >= 65 - _EPS:
        return 2
    return 3


def _disturbance(total: int) -> int:
    """0 -> 0, 1-9 -> 1, 10-18 -> 2, 19-27 -> 3."""
    return (total + 8) // 9


class PSQI:
    """PSQI scorer: components, global score and poor-sleeper flag of one respondent."""

    name = "psqi"
    title = "Pittsburgh Sleep Quality Index (Buysse 1989)"
    result_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        **dict.fromkeys(("C1", "C2", "C3", "C4", "C5", "C6", "C7"), (0.0, 3.0)),
        "global": (0.0, 21.0),
    }

    @property
    def items(self) -> tuple[Item, ...]:
        return ITEMS

    def score(self, answers: Mapping[str, Any]) -> PSQIResult:
        """Score one respondent; see the module docstring for boundaries and missing items."""
        v = validate_answers(self.name, ITEMS, answers)
        c2 = None
        if v["q2"] is not None and v["q5a"] is not None:
            c2 = _band(_latency_points(v["q2"]) + v["q5a"])
        c3 = None if v["q4"] is None else _duration(v["q4"])
        tib_h = eff = None
        c4 = None
        if v["q1"] is not None and v["q3"] is not None:
            tib_min = (_minutes(v["q3"]) - _minutes(v["q1"])) % 1440
            tib_h = tib_min / 60.0
            if tib_min > 0 and v["q4"] is not None:
                eff = min(100.0, v["q4"] * 60.0 / tib_min * 100.0)
                c4 = _efficiency(eff)
        troubles = [v[i] for i in TROUBLES[1:]]
        c5 = None if any(x is None for x in troubles) else _disturbance(sum(troubles))
        c7 = None if v["q8"] is None or v["q9"] is None else _band(v["q8"] + v["q9"])
        comps = [v["q6"], c2, c3, c4, c5, v["q7"], c7]
        total = None if any(c is None for c in comps) else sum(comps)
        return PSQIResult(
            C1=comps[0],
            C2=c2,
            C3=c3,
            C4=c4,
            C5=c5,
            C6=comps[5],
            C7=c7,
            global_=total,
            poor_sleeper=None if total is None else total > 5,
            time_in_bed_h=tib_h,
            efficiency_pct=eff,
        )
