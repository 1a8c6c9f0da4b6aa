"""The samples a test takes: numbers checked once, NaNs dropped and counted.

Shared by the test families (:mod:`~frailtrial.stats.parametric`,
:mod:`~frailtrial.stats.nonparametric`, :mod:`~frailtrial.stats.selection`,
:mod:`~frailtrial.stats.effect_sizes`, :mod:`~frailtrial.stats.incidence`): values that
are not numbers, infinite values and too few observations raise
:class:`~frailtrial.errors.InputError`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from frailtrial.errors import InputError

FloatArray = npt.NDArray[np.float64]


def observations(values: object, name: str, minimum: int) -> tuple[FloatArray, int]:
    """Numeric 1-d array without NaN, and how many NaNs were dropped."""
    x = as_float(values, name)
    keep = ~np.isnan(x)
    x = x[keep]
    dropped = int((~keep).sum())
    if x.size < minimum:
        raise InputError(
            f"{name}: {x.size} non-missing observation(s) ({dropped} NaN dropped); "
            f"at least {minimum} needed"
        )
    return x, dropped


def as_float(values: object, name: str) -> FloatArray:
    """Numeric 1-d array (NaN kept); not numbers, other shapes or infinite values raise."""
    try:
        x = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: values must be numbers ({exc})") from None
    if x.ndim != 1:
        raise InputError(f"{name}: expected a one-dimensional sequence, got shape {x.shape}")
    if np.isinf(x).any():
        raise InputError(f"{name}: infinite values are not allowed")
    return x


def check_conf_level(conf_level: float) -> float:
    """``conf_level`` as a float if it is a number strictly between 0 and 1; InputError
    otherwise."""
    if isinstance(conf_level, bool) or not isinstance(conf_level, int | float | np.floating):
        raise InputError(f"conf_level {conf_level!r}: must be a number between 0 and 1")
    if not 0.0 < conf_level < 1.0:
        raise InputError(f"conf_level {conf_level}: must be between 0 and 1 (both excluded)")
    return float(conf_level)


def paired_differences(
    before: Sequence[float] | FloatArray, after: Sequence[float] | FloatArray, minimum: int
) -> tuple[FloatArray, int]:
    """after - before of the complete pairs, and how many pairs with a NaN were dropped."""
    x0 = as_float(before, "before")
    x1 = as_float(after, "after")
    if x0.size != x1.size:
        raise InputError(f"paired data: before has {x0.size} values, after has {x1.size}")
    keep = ~(np.isnan(x0) | np.isnan(x1))
    d = x1[keep] - x0[keep]
    dropped = int((~keep).sum())
    if d.size < minimum:
        raise InputError(
            f"paired data: {d.size} complete pair(s) ({dropped} with NaN dropped); "
            f"at least {minimum} needed"
        )
    return d, dropped


def whole_counts(events: int, n: int, name: str) -> tuple[int, int]:
    """Events and n as whole counts with 0 <= events <= n and n >= 1, or InputError."""
    if int(events) != events or int(n) != n or n < 1 or not 0 <= events <= n:
        raise InputError(f"{name}: need whole counts with 0 <= events <= n and n >= 1")
    return int(events), int(n)
