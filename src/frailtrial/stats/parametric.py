"""t tests as R's ``t.test``: Student (pooled) or Welch two-sample, and paired.

::

    from frailtrial.stats.parametric import t_test, paired_t_test
    r = t_test(msc_values, placebo_values)        # r.estimate: mean difference, r.ci_low ...
    paired_t_test(before, after)                  # after - before
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from frailtrial.errors import InputError
from frailtrial.stats.distributions import t_ppf, t_sf
from frailtrial.stats.results import TestResult
from frailtrial.stats.samples import (
    FloatArray,
    check_conf_level,
    observations,
    paired_differences,
)


def t_test(
    a: Sequence[float] | FloatArray,
    b: Sequence[float] | FloatArray,
    *,
    equal_var: bool = True,
    conf_level: float = 0.95,
) -> TestResult:
    """Independent two-sample t test of a - b: Student (pooled) or Welch, as ``t.test``."""
    check_conf_level(conf_level)
    x, dx = observations(a, "group a", 1 if equal_var else 2)
    y, dy = observations(b, "group b", 1 if equal_var else 2)
    nx, ny = x.size, y.size
    vx = float(np.var(x, ddof=1)) if nx > 1 else 0.0
    vy = float(np.var(y, ddof=1)) if ny > 1 else 0.0
    if equal_var:
        df = float(nx + ny - 2)
        if df < 1:
            raise InputError("Student t test needs at least 3 observations in total")
        pooled = ((nx - 1) * vx + (ny - 1) * vy) / df
        se = math.sqrt(pooled * (1 / nx + 1 / ny))
        method, test = "Two Sample t-test", "student_t"
    else:
        sx, sy = vx / nx, vy / ny
        se = math.sqrt(sx + sy)
        df = (sx + sy) ** 2 / (sx**2 / (nx - 1) + sy**2 / (ny - 1)) if se > 0 else math.nan
        method, test = "Welch Two Sample t-test", "welch_t"
    diff = float(x.mean() - y.mean())
    if se == 0:
        raise InputError("t test: both groups are constant (zero variance)")
    return _t_result(test, method, diff, se, df, conf_level, (nx, ny), (dx, dy))


def paired_t_test(
    before: Sequence[float] | FloatArray,
    after: Sequence[float] | FloatArray,
    *,
    conf_level: float = 0.95,
) -> TestResult:
    """Paired t test of after - before, as ``t.test(after, before, paired=TRUE)``."""
    check_conf_level(conf_level)
    d, dropped = paired_differences(before, after, 2)
    se = float(np.std(d, ddof=1)) / math.sqrt(d.size)
    if se == 0:
        raise InputError("paired t test: the differences are constant (zero variance)")
    return _t_result(
        "paired_t", "Paired t-test", float(d.mean()), se, float(d.size - 1), conf_level,
        (d.size,), (dropped,),
    )  # fmt: skip


def _t_result(
    test: str,
    method: str,
    diff: float,
    se: float,
    df: float,
    conf_level: float,
    n: tuple[int, ...],
    dropped: tuple[int, ...],
) -> TestResult:
    t = diff / se
    p = float(2 * t_sf(abs(t), df))
    q = float(t_ppf(0.5 + conf_level / 2, df))
    name = "mean difference" if test != "paired_t" else "mean of the differences"
    return TestResult(
        test, method, t, df, p, diff, name, diff - q * se, diff + q * se, conf_level, n, dropped
    )
