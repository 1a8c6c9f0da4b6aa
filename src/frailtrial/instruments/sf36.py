"""SF-36 Health Survey, versions 1 and 2, with SF-36 or RAND-36 scoring.

Items carry the numbers printed on the form ("1", "3a" … "11d"); ``None`` marks a missing
answer. SF-36 scoring (Ware 1993; v2 Ware 2000) recodes items, fills a missing item with the
mean of the person's answered recoded items of that scale when at least half of the scale is
answered (the half-scale rule), and maps each raw scale to 0-100. The norm-based summaries
PCS and MCS standardize the eight scales with US general-population norms (1990 or 1998) and
weight them with the 1990 factor-score coefficients; they need all eight scales. The simple
summaries are the sum (0-400, the HUC-MSC trial's convention) and the mean (0-100) of the four
physical (PF, RP, BP, GH) and the four mental (VT, SF, RE, MH) scales; each needs its four.

RAND-36 scoring (Hays 1993) maps each answered item linearly to 0-100 (higher = better) and
averages the answered items of a scale (a scale is missing only when none is answered), so it
differs from SF-36 scoring for BP and GH. The norm-based PCS/MCS are defined on SF-36 scoring
only and stay ``None`` under RAND-36; the simple summaries are computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from frailtrial.instruments.base import Item, validate_answers
from frailtrial.instruments.options import Sf36Norms, Sf36Scoring, Sf36Version, option_choice

SCALES = ("PF", "RP", "BP", "GH", "VT", "SF", "RE", "MH")
PHYSICAL = ("PF", "RP", "BP", "GH")
MENTAL = ("VT", "SF", "RE", "MH")


@dataclass(frozen=True)
class _Def:
    """One item: form number, scale (None: not scored), label, responses in v1/v2, direction."""

    id: str
    scale: str | None
    label: str
    levels_v1: int
    levels_v2: int
    higher_is_better: bool


# fmt: off
_DEFS: tuple[_Def, ...] = (
    _Def("1", "GH", "general health rating (1 excellent .. 5 poor)", 5, 5, False),
    _Def("2", None, "health compared with one year ago (not scored)", 5, 5, False),
    _Def("3a", "PF", "limited in vigorous activities", 3, 3, True),
    _Def("3b", "PF", "limited in moderate activities", 3, 3, True),
    _Def("3c", "PF", "limited lifting or carrying groceries", 3, 3, True),
    _Def("3d", "PF", "limited climbing several flights of stairs", 3, 3, True),
    _Def("3e", "PF", "limited climbing one flight of stairs", 3, 3, True),
    _Def("3f", "PF", "limited bending, kneeling, or stooping", 3, 3, True),
    _Def("3g", "PF", "limited walking more than a mile", 3, 3, True),
    _Def("3h", "PF", "limited walking several blocks", 3, 3, True),
    _Def("3i", "PF", "limited walking one block", 3, 3, True),
    _Def("3j", "PF", "limited bathing or dressing", 3, 3, True),
    _Def("4a", "RP", "cut down time, physical health", 2, 5, True),
    _Def("4b", "RP", "accomplished less, physical health", 2, 5, True),
    _Def("4c", "RP", "limited in kind of work, physical health", 2, 5, True),
    _Def("4d", "RP", "difficulty performing work, physical health", 2, 5, True),
    _Def("5a", "RE", "cut down time, emotional problems", 2, 5, True),
    _Def("5b", "RE", "accomplished less, emotional problems", 2, 5, True),
    _Def("5c", "RE", "less carefully than usual, emotional problems", 2, 5, True),
    _Def("6", "SF", "extent health interfered with social activities", 5, 5, False),
    _Def("7", "BP", "amount of bodily pain (1 none .. 6 very severe)", 6, 6, False),
    _Def("8", "BP", "pain interfered with normal work (1 not at all)", 5, 5, False),
    _Def("9a", "VT", "full of life / pep (1 all of the time)", 6, 5, False),
    _Def("9b", "MH", "very nervous", 6, 5, True),
    _Def("9c", "MH", "down in the dumps", 6, 5, True),
    _Def("9d", "MH", "calm and peaceful", 6, 5, False),
    _Def("9e", "VT", "a lot of energy", 6, 5, False),
    _Def("9f", "MH", "downhearted and depressed / blue", 6, 5, True),
    _Def("9g", "VT", "worn out", 6, 5, True),
    _Def("9h", "MH", "happy", 6, 5, False),
    _Def("9i", "VT", "tired", 6, 5, True),
    _Def("10", "SF", "time health interfered with social activities", 5, 5, True),
    _Def("11a", "GH", "seem to get sick easier than others", 5, 5, True),
    _Def("11b", "GH", "as healthy as anybody I know", 5, 5, False),
    _Def("11c", "GH", "expect my health to get worse", 5, 5, True),
    _Def("11d", "GH", "my health is excellent", 5, 5, False),
)
# fmt: on

ITEM_IDS: tuple[str, ...] = tuple(d.id for d in _DEFS)

# Minimum answered items for the half-scale rule (SF-36 scoring).
_MIN_ANSWERED = {"PF": 5, "RP": 2, "BP": 1, "GH": 3, "VT": 2, "SF": 1, "RE": 2, "MH": 3}

# SF-36 special recodes (Ware 1993), identical in v1 and v2.
_GH1 = {1: 5.0, 2: 4.4, 3: 3.4, 4: 2.0, 5: 1.0}
_BP1 = {1: 6.0, 2: 5.4, 3: 4.2, 4: 3.1, 5: 2.2, 6: 1.0}
_BP2_ALONE = {1: 6.0, 2: 4.75, 3: 3.5, 4: 2.25, 5: 1.0}

# Norms: scale -> (mean, SD), and the 1990 factor-score coefficients (PCS, MCS).
NORMS: dict[str, dict[str, tuple[float, float]]] = {
    "us1990": {
        "PF": (84.52404, 22.89490),
        "RP": (81.19907, 33.79729),
        "BP": (75.49196, 23.55879),
        "GH": (72.21316, 20.16964),
        "VT": (61.05453, 20.86942),
        "SF": (83.59753, 22.37642),
        "RE": (81.29467, 33.02717),
        "MH": (74.84212, 18.01189),
    },
    "us1998": {
        "PF": (83.29094, 23.75883),
        "RP": (82.50964, 25.52028),
        "BP": (71.32527, 23.66224),
        "GH": (70.84570, 20.97821),
        "VT": (58.31411, 20.01923),
        "SF": (84.30250, 22.91921),
        "RE": (87.39733, 21.43778),
        "MH": (74.98685, 17.75604),
    },
}
COEFFICIENTS: dict[str, tuple[float, float]] = {
    "PF": (0.42402, -0.22999),
    "RP": (0.35119, -0.12329),
    "BP": (0.31754, -0.09731),
    "GH": (0.24954, -0.01571),
    "VT": (0.02877, 0.23534),
    "SF": (-0.00753, 0.26876),
    "RE": (-0.19206, 0.43407),
    "MH": (-0.22069, 0.48581),
}


class SF36Result(BaseModel):
    """Eight 0-100 scales, norm-based PCS/MCS, and the simple sum (0-400) and mean summaries."""

    model_config = ConfigDict(frozen=True)

    PF: float | None
    RP: float | None
    BP: float | None
    GH: float | None
    VT: float | None
    SF: float | None
    RE: float | None
    MH: float | None
    PCS: float | None
    MCS: float | None
    PCS_sum: float | None
    MCS_sum: float | None
    PCS_mean: float | None
    MCS_mean: float | None


def _levels(d: _Def, version: Sf36Version) -> int:
    return d.levels_v1 if version == "v1" else d.levels_v2


class SF36:
    """SF-36 v1/v2 scorer; options fixed at construction, ``score`` scores one respondent."""

    name = "sf36"
    title = "SF-36 Health Survey (v1/v2; SF-36 or RAND-36 scoring)"
    result_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        **dict.fromkeys(("PF", "RP", "BP", "GH", "VT", "SF", "RE", "MH"), (0.0, 100.0)),
        **dict.fromkeys(("PCS_sum", "MCS_sum"), (0.0, 400.0)),
        **dict.fromkeys(("PCS_mean", "MCS_mean"), (0.0, 100.0)),
    }

    def __init__(
        self,
        version: Sf36Version = "v1",
        norms: Sf36Norms | None = None,
        scoring: Sf36Scoring = "sf36",
    ) -> None:
        """``norms`` defaults to us1990 for v1 and us1998 for v2."""
        self.version: Sf36Version = option_choice(self.name, "version", version, Sf36Version)
        default_norms = "us1990" if self.version == "v1" else "us1998"
        self.norms: Sf36Norms = option_choice(self.name, "norms", norms or default_norms, Sf36Norms)
        self.scoring: Sf36Scoring = option_choice(self.name, "scoring", scoring, Sf36Scoring)
        self._items = tuple(
            Item(d.id, d.label, "integer", 1, _levels(d, self.version)) for d in _DEFS
        )

    @property
    def items(self) -> tuple[Item, ...]:
        return self._items

    def score(self, answers: Mapping[str, Any]) -> SF36Result:
        """Score one respondent's answers (missing items as ``None`` or absent)."""
        values = validate_answers(self.name, self._items, answers)
        if self.scoring == "rand36":
            scales = self._rand36_scales(values)
        else:
            scales = self._sf36_scales(values)
        return _summaries(scales, None if self.scoring == "rand36" else self.norms)

    def _sf36_scales(self, values: Mapping[str, int | None]) -> dict[str, float | None]:
        recoded: dict[str, list[float]] = {s: [] for s in SCALES}
        lo_hi: dict[str, tuple[float, float]] = {}
        for d in _DEFS:
            if d.scale is None or d.scale == "BP":
                continue
            top = _levels(d, self.version)
            lo_hi[d.scale] = (1.0, float(top))
            x = values[d.id]
            if x is None:
                continue
            if d.id == "1":
                recoded[d.scale].append(_GH1[x])
            elif d.higher_is_better:
                recoded[d.scale].append(float(x))
            else:
                recoded[d.scale].append(float(top + 1 - x))
        bp1, bp2 = values["7"], values["8"]
        lo_hi["BP"] = (1.0, 6.0)
        if bp1 is not None and bp2 is not None:
            r2 = 6.0 if (bp2 == 1 and bp1 == 1) else float(6 - bp2)
            recoded["BP"] = [_BP1[bp1], r2]
        elif bp1 is not None:
            recoded["BP"] = [_BP1[bp1]]
        elif bp2 is not None:
            recoded["BP"] = [_BP2_ALONE[bp2]]
        out: dict[str, float | None] = {}
        for s in SCALES:
            answered = recoded[s]
            if len(answered) < _MIN_ANSWERED[s]:
                out[s] = None
                continue
            # Filling the missing items with the person's mean makes raw = n * mean, so the
            # 0-100 score is that of the mean item; written to stay exact for whole answers.
            k = len(answered)
            lo, hi = lo_hi[s]
            out[s] = (sum(answered) - k * lo) * 100.0 / (k * (hi - lo))
        return out

    def _rand36_scales(self, values: Mapping[str, int | None]) -> dict[str, float | None]:
        points: dict[str, list[float]] = {s: [] for s in SCALES}
        for d in _DEFS:
            x = values[d.id]
            if d.scale is None or x is None:
                continue
            top = _levels(d, self.version)
            step = (x - 1) / (top - 1) * 100.0
            points[d.scale].append(step if d.higher_is_better else 100.0 - step)
        return {s: (sum(p) / len(p) if p else None) for s, p in points.items()}


def _summaries(scales: Mapping[str, float | None], norms: str | None) -> SF36Result:
    """Add the norm-based (when ``norms``) and the simple summaries to the eight scales."""
    pcs = mcs = None
    if norms is not None and all(scales[s] is not None for s in SCALES):
        z = {s: (scales[s] - m) / sd for s, (m, sd) in NORMS[norms].items()}  # type: ignore[operator]
        pcs = 50.0 + 10.0 * sum(z[s] * COEFFICIENTS[s][0] for s in SCALES)
        mcs = 50.0 + 10.0 * sum(z[s] * COEFFICIENTS[s][1] for s in SCALES)
    phys = [scales[s] for s in PHYSICAL]
    ment = [scales[s] for s in MENTAL]
    p_sum = sum(phys) if all(v is not None for v in phys) else None  # type: ignore[arg-type]
    m_sum = sum(ment) if all(v is not None for v in ment) else None  # type: ignore[arg-type]
    return SF36Result(
        **scales,
        PCS=pcs,
        MCS=mcs,
        PCS_sum=p_sum,
        MCS_sum=m_sum,
        PCS_mean=None if p_sum is None else p_sum / 4.0,
        MCS_mean=None if m_sum is None else m_sum / 4.0,
    )
