"""The results of the location tests (t and rank tests) and of Shapiro-Wilk."""

from __future__ import annotations

from dataclasses import dataclass


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
