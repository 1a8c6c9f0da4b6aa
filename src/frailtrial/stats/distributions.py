"""Tail areas and quantiles of the normal, t, chi-square, F and beta distributions.

Each is the ``scipy.special`` function that ``scipy.stats`` itself evaluates (``t.sf`` is
``stdtr(df, -x)``, ``chi2.sf`` is ``chdtrc``, ...), with the support edges
``scipy.stats`` adds (a tail below the support is 1, the quantile of 0 or 1 is the edge of
the support), so the numbers are the same to the last digit (tests/test_distributions.py).
Importing ``scipy.stats`` costs a process 0.5-0.7 s of CPU; the tests, models and tables
that need only these functions import this module instead, and ``frailtrial analyze``
never loads ``scipy.stats``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from frailtrial.stats.special_functions import special

Real = Any  # a float64 scalar for scalar arguments, else an array (as scipy.stats returns)


def _out(values: NDArray[np.float64]) -> Real:
    return values[()]  # a 0-d result as a numpy scalar, as scipy.stats returns it


def norm_cdf(x: ArrayLike) -> Real:
    """P(Z <= x) of the standard normal."""
    return special.ndtr(x)


def norm_sf(x: ArrayLike) -> Real:
    """P(Z > x) of the standard normal."""
    return special.ndtr(-np.asarray(x, dtype=float))


def norm_ppf(q: ArrayLike) -> Real:
    """The standard normal quantile of ``q``."""
    return special.ndtri(q)


def t_sf(x: ArrayLike, df: ArrayLike) -> Real:
    """P(T > x) of Student's t on ``df`` degrees of freedom (infinite: normal)."""
    return special.stdtr(df, -np.asarray(x, dtype=float))


def t_ppf(q: ArrayLike, df: ArrayLike) -> Real:
    """The quantile of ``q`` of Student's t on ``df`` degrees of freedom (-inf at 0, inf at
    1, as scipy.stats)."""
    q = np.asarray(q, dtype=float)
    with np.errstate(invalid="ignore"):
        value = np.where(q == 0, -np.inf, np.where(q == 1, np.inf, special.stdtrit(df, q)))
    return _out(value)


def chi2_sf(x: ArrayLike, df: ArrayLike) -> Real:
    """P(X > x) of the chi-square on ``df`` degrees of freedom (1 below 0)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(invalid="ignore"):
        value = np.where(x < 0, 1.0, special.chdtrc(df, np.maximum(x, 0.0)))
    return _out(value)


def chi2_ppf(q: ArrayLike, df: ArrayLike) -> Real:
    """The quantile of ``q`` of the chi-square on ``df`` degrees of freedom."""
    return 2 * special.gammaincinv(np.asarray(df, dtype=float) / 2, q)


def f_sf(x: ArrayLike, dfn: ArrayLike, dfd: ArrayLike) -> Real:
    """P(F > x) of the F distribution on (``dfn``, ``dfd``) degrees of freedom (1 below 0)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(invalid="ignore"):
        value = np.where(x < 0, 1.0, special.fdtrc(dfn, dfd, np.maximum(x, 0.0)))
    return _out(value)


def beta_ppf(q: ArrayLike, a: ArrayLike, b: ArrayLike) -> Real:
    """The quantile of ``q`` of the beta distribution with shapes ``a`` and ``b``."""
    return special.betaincinv(a, b, q)
