"""Likelihood-ratio tests of nested covariance structures of the same MMRM.

Two fits of the same formula to the same data by the same method (REML likelihoods are
comparable only with the same fixed effects, so the formula must match under ML too),
with the first structure a special case of the second (``cs`` of ``csh``, ``toep``,
``toeph``, ``us``; ``ar1`` of ``ar1h``, ``toep``, ``adh``, ...): ``-2 log L`` of the smaller
minus that of the larger, referred to chi-square with the difference in covariance
parameters as df (as ``nlme::anova``; conservative when the smaller model sits on the
boundary).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from frailtrial.errors import InputError
from frailtrial.stats.distributions import chi2_sf

if TYPE_CHECKING:
    from frailtrial.stats.mmrm import MmrmFit

# structure -> the structures that contain it as a special case
CONTAINED_IN: dict[str, set[str]] = {
    "cs": {"csh", "toep", "toeph", "us"},
    "csh": {"toeph", "us"},
    "ar1": {"ar1h", "toep", "toeph", "adh", "us"},
    "ar1h": {"toeph", "adh", "us"},
    "toep": {"toeph", "us"},
    "toeph": {"us"},
    "adh": {"us"},
    "us": set(),
}


def nested(small: str, big: str) -> bool:
    """Whether covariance structure ``small`` is a special case of ``big``."""
    return big in CONTAINED_IN.get(small, set())


def lr_test(small: MmrmFit, big: MmrmFit) -> dict[str, Any]:
    """Likelihood-ratio test of ``small`` (the null) against ``big``."""
    a, b = small.structure.name, big.structure.name
    if not nested(a, b):
        raise InputError(
            f"likelihood-ratio test: covariance {a!r} is not a special case of {b!r} "
            f"({a} is nested in: {', '.join(sorted(CONTAINED_IN.get(a, set()))) or 'none'})"
        )
    if small.frame.formula != big.frame.formula or small.method != big.method:
        raise InputError(
            "likelihood-ratio test: both fits need the same formula and estimation method"
        )
    same_data = small.frame.batch.mask[small.index].shape == big.frame.batch.mask[
        big.index
    ].shape and np.array_equal(small.frame.batch.y[small.index], big.frame.batch.y[big.index])
    if not same_data:
        raise InputError("likelihood-ratio test: both fits need the same data")
    stat = max(small.neg2loglik - big.neg2loglik, 0.0)
    df = big.n_theta - small.n_theta
    return {
        "null": a,
        "alternative": b,
        "method": small.method,
        "neg2loglik_null": small.neg2loglik,
        "neg2loglik_alternative": big.neg2loglik,
        "aic_null": small.aic,
        "aic_alternative": big.aic,
        "bic_null": small.bic,
        "bic_alternative": big.bic,
        "statistic": stat,
        "df": df,
        "p": float(chi2_sf(stat, df)),
    }
