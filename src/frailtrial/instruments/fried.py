"""Fried frailty phenotype (Cardiovascular Health Study, Fried et al. 2001) and Asian variants.

Five criteria, one point each: shrinking, exhaustion, low activity, slowness, weakness.
0 points robust, 1-2 pre-frail, 3-5 frail.

``criteria`` chooses the cut-offs:

- ``"chs"`` (Fried 2001): unintentional weight loss > 10 lb (4.536 kg) in the past year or
  >= 5 % of the previous weight (current weight + loss); either CES-D item ("everything I did
  was an effort", "I could not get going") answered 2 or 3; Minnesota leisure-time activity
  < 383 kcal/week (men) or < 270 (women); 15-ft walk time >= 7 s (men <= 173 cm, women
  <= 159 cm) or >= 6 s (taller); grip by sex and BMI band (men <= 24, <= 26, <= 28, above;
  women <= 23, <= 26, <= 29, above) at or below 29 / 30 / 30 / 32 kg (men) and 17 / 17.3 / 18 /
  21 kg (women). Fried 2001 Table 1 prints <= 30 kg for men with BMI 26.1-28; one secondary
  source prints <= 31 (unverified): ``male_grip_bmi_26_28`` chooses, default 30 (as printed).
  A BMI between two printed bands (e.g. 24.05) belongs to the upper band (band edges are
  "at most 24", "at most 26", ...).
- ``"awgs2019"``: CHS shrinking, exhaustion and activity; weakness grip < 28 kg (men) or
  < 18 kg (women); slowness gait speed < 1.0 m/s (AWGS 2019).
- ``"jchs"`` (Satake & Arai 2020): weight loss >= 2 kg in 6 months; CES-D or the direct
  ``exhausted``/``low_activity`` answers; grip < 28 / < 18 kg; gait speed < 1.0 m/s.

Walk: CHS uses the time over 15 ft (4.572 m); the variants use gait speed. When only the other
form is recorded it is converted over the 15-ft course (speed = 4.572 m / time).
Exhaustion uses the two CES-D items when either is answered (a criterion is met when either
answered item is >= 2, and is missing when neither is >= 2 and one is unanswered); otherwise
the direct yes/no answer ``exhausted``. Likewise activity uses kcal/week, else ``low_activity``.

Missing-criterion rule: a criterion is missing when its inputs are (sex is an input of the
sex-specific cut-offs). By default the score and
category are missing when any criterion is. With ``allow_missing=True`` the category is still
reported when the known points already decide it (>= 3 points: frail; 1-2 points with
known + missing <= 2: pre-frail); the score stays missing unless every criterion is known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from frailtrial.errors import InputError
from frailtrial.instruments.base import FlatResult, Item, validate_answers
from frailtrial.instruments.grip import AWGS2019_LOW_GRIP_KG
from frailtrial.instruments.options import (
    FriedCriteria,
    option_bool,
    option_choice,
    option_number,
)
from frailtrial.instruments.walk4m import AWGS2019_SLOW_M_S

FIFTEEN_FEET_M = 15 * 0.3048
TEN_POUNDS_KG = 10 * 0.45359237

ITEMS: tuple[Item, ...] = (
    Item("sex", "Sex", kind="choice", choices=("male", "female")),
    Item("height_cm", "Standing height", kind="number", minimum=100, maximum=230, unit="cm"),
    Item("weight_kg", "Current body weight", kind="number", minimum=20, maximum=300, unit="kg"),
    Item("bmi", "Body-mass index", kind="number", minimum=10, maximum=80, unit="kg/m2"),
    Item(
        "weight_loss_kg",
        "Unintentional weight loss (past year for CHS and AWGS, past 6 months for J-CHS)",
        kind="number",
        minimum=0,
        maximum=100,
        unit="kg",
    ),
    Item(
        "cesd_effort",
        "CES-D: I felt that everything I did was an effort (0-3)",
        minimum=0,
        maximum=3,
    ),
    Item("cesd_going", "CES-D: I could not get going (0-3)", minimum=0, maximum=3),
    Item(
        "exhausted", "Direct exhaustion answer, used when no CES-D item is answered", kind="boolean"
    ),
    Item(
        "kcal_week",
        "Leisure-time activity (Minnesota questionnaire)",
        kind="number",
        minimum=0,
        maximum=20000,
        unit="kcal/week",
    ),
    Item(
        "low_activity", "Direct low-activity answer, used when kcal_week is missing", kind="boolean"
    ),
    Item(
        "walk_time_s",
        "Time to walk 15 ft (4.57 m) at usual pace",
        kind="number",
        minimum=1,
        maximum=120,
        unit="s",
    ),
    Item("gait_speed_m_s", "Usual gait speed", kind="number", minimum=0.05, maximum=3, unit="m/s"),
    Item("grip_kg", "Grip strength, best trial", kind="number", minimum=0, maximum=100, unit="kg"),
)

_CHS_GRIP_WOMEN = ((23.0, 17.0), (26.0, 17.3), (29.0, 18.0), (float("inf"), 21.0))


@dataclass(frozen=True)
class FriedResult(FlatResult):
    """Criterion flags (None when missing), points and category of one assessment."""

    criteria: str
    shrinking: bool | None
    exhaustion: bool | None
    low_activity: bool | None
    slowness: bool | None
    weakness: bool | None
    known_points: int
    n_missing: int
    score: int | None
    category: str | None
    bmi: float | None
    gait_speed_m_s: float | None


def category_of(points: int, n_missing: int) -> str | None:
    """Category decided by ``points`` known points when ``n_missing`` criteria are unknown."""
    if points >= 3:
        return "frail"
    if n_missing == 0:
        return "robust" if points == 0 else "pre-frail"
    if points >= 1 and points + n_missing <= 2:
        return "pre-frail"
    return None


@dataclass
class Fried:
    """Fried phenotype scorer; options: ``criteria``, ``male_grip_bmi_26_28``, ``allow_missing``."""

    result_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {"score": (0.0, 5.0)}

    criteria: FriedCriteria = "chs"
    male_grip_bmi_26_28: float = 30.0
    allow_missing: bool = False
    name: str = field(default="fried", init=False, repr=False)
    title: str = field(default="Fried frailty phenotype", init=False, repr=False)

    def __post_init__(self) -> None:
        self.criteria = option_choice(self.name, "criteria", self.criteria, FriedCriteria)
        cut = option_number(self.name, "male_grip_bmi_26_28", self.male_grip_bmi_26_28, 30, 31)
        if cut not in (30, 31):
            raise InputError(
                f"fried: option male_grip_bmi_26_28={self.male_grip_bmi_26_28!r} is not "
                "allowed; expected 30 (Fried 2001 as printed) or 31"
            )
        self.male_grip_bmi_26_28 = cut
        self.allow_missing = option_bool(self.name, "allow_missing", self.allow_missing)

    @property
    def items(self) -> Sequence[Item]:
        return ITEMS

    def required_items(self, answers: Mapping[str, Any]) -> tuple[str, ...]:
        """What makes every criterion known under the module's rule, one of each pair of
        alternatives: both CES-D items unless only the direct exhaustion answer is given;
        kcal/week unless the direct activity answer is; the walk as the criteria read it
        (CHS time, else speed) unless the other form is given; weight unless BMI and height
        give it; CHS also height (walk cells, BMI) and BMI or weight."""
        given = {k for k, v in answers.items() if v is not None}
        needed = ["sex", "weight_loss_kg", "grip_kg"]
        if "exhausted" not in given or given & {"cesd_effort", "cesd_going"}:
            needed += ["cesd_effort", "cesd_going"]
        if "low_activity" not in given or "kcal_week" in given:
            needed.append("kcal_week")
        walk, other = ("walk_time_s", "gait_speed_m_s")
        if self.criteria != "chs":
            walk, other = other, walk
        if other not in given:
            needed.append(walk)
        if self.criteria == "chs":
            needed.append("height_cm")
        shrinking_needs_weight = self.criteria != "jchs" and not {"bmi", "height_cm"} <= given
        grip_needs_bmi = self.criteria == "chs" and "bmi" not in given
        if shrinking_needs_weight or grip_needs_bmi:
            needed.append("weight_kg")
        return tuple(needed)

    def score(self, answers: Mapping[str, Any]) -> FriedResult:
        """Flags, points and category; missing criteria follow the module's rule."""
        a = validate_answers(self.name, ITEMS, answers)
        male = None if a["sex"] is None else a["sex"] == "male"
        bmi = _bmi(a["bmi"], a["weight_kg"], a["height_cm"])
        speed = a["gait_speed_m_s"]
        if speed is None and a["walk_time_s"] is not None:
            speed = FIFTEEN_FEET_M / a["walk_time_s"]
        weight = a["weight_kg"]
        if weight is None and a["bmi"] is not None and a["height_cm"] is not None:
            weight = a["bmi"] * (a["height_cm"] / 100.0) ** 2
        flags = (
            self._shrinking(a["weight_loss_kg"], weight),
            _exhaustion(a["cesd_effort"], a["cesd_going"], a["exhausted"]),
            _low_activity(a["kcal_week"], a["low_activity"], male),
            self._slowness(a["walk_time_s"], speed, a["height_cm"], male),
            self._weakness(a["grip_kg"], bmi, male),
        )
        points = sum(1 for f in flags if f)
        n_missing = sum(1 for f in flags if f is None)
        category = category_of(points, n_missing)
        if n_missing and not self.allow_missing:
            category = None
        return FriedResult(
            criteria=self.criteria,
            shrinking=flags[0],
            exhaustion=flags[1],
            low_activity=flags[2],
            slowness=flags[3],
            weakness=flags[4],
            known_points=points,
            n_missing=n_missing,
            score=points if n_missing == 0 else None,
            category=category,
            bmi=bmi,
            gait_speed_m_s=speed,
        )

    def _shrinking(self, loss: float | None, weight: float | None) -> bool | None:
        if loss is None:
            return None
        if self.criteria == "jchs":
            return loss >= 2.0
        if loss > TEN_POUNDS_KG:
            return True
        if weight is None:
            return None if loss > 0 else False
        return loss >= 0.05 * (weight + loss)

    def _slowness(
        self, time: float | None, speed: float | None, height: float | None, male: bool | None
    ) -> bool | None:
        if self.criteria != "chs":
            return None if speed is None else speed < AWGS2019_SLOW_M_S
        if time is None and speed is not None:
            time = FIFTEEN_FEET_M / speed
        if time is None or height is None or male is None:
            return None
        tall = height > (173.0 if male else 159.0)
        return time >= (6.0 if tall else 7.0)

    def _weakness(self, grip: float | None, bmi: float | None, male: bool | None) -> bool | None:
        if grip is None or male is None:
            return None
        if self.criteria != "chs":
            return grip < AWGS2019_LOW_GRIP_KG["male" if male else "female"]
        if bmi is None:
            return None
        table = (
            ((24.0, 29.0), (26.0, 30.0), (28.0, self.male_grip_bmi_26_28), (float("inf"), 32.0))
            if male
            else _CHS_GRIP_WOMEN
        )
        cut = next(c for upper, c in table if bmi <= upper)
        return grip <= cut


def _bmi(bmi: float | None, weight: float | None, height: float | None) -> float | None:
    if bmi is not None:
        return bmi
    if weight is None or height is None:
        return None
    return weight / (height / 100.0) ** 2


def _exhaustion(effort: int | None, going: int | None, direct: bool | None) -> bool | None:
    answered = [x for x in (effort, going) if x is not None]
    if not answered:
        return direct
    if any(x >= 2 for x in answered):
        return True
    return False if len(answered) == 2 else None


def _low_activity(kcal: float | None, direct: bool | None, male: bool | None) -> bool | None:
    if kcal is None:
        return direct
    if male is None:
        return None
    return kcal < (383.0 if male else 270.0)
