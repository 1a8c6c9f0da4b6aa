"""Rank tests as R's ``wilcox.test(conf.int=TRUE)``: Mann-Whitney U with the
Hodges-Lehmann shift, Wilcoxon signed-rank with the pseudomedian, each with its CI.

Exact when both groups have fewer than 50 observations and there are no ties (or zero
differences), otherwise the normal approximation with tie and continuity correction.
The estimates and CI ends are found among the pairwise differences (Walsh averages)
without materializing them for large samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from frailtrial.errors import InputError
from frailtrial.stats.distributions import norm_cdf, norm_ppf, norm_sf
from frailtrial.stats.results import TestResult
from frailtrial.stats.samples import (
    FloatArray,
    check_conf_level,
    observations,
    paired_differences,
)

_EPS = float(np.finfo(float).eps)
_StepFn = Callable[[float, float], float]


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
    check_conf_level(conf_level)
    x, dx = observations(a, "group a", 1)
    y, dy = observations(b, "group b", 1)
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
        p = float(2 * min(norm_cdf(z), norm_sf(z)))
        if conf_int:
            zq = float(norm_ppf(1 - alpha / 2))
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
    check_conf_level(conf_level)
    d_all, dropped = paired_differences(before, after, 1)
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
        p = float(2 * min(norm_cdf(z), norm_sf(z)))
        if conf_int:
            zq = float(norm_ppf(1 - alpha / 2))
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
