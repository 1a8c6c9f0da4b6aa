"""EQ-5D-5L and EQ-5D-3L: five dimensions, the visual analogue scale, and the index value.

The index comes from a country value set: 5L China (Luo 2017), England (Devlin 2018, "UK")
and US (Pickard 2019), each 1 plus the decrements of the levels reported (no intercept); 3L UK
(Dolan 1997) and China (Liu 2014), with a constant for any level above 1 and another for any
level 3. The index is ``None`` when a dimension is missing; the VAS (0-100) is reported as
marked, ``None`` when missing. The decrements have three decimals, so the index is exact to
three decimals (float noise removed); ``state`` is the five-digit health state, e.g. "11213".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from frailtrial.instruments.base import Item, validate_answers
from frailtrial.instruments.options import Eq5d3lValueSet, Eq5d5lValueSet, option_choice

DIMENSIONS = ("mobility", "self_care", "usual_activities", "pain_discomfort", "anxiety_depression")
_LABELS = {
    "mobility": "mobility",
    "self_care": "self-care",
    "usual_activities": "usual activities",
    "pain_discomfort": "pain / discomfort",
    "anxiety_depression": "anxiety / depression",
}

# Decrements for levels 2..5 per dimension (order of DIMENSIONS).
VALUE_SETS_5L: dict[str, tuple[tuple[float, float, float, float], ...]] = {
    "CN": (  # Luo N et al., Value Health 2017
        (-0.066, -0.158, -0.287, -0.345),
        (-0.048, -0.116, -0.210, -0.253),
        (-0.045, -0.107, -0.194, -0.233),
        (-0.058, -0.138, -0.252, -0.302),
        (-0.049, -0.118, -0.215, -0.258),
    ),
    "UK": (  # England: Devlin NJ et al., Health Econ 2018
        (-0.058, -0.076, -0.207, -0.274),
        (-0.050, -0.080, -0.164, -0.203),
        (-0.050, -0.063, -0.162, -0.184),
        (-0.063, -0.084, -0.276, -0.335),
        (-0.078, -0.104, -0.285, -0.289),
    ),
    "US": (  # Pickard AS et al., Value Health 2019
        (-0.096, -0.122, -0.237, -0.322),
        (-0.089, -0.107, -0.220, -0.261),
        (-0.068, -0.101, -0.255, -0.255),
        (-0.060, -0.098, -0.318, -0.414),
        (-0.057, -0.123, -0.299, -0.321),
    ),
}

# 3L: (constant if any level > 1, constant if any level = 3, decrements for levels 2 and 3).
VALUE_SETS_3L: dict[str, tuple[float, float, tuple[tuple[float, float], ...]]] = {
    "UK": (  # Dolan P, Med Care 1997 (TTO)
        -0.081,
        -0.269,
        ((-0.069, -0.314), (-0.104, -0.214), (-0.036, -0.094), (-0.123, -0.386), (-0.071, -0.236)),
    ),
    "CN": (  # Liu GG et al., Value Health 2014 (TTO)
        -0.039,
        -0.022,
        ((-0.099, -0.246), (-0.105, -0.208), (-0.074, -0.193), (-0.092, -0.236), (-0.086, -0.205)),
    ),
}


class EQ5DResult(BaseModel):
    """Index value from the chosen value set and the VAS as marked (each ``None`` if missing)."""

    model_config = ConfigDict(frozen=True)

    index: float | None
    vas: int | None
    state: str | None
    value_set: str


class _EQ5D(ABC):
    """Shared item schema and validation of the 5L and 3L scorers."""

    name: str
    title: str
    levels: int
    value_sets: Any  # the Literal type of the value sets it has
    result_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {"index": (None, 1.0)}

    def _configure(self, value_set: str) -> None:
        """Check the value set name and build the item schema."""
        self.value_set = option_choice(self.name, "value_set", value_set, self.value_sets)
        self._items = (
            *(Item(d, _LABELS[d], "integer", 1, self.levels) for d in DIMENSIONS),
            Item("vas", "EQ VAS, own health today", "integer", 0, 100),
        )

    @property
    def items(self) -> tuple[Item, ...]:
        return self._items

    def score(self, answers: Mapping[str, Any]) -> EQ5DResult:
        """Index and VAS of one respondent; a missing dimension leaves the index missing."""
        values = validate_answers(self.name, self._items, answers)
        levels = [values[d] for d in DIMENSIONS]
        if any(x is None for x in levels):
            index, state = None, None
        else:
            # Decrements have three decimals: rounding to 6 removes float noise, nothing else.
            index = round(self._index(levels), 6)
            state = "".join(str(x) for x in levels)
        return EQ5DResult(index=index, vas=values["vas"], state=state, value_set=self.value_set)

    @abstractmethod
    def _index(self, levels: list[int]) -> float:
        """Index value of a complete health state (levels in the order of DIMENSIONS)."""


class EQ5D5L(_EQ5D):
    """EQ-5D-5L with the China, England or US value set."""

    name = "eq5d5l"
    title = "EQ-5D-5L (value sets CN Luo 2017, UK = England Devlin 2018, US Pickard 2019)"
    levels = 5
    value_sets = Eq5d5lValueSet

    def __init__(self, value_set: Eq5d5lValueSet = "UK") -> None:
        """``value_set``: country whose value set turns health states into index values."""
        self._configure(value_set)

    def _index(self, levels: list[int]) -> float:
        table = VALUE_SETS_5L[self.value_set]
        return 1.0 + sum(table[i][x - 2] for i, x in enumerate(levels) if x > 1)


class EQ5D3L(_EQ5D):
    """EQ-5D-3L with the UK (Dolan 1997) or China (Liu 2014) TTO value set."""

    name = "eq5d3l"
    title = "EQ-5D-3L (value sets UK Dolan 1997, CN Liu 2014)"
    levels = 3
    value_sets = Eq5d3lValueSet

    def __init__(self, value_set: Eq5d3lValueSet = "UK") -> None:
        """``value_set``: country whose value set turns health states into index values."""
        self._configure(value_set)

    def _index(self, levels: list[int]) -> float:
        any_above_1, any_3, table = VALUE_SETS_3L[self.value_set]
        value = 1.0 + sum(table[i][x - 2] for i, x in enumerate(levels) if x > 1)
        if any(x > 1 for x in levels):
            value += any_above_1
        if any(x == 3 for x in levels):
            value += any_3
        return value
