"""Six-minute walk distance with the Enright & Sherrill (1998) predicted value.

Predicted distance (height cm, weight kg, age years), Enright PL, Sherrill DL. Am J Respir
Crit Care Med 1998;158:1384-7:

- men: 7.57 * height - 5.02 * age - 1.76 * weight - 309 m
- women: 2.11 * height - 2.29 * weight - 5.78 * age + 667 m

The equations were derived in adults aged 40-80; they are applied as published at any age.
The lower limit of normal is not reported here (its published offsets could not be verified
for this library). Missing rule: ``pct_predicted`` is missing when the distance or any
predictor is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from frailtrial.instruments.base import FlatResult, Item, validate_answers

ITEMS: tuple[Item, ...] = (
    Item(
        "distance_m",
        "Distance walked in six minutes",
        kind="number",
        minimum=0,
        maximum=1500,
        unit="m",
    ),
    Item("sex", "Sex", kind="choice", choices=("male", "female")),
    Item("age", "Age", kind="number", minimum=18, maximum=110, unit="years"),
    Item("height_cm", "Height", kind="number", minimum=100, maximum=230, unit="cm"),
    Item("weight_kg", "Weight", kind="number", minimum=20, maximum=300, unit="kg"),
)


def enright_predicted_m(sex: str, age: float, height_cm: float, weight_kg: float) -> float:
    """Enright & Sherrill 1998 predicted 6MWD in metres."""
    if sex == "male":
        return 7.57 * height_cm - 5.02 * age - 1.76 * weight_kg - 309.0
    return 2.11 * height_cm - 2.29 * weight_kg - 5.78 * age + 667.0


@dataclass(frozen=True)
class SixMWDResult(FlatResult):
    """Distance, predicted distance and percent of predicted."""

    distance_m: float | None
    predicted_m: float | None
    pct_predicted: float | None


@dataclass
class SixMWD:
    """Six-minute walk distance, Enright-Sherrill 1998 % predicted; no options."""

    name: str = field(default="6mwd", init=False, repr=False)
    title: str = field(default="Six-minute walk distance", init=False, repr=False)

    @property
    def items(self) -> Sequence[Item]:
        return ITEMS

    def score(self, answers: Mapping[str, Any]) -> SixMWDResult:
        """Distance, predicted and % predicted; missing inputs leave their outputs missing."""
        a = validate_answers(self.name, ITEMS, answers)
        predictors = (a["sex"], a["age"], a["height_cm"], a["weight_kg"])
        predicted = None
        if all(p is not None for p in predictors):
            predicted = enright_predicted_m(a["sex"], a["age"], a["height_cm"], a["weight_kg"])
        d = a["distance_m"]
        pct = None
        if d is not None and predicted is not None and predicted > 0:
            pct = 100.0 * d / predicted
        return SixMWDResult(d, predicted, pct)
