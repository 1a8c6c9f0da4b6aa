"""Sexual Quality of Life - Female (SQOL-F; Symonds, Boolell & Quirk 2005).

18 statements answered on a six-point scale, 1 = completely agree ... 6 = completely disagree.
Most statements are negative, so disagreeing (high) means better sexual quality of life; the
positively worded statements are reversed (7 - x) so that every recoded item runs the same
way. Total = sum of the 18 recoded items (18-108, higher = better); ``score_0_100`` =
(total - 18) / 90 * 100.

Which items are reversed: ``reversed_items`` (option). The default, items 1, 5, 9, 13 and 18,
is the key reported for the questionnaire in secondary sources; it could not be checked against
the developer's scoring manual for this library (*unverified*): a protocol that has the
manual should set the option explicitly.

Missing rule: with up to ``max_missing`` unanswered items (default 0: any missing item leaves
the total missing) a missing item is replaced by the mean of the respondent's answered
recoded items (the total is prorated to 18 items, not rounded).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from frailtrial.errors import InputError
from frailtrial.instruments.base import FlatResult, Item, validate_answers
from frailtrial.instruments.options import option_number

N_ITEMS = 18
DEFAULT_REVERSED: tuple[int, ...] = (1, 5, 9, 13, 18)
ITEMS: tuple[Item, ...] = tuple(
    Item(
        f"q{k}",
        f"SQOL-F statement {k} (1 completely agree - 6 completely disagree)",
        minimum=1,
        maximum=6,
    )
    for k in range(1, N_ITEMS + 1)
)


@dataclass(frozen=True)
class SQOLFResult(FlatResult):
    """Total 18-108, its 0-100 rescaling, and how many items were missing."""

    total: float | None
    score_0_100: float | None
    n_missing: int


@dataclass
class SQOLF:
    """SQOL-F; options ``reversed_items`` (item numbers) and ``max_missing`` (default 0)."""

    result_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "total": (18.0, 108.0),
        "score_0_100": (0.0, 100.0),
    }

    reversed_items: tuple[int, ...] = DEFAULT_REVERSED
    max_missing: int = 0
    name: str = field(default="sqolf", init=False, repr=False)
    title: str = field(default="Sexual Quality of Life - Female (SQOL-F)", init=False, repr=False)

    def __post_init__(self) -> None:
        raw: Any = self.reversed_items
        if isinstance(raw, str):
            try:
                raw = [int(x) for x in raw.replace(";", ",").split(",") if x.strip()]
            except ValueError:
                raw = (raw,)
        items = tuple(raw) if isinstance(raw, (tuple, list, set, frozenset)) else (raw,)
        if any(
            isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= N_ITEMS for k in items
        ) or len(set(items)) != len(items):
            raise InputError(
                f"sqolf: option reversed_items={self.reversed_items!r} is not allowed; expected "
                f"distinct item numbers from 1 to {N_ITEMS}"
            )
        self.reversed_items = items
        self.max_missing = int(
            option_number(self.name, "max_missing", self.max_missing, 0, N_ITEMS - 1, integer=True)
        )

    @property
    def items(self) -> Sequence[Item]:
        return ITEMS

    def score(self, answers: Mapping[str, Any]) -> SQOLFResult:
        """Recoded total and 0-100 score; missing items follow ``max_missing``."""
        a = validate_answers(self.name, ITEMS, answers)
        recoded = [
            None
            if a[f"q{k}"] is None
            else (7 - a[f"q{k}"] if k in self.reversed_items else a[f"q{k}"])
            for k in range(1, N_ITEMS + 1)
        ]
        answered = [x for x in recoded if x is not None]
        n_missing = N_ITEMS - len(answered)
        if n_missing > self.max_missing:
            return SQOLFResult(None, None, n_missing)
        total = sum(answered) * N_ITEMS / len(answered)
        return SQOLFResult(total, (total - N_ITEMS) / (5 * N_ITEMS) * 100.0, n_missing)
