"""FEV1 percent predicted, z-score and lower limit of normal by GLI-2012 (Quanjer et al. 2012).

LMS model (Quanjer PH, Stanojevic S, Cole TJ et al. Eur Respir J 2012;40:1324-43):

- L = q0 + q1 ln(age) + Lspline
- M = exp(a0 + a1 ln(height cm) + a2 ln(age) + a3 AfrAm + a4 NEAsia + a5 SEAsia + a6 Other
  + Mspline)
- S = exp(p0 + p1 ln(age) + p2 AfrAm + p3 NEAsia + p4 SEAsia + p5 Other + Sspline)

The spline terms come from the GLI look-up table (0.25-year steps, linearly interpolated
between rows; the closed-form terms use the exact age), shipped as package data
``data/gli2012_fev1_splines.csv``. Then predicted = M, %pred = 100 obs / M,
z = ((obs / M)^L - 1) / (L S), LLN = M (1 - 1.645 L S)^(1/L) (5th percentile).

Valid for ages 3-95. Missing rule: every output is missing when any input is.
:func:`gli2012_fev1` is the vectorised form for whole columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from frailtrial.errors import InputError
from frailtrial.instruments.base import FlatResult, Item, validate_answers

ETHNICITIES: tuple[str, ...] = ("caucasian", "african_american", "ne_asian", "se_asian", "other")
SEXES: tuple[str, ...] = ("male", "female")
AGE_RANGE = (3.0, 95.0)
Z_LLN = 1.645

# FEV1 coefficients, Quanjer et al. 2012 online supplement: a0..a6, p0..p5, q0, q1 (the same
# digits in the independent transcriptions of pyspiro 1.0.0 and spiro-zscore 0.4.0).
COEFFICIENTS: dict[str, dict[str, float]] = {
    "male": {
        "a0": -10.3420, "a1": 2.2196, "a2": 0.0574, "a3": -0.1589, "a4": -0.0351,
        "a5": -0.0881, "a6": -0.0708, "p0": -2.3268, "p1": 0.0798, "p2": 0.1096,
        "p3": -0.3973, "p4": 0.0327, "p5": 0.0114, "q0": 0.8866, "q1": 0.0850,
    },
    "female": {
        "a0": -9.6987, "a1": 2.1211, "a2": -0.0270, "a3": -0.1484, "a4": -0.0149,
        "a5": -0.1208, "a6": -0.0708, "p0": -2.3765, "p1": 0.0972, "p2": 0.1016,
        "p3": -0.0109, "p4": 0.0733, "p5": 0.0114, "q0": 1.1540, "q1": 0.0,
    },
}  # fmt: skip
_ETHNIC_TERMS = {"african_american": ("a3", "p2"), "ne_asian": ("a4", "p3"),
                 "se_asian": ("a5", "p4"), "other": ("a6", "p5")}  # fmt: skip

ITEMS: tuple[Item, ...] = (
    Item("age", "Age", kind="number", minimum=AGE_RANGE[0], maximum=AGE_RANGE[1], unit="years"),
    Item("height_cm", "Standing height", kind="number", minimum=80, maximum=230, unit="cm"),
    Item("sex", "Sex", kind="choice", choices=SEXES),
    Item("ethnicity", "GLI-2012 ethnic group", kind="choice", choices=ETHNICITIES),
    Item(
        "fev1_l",
        "FEV1, best of acceptable manoeuvres",
        kind="number",
        minimum=0.05,
        maximum=10,
        unit="L",
    ),
)


@cache
def _splines() -> dict[str, NDArray[np.float64]]:
    """The shipped look-up table, one array per column (age, male_Lspline, ...)."""
    path = resources.files("frailtrial.instruments") / "data" / "gli2012_fev1_splines.csv"
    with path.open() as fh:
        lines = [ln for ln in fh if not ln.startswith("#")]
    header = lines[0].strip().split(",")
    data = np.array([[float(x) for x in ln.split(",")] for ln in lines[1:]])
    return {name: data[:, j] for j, name in enumerate(header)}


def _broadcast(
    age: ArrayLike, height_cm: ArrayLike, sex: ArrayLike, ethnicity: ArrayLike, *rest: ArrayLike
) -> list[NDArray[Any]]:
    """Inputs as arrays of one common shape (numbers as float, names as object)."""
    arrays = [np.asarray(age, dtype=float), np.asarray(height_cm, dtype=float),
              np.asarray(sex, dtype=object), np.asarray(ethnicity, dtype=object),
              *(np.asarray(x, dtype=float) for x in rest)]  # fmt: skip
    return list(np.broadcast_arrays(*arrays))


@dataclass(frozen=True)
class GLIResult(FlatResult):
    """Predicted FEV1 (M), LLN, z-score and percent predicted."""

    predicted_l: float | None
    lln_l: float | None
    z: float | None
    pct_predicted: float | None


def gli2012_lms(
    age: ArrayLike, height_cm: ArrayLike, sex: ArrayLike, ethnicity: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """GLI-2012 FEV1 (L, M, S) arrays for arrays of age, height (cm), sex and ethnicity names."""
    age_a, height_a, sex_a, eth_a = _broadcast(age, height_cm, sex, ethnicity)
    bad_age = ~((age_a >= AGE_RANGE[0]) & (age_a <= AGE_RANGE[1]))  # NaN is bad too
    if bad_age.any():
        at = int(np.flatnonzero(bad_age)[0])
        raise InputError(
            f"fev1: age {float(age_a.flat[at]):g} (at position {at}) is outside the GLI-2012 "
            "range; expected a number from 3 to 95 years"
        )
    bad_sex = set(sex_a.ravel()) - set(SEXES)
    if bad_sex:
        raise InputError(f"fev1: sex {sorted(map(str, bad_sex))[0]!r} is not one of male, female")
    bad_eth = set(eth_a.ravel()) - set(ETHNICITIES)
    if bad_eth:
        raise InputError(
            f"fev1: ethnicity {sorted(map(str, bad_eth))[0]!r} is not one of "
            + ", ".join(ETHNICITIES)
        )
    tab = _splines()
    lage, lheight = np.log(age_a), np.log(height_a)
    L = np.empty(age_a.shape)
    M = np.empty(age_a.shape)
    S = np.empty(age_a.shape)
    for s in SEXES:
        rows = sex_a == s
        if not rows.any():
            continue
        c = COEFFICIENTS[s]
        a = age_a[rows]
        lsp = np.interp(a, tab["age"], tab[f"{s}_Lspline"])
        msp = np.interp(a, tab["age"], tab[f"{s}_Mspline"])
        ssp = np.interp(a, tab["age"], tab[f"{s}_Sspline"])
        m_eth = np.zeros(a.shape)
        s_eth = np.zeros(a.shape)
        for name, (ka, kp) in _ETHNIC_TERMS.items():
            hit = eth_a[rows] == name
            m_eth[hit] = c[ka]
            s_eth[hit] = c[kp]
        la = lage[rows]
        L[rows] = c["q0"] + c["q1"] * la + lsp
        M[rows] = np.exp(c["a0"] + c["a1"] * lheight[rows] + c["a2"] * la + m_eth + msp)
        S[rows] = np.exp(c["p0"] + c["p1"] * la + s_eth + ssp)
    return L, M, S


def gli2012_fev1(
    age: ArrayLike, height_cm: ArrayLike, sex: ArrayLike, ethnicity: ArrayLike, fev1_l: ArrayLike
) -> dict[str, NDArray[np.float64]]:
    """Vectorised GLI-2012 FEV1: arrays predicted_l, lln_l, z, pct_predicted."""
    obs = np.asarray(fev1_l, dtype=float)
    L, M, S = gli2012_lms(*_broadcast(age, height_cm, sex, ethnicity, obs)[:4])
    return {
        "predicted_l": M,
        "lln_l": M * (1.0 - Z_LLN * L * S) ** (1.0 / L),
        "z": ((obs / M) ** L - 1.0) / (L * S),
        "pct_predicted": 100.0 * obs / M,
    }


@dataclass
class FEV1:
    """FEV1 by GLI-2012; no options."""

    result_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "pct_predicted": (0.0, None)
    }

    name: str = field(default="fev1", init=False, repr=False)
    title: str = field(
        default="FEV1 % predicted, z-score and LLN (GLI-2012)", init=False, repr=False
    )

    @property
    def items(self) -> Sequence[Item]:
        return ITEMS

    def score(self, answers: Mapping[str, Any]) -> GLIResult:
        """GLI-2012 predicted, LLN, z and % predicted for one spirometry result."""
        a = validate_answers(self.name, ITEMS, answers)
        if any(v is None for v in a.values()):
            return GLIResult(None, None, None, None)
        out = gli2012_fev1(a["age"], a["height_cm"], a["sex"], a["ethnicity"], a["fev1_l"])
        return GLIResult(**{k: float(v) for k, v in out.items()})
