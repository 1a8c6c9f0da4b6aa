"""stats.roots.brent_root against scipy.optimize.brentq (the reference): the same root to
the last digit on smooth, flat, steep, kinked and step functions, brackets in either
order, default and given tolerances; and its errors."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import optimize, special

from frailtrial.errors import ConvergenceError
from frailtrial.stats.roots import brent_root

Case = tuple[Callable[[float], float], float, float]


def _cases() -> list[Case]:
    rng = np.random.default_rng(7)
    out: list[Case] = []
    for _ in range(60):
        c = rng.normal(size=4)
        out.append((lambda x, c=c: float(np.polyval(c, x)), -6.0, 6.0))
    for k in (0.1, 1.0, 7.0, 40.0):
        out.append((lambda x, k=k: math.tanh(k * (x - 0.3)), -2.0, 3.0))
        out.append((lambda x, k=k: math.exp(k * x) - 2.0, -1.0, 1.0))
    out += [
        (lambda x: float(special.ndtr(x)) - 0.975, -10.0, 10.0),
        (lambda x: x**3 - 1e-3, -1.0, 2.0),
        (lambda x: abs(x - 0.5) ** 0.5 * math.copysign(1, x - 0.5), 0.0, 3.0),
        (lambda x: 1.0 if x > 0.123 else -1.0, -1.0, 1.0),
        (lambda x: math.cos(x) - x, 0.0, 1.0),
        (lambda x: math.log(x) + 1e-3, 0.5, 2.0),
        (lambda x: 1e-300 * (x - 1), 0.0, 5.0),
    ]
    return [(f, a, b) for f, a, b in out if np.sign(f(a)) * np.sign(f(b)) < 0]


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("tol", [{}, {"xtol": 1e-8}, {"xtol": 1e-12, "rtol": 1e-12}])
def test_same_root_as_scipy_brentq(case: Case, tol: dict[str, float]) -> None:
    f, a, b = case
    assert brent_root(f, a, b, **tol) == optimize.brentq(f, a, b, **tol)
    assert brent_root(f, b, a, **tol) == optimize.brentq(f, b, a, **tol)


def test_errors() -> None:
    with pytest.raises(ValueError, match="different signs"):
        brent_root(lambda x: x * x + 1, -1.0, 1.0)
    with pytest.raises(ConvergenceError, match="after 3 steps"):
        brent_root(lambda x: math.exp(x) - 1.5, 0.0, 1.0, maxiter=3)
    assert brent_root(lambda x: x, 0.0, 1.0) == 0.0  # a root at an end
