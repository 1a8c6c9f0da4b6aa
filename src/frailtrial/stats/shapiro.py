"""Shapiro-Wilk W and its p-value by Royston's algorithm AS R94 (Applied Statistics 44,
1995), as R's ``shapiro.test`` and ``scipy.stats.shapiro``.

AS R94 takes its normal quantiles from AS 111 (Beasley and Springer 1977) and its normal
tail from AS 66 (Hill 1973), both with their published constants; W and p agree with
``scipy.stats.shapiro`` to 1e-12 (tests/test_shapiro.py) and with R (test_stats_tests.py).
Here so that the analysis' selection rules do not import ``scipy.stats`` (0.5-0.7 s of CPU
a process) and run without its per-call wrapper (the HUC-MSC analysis runs ~300 tests).
Callers check the sample (3 to 5000 values, not all identical) first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

# AS R94: the weights' corrections (polynomials in 1/sqrt(n)) and the p-value's normalizing
# transformations (polynomials in n for n <= 11, in log n above); coefficients low to high
_C1 = (0.0, 0.221157, -0.147981, -2.071190, 4.434685, -2.706056)
_C2 = (0.0, 0.042981, -0.293762, -1.752461, 5.682633, -3.582633)
_C3 = (0.5440, -0.39978, 0.025054, -6.714e-4)
_C4 = (1.3822, -0.77857, 0.062767, -0.0020322)
_C5 = (-1.5861, -0.31082, -0.083751, 0.0038915)
_C6 = (-0.4803, -0.082676, 0.0030302)
_G = (-2.273, 0.459)
_SMALL = 1e-19


def _poly(c: Sequence[float], x: float) -> float:
    """c[0] + c[1] x + ... by Horner's rule, in AS R94's order of operations."""
    if len(c) == 1:
        return c[0]
    p = x * c[-1]
    for coef in c[-2:0:-1]:
        p = (p + coef) * x
    return c[0] + p


def _ppnd(p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Normal quantiles by AS 111 (the p here lie in (0, 1/2])."""
    q = p - 0.5
    r = q * q
    central = q * (
        ((-25.44106049637 * r + 41.39119773534) * r - 18.61500062529) * r + 2.50662823884
    )
    central = central / ((((3.13082909833 * r - 21.06224101826) * r + 23.08336743743) * r
                          - 8.47351093090) * r + 1.0)  # fmt: skip
    t = np.sqrt(-np.log(np.where(q > 0, 1 - p, p)))
    tail = ((2.32121276858 * t + 4.85014127135) * t - 2.29796479134) * t - 2.78718931138
    tail = tail / ((1.63706781897 * t + 3.54388924762) * t + 1.0)
    return np.where(np.abs(q) <= 0.42, central, np.where(q < 0, -tail, tail))


def _alnorm_upper(x: float) -> float:
    """P(Z > x) of the standard normal by AS 66."""
    upper = x > 0
    z = x if upper else -x
    if not (z <= 7.0 or (upper and z <= 38.0)):
        return 0.0 if upper else 1.0
    y = 0.5 * z * z
    if z <= 1.28:
        tail = 0.5 - z * (
            0.398942280444
            - 0.399903438504
            * y
            / (
                y
                + 5.75885480458
                - 29.8213557808 / (y + 2.62433121679 + 48.6959930692 / (y + 5.92885724438))
            )
        )
    else:
        tail = (
            0.398942280385
            * math.exp(-y)
            / (
                z
                - 3.8052e-8
                + 1.00000615302
                / (
                    z
                    + 3.98064794e-4
                    + 1.98615381364
                    / (
                        z
                        - 0.151679116635
                        + 5.29330324926
                        / (
                            z
                            + 4.8385912808
                            - 15.1508972451
                            / (z + 0.742380924027 + 30.789933034 / (z + 3.99019417011))
                        )
                    )
                )
            )
        )
    return tail if upper else 1.0 - tail  # fmt: skip


@lru_cache(maxsize=64)
def _weights(n: int) -> NDArray[np.float64]:
    """The antisymmetric coefficients a of W for a sorted sample of size n (lowest first);
    cached per n (an analysis tests many samples of a few sizes), read-only."""
    half = n // 2
    if n == 3:
        a = np.array([math.sqrt(0.5)])
    else:
        m = _ppnd((np.arange(1, half + 1, dtype=np.float64) - 0.375) / (n + 0.25))
        summ2 = 2.0 * float(np.cumsum(m * m)[-1])
        ssumm2 = math.sqrt(summ2)
        rsn = 1.0 / math.sqrt(n)
        a1 = _poly(_C1, rsn) - m[0] / ssumm2
        a = -m
        if n > 5:
            a2 = -m[1] / ssumm2 + _poly(_C2, rsn)
            fac = math.sqrt((summ2 - 2 * m[0] ** 2 - 2 * m[1] ** 2)
                            / (1 - 2 * a1**2 - 2 * a2**2))  # fmt: skip
            a = a / fac
            a[1] = a2
        else:
            a = a / math.sqrt((summ2 - 2 * m[0] ** 2) / (1 - 2 * a1**2))
        a[0] = a1
    full = np.zeros(n)
    full[:half], full[n - half :] = -a, a[::-1]
    full.flags.writeable = False
    return full


def shapiro_wilk_w(values: NDArray[np.float64]) -> tuple[float, float]:
    """(W, p) of ``values`` (3 to 5000 finite values, not all identical)."""
    n = values.size
    x = np.sort(values) - values[n // 2]  # shifted by a middle value, as scipy.stats
    x = x / (x[-1] - x[0])
    weights = _weights(n)
    sa = float(np.cumsum(weights)[-1]) / n  # sequential sums, in AS R94's order
    sx = float(np.cumsum(x)[-1]) / n
    da, dx = weights - sa, x - sx
    ssa, ssx, sax = (float(np.cumsum(v)[-1]) for v in (da * da, dx * dx, da * dx))
    root = math.sqrt(ssa * ssx)
    w1 = (root - sax) * (root + sax) / (ssa * ssx)  # 1 - W without cancellation
    w = 1 - w1
    if n == 3:  # exact
        return (0.75, 0.0) if w < 0.75 else (w, 1.0 - 6 / np.pi * math.acos(math.sqrt(w)))
    y = math.log(w1)
    if n <= 11:
        gamma = _poly(_G, n)
        if y >= gamma:
            return w, _SMALL
        y = -math.log(gamma - y)
        mean, sd = _poly(_C3, n), math.exp(_poly(_C4, n))
    else:
        ln = math.log(n)
        mean, sd = _poly(_C5, ln), math.exp(_poly(_C6, ln))
    return w, _alnorm_upper((y - mean) / sd)
