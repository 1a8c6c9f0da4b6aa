"""Incidence of an event by arm: exact binomial CIs, Fisher's exact test and the
Cochran-Armitage trend test, matching R's ``binom.test``, ``fisher.test`` and
``prop.trend.test``.

::

    from frailtrial.stats.incidence import clopper_pearson, fisher_2x2, cochran_armitage
    clopper_pearson(2, 10)                      # (0.0252, 0.5561), as binom.test(2, 10)
    fisher_2x2(2, 10, 0, 10)                    # p of fisher.test on [[2, 8], [0, 10]]
    cochran_armitage([0, 1, 3], [10, 10, 10], [0, 1, 2])   # z, chi-square, p

The risk difference with its Newcombe hybrid-score CI is
:func:`frailtrial.stats.effect_sizes.risk_difference`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from frailtrial.errors import InputError
from frailtrial.stats.contingency import fisher_exact
from frailtrial.stats.distributions import beta_ppf, norm_sf
from frailtrial.stats.samples import whole_counts


def clopper_pearson(events: int, n: int, conf_level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) CI of a binomial proportion, as R's ``binom.test``: the beta
    quantiles, with 0 (no events) and 1 (all events) as the open ends."""
    if not 0 < conf_level < 1:
        raise InputError(f"conf_level must lie in (0, 1), got {conf_level}")
    x, m = whole_counts(events, n, "incidence")
    a = (1 - conf_level) / 2
    low = 0.0 if x == 0 else float(beta_ppf(a, x, m - x + 1))
    high = 1.0 if x == m else float(beta_ppf(1 - a, x + 1, m - x))
    return low, high


def fisher_2x2(events_a: int, n_a: int, events_b: int, n_b: int) -> float:
    """Two-sided p of Fisher's exact test of events vs non-events in two groups, as R's
    ``fisher.test``. With no events (or only events) in both groups a single table has the
    observed margins, so p = 1, as R gives."""
    xa, na = whole_counts(events_a, n_a, "group a")
    xb, nb = whole_counts(events_b, n_b, "group b")
    if xa + xb in (0, na + nb):
        return 1.0
    table = np.array([[xa, na - xa], [xb, nb - xb]], dtype=np.int64)
    return fisher_exact(table, odds_ratio=False).p


@dataclass(frozen=True)
class TrendResult:
    """Cochran-Armitage test for a linear trend in proportions over ordered groups.

    ``z`` is signed: positive when incidence rises with the score; ``chi_square`` = z² is
    R's ``prop.trend.test`` statistic (1 df) and ``p`` its two-sided p. Both are NaN when
    no group (or every group) has an event: the pooled variance is then zero.
    """

    z: float
    chi_square: float
    p: float
    scores: tuple[float, ...]


def cochran_armitage(
    events: Sequence[int], n: Sequence[int], scores: Sequence[float]
) -> TrendResult:
    """Trend test of ``events[i] / n[i]`` against ``scores[i]`` (at least two groups with
    different scores): T = sum x_i (s_i - s_bar), Var T = p(1 - p) sum n_i (s_i - s_bar)²,
    with s_bar the n-weighted mean score and p the pooled proportion."""
    if not len(events) == len(n) == len(scores) or len(events) < 2:
        raise InputError("trend test: need events, n and scores of the same >= 2 groups")
    counts = [
        whole_counts(x, m, f"group {i + 1}") for i, (x, m) in enumerate(zip(events, n, strict=True))
    ]
    x = np.array([c[0] for c in counts], dtype=float)
    m = np.array([c[1] for c in counts], dtype=float)
    s = np.asarray(scores, dtype=float)
    if not np.isfinite(s).all() or np.ptp(s) == 0:
        raise InputError("trend test: scores must be finite and not all equal")
    total = m.sum()
    pooled = x.sum() / total
    centred = s - (m * s).sum() / total
    var = pooled * (1 - pooled) * float((m * centred**2).sum())
    if var <= 0:
        return TrendResult(math.nan, math.nan, math.nan, tuple(float(v) for v in s))
    z = float((x * centred).sum()) / math.sqrt(var)
    return TrendResult(z, z * z, float(2 * norm_sf(abs(z))), tuple(float(v) for v in s))
