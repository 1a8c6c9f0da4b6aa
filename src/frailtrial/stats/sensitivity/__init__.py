"""Estimand sensitivity analyses: reference-based (JR, CR, CIR, LMCF) and delta-adjusted
multiple imputation of missing visits, as R rbmi, with all MMRM refits batched.

API: :mod:`.run` and :mod:`.tipping`; see ``docs/sensitivity.md``.
"""

from frailtrial.stats.sensitivity.run import (
    METHODS,
    Imputations,
    SensitivityResult,
    prepare_imputations,
    run_sensitivity,
)
from frailtrial.stats.sensitivity.strategies import STRATEGIES
from frailtrial.stats.sensitivity.tipping import TippingPoint, tipping_point

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
