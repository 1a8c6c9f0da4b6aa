"""Tests of contingency tables as R's ``chisq.test`` and ``fisher.test`` (2 x 2 with the
conditional MLE odds ratio and its exact CI; r x c by full enumeration), and the plan's
rule between them (Cochran's condition on the expected counts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from frailtrial.errors import InputError
from frailtrial.stats.distributions import chi2_sf
from frailtrial.stats.samples import FloatArray, check_conf_level
from frailtrial.stats.special_functions import special


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
        "chi_square", method, stat, df, float(chi2_sf(stat, df)), int(t.sum()),
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
    check_conf_level(conf_level)
    t = _table(table)
    e = _expected(t)
    if t.shape == (2, 2):
        p = _fisher_2x2(t)
        if not odds_ratio:
            return ContingencyResult(
                "fisher_exact", "Fisher's Exact Test for Count Data", None, None, p,
                int(t.sum()), float(e.min()),
            )  # fmt: skip
        from scipy import stats as sps  # 0.5 s to import: only for the odds ratio's CI

        orr = sps.contingency.odds_ratio(t, kind="conditional")
        ci = orr.confidence_interval(conf_level)
        return ContingencyResult(
            "fisher_exact", "Fisher's Exact Test for Count Data", None, None, p,
            int(t.sum()), float(e.min()), float(orr.statistic), float(ci.low), float(ci.high),
        )  # fmt: skip
    p = _fisher_rxc(t, max_tables)
    return ContingencyResult(
        "fisher_exact", "Fisher's Exact Test for Count Data", None, None, p, int(t.sum()),
        float(e.min()),
    )  # fmt: skip


def _fisher_2x2(t: npt.NDArray[np.int64]) -> float:
    """Two-sided p of a 2 x 2 table: the probability of the tables (same margins) no more
    likely than the observed one, relative tolerance 1e-7 (as R and scipy.stats).

    The hypergeometric probabilities relative to the mode are products of the ratios of
    neighbours (exact integer ratios), so the sum keeps full precision where
    ``_fisher_rxc``'s log-factorials lose digits on large tables; a table so far in a tail
    that its probability is below the normal double range falls back to that enumeration."""
    r1, c1, n = int(t[0].sum()), int(t[:, 0].sum()), int(t.sum())
    lo, hi, x = max(0, r1 + c1 - n), min(r1, c1), int(t[0, 0])
    ks = np.arange(lo, hi, dtype=float)  # ratio p(k + 1) / p(k) for k = lo .. hi - 1
    ratio = (r1 - ks) * (c1 - ks) / ((ks + 1) * (n - r1 - c1 + ks + 1))
    mode = (r1 + 1) * (c1 + 1) // (n + 2)
    rel = np.ones(hi - lo + 1)
    up, down = mode - lo, np.flip(ratio[: mode - lo])
    rel[up + 1 :] = np.cumprod(ratio[up:])
    rel[:up] = np.flip(np.cumprod(1 / down))
    obs = rel[x - lo]
    if obs < np.finfo(float).tiny:
        return _fisher_rxc(t, 2**62)
    return min(float(rel[rel <= obs * (1 + 1e-7)].sum() / rel.sum()), 1.0)


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
