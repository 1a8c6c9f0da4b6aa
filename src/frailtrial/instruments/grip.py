"""Hand-grip strength (dynamometer): best of the trials, by default in the dominant hand.

Inputs are up to three trials per hand and the dominant hand. ``hand`` chooses the reported
``grip_kg``: ``"dominant"`` (default; best trial of the dominant hand) or ``"either"`` (best
trial of both hands, as in the Southampton protocol and EWGSOP2). Flags by sex: AWGS 2019 low
grip < 28 kg (men) / < 18 kg (women); EWGSOP2 < 27 / < 16 kg.

Missing rule: the best of the recorded trials is used; ``grip_kg`` is missing when the chosen
hand has no recorded trial (or, for ``"dominant"``, when the dominant hand is not recorded);
the flags are missing when ``grip_kg`` or ``sex`` is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from frailtrial.instruments.base import FlatResult, Item, validate_answers
from frailtrial.instruments.options import GripHand, option_choice

TRIALS = 3
HANDS = ("right", "left")
# Low grip: below these kg by sex (AWGS 2019, EWGSOP2); fried.py uses the AWGS 2019 ones too.
AWGS2019_LOW_GRIP_KG = {"male": 28.0, "female": 18.0}
EWGSOP2_LOW_GRIP_KG = {"male": 27.0, "female": 16.0}
ITEMS: tuple[Item, ...] = (
    Item("sex", "Sex", kind="choice", choices=("male", "female")),
    Item("dominant_hand", "Dominant hand", kind="choice", choices=HANDS),
    *(
        Item(
            f"{hand}_{k}",
            f"{hand.capitalize()} hand, trial {k}",
            kind="number",
            minimum=0,
            maximum=100,
            unit="kg",
        )
        for hand in HANDS
        for k in range(1, TRIALS + 1)
    ),
)


@dataclass(frozen=True)
class GripResult(FlatResult):
    """Best trial per hand, the reported grip and the low-grip flags."""

    best_right_kg: float | None
    best_left_kg: float | None
    grip_kg: float | None
    hand_used: str | None
    weak_awgs2019: bool | None
    weak_ewgsop2: bool | None


@dataclass
class Grip:
    """Grip strength; option ``hand`` = dominant | either."""

    result_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "grip_kg": (ITEMS[2].minimum, ITEMS[2].maximum)
    }

    hand: GripHand = "dominant"
    name: str = field(default="grip", init=False, repr=False)
    title: str = field(default="Hand-grip strength", init=False, repr=False)

    def __post_init__(self) -> None:
        self.hand = option_choice(self.name, "hand", self.hand, GripHand)

    @property
    def items(self) -> Sequence[Item]:
        return ITEMS

    def required_items(self, answers: Mapping[str, Any]) -> tuple[str, ...]:
        """Sex, the dominant hand and at least the first trial of the hand reported."""
        hand = answers.get("dominant_hand")
        if self.hand == "either":
            return ("sex", "right_1", "left_1")
        return ("sex", "dominant_hand", *((f"{hand}_1",) if hand in HANDS else ()))

    def score(self, answers: Mapping[str, Any]) -> GripResult:
        """Best trials and flags; missing values follow the module's rule."""
        a = validate_answers(self.name, ITEMS, answers)
        best = {h: _best(a[f"{h}_{k}"] for k in range(1, TRIALS + 1)) for h in HANDS}
        if self.hand == "dominant":
            used = a["dominant_hand"]
            grip = None if used is None else best[used]
        else:
            recorded = [(v, h) for h, v in best.items() if v is not None]
            grip, used = max(recorded) if recorded else (None, None)
        if grip is None:
            used = None
        weak_awgs: bool | None = None
        weak_ewgsop2: bool | None = None
        if grip is not None and a["sex"] is not None:
            weak_awgs = grip < AWGS2019_LOW_GRIP_KG[a["sex"]]
            weak_ewgsop2 = grip < EWGSOP2_LOW_GRIP_KG[a["sex"]]
        return GripResult(
            best_right_kg=best["right"],
            best_left_kg=best["left"],
            grip_kg=grip,
            hand_used=used,
            weak_awgs2019=weak_awgs,
            weak_ewgsop2=weak_ewgsop2,
        )


def _best(values: Any) -> float | None:
    recorded = [v for v in values if v is not None]
    return max(recorded) if recorded else None
