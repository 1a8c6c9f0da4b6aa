"""Clinical Frailty Scale (Rockwood et al. 2005, CSHA; version 2.0, Rockwood & Theou 2020).

One clinician-rated level 1-9; no arithmetic, so the instrument is its labels. ``version``
chooses the wording: ``"2.0"`` (2020: "living with ... frailty") or ``"csha"`` (the 2007
nine-point wording: well, vulnerable, mildly frail, ...). ``frail`` is level >= 5 (the
conventional cut-point); a missing level leaves everything missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from frailtrial.instruments.base import FlatResult, Item, validate_answers
from frailtrial.instruments.options import CfsVersion, option_choice

LABELS: dict[str, tuple[str, ...]] = {
    "2.0": (
        "Very fit",
        "Fit",
        "Managing well",
        "Living with very mild frailty",
        "Living with mild frailty",
        "Living with moderate frailty",
        "Living with severe frailty",
        "Living with very severe frailty",
        "Terminally ill",
    ),
    "csha": (
        "Very fit",
        "Well",
        "Managing well",
        "Vulnerable",
        "Mildly frail",
        "Moderately frail",
        "Severely frail",
        "Very severely frail",
        "Terminally ill",
    ),
}

ITEMS: tuple[Item, ...] = (Item("cfs", "Clinical Frailty Scale level", minimum=1, maximum=9),)


@dataclass(frozen=True)
class CFSResult(FlatResult):
    """The level, its label and whether it counts as frail (>= 5)."""

    score: int | None
    label: str | None
    frail: bool | None


@dataclass
class CFS:
    """Clinical Frailty Scale; option ``version`` = "2.0" | "csha" (label wording)."""

    result_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "score": (ITEMS[0].minimum, ITEMS[0].maximum)
    }

    version: CfsVersion = "2.0"
    name: str = field(default="cfs", init=False, repr=False)
    title: str = field(default="Clinical Frailty Scale", init=False, repr=False)

    def __post_init__(self) -> None:
        self.version = option_choice(self.name, "version", self.version, CfsVersion)

    @property
    def items(self) -> Sequence[Item]:
        return ITEMS

    def score(self, answers: Mapping[str, Any]) -> CFSResult:
        """Label of the rated level; missing level -> all fields missing."""
        level = validate_answers(self.name, ITEMS, answers)["cfs"]
        if level is None:
            return CFSResult(None, None, None)
        return CFSResult(level, LABELS[self.version][level - 1], level >= 5)
