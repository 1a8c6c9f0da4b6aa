"""Standardized effect of a published two-arm comparison, with its uncertainty.

A planning effect taken from a small prior trial (mean, SD, n per arm) is itself an
estimate; its confidence interval shows how wide the range of plausible sample sizes is.
d, g and the noncentral-t interval are computed by :mod:`frailtrial.stats.effect_sizes`
(as Hedges' g of two samples); this module checks a published table's numbers and adds
the Hedges-Olkin interval.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from scipy import stats

from frailtrial.errors import InputError
from frailtrial.stats.effect_sizes import pooled_smd, smd_interval

CiMethod = Literal["noncentral-t", "hedges-olkin"]


@dataclass(frozen=True)
class EffectSizeResult:
    """Cohen's d and Hedges' g (group 1 minus group 2) with confidence intervals."""

    mean_difference: float
    pooled_sd: float
    df: int
    cohens_d: float
    hedges_g: float
    correction_j: float
    ci_level: float
    ci_method: str
    cohens_d_ci: tuple[float, float]
    hedges_g_ci: tuple[float, float]
    formula: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return asdict(self)


def effect_size(
    mean1: float,
    sd1: float,
    n1: int,
    mean2: float,
    sd2: float,
    n2: int,
    level: float = 0.95,
    ci_method: str = "noncentral-t",
) -> EffectSizeResult:
    """Cohen's d = (mean1 - mean2) / pooled SD and Hedges' g = J d, with a CI.

    ``noncentral-t`` inverts the noncentral t of t = d / sqrt(1/n1 + 1/n2) (exact under
    normality; as MBESS ``ci.smd``); ``hedges-olkin`` is d +- z SE with
    SE^2 = (n1 + n2)/(n1 n2) + d^2 / (2 (n1 + n2)). The g interval is J times the d interval.
    """
    for name, value in (("mean1", mean1), ("mean2", mean2)):
        if not math.isfinite(value):
            raise InputError(f"{name} must be a finite number, got {value}")
    for name, value in (("sd1", sd1), ("sd2", sd2)):
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"{name} must be > 0, got {value}")
    for name, n in (("n1", n1), ("n2", n2)):
        if n < 2:
            raise InputError(f"{name} must be at least 2, got {n}")
    if not 0.0 < level < 1.0:
        raise InputError(f"confidence level must be in (0, 1), got {level}")
    if ci_method not in ("noncentral-t", "hedges-olkin"):
        raise InputError(f"ci method must be noncentral-t or hedges-olkin, got {ci_method!r}")
    s = pooled_smd(mean1 - mean2, sd1**2, n1, sd2**2, n2)
    d, j = s.d, s.j
    if ci_method == "noncentral-t":
        lo, hi = smd_interval(d, n1, n2, level)
        formula = "CI: noncentral-t inversion of t = d / sqrt(1/n1 + 1/n2), df = n1 + n2 - 2"
    else:
        se = math.sqrt((n1 + n2) / (n1 * n2) + d**2 / (2 * (n1 + n2)))
        z = float(stats.norm.isf((1 - level) / 2))
        lo, hi = d - z * se, d + z * se
        formula = "CI: Hedges-Olkin d +- z * sqrt((n1 + n2)/(n1 n2) + d^2 / (2 (n1 + n2)))"
    return EffectSizeResult(
        mean_difference=s.mean_difference,
        pooled_sd=s.pooled_sd,
        df=s.df,
        cohens_d=d,
        hedges_g=s.g,
        correction_j=j,
        ci_level=level,
        ci_method=ci_method,
        cohens_d_ci=(lo, hi),
        hedges_g_ci=(j * lo, j * hi),
        formula="d = (mean1 - mean2) / pooled SD; g = J d, J = Gamma(df/2) / "
        f"(sqrt(df/2) Gamma((df-1)/2)); {formula}",
    )
