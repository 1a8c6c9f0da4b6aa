"""Laboratory values: CKD-EPI 2021 eGFR, unit conversions, cytokines below the LLOQ.

- eGFR, CKD-EPI 2021 creatinine equation without race (Inker et al., N Engl J Med
  2021;385:1737-49): 142 * min(Scr/k, 1)^a * max(Scr/k, 1)^-1.200 * 0.9938^age
  * 1.012 [female], k = 0.7 (female) / 0.9 (male), a = -0.241 (female) / -0.302 (male),
  Scr in mg/dL (umol/L / 88.4). Result in mL/min/1.73 m2 with the KDIGO G category.
- :func:`convert`: SI <-> conventional units by analyte (:data:`CONVERSIONS`).
- Cytokines: :func:`substitute_below_lloq` flags values below the assay's lower limit of
  quantification and substitutes them by the rule the analysis plan names
  (``lloq``, ``lloq/2``, ``lloq/sqrt2``, ``missing``, ``zero``); vectorised over arrays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from frailtrial.errors import InputError
from frailtrial.instruments.base import FlatResult, Item, validate_answers
from frailtrial.instruments.options import EgfrUnit, LloqSubstitution, option_choice

CREATININE_UMOL_PER_MG_DL = 88.4

# analyte -> (SI unit, conventional unit, conventional value per SI unit)
CONVERSIONS: dict[str, tuple[str, str, float]] = {
    "creatinine": ("umol/L", "mg/dL", 1 / CREATININE_UMOL_PER_MG_DL),
    "glucose": ("mmol/L", "mg/dL", 18.0156),  # molar mass 180.156 g/mol
    "hemoglobin": ("g/L", "g/dL", 0.1),
    "urea": ("mmol/L", "mg/dL BUN", 2.8014),  # urea nitrogen, 2 x 14.007 g/mol
    "cholesterol": ("mmol/L", "mg/dL", 38.67),
    "triglycerides": ("mmol/L", "mg/dL", 88.57),
}

SUBSTITUTIONS: tuple[str, ...] = get_args(LloqSubstitution)
_SUBSTITUTE_FACTOR = {"lloq": 1.0, "lloq/2": 0.5, "lloq/sqrt2": 1 / math.sqrt(2), "zero": 0.0,
                      "missing": math.nan}  # fmt: skip


def convert(values: ArrayLike, analyte: str, from_unit: str, to_unit: str) -> NDArray[np.float64]:
    """Convert ``values`` of ``analyte`` between its SI and conventional units (vectorised)."""
    try:
        si, conventional, factor = CONVERSIONS[analyte]
    except KeyError:
        raise InputError(f"unknown analyte {analyte!r}; known: {', '.join(CONVERSIONS)}") from None
    x = np.asarray(values, dtype=float)
    pair = (from_unit, to_unit)
    if pair == (si, conventional):
        return x * factor
    if pair == (conventional, si):
        return x / factor
    if from_unit == to_unit and from_unit in (si, conventional):
        return x.copy()
    raise InputError(
        f"{analyte}: cannot convert {from_unit!r} to {to_unit!r}; units are {si} and {conventional}"
    )


def ckd_epi_2021(
    creatinine_mg_dl: ArrayLike, age: ArrayLike, sex: ArrayLike
) -> NDArray[np.float64]:
    """CKD-EPI 2021 race-free eGFR (mL/min/1.73 m2); sex as "male"/"female" (vectorised)."""
    scr = np.asarray(creatinine_mg_dl, dtype=float)
    age_a = np.asarray(age, dtype=float)
    sex_a = np.asarray(sex, dtype=object)
    scr, age_a, sex_a = np.broadcast_arrays(scr, age_a, sex_a)
    bad = set(sex_a.ravel()) - {"male", "female"}
    if bad:
        raise InputError(f"egfr: sex {sorted(map(str, bad))[0]!r} is not one of male, female")
    female = sex_a == "female"
    kappa = np.where(female, 0.7, 0.9)
    alpha = np.where(female, -0.241, -0.302)
    ratio = scr / kappa
    return (
        142.0
        * np.minimum(ratio, 1.0) ** alpha
        * np.maximum(ratio, 1.0) ** -1.200
        * 0.9938**age_a
        * np.where(female, 1.012, 1.0)
    )


def gfr_category(egfr: float) -> str:
    """KDIGO 2012 GFR category: G1 >= 90, G2 60-89, G3a 45-59, G3b 30-44, G4 15-29, G5 < 15."""
    for cut, label in ((90, "G1"), (60, "G2"), (45, "G3a"), (30, "G3b"), (15, "G4")):
        if egfr >= cut:
            return label
    return "G5"


def substitute_below_lloq(
    values: ArrayLike,
    lloq: ArrayLike,
    rule: str,
    below: ArrayLike | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """(analysed values, below-LLOQ flags) for arrays of measured values and LLOQs.

    A value is below the LLOQ when it is < ``lloq`` or when the laboratory flagged it
    (``below`` True, with the value itself possibly NaN). Values at or above the LLOQ are kept;
    missing values that are not flagged stay NaN. ``rule`` is one of SUBSTITUTIONS.
    """
    if rule not in _SUBSTITUTE_FACTOR:
        raise InputError(
            f"cytokine substitution {rule!r} is not allowed; expected one of "
            + ", ".join(SUBSTITUTIONS)
        )
    x = np.asarray(values, dtype=float)
    limit = np.asarray(lloq, dtype=float)
    flagged = np.zeros(x.shape, dtype=bool) if below is None else np.asarray(below, dtype=bool)
    x, limit, flagged = np.broadcast_arrays(x, limit, flagged)
    with np.errstate(invalid="ignore"):
        is_below = flagged | (x < limit)
    out = np.where(is_below, limit * _SUBSTITUTE_FACTOR[rule], x)
    return out.astype(float), is_below


EGFR_ITEMS: tuple[Item, ...] = (
    Item(
        "creatinine",
        "Serum creatinine (IDMS-standardised)",
        kind="number",
        minimum=0.05,
        maximum=2000,
    ),
    Item("creatinine_unit", "Unit of creatinine", kind="choice", choices=("mg/dL", "umol/L")),
    Item("age", "Age", kind="number", minimum=18, maximum=120, unit="years"),
    Item("sex", "Sex", kind="choice", choices=("male", "female")),
)


@dataclass(frozen=True)
class EGFRResult(FlatResult):
    """Creatinine in mg/dL, eGFR (mL/min/1.73 m2) and its KDIGO G category."""

    creatinine_mg_dl: float | None
    egfr: float | None
    gfr_category: str | None


@dataclass
class EGFR:
    """CKD-EPI 2021 eGFR; ``creatinine_unit`` item defaults to option ``unit`` (mg/dL)."""

    unit: EgfrUnit = "mg/dL"
    name: str = field(default="egfr", init=False, repr=False)
    title: str = field(
        default="eGFR, CKD-EPI 2021 creatinine equation (race-free)", init=False, repr=False
    )

    def __post_init__(self) -> None:
        self.unit = option_choice(self.name, "unit", self.unit, EgfrUnit)

    @property
    def items(self) -> Sequence[Item]:
        return EGFR_ITEMS

    def required_items(self, answers: Mapping[str, Any]) -> tuple[str, ...]:
        """Creatinine, age and sex (the unit defaults to the option's)."""
        return ("creatinine", "age", "sex")

    def score(self, answers: Mapping[str, Any]) -> EGFRResult:
        """eGFR; missing when creatinine, age or sex is missing."""
        a = validate_answers(self.name, EGFR_ITEMS, answers)
        scr = a["creatinine"]
        if scr is None:
            return EGFRResult(None, None, None)
        unit = a["creatinine_unit"] or self.unit
        scr_mg = scr if unit == "mg/dL" else scr / CREATININE_UMOL_PER_MG_DL
        if scr_mg > 30:
            raise InputError(
                f"egfr: item 'creatinine' = {scr!r} {unit} is not plausible; expected at most "
                "30 mg/dL (a value in umol/L needs creatinine_unit 'umol/L')"
            )
        if a["age"] is None or a["sex"] is None:
            return EGFRResult(scr_mg, None, None)
        egfr = float(ckd_epi_2021(scr_mg, a["age"], a["sex"]))
        return EGFRResult(scr_mg, egfr, gfr_category(egfr))


CYTOKINE_ITEMS: tuple[Item, ...] = (
    Item("value", "Measured concentration", kind="number", minimum=0, unit="pg/mL"),
    Item("below_lloq", "Laboratory reported the sample below the LLOQ", kind="boolean"),
    Item("lloq", "Assay lower limit of quantification", kind="number", minimum=0, unit="pg/mL"),
)


@dataclass(frozen=True)
class CytokineResult(FlatResult):
    """Value for analysis after substitution, the below-LLOQ flag and the rule used."""

    value: float | None
    below_lloq: bool | None
    substitution: str


@dataclass
class Cytokine:
    """One cytokine result; option ``substitution`` names the analysis plan's rule."""

    substitution: LloqSubstitution = "lloq/2"
    name: str = field(default="cytokine", init=False, repr=False)
    title: str = field(
        default="Cytokine concentration with below-LLOQ handling", init=False, repr=False
    )

    def __post_init__(self) -> None:
        self.substitution = option_choice(
            self.name, "substitution", self.substitution, LloqSubstitution
        )

    @property
    def items(self) -> Sequence[Item]:
        return CYTOKINE_ITEMS

    def required_items(self, answers: Mapping[str, Any]) -> tuple[str, ...]:
        """The value and the assay's LLOQ; a sample flagged below the LLOQ needs no value."""
        return ("lloq",) if answers.get("below_lloq") is True else ("value", "lloq")

    def score(self, answers: Mapping[str, Any]) -> CytokineResult:
        """Flag and substitute; without an LLOQ only the laboratory's flag is known."""
        a = validate_answers(self.name, CYTOKINE_ITEMS, answers)
        value, flag, lloq = a["value"], a["below_lloq"], a["lloq"]
        if lloq is None:
            if flag:
                return CytokineResult(None, True, self.substitution)
            return CytokineResult(value, None if value is None else flag, self.substitution)
        if value is None and not flag:
            return CytokineResult(None, None, self.substitution)
        out, below = substitute_below_lloq(
            math.nan if value is None else value, lloq, self.substitution, bool(flag)
        )
        v = float(out)
        return CytokineResult(None if math.isnan(v) else v, bool(below), self.substitution)
