"""Brent's root finder (Brent 1973, "Algorithms for minimization without derivatives",
ch. 4), step for step as ``scipy.optimize.brentq`` takes it, so a root is the same to the
last digit (tests/test_roots.py); here so that the analysis' tipping point, the
simulator's calibration and Dunnett's critical values do not import scipy.optimize
(0.2 s of CPU a process).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from frailtrial.errors import ConvergenceError

RTOL = 4 * 2.220446049250313e-16  # scipy.optimize's default relative tolerance (4 eps)


def brent_root(
    f: Callable[[float], float],
    a: float,
    b: float,
    xtol: float = 2e-12,
    rtol: float = RTOL,
    maxiter: int = 100,
) -> float:
    """A root of ``f`` in [a, b] (``f(a)`` and ``f(b)`` of opposite signs) to within
    ``xtol + rtol |x|``: inverse quadratic interpolation or secant steps where they
    shrink the bracket fast enough, bisection otherwise. ValueError for a bracket without
    a sign change; ConvergenceError after ``maxiter`` steps."""
    if xtol <= 0 or rtol < RTOL:
        raise ValueError(f"brent_root: xtol must be > 0 and rtol >= {RTOL}")
    xpre, xcur = float(a), float(b)
    fpre, fcur = float(f(xpre)), float(f(xcur))
    if fpre == 0:
        return xpre
    if fcur == 0:
        return xcur
    if math.copysign(1, fpre) == math.copysign(1, fcur):
        raise ValueError("brent_root: f(a) and f(b) must have different signs")
    xblk = fblk = spre = scur = 0.0
    for _ in range(maxiter):
        if fpre != 0 and fcur != 0 and math.copysign(1, fpre) != math.copysign(1, fcur):
            xblk, fblk = xpre, fpre  # the bracket's other end
            spre = scur = xcur - xpre
        if abs(fblk) < abs(fcur):  # keep the best estimate in xcur
            xpre, xcur, xblk = xcur, xblk, xcur
            fpre, fcur, fblk = fcur, fblk, fcur
        delta = (xtol + rtol * abs(xcur)) / 2
        sbis = (xblk - xcur) / 2
        if fcur == 0 or abs(sbis) < delta:
            return xcur
        if abs(spre) > delta and abs(fcur) < abs(fpre):
            if xpre == xblk:  # secant
                stry = -fcur * (xcur - xpre) / (fcur - fpre)
            else:  # inverse quadratic interpolation
                dpre = (fpre - fcur) / (xpre - xcur)
                dblk = (fblk - fcur) / (xblk - xcur)
                stry = -fcur * (fblk * dblk - fpre * dpre) / (dblk * dpre * (fblk - fpre))
            if 2 * abs(stry) < min(abs(spre), 3 * abs(sbis) - delta):
                spre, scur = scur, stry
            else:
                spre = scur = sbis
        else:
            spre = scur = sbis
        xpre, fpre = xcur, fcur
        xcur += scur if abs(scur) > delta else (delta if sbis > 0 else -delta)
        fcur = float(f(xcur))
    raise ConvergenceError(f"brent_root: no root to within the tolerance after {maxiter} steps")
