"""Tests of the trials' analysis plans, matching R's ``stats`` package.

Two groups (Table 1 baseline rows, between arms at a visit)::

    from frailtrial.stats.tests import compare_two_groups
    r = compare_two_groups(msc_values, placebo_values)        # rule="auto"
    r.test, r.p, r.reason          # 'mann_whitney_u', 0.031, 'Shapiro-Wilk p = 0.012 ...'
    r.estimate, r.ci_low, r.ci_high  # Hodges-Lehmann shift (or mean difference) with 95 % CI

Within an arm against baseline (Table 3)::

    r = compare_to_baseline(before, after)   # paired t or Wilcoxon signed-rank
    adjust_p([r1.p, r2.p], "bonferroni")

Rule ``"auto"`` (the HUC-MSC paper's "according to data distribution"): Shapiro-Wilk in
each group (for paired data: on the differences after - before) at ``alpha_normality``
(default 0.05); if no test rejects (every p > alpha) the t test is used, otherwise
Mann-Whitney U (paired: Wilcoxon signed-rank). A sample of more than 5000 values (beyond
Shapiro-Wilk) takes the t test, and ``reason`` says so. ``"parametric"`` and
``"nonparametric"`` force one of them.

Missing values: NaN observations are dropped and the number dropped is reported in
``n_dropped`` (pairs are dropped when either member is NaN); values that are not numbers
raise :class:`~frailtrial.errors.InputError`, as do too few observations.

Conventions follow R 4.2: ``t.test``, ``wilcox.test`` (exact when both groups have fewer
than 50 observations and there are no ties (or zero differences), otherwise the normal
approximation with tie and continuity correction; Hodges-Lehmann estimate and CI as with
``conf.int=TRUE``), ``shapiro.test``, ``chisq.test``, ``fisher.test`` and ``p.adjust``
(``adjust_p``, from ``frailtrial.stats.multiplicity``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize, special
from scipy import stats as sps

from frailtrial.errors import InputError
from frailtrial.stats.multiplicity import adjust_p as adjust_p  # part of this module's API

FloatArray = npt.NDArray[np.float64]
Rule = Literal["auto", "parametric", "nonparametric"]
_EPS = float(np.finfo(float).eps)
_StepFn = Callable[[float, float], float]


@dataclass(frozen=True)
class NormalityResult:
    """Shapiro-Wilk test of one sample; ``normal`` is ``p > alpha``."""

    statistic: float
    p: float
    n: int
    alpha: float
    normal: bool


@dataclass(frozen=True)
class TestResult:
    """A two-sample or paired location test with its estimate and confidence interval.

    ``estimate`` is a - b (or after - before): mean difference for t tests, the
    Hodges-Lehmann shift (two samples) or pseudomedian of the differences (paired) for
    rank tests. ``statistic`` is t, or R's W (rank sum of a minus n_a(n_a+1)/2) or V (sum of
    positive ranks). ``n`` and ``n_dropped`` give the observations used and the NaNs dropped
    per sample (one entry for paired data). ``reason`` and ``normality`` say why a rule
    chose the test.
    """

    __test__ = False  # not a pytest class

    test: str
    method: str
    statistic: float
    df: float | None
    p: float
    estimate: float
    estimate_name: str
    ci_low: float
    ci_high: float
    conf_level: float
    n: tuple[int, ...]
    n_dropped: tuple[int, ...]
    exact: bool | None = None
    reason: str = ""
    normality: tuple[NormalityResult, ...] = ()


@dataclass(frozen=True)
class ContingencyResult:
    """Chi-square or Fisher exact test of a contingency table.

    ``odds_ratio`` (Fisher 2x2 only) is R's conditional maximum-likelihood estimate with its
    exact CI. ``min_expected`` is the smallest expected count under independence.
    """

    test: str
    method: str
    statistic: float | None
    df: int | None
    p: float
    n: int
    min_expected: float
    odds_ratio: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    reason: str = ""


@dataclass(frozen=True)
class EffectSize:
    """An effect size with its confidence interval and the method that produced it."""

    name: str
    estimate: float
    ci_low: float
    ci_high: float
    conf_level: float
    method: str


# ---------------------------------------------------------------- input handling


def _sample(values: object, name: str, minimum: int) -> tuple[FloatArray, int]:
    """Numeric 1-d array without NaN, and how many NaNs were dropped."""
    x = _as_float(values, name)
    keep = ~np.isnan(x)
    x = x[keep]
    dropped = int((~keep).sum())
    if x.size < minimum:
        raise InputError(
            f"{name}: {x.size} non-missing observation(s) ({dropped} NaN dropped); "
            f"at least {minimum} needed"
        )
    return x, dropped


def _as_float(values: object, name: str) -> FloatArray:
    try:
        x = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: values must be numbers ({exc})") from None
    if x.ndim != 1:
        raise InputError(f"{name}: expected a one-dimensional sequence, got shape {x.shape}")
    if np.isinf(x).any():
        raise InputError(f"{name}: infinite values are not allowed")
    return x


def _check_conf(conf_level: float) -> None:
    if not 0.0 < conf_level < 1.0:
        raise InputError(f"conf_level must lie strictly between 0 and 1, got {conf_level}")


# ---------------------------------------------------------------- normality


def shapiro_wilk(x: Sequence[float] | FloatArray, alpha: float = 0.05) -> NormalityResult:
    """Shapiro-Wilk normality test (Royston's algorithm, as R's ``shapiro.test``).

    Needs 3 to 5000 non-missing values that are not all identical.
    """
    v, _ = _sample(x, "sample", 3)
    if v.size > 5000:
        raise InputError(f"Shapiro-Wilk needs at most 5000 observations, got {v.size}")
    if np.ptp(v) == 0:
        raise InputError("Shapiro-Wilk: all values are identical")
    res = sps.shapiro(v)
    p = float(res.pvalue)
    return NormalityResult(float(res.statistic), p, int(v.size), alpha, p > alpha)


# ---------------------------------------------------------------- t tests


def t_test(
    a: Sequence[float] | FloatArray,
    b: Sequence[float] | FloatArray,
    *,
    equal_var: bool = True,
    conf_level: float = 0.95,
) -> TestResult:
    """Independent two-sample t test of a - b: Student (pooled) or Welch, as ``t.test``."""
    _check_conf(conf_level)
    x, dx = _sample(a, "group a", 1 if equal_var else 2)
    y, dy = _sample(b, "group b", 1 if equal_var else 2)
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
    _check_conf(conf_level)
    d, dropped = _differences(before, after, 2)
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
    p = float(2 * sps.t.sf(abs(t), df))
    q = float(sps.t.ppf(0.5 + conf_level / 2, df))
    name = "mean difference" if test != "paired_t" else "mean of the differences"
    return TestResult(
        test, method, t, df, p, diff, name, diff - q * se, diff + q * se, conf_level, n, dropped
    )


def _differences(
    before: Sequence[float] | FloatArray, after: Sequence[float] | FloatArray, minimum: int
) -> tuple[FloatArray, int]:
    x0 = _as_float(before, "before")
    x1 = _as_float(after, "after")
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


# ---------------------------------------------------------------- exact rank distributions


@lru_cache(maxsize=256)
def _signrank_counts(n: int) -> FloatArray:
    """Number of subsets of {1..n} with each rank sum 0..n(n+1)/2 (cached, read-only)."""
    c = np.zeros(n * (n + 1) // 2 + 1)
    c[0] = 1.0
    top = 0
    for k in range(1, n + 1):
        top += k
        c[k : top + 1] = c[k : top + 1] + c[: top + 1 - k].copy()
    c.setflags(write=False)
    return c


@lru_cache(maxsize=256)
def _wilcox_counts(m: int, n: int) -> FloatArray:
    """Null frequencies of the Mann-Whitney statistic W = 0..m*n for sample sizes m, n
    (cached, read-only)."""
    # f[j] holds counts for (i, j); recursion c(u; i, j) = c(u - j; i-1, j) + c(u; i, j-1)
    size = m * n + 1
    prev = [np.zeros(size) for _ in range(n + 1)]
    for j in range(n + 1):
        prev[j][0] = 1.0  # i = 0: one arrangement, W = 0
    for _i in range(1, m + 1):
        cur = [np.zeros(size) for _ in range(n + 1)]
        cur[0][0] = 1.0
        for j in range(1, n + 1):
            c = cur[j - 1].copy()
            c[j:] += prev[j][: size - j]
            cur[j] = c
        prev = cur
    out = prev[n]
    out.setflags(write=False)
    return out


def _quantile_discrete(p: float, counts: FloatArray) -> int:
    """R's qwilcox/qsignrank: smallest q with P(S <= q) >= p (with R's 10*eps fuzz)."""
    probs = counts / counts.sum()
    top = counts.size - 1
    acc = 0.0
    q = 0
    if p <= 0.5:
        x = p - 10 * _EPS
        while True:
            acc += probs[q]
            if acc >= x:
                return q
            q += 1
    x = 1 - p + 10 * _EPS
    while True:
        acc += probs[q]
        if acc > x:
            return top - q
        q += 1


def _exact_two_sided(stat: float, counts: FloatArray) -> float:
    probs = counts / counts.sum()
    s = round(stat)
    p = float(probs[s:].sum()) if stat > (counts.size - 1) / 2 else float(probs[: s + 1].sum())
    return min(2 * p, 1.0)


# ---------------------------------------------------------------- rank tests


def mann_whitney_u(
    a: Sequence[float] | FloatArray,
    b: Sequence[float] | FloatArray,
    *,
    exact: bool | None = None,
    correct: bool = True,
    conf_level: float = 0.95,
    conf_int: bool = True,
) -> TestResult:
    """Wilcoxon-Mann-Whitney test of a vs b with the Hodges-Lehmann shift a - b and its CI.

    As R's ``wilcox.test(a, b, conf.int=TRUE)``: exact when ``exact`` is None and both
    samples have fewer than 50 values and there are no ties; otherwise the normal
    approximation with tie-corrected variance and (``correct``) continuity correction.
    The estimate is the median of all pairwise differences a_i - b_j. In the normal case
    the CI ends are where the corrected statistic crosses the normal quantile, located
    exactly among the pairwise differences (R's ``uniroot`` stops within 1e-4 of them;
    its point estimate there is any point of the interval where the statistic is zero).
    ``conf_int=False`` skips the CI (NaN ends), the costly part for large samples.
    """
    _check_conf(conf_level)
    x, dx = _sample(a, "group a", 1)
    y, dy = _sample(b, "group b", 1)
    nx, ny = x.size, y.size
    if np.ptp(np.concatenate([x, y])) == 0:
        raise InputError("Mann-Whitney: all values are identical")
    ranks, tie_term = _midranks(np.concatenate([x, y]))
    w = float(ranks[:nx].sum() - nx * (nx + 1) / 2)
    ties = tie_term > 0
    use_exact = (nx < 50 and ny < 50) if exact is None else exact
    use_exact = use_exact and not ties
    diffs = _pairwise(x, y)
    xs, ys = np.sort(x), np.sort(y)
    estimate = _median(diffs)
    alpha = 1 - conf_level
    lo = hi = math.nan
    if use_exact:
        counts = _wilcox_counts(nx, ny)
        p = _exact_two_sided(w, counts)
        qu = _quantile_discrete(alpha / 2, counts) or 1
        ql = nx * ny - qu
        if conf_int:
            lo, hi = _kth(diffs, qu), _kth(diffs, ql + 1)
        method = "Wilcoxon rank sum exact test"
    else:
        z = _mwu_z(xs, ys, 0.0, correct)
        p = float(2 * min(sps.norm.cdf(z), sps.norm.sf(z)))
        if conf_int:
            zq = float(sps.norm.ppf(1 - alpha / 2))
            fn = lambda d, zq: _mwu_z(xs, ys, d, correct) - zq  # noqa: E731
            sigma = math.sqrt(nx * ny * (nx + ny + 1) / 12)
            lo = _jump(fn, diffs, zq, sigma, correct)
            hi = _jump(fn, diffs, -zq, sigma, correct)
        method = "Wilcoxon rank sum test" + (" with continuity correction" if correct else "")
    return TestResult(
        "mann_whitney_u", method, w, None, p, estimate, "Hodges-Lehmann shift", lo, hi,
        conf_level, (nx, ny), (dx, dy), use_exact,
    )  # fmt: skip


def _midranks(v: FloatArray) -> tuple[FloatArray, float]:
    """Ranks with ties averaged (as R's rank) and the tie term sum(t^3 - t)."""
    order = np.argsort(v, kind="stable")
    sv = v[order]
    cuts = np.flatnonzero(np.diff(sv)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [v.size]])
    t = (ends - starts).astype(float)
    ranks = np.empty(v.size)
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks, float((t**3 - t).sum())


def _tie_term(sorted_values: FloatArray) -> float:
    cuts = np.flatnonzero(np.diff(sorted_values)) + 1
    t = np.diff(np.concatenate([[0], cuts, [sorted_values.size]])).astype(float)
    return float((t**3 - t).sum())


def _mwu_z(xs: FloatArray, ys: FloatArray, d: float, correct: bool) -> float:
    """Normal score of the rank-sum statistic of (x - d, y), both samples sorted; the
    statistic counts pairs by binary search, so no ranking is needed per call."""
    nx, ny = xs.size, ys.size
    xd = xs - d
    left = np.searchsorted(ys, xd, side="left")
    right = np.searchsorted(ys, xd, side="right")
    dz = float(left.sum() + 0.5 * (right - left).sum()) - nx * ny / 2
    if (right > left).any():
        ties = _tie_term(np.sort(np.concatenate([xd, ys])))
    else:
        ties = _tie_term(xd) + _tie_term(ys)
    n = nx + ny
    sigma = math.sqrt((nx * ny / 12) * ((n + 1) - ties / (n * (n - 1))))
    if sigma == 0:  # every value tied (possible at one shift d): the statistic is central
        return 0.0
    corr = 0.5 * math.copysign(1.0, dz) if (correct and dz != 0) else 0.0
    return (dz - corr) / sigma


class _Pairwise:
    """The n_x n_y differences x_i - y_j, never materialized: counts and neighbours by
    binary search on the sorted samples, O(n log n) each. Comparisons use the rounded
    differences themselves, so counts and neighbours agree exactly."""

    def __init__(self, x: FloatArray, y: FloatArray) -> None:
        self.x, self.y = np.sort(x), np.sort(y)
        self.size = x.size * y.size
        self.low, self.high = float(self.x[0] - self.y[-1]), float(self.x[-1] - self.y[0])

    def _first_le(self, v: float) -> npt.NDArray[np.intp]:
        """Per x_i, the first index j (y ascending) with x_i - y_j <= v."""
        x, y, n = self.x, self.y, self.y.size
        b = np.searchsorted(y, x - v, side="left")
        while True:  # correct the guess for rounding, a tie group at a time
            fwd = (b < n) & (x - y[np.minimum(b, n - 1)] > v)
            if fwd.any():
                b[fwd] = np.searchsorted(y, y[b[fwd]], side="right")
            back = (b > 0) & (x - y[np.maximum(b - 1, 0)] <= v)
            if back.any():
                b[back] = np.searchsorted(y, y[b[back] - 1], side="left")
            if not (fwd.any() or back.any()):
                return b

    def count_le(self, v: float) -> int:
        """#{(i, j): x_i - y_j <= v}."""
        return int((self.y.size - self._first_le(v)).sum())

    def min_gt(self, v: float) -> float:
        """Smallest difference > v (inf when none)."""
        j = self._first_le(v) - 1
        ok = j >= 0
        return float((self.x[ok] - self.y[j[ok]]).min()) if ok.any() else math.inf


class _Walsh:
    """The n(n+1)/2 Walsh averages (d_i + d_j) / 2, i <= j, never materialized."""

    def __init__(self, d: FloatArray) -> None:
        self.d = np.sort(d)
        n = d.size
        self.size = n * (n + 1) // 2
        self.low, self.high = float(self.d[0]), float(self.d[-1])
        self._i = np.arange(n)

    def _first_gt(self, v: float) -> npt.NDArray[np.intp]:
        """Per d_i, the first index j (d ascending) with (d_i + d_j) / 2 > v."""
        d, n = self.d, self.d.size
        e = np.searchsorted(d, 2 * v - d, side="right")
        while True:
            fwd = (e < n) & ((d + d[np.minimum(e, n - 1)]) / 2 <= v)
            if fwd.any():
                e[fwd] = np.searchsorted(d, d[e[fwd]], side="right")
            back = (e > 0) & ((d + d[np.maximum(e - 1, 0)]) / 2 > v)
            if back.any():
                e[back] = np.searchsorted(d, d[e[back] - 1], side="left")
            if not (fwd.any() or back.any()):
                return e

    def count_le(self, v: float) -> int:
        return int(np.maximum(self._first_gt(v) - self._i, 0).sum())

    def min_gt(self, v: float) -> float:
        j = np.maximum(self._i, self._first_gt(v))
        ok = j < self.d.size
        return float(((self.d[ok] + self.d[j[ok]]) / 2).min()) if ok.any() else math.inf


class _Sorted:
    """Candidates held as one sorted array: for small samples, faster than searching."""

    def __init__(self, values: FloatArray) -> None:
        self.values = np.sort(values)
        self.size = self.values.size
        self.low, self.high = float(self.values[0]), float(self.values[-1])

    def count_le(self, v: float) -> int:
        return int(np.searchsorted(self.values, v, side="right"))

    def min_gt(self, v: float) -> float:
        i = int(np.searchsorted(self.values, v, side="right"))
        return float(self.values[i]) if i < self.size else math.inf


_MATERIALIZE = 200_000  # candidates up to which they are computed and sorted outright
_Candidates = _Pairwise | _Walsh | _Sorted


def _pairwise(x: FloatArray, y: FloatArray) -> _Candidates:
    if x.size * y.size <= _MATERIALIZE:
        return _Sorted(np.subtract.outer(x, y).ravel())
    return _Pairwise(x, y)


def _walsh(d: FloatArray) -> _Candidates:
    n = d.size
    if n * (n + 1) // 2 <= _MATERIALIZE:
        iu = np.triu_indices(n)
        return _Sorted((d[:, None] + d[None, :])[iu] / 2)
    return _Walsh(d)


def _kth(c: _Candidates, k: int) -> float:
    """k-th smallest (1-based) candidate: safeguarded interpolation search on the value
    (aiming between ranks k-1 and k), finished when the next candidate above the lower
    end reaches rank k."""
    if isinstance(c, _Sorted):
        return float(c.values[k - 1])
    lo, hi = c.low, c.high
    c_lo, c_hi = c.count_le(lo), c.size
    if c_lo >= k:
        return lo
    while True:  # invariant: c_lo = count_le(lo) < k <= count_le(hi) = c_hi
        nxt = c.min_gt(lo)  # <= hi, as a candidate lies in (lo, hi]
        c_nxt = c.count_le(nxt)
        if c_nxt >= k:
            return nxt
        lo, c_lo = nxt, c_nxt
        frac = min(max((k - 0.5 - c_lo) / (c_hi - c_lo), 0.02), 0.98)
        mid = lo + (hi - lo) * frac
        if not lo < mid < hi:
            mid = lo + (hi - lo) / 2
        c_mid = c.count_le(mid)
        if c_mid >= k:
            hi, c_hi = mid, c_mid
        else:
            lo, c_lo = mid, c_mid


def _median(c: _Candidates) -> float:
    m = c.size
    if m % 2:
        return _kth(c, (m + 1) // 2)
    return (_kth(c, m // 2) + _kth(c, m // 2 + 1)) / 2


def _jump(fn: _StepFn, c: _Candidates, zq: float, sigma: float, correct: bool) -> float:
    """Where the non-increasing step function fn(d, zq) changes sign, as R's root().

    fn only jumps at candidate points. Without ties its value between the k-th and
    (k+1)-th candidates is known in closed form, so the crossing is first guessed as the
    candidate of rank ceil(m/2 - zq sigma - 0.5 sign(zq)) and verified on both sides;
    otherwise (ties) bisection on the value isolates the candidate where fn becomes <= 0.
    R's uniroot stops within 1e-4 of the same point.
    """
    t = c.size / 2 - zq * sigma - (0.5 * math.copysign(1.0, zq) if correct else 0.0)
    k0 = min(max(math.ceil(t), 1), c.size)
    guess = _kth(c, k0)
    after = c.min_gt(guess)
    probe = guess + (after - guess) / 2 if math.isfinite(after) else guess
    if fn(float(np.nextafter(guess, -math.inf)), zq) > 0 >= fn(probe, zq):
        return guess
    lo, hi = c.low, c.high
    if fn(lo, zq) <= 0:
        return lo
    if fn(hi, zq) >= 0:
        return hi
    while True:  # invariant: fn(lo) > 0 >= fn(hi)
        nxt = c.min_gt(lo)
        if nxt >= hi:
            return hi
        after = c.min_gt(nxt)
        probe = nxt + (min(after, hi) - nxt) / 2  # inside the step that follows nxt
        if fn(nxt, zq) <= 0 or fn(probe, zq) <= 0:
            return nxt
        lo = probe
        mid = lo + (hi - lo) / 2
        if fn(mid, zq) > 0:
            lo = mid
        else:
            hi = mid


def wilcoxon_signed_rank(
    before: Sequence[float] | FloatArray,
    after: Sequence[float] | FloatArray,
    *,
    exact: bool | None = None,
    correct: bool = True,
    conf_level: float = 0.95,
    conf_int: bool = True,
) -> TestResult:
    """Wilcoxon signed-rank test of after - before with the pseudomedian and its CI.

    As R's ``wilcox.test(after, before, paired=TRUE, conf.int=TRUE)``: zero differences are
    dropped by the test (``n`` counts complete pairs, zeros included); exact when fewer
    than 50 non-zero differences and no ties or zeros, otherwise the normal approximation
    with tie and continuity correction. The estimate is the median of the Walsh averages.
    ``before[i]`` and ``after[i]`` belong to the same participant. ``conf_int=False``
    skips the CI (NaN ends).
    """
    _check_conf(conf_level)
    d_all, dropped = _differences(before, after, 1)
    zeros = bool((d_all == 0).any())
    d = d_all[d_all != 0]
    n = d.size
    if n == 0:
        raise InputError("Wilcoxon signed-rank: all differences are zero")
    r, tie_term = _midranks(np.abs(d))
    v = float(r[d > 0].sum())
    ties = tie_term > 0
    use_exact = (n < 50) if exact is None else exact
    use_exact = use_exact and not ties and not zeros
    walsh = _walsh(d)
    estimate = _median(walsh)
    alpha = 1 - conf_level
    lo = hi = math.nan
    if use_exact:
        counts = _signrank_counts(n)
        p = _exact_two_sided(v, counts)
        qu = _quantile_discrete(alpha / 2, counts) or 1
        ql = n * (n + 1) // 2 - qu
        if conf_int:
            lo, hi = _kth(walsh, qu), _kth(walsh, ql + 1)
        method = "Wilcoxon signed rank exact test"
    else:
        z = _signrank_z(d, 0.0, correct)
        p = float(2 * min(sps.norm.cdf(z), sps.norm.sf(z)))
        if conf_int:
            zq = float(sps.norm.ppf(1 - alpha / 2))
            fn = lambda s, zq: _signrank_z(d, s, correct) - zq  # noqa: E731
            sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
            lo = _jump(fn, walsh, zq, sigma, correct)
            hi = _jump(fn, walsh, -zq, sigma, correct)
        method = "Wilcoxon signed rank test" + (" with continuity correction" if correct else "")
    return TestResult(
        "wilcoxon_signed_rank", method, v, None, p, estimate, "pseudomedian of the differences",
        lo, hi, conf_level, (int(d_all.size),), (dropped,), use_exact,
    )  # fmt: skip


def _signrank_z(d: FloatArray, shift: float, correct: bool) -> float:
    xd = d - shift
    xd = xd[xd != 0]
    n = xd.size
    if n == 0:
        return 0.0
    r, ties = _midranks(np.abs(xd))
    zd = float(r[xd > 0].sum() - n * (n + 1) / 4)
    sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24 - ties / 48)
    corr = 0.5 * math.copysign(1.0, zd) if (correct and zd != 0) else 0.0
    return (zd - corr) / sigma


# ---------------------------------------------------------------- rule-based choice


_SHAPIRO_MAX = 5000
_LARGE_REASON = (
    "more than 5000 observations: Shapiro-Wilk is not defined there (R's limit); t test, "
    "valid for such samples by the central limit theorem"
)


_CONSTANT_REASON = "a constant sample: Shapiro-Wilk is not defined there; "


def compare_two_groups(
    a: Sequence[float] | FloatArray,
    b: Sequence[float] | FloatArray,
    *,
    rule: Rule = "auto",
    alpha_normality: float = 0.05,
    equal_var: bool = True,
    conf_level: float = 0.95,
    conf_int: bool = True,
) -> TestResult:
    """Compare two independent groups by the plan's rule (see the module docstring).

    The t test is Student's (``equal_var=True``, SPSS's "equal variances assumed" row) or
    Welch's; the rank test is Mann-Whitney U with the Hodges-Lehmann shift.
    ``conf_int=False``: no CI for the estimate (NaN ends; the rank test's CI is costly).
    """
    normality: tuple[NormalityResult, ...] = ()
    if rule == "auto":
        xa, xb = _sample(a, "group a", 3)[0], _sample(b, "group b", 3)[0]
        if max(xa.size, xb.size) > _SHAPIRO_MAX:
            parametric, reason = True, _LARGE_REASON
        elif np.ptp(xa) == 0 or np.ptp(xb) == 0:
            parametric, reason = False, _CONSTANT_REASON + "Mann-Whitney U"
        else:
            normality = (shapiro_wilk(xa, alpha_normality), shapiro_wilk(xb, alpha_normality))
            parametric = all(r.normal for r in normality)
            reason = _normality_reason(normality, ("a", "b"), alpha_normality, parametric)
    elif rule == "parametric":
        parametric, reason = True, "rule 'parametric': t test"
    elif rule == "nonparametric":
        parametric, reason = False, "rule 'nonparametric': Mann-Whitney U"
    else:
        raise InputError(f"rule must be 'auto', 'parametric' or 'nonparametric', got {rule!r}")
    res = (
        t_test(a, b, equal_var=equal_var, conf_level=conf_level)
        if parametric
        else mann_whitney_u(a, b, conf_level=conf_level, conf_int=conf_int)
    )
    return _with_reason(res, reason, normality, conf_int)


def compare_to_baseline(
    before: Sequence[float] | FloatArray,
    after: Sequence[float] | FloatArray,
    *,
    rule: Rule = "auto",
    alpha_normality: float = 0.05,
    conf_level: float = 0.95,
    conf_int: bool = True,
) -> TestResult:
    """Compare paired follow-up values with baseline: paired t or Wilcoxon signed-rank.

    ``before[i]`` and ``after[i]`` belong to the same participant (pairs with a NaN are
    dropped and counted). Rule ``"auto"`` applies Shapiro-Wilk to the differences
    after - before. ``conf_int=False``: no CI for the estimate (NaN ends).
    """
    normality: tuple[NormalityResult, ...] = ()
    if rule == "auto":
        d, _ = _differences(before, after, 3)
        if d.size > _SHAPIRO_MAX:
            parametric, reason = True, _LARGE_REASON
        elif np.ptp(d) == 0:
            parametric, reason = False, _CONSTANT_REASON + "Wilcoxon signed-rank"
        else:
            normality = (shapiro_wilk(d, alpha_normality),)
            parametric = normality[0].normal
            reason = _normality_reason(normality, ("differences",), alpha_normality, parametric)
    elif rule == "parametric":
        parametric, reason = True, "rule 'parametric': paired t test"
    elif rule == "nonparametric":
        parametric, reason = False, "rule 'nonparametric': Wilcoxon signed-rank"
    else:
        raise InputError(f"rule must be 'auto', 'parametric' or 'nonparametric', got {rule!r}")
    res = (
        paired_t_test(before, after, conf_level=conf_level)
        if parametric
        else wilcoxon_signed_rank(before, after, conf_level=conf_level, conf_int=conf_int)
    )
    return _with_reason(res, reason, normality, conf_int)


def _normality_reason(
    results: tuple[NormalityResult, ...], names: tuple[str, ...], alpha: float, parametric: bool
) -> str:
    parts = ", ".join(f"{n}: p = {r.p:.3g}" for n, r in zip(names, results, strict=True))
    if parametric:
        return f"Shapiro-Wilk did not reject normality at alpha {alpha:g} ({parts}): t test"
    return f"Shapiro-Wilk rejected normality at alpha {alpha:g} ({parts}): rank test"


def _with_reason(
    res: TestResult, reason: str, normality: tuple[NormalityResult, ...], conf_int: bool
) -> TestResult:
    out = replace(res, reason=reason, normality=normality)
    return out if conf_int else replace(out, ci_low=math.nan, ci_high=math.nan)


# ---------------------------------------------------------------- contingency tables


def _table(table: object) -> npt.NDArray[np.int64]:
    try:
        t = np.asarray(table, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"contingency table must hold counts ({exc})") from None
    if t.ndim != 2 or t.shape[0] < 2 or t.shape[1] < 2:
        raise InputError(f"contingency table must be at least 2 x 2, got shape {t.shape}")
    if np.isnan(t).any() or (t < 0).any() or (t != np.round(t)).any():
        raise InputError("contingency table must hold non-negative whole counts, no NaN")
    ti = t.astype(np.int64)
    if (ti.sum(axis=0) == 0).any() or (ti.sum(axis=1) == 0).any():
        raise InputError("contingency table has an empty row or column")
    return ti


def _expected(t: npt.NDArray[np.int64]) -> FloatArray:
    return np.outer(t.sum(axis=1), t.sum(axis=0)) / t.sum()


def chi_square(table: object, *, correct: bool = True) -> ContingencyResult:
    """Pearson chi-square test of independence, as R's ``chisq.test``.

    ``correct`` applies Yates' continuity correction, only to 2 x 2 tables (as R).
    """
    t = _table(table)
    e = _expected(t)
    dev = np.abs(t - e)
    yates = correct and t.shape == (2, 2)
    if yates:
        dev = dev - np.minimum(0.5, dev)
    stat = float((dev**2 / e).sum())
    df = (t.shape[0] - 1) * (t.shape[1] - 1)
    method = "Pearson's Chi-squared test" + (" with Yates' continuity correction" if yates else "")
    return ContingencyResult(
        "chi_square", method, stat, df, float(sps.chi2.sf(stat, df)), int(t.sum()),
        float(e.min()),
    )  # fmt: skip


def fisher_exact(
    table: object,
    *,
    conf_level: float = 0.95,
    odds_ratio: bool = True,
    max_tables: int = 2_000_000,
) -> ContingencyResult:
    """Fisher's exact test, two-sided, as R's ``fisher.test``.

    2 x 2: hypergeometric p-value with the conditional MLE odds ratio and its exact CI
    (``odds_ratio=False`` skips them, ten times faster, e.g. for a table per AE term).
    r x c: full enumeration of the tables with the observed margins; p is the total
    probability of tables no more likely than the observed one (relative tolerance 1e-7 as
    R). Raises InputError when more than ``max_tables`` tables would be enumerated.
    """
    _check_conf(conf_level)
    t = _table(table)
    e = _expected(t)
    if t.shape == (2, 2):
        res = sps.fisher_exact(t)
        if not odds_ratio:
            return ContingencyResult(
                "fisher_exact", "Fisher's Exact Test for Count Data", None, None,
                float(res.pvalue), int(t.sum()), float(e.min()),
            )  # fmt: skip
        orr = sps.contingency.odds_ratio(t, kind="conditional")
        ci = orr.confidence_interval(conf_level)
        return ContingencyResult(
            "fisher_exact", "Fisher's Exact Test for Count Data", None, None,
            float(res.pvalue), int(t.sum()), float(e.min()), float(orr.statistic),
            float(ci.low), float(ci.high),
        )  # fmt: skip
    p = _fisher_rxc(t, max_tables)
    return ContingencyResult(
        "fisher_exact", "Fisher's Exact Test for Count Data", None, None, p, int(t.sum()),
        float(e.min()),
    )  # fmt: skip


def _fisher_rxc(t: npt.NDArray[np.int64], max_tables: int) -> float:
    # orient so that enumeration runs over the shorter dimension's vectors per column
    if t.shape[0] > t.shape[1]:
        t = t.T
    rows = t.sum(axis=1)
    cols = t.sum(axis=0)
    n = int(t.sum())
    lf = special.gammaln(np.arange(n + 2) + 1.0)
    const = float(lf[rows].sum() + lf[cols].sum() - lf[n])
    log_obs = const - float(lf[t].sum())
    threshold = log_obs + math.log1p(1e-7)

    # enumerate column by column: states are (remaining row sums, accumulated -sum log a!)
    states: dict[tuple[int, ...], list[float]] = {tuple(int(r) for r in rows): [0.0]}
    count = 1
    for j, cj in enumerate(cols[:-1]):
        new: dict[tuple[int, ...], list[float]] = {}
        for rem, accs in states.items():
            for vec in _compositions(int(cj), rem):
                key = tuple(r - v for r, v in zip(rem, vec, strict=True))
                add = -float(sum(lf[v] for v in vec))
                new.setdefault(key, []).extend(a + add for a in accs)
        states = new
        count = sum(len(v) for v in states.values())
        if count > max_tables:
            raise InputError(
                f"Fisher exact test: more than {max_tables} tables to enumerate after column "
                f"{j + 1}; use the chi-square test for this table"
            )
    total = 0.0
    for rem, accs in states.items():
        last = -float(sum(lf[r] for r in rem))
        logp = const + np.asarray(accs) + last
        total += float(np.exp(logp[logp <= threshold]).sum())
    return min(total, 1.0)


def _compositions(total: int, caps: tuple[int, ...]) -> list[tuple[int, ...]]:
    """All vectors v with sum(v) == total and 0 <= v_i <= caps_i."""
    if len(caps) == 1:
        return [(total,)] if total <= caps[0] else []
    out: list[tuple[int, ...]] = []
    rest_cap = sum(caps[1:])
    for v in range(max(0, total - rest_cap), min(caps[0], total) + 1):
        out.extend((v, *tail) for tail in _compositions(total - v, caps[1:]))
    return out


def compare_proportions(
    table: object,
    *,
    rule: Literal["auto", "chi_square", "fisher"] = "auto",
    correct: bool = True,
    odds_ratio: bool = True,
) -> ContingencyResult:
    """Test a contingency table by the plan's rule.

    ``"auto"``: chi-square (Yates-corrected for 2 x 2 when ``correct``) when every expected
    count is at least 5, otherwise Fisher's exact test (Cochran's condition).
    """
    t = _table(table)
    if rule == "chi_square":
        return _reasoned(chi_square(t, correct=correct), "rule 'chi_square'")
    if rule == "fisher":
        return _reasoned(fisher_exact(t, odds_ratio=odds_ratio), "rule 'fisher'")
    if rule != "auto":
        raise InputError(f"rule must be 'auto', 'chi_square' or 'fisher', got {rule!r}")
    m = float(_expected(t).min())
    if m >= 5:
        return _reasoned(chi_square(t, correct=correct), f"all expected counts >= 5 (min {m:.3g})")
    return _reasoned(
        fisher_exact(t, odds_ratio=odds_ratio), f"an expected count < 5 (min {m:.3g}): Fisher exact"
    )


def _reasoned(res: ContingencyResult, reason: str) -> ContingencyResult:
    return replace(res, reason=reason)


# ---------------------------------------------------------------- effect sizes


def mean_difference(
    a: Sequence[float] | FloatArray,
    b: Sequence[float] | FloatArray,
    *,
    equal_var: bool = True,
    conf_level: float = 0.95,
) -> EffectSize:
    """Difference of means a - b with the t-based CI (pooled SD, or Welch's when unequal)."""
    r = t_test(a, b, equal_var=equal_var, conf_level=conf_level)
    how = "pooled-variance t" if equal_var else "Welch t"
    return EffectSize("mean difference", r.estimate, r.ci_low, r.ci_high, conf_level, how)


def hedges_g(
    a: Sequence[float] | FloatArray, b: Sequence[float] | FloatArray, *, conf_level: float = 0.95
) -> EffectSize:
    """Hedges' g of a - b with its CI.

    g = J d with d = (mean_a - mean_b) / pooled SD and the exact small-sample factor
    J = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)), df = n_a + n_b - 2. CI: the noncentral t
    interval for d (the noncentrality parameters at which the observed t is the upper and
    lower alpha/2 quantile), scaled by sqrt(1/n_a + 1/n_b) and multiplied by J.
    """
    _check_conf(conf_level)
    x, _ = _sample(a, "group a", 2)
    y, _ = _sample(b, "group b", 2)
    nx, ny = x.size, y.size
    df = nx + ny - 2
    sp = math.sqrt(((nx - 1) * np.var(x, ddof=1) + (ny - 1) * np.var(y, ddof=1)) / df)
    if sp == 0:
        raise InputError("Hedges' g: both groups are constant (zero pooled SD)")
    d = float(x.mean() - y.mean()) / sp
    j = hedges_j(df)
    scale = math.sqrt(1 / nx + 1 / ny)
    lo, hi = (v * scale * j for v in noncentral_t_interval(d / scale, df, conf_level))
    return EffectSize("Hedges' g", j * d, lo, hi, conf_level, "noncentral t, J applied to CI")


def hedges_j(df: float) -> float:
    """Exact small-sample bias correction of Cohen's d,
    J = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2))."""
    return math.exp(special.gammaln(df / 2) - special.gammaln((df - 1) / 2)) / math.sqrt(df / 2)


def noncentral_t_interval(t: float, df: float, level: float) -> tuple[float, float]:
    """The noncentrality parameters at which the observed ``t`` is the upper and the
    lower (1 - level)/2 quantile: the CI of the noncentrality (of d when scaled)."""
    alpha = 1 - level
    return _ncp_for(t, df, 1 - alpha / 2), _ncp_for(t, df, alpha / 2)


def _ncp_for(t: float, df: float, prob: float) -> float:
    """Noncentrality parameter at which P(T <= t) = prob."""
    f = lambda ncp: float(sps.nct.cdf(t, df, ncp)) - prob  # noqa: E731
    # the roots lie about z * sqrt(1 + t^2 / (2 df)) from t; stay near them (scipy's nct
    # returns NaN far out in the tails)
    width = 1.0 + 2.0 * math.sqrt(1 + t * t / (2 * df))
    lo, hi = t - width, t + width
    while f(lo) < 0:
        lo -= width
    while f(hi) > 0:
        hi += width
    return float(optimize.brentq(f, lo, hi, xtol=1e-12, rtol=1e-12))


def hodges_lehmann(
    a: Sequence[float] | FloatArray, b: Sequence[float] | FloatArray, *, conf_level: float = 0.95
) -> EffectSize:
    """Hodges-Lehmann shift a - b with the CI of R's ``wilcox.test(conf.int=TRUE)``."""
    r = mann_whitney_u(a, b, conf_level=conf_level)
    how = "exact Wilcoxon" if r.exact else "normal-approximation Wilcoxon inversion"
    return EffectSize("Hodges-Lehmann shift", r.estimate, r.ci_low, r.ci_high, conf_level, how)


def _counts(events: int, n: int, name: str) -> tuple[int, int]:
    if int(events) != events or int(n) != n or n < 1 or not 0 <= events <= n:
        raise InputError(f"{name}: need whole counts with 0 <= events <= n and n >= 1")
    return int(events), int(n)


def _wilson(x: int, n: int, z: float) -> tuple[float, float]:
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def risk_difference(
    events_a: int,
    n_a: int,
    events_b: int,
    n_b: int,
    *,
    method: Literal["newcombe", "wald"] = "newcombe",
    conf_level: float = 0.95,
) -> EffectSize:
    """Risk difference p_a - p_b with a Wald or Newcombe hybrid-score (method 10) CI.

    Newcombe: from the Wilson score intervals (l_i, u_i) of each proportion,
    [d - sqrt((p_a - l_a)^2 + (u_b - p_b)^2), d + sqrt((u_a - p_a)^2 + (p_b - l_b)^2)].
    """
    _check_conf(conf_level)
    xa, na = _counts(events_a, n_a, "group a")
    xb, nb = _counts(events_b, n_b, "group b")
    pa, pb = xa / na, xb / nb
    d = pa - pb
    z = float(sps.norm.ppf(0.5 + conf_level / 2))
    if method == "wald":
        half = z * math.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb)
        return EffectSize("risk difference", d, d - half, d + half, conf_level, "Wald")
    if method != "newcombe":
        raise InputError(f"method must be 'newcombe' or 'wald', got {method!r}")
    la, ua = _wilson(xa, na, z)
    lb, ub = _wilson(xb, nb, z)
    lo = d - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2)
    hi = d + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)
    return EffectSize("risk difference", d, lo, hi, conf_level, "Newcombe hybrid score")


def smd_continuous(a: Sequence[float] | FloatArray, b: Sequence[float] | FloatArray) -> float:
    """Standardized mean difference (mean_a - mean_b) / sqrt((s_a^2 + s_b^2) / 2), signed.

    The baseline-table SMD (as R tableone, which reports its absolute value); NaNs dropped.
    """
    x, _ = _sample(a, "group a", 2)
    y, _ = _sample(b, "group b", 2)
    denom = math.sqrt((np.var(x, ddof=1) + np.var(y, ddof=1)) / 2)
    diff = float(x.mean() - y.mean())
    if denom == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / denom


def smd_categorical(counts_a: Sequence[int], counts_b: Sequence[int]) -> float:
    """Standardized difference of a categorical variable (Yang & Dalton 2012, as tableone):
    sqrt(T' S^+ T) with T the differences in level proportions beyond the first level and
    S the mean of the two groups' multinomial covariance matrices (pseudo-inverse S^+).
    Non-negative; for two levels it equals |smd_binary|."""
    a = _as_float(counts_a, "counts of group a")
    b = _as_float(counts_b, "counts of group b")
    if a.size != b.size or a.size < 2:
        raise InputError("need the counts of the same >= 2 levels in both groups")
    if (a < 0).any() or (b < 0).any() or np.isnan(a).any() or np.isnan(b).any():
        raise InputError("level counts must be non-negative numbers")
    if a.sum() == 0 or b.sum() == 0:
        raise InputError("each group needs at least one observation")
    pa, pb = (a / a.sum())[1:], (b / b.sum())[1:]
    t = pa - pb
    s = (np.diag(pa) - np.outer(pa, pa) + np.diag(pb) - np.outer(pb, pb)) / 2
    return float(math.sqrt(max(float(t @ np.linalg.pinv(s) @ t), 0.0)))


def smd_binary(events_a: int, n_a: int, events_b: int, n_b: int) -> float:
    """Standardized difference of proportions (p_a - p_b) / sqrt((p_a q_a + p_b q_b) / 2)."""
    xa, na = _counts(events_a, n_a, "group a")
    xb, nb = _counts(events_b, n_b, "group b")
    pa, pb = xa / na, xb / nb
    denom = math.sqrt((pa * (1 - pa) + pb * (1 - pb)) / 2)
    if denom == 0:
        return 0.0 if pa == pb else math.copysign(math.inf, pa - pb)
    return (pa - pb) / denom
