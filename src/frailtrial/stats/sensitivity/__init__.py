"""Estimand sensitivity analyses: reference-based (JR, CR, CIR, LMCF) and delta-adjusted
multiple imputation of missing visits, as R rbmi, with all MMRM refits batched.

See :mod:`frailtrial.stats.sensitivity.run` for the API and ``docs/sensitivity.md``.
"""

from frailtrial.stats.sensitivity.run import (
    METHODS,
    Imputations,
    SensitivityResult,
    TippingPoint,
    prepare_imputations,
    run_sensitivity,
    tipping_point,
)
from frailtrial.stats.sensitivity.strategies import STRATEGIES

__all__ = [
    "METHODS",
    "STRATEGIES",
    "Imputations",
    "SensitivityResult",
    "TippingPoint",
    "prepare_imputations",
    "run_sensitivity",
    "tipping_point",
]
