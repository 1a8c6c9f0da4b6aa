"""Analytic sample size, power and detectable effect for a two-arm (or k-arm) trial.

Give exactly two of effect, power and n; the third is solved by root finding on the
power functions in :mod:`frailtrial.design.power_functions`. Sample sizes are solved on
a continuous n and then rounded up; the achieved power is recomputed at the rounded n.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, get_args

from scipy import optimize

from frailtrial.design import power_functions as pf
from frailtrial.errors import InputError
from frailtrial.stats.multiplicity import dunnett_critical_value

Test = Literal["ttest", "mann-whitney", "paired-t", "wilcoxon", "two-proportions"]
Multiplicity = Literal["bonferroni", "dunnett"]

TESTS: tuple[str, ...] = get_args(Test)
METHODS: dict[str, tuple[str, ...]] = {
    "ttest": ("noncentral-t",),
    "paired-t": ("noncentral-t",),
    "mann-whitney": ("are", "noether"),
    "wilcoxon": ("are", "noether"),
    "two-proportions": ("chisq", "chisq-cc", "arcsine", "fisher"),
}
_PAIRED = ("paired-t", "wilcoxon")
_N_MAX = 10_000_000.0


@dataclass(frozen=True)
class SampleSizeResult:
    """What was solved, the sizes per arm and the power they achieve, with the method used."""

    test: str
    method: str
    solved_for: Literal["n", "power", "effect"]
    alternative: str
    alpha: float
    alpha_per_comparison: float
    multiplicity: str | None
    arms: int
    ratio: float
    dropout: float
    ancova_rho: float | None
    effect_size: float | None
    p1: float | None
    p2: float | None
    target_power: float | None
    n_per_group: int
    n_per_arm: dict[str, int]
    total: int
    n_evaluable_per_arm: dict[str, float]
    n_continuous: float | None
    achieved_power: float
    formula: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return asdict(self)


@dataclass(frozen=True)
class _Problem:
    """Validated inputs with the power as a function of the control-arm n and the effect."""

    test: str
    method: str
    alpha: float
    alternative: pf.Alternative
    ratio: float
    arms: int
    multiplicity: Multiplicity
    ancova_rho: float | None
    p1: float | None

    @property
    def paired(self) -> bool:
        return self.test in _PAIRED

    @property
    def integer_n(self) -> bool:
        return self.method == "fisher"

    @property
    def comparisons(self) -> int:
        return self.arms - 1

    def alpha_per_comparison(self) -> float:
        if self.comparisons == 1 or self.multiplicity == "dunnett":
            return self.alpha
        return self.alpha / self.comparisons

    def n2(self, n1: float) -> float:
        return n1 if self.paired else self.ratio * n1

    def power(self, n1: float, effect: float) -> float:
        """Power at control-arm size n1 (pairs for paired tests) and effect (d, dz or p2)."""
        a = self.alpha_per_comparison()
        alt = self.alternative
        n2 = self.n2(n1)
        if self.multiplicity == "dunnett" and self.comparisons > 1:
            return self._dunnett_power(n1, n2, effect)
        if self.test == "ttest":
            return pf.two_sample_t_power(n1, n2, effect, a, alt, self.ancova_rho)
        if self.test == "paired-t":
            return pf.paired_t_power(n1, effect, a, alt)
        if self.test == "mann-whitney":
            if self.method == "are":
                return pf.mann_whitney_are_power(n1, n2, effect, a, alt)
            return pf.mann_whitney_noether_power(n1, n2, effect, a, alt)
        if self.test == "wilcoxon":
            if self.method == "are":
                return pf.wilcoxon_are_power(n1, effect, a, alt)
            return pf.wilcoxon_noether_power(n1, effect, a, alt)
        assert self.p1 is not None
        if self.method == "fisher":
            return pf.fisher_exact_power(round(n1), math.ceil(n2 - 1e-9), self.p1, effect, a, alt)
        if self.method == "arcsine":
            return pf.two_prop_arcsine_power(n1, n2, self.p1, effect, a, alt)
        return pf.two_prop_chisq_power(
            n1, n2, self.p1, effect, a, alt, continuity=self.method == "chisq-cc"
        )

    def _dunnett_power(self, n1: float, n2: float, d: float) -> float:
        """Power of one arm-vs-control contrast at Dunnett's critical value (t test)."""
        ncp, df = pf.two_sample_ncp_df(
            n1, n2, d, n1 + self.comparisons * n2 - self.arms, self.ancova_rho
        )
        rho = n2 / (n1 + n2)
        crit = dunnett_critical_value(self.comparisons, rho, df, self.alpha, self.alternative)
        return pf.t_power_at(crit, ncp, df, self.alternative)

    def min_n(self) -> float:
        """Smallest control-arm n for which the test is defined."""
        if self.paired:
            return 2.0
        extra = 1.0 if self.ancova_rho is not None else 0.0
        if self.multiplicity == "dunnett" and self.comparisons > 1:
            return max(2.0, (self.arms + 1.0 + extra) / (1.0 + self.comparisons * self.ratio))
        return max(2.0, (3.0 + extra) / (1.0 + self.ratio)) if self.test == "ttest" else 2.0

    def formula(self) -> str:
        return _FORMULAS[(self.test, self.method)]


_FORMULAS: dict[tuple[str, str], str] = {
    ("ttest", "noncentral-t"): (
        "two-sample t test, exact power from the noncentral t: df = n1 + n2 - 2, "
        "ncp = d * sqrt(n1 n2 / (n1 + n2))"
    ),
    ("paired-t", "noncentral-t"): (
        "paired t test on n pairs, exact power from the noncentral t: df = n - 1, "
        "ncp = dz * sqrt(n), dz = mean difference / SD of differences"
    ),
    ("mann-whitney", "are"): (
        "Mann-Whitney via asymptotic relative efficiency: n = n_t / (3/pi), "
        "n_t from the exact two-sample t power (normal data)"
    ),
    ("mann-whitney", "noether"): (
        "Mann-Whitney by Noether (1987): N = (z_a + z_b)^2 / (12 c (1 - c) (p - 1/2)^2), "
        "p = P(Y2 > Y1) = Phi(d / sqrt 2), c = n1 / N"
    ),
    ("wilcoxon", "are"): (
        "Wilcoxon signed-rank via asymptotic relative efficiency: n = n_t / (3/pi), "
        "n_t from the exact paired t power"
    ),
    ("wilcoxon", "noether"): (
        "Wilcoxon signed-rank by Noether (1987): n = (z_a + z_b)^2 / (3 (p' - 1/2)^2), "
        "p' = P(D + D' > 0) = Phi(sqrt(2) dz)"
    ),
    ("two-proportions", "chisq"): (
        "chi-square (pooled z) test, normal approximation: pooled variance under H0, "
        "unpooled under H1 (as R power.prop.test, strict)"
    ),
    ("two-proportions", "chisq-cc"): (
        "chi-square with Yates continuity correction: |p1 - p2| reduced by (1/n1 + 1/n2)/2 "
        "(Casagrande, Pike & Smith 1978; equal n: Fleiss, Tytun & Ury 1980 "
        "n_cc = n/4 (1 + sqrt(1 + 4/(n |p1 - p2|)))^2)"
    ),
    ("two-proportions", "arcsine"): (
        "arcsine normal approximation, h = 2 asin(sqrt p2) - 2 asin(sqrt p1) (as R pwr.2p2n.test)"
    ),
    ("two-proportions", "fisher"): (
        "Fisher's exact test, exact power by enumerating every 2x2 table "
        "(p-values as R fisher.test); smallest n reaching the power (exact power is "
        "not monotone in n)"
    ),
}


def _check_prob(name: str, value: float, *, low_closed: bool = False) -> None:
    ok = (0.0 <= value < 1.0) if low_closed else (0.0 < value < 1.0)
    if not (math.isfinite(value) and ok):
        interval = "[0, 1)" if low_closed else "(0, 1)"
        raise InputError(f"{name} must be in {interval}, got {value}")


def _validate(
    test: str,
    method: str | None,
    alpha: float,
    alternative: str,
    ratio: float,
    arms: int,
    multiplicity: str,
    ancova_rho: float | None,
    p1: float | None,
) -> _Problem:
    if test not in TESTS:
        raise InputError(f"unknown test {test!r}; allowed: {', '.join(TESTS)}")
    allowed = METHODS[test]
    method = method or allowed[0]
    if method not in allowed:
        raise InputError(
            f"method {method!r} does not apply to {test}; allowed: {', '.join(allowed)}"
        )
    _check_prob("alpha", alpha)
    if alternative not in ("two-sided", "greater"):
        raise InputError(f"alternative must be two-sided or greater, got {alternative!r}")
    if not (math.isfinite(ratio) and ratio > 0):
        raise InputError(f"ratio (n experimental / n control) must be > 0, got {ratio}")
    if arms < 2:
        raise InputError(f"arms (including the control) must be >= 2, got {arms}")
    if test in _PAIRED and (ratio != 1.0 or arms != 2):
        raise InputError(f"{test} is a one-group (paired) design: --ratio and --arms do not apply")
    if multiplicity not in ("bonferroni", "dunnett"):
        raise InputError(f"multiplicity must be bonferroni or dunnett, got {multiplicity!r}")
    if multiplicity == "dunnett" and arms > 2 and test != "ttest":
        raise InputError("Dunnett's multiplicity adjustment is available for the t test only")
    if ancova_rho is not None:
        if test != "ttest":
            raise InputError("the ANCOVA baseline adjustment (--ancova-rho) applies to the t test")
        if not (math.isfinite(ancova_rho) and -1.0 < ancova_rho < 1.0):
            raise InputError(f"ancova rho must be in (-1, 1), got {ancova_rho}")
    if test == "two-proportions":
        if p1 is None:
            raise InputError("two-proportions needs --p1 (control proportion)")
        _check_prob("p1", p1)
    return _Problem(
        test=test,
        method=method,
        alpha=alpha,
        alternative=alternative,  # type: ignore[arg-type]
        ratio=ratio,
        arms=arms,
        multiplicity=multiplicity,  # type: ignore[arg-type]
        ancova_rho=ancova_rho,
        p1=p1,
    )


def _solve_n(problem: _Problem, effect: float, target: float) -> tuple[float | None, int]:
    """Continuous root n1 (None for Fisher) and the rounded-up control-arm n1."""
    lo = problem.min_n()
    if problem.power(lo, effect) >= target:
        return lo, math.ceil(lo - 1e-9)
    hi = lo * 2
    while problem.power(hi, effect) < target:
        hi *= 2
        if hi > _N_MAX:
            raise InputError(
                f"power {target} is not reachable with fewer than {_N_MAX:.0f} per group "
                f"for this effect; check the effect size"
            )
    if problem.integer_n:
        return None, _scan_integer_n(problem, effect, target, int(hi))
    root = optimize.brentq(lambda n: problem.power(n, effect) - target, lo, hi, xtol=1e-10)
    return float(root), max(math.ceil(root - 1e-6), math.ceil(lo - 1e-9))


def _scan_integer_n(problem: _Problem, effect: float, target: float, hi: int) -> int:
    """Smallest integer n1 with power >= target, starting below the Yates-corrected n."""
    approx = replace(problem, method="chisq-cc")
    start_root = optimize.brentq(lambda n: approx.power(n, effect) - target, 2.0, float(hi))
    n = max(2, math.floor(0.8 * start_root))
    while n <= hi * 4:
        if problem.power(n, effect) >= target:
            return n
        n += 1
    raise InputError(f"power {target} not reached by Fisher's exact test below n = {hi * 4}")


def _solve_effect(problem: _Problem, n1: float, target: float) -> float:
    """Smallest positive effect (d, dz or p2 above p1) with the target power at n1."""
    if problem.test == "two-proportions":
        assert problem.p1 is not None
        lo, hi = problem.p1 + 1e-9, 1.0 - 1e-9
    else:
        lo, hi = 1e-9, 1.0
        while problem.power(n1, hi) < target and hi < 64.0:
            hi *= 2.0
    if problem.power(n1, hi) < target:
        raise InputError(f"no effect reaches power {target} with n = {n1:g} per group")
    return float(optimize.brentq(lambda e: problem.power(n1, e) - target, lo, hi, xtol=1e-12))


def sample_size(
    test: str,
    *,
    effect_size: float | None = None,
    p1: float | None = None,
    p2: float | None = None,
    alpha: float = 0.05,
    power: float | None = None,
    n: int | None = None,
    ratio: float = 1.0,
    dropout: float = 0.0,
    arms: int = 2,
    multiplicity: str = "bonferroni",
    ancova_rho: float | None = None,
    method: str | None = None,
    alternative: str = "two-sided",
) -> SampleSizeResult:
    """Solve for whichever of n, power and effect is not given.

    ``effect_size`` is Cohen's d (dz for paired tests); for two proportions give ``p1``
    (control) and ``p2`` (experimental). ``n`` is the enrolled size of the control arm
    (pairs for paired tests); the experimental arms get ``ceil(ratio * n)``. ``dropout`` is
    the fraction expected to be lost: enrolment = ceil(n_evaluable / (1 - dropout)), and a
    given ``n`` is taken as enrolled, of which n * (1 - dropout) are evaluable.
    ``arms`` counts the control; k - 1 comparisons against the shared control use
    Bonferroni's alpha / (k - 1) or Dunnett's critical value (t test).
    """
    problem = _validate(test, method, alpha, alternative, ratio, arms, multiplicity, ancova_rho, p1)
    _check_prob("dropout", dropout, low_closed=True)
    is_prop = test == "two-proportions"
    if is_prop and effect_size is not None:
        raise InputError("two-proportions takes --p1/--p2, not --effect-size")
    if not is_prop and (p1 is not None or p2 is not None):
        raise InputError(f"{test} takes --effect-size, not --p1/--p2")
    effect = p2 if is_prop else effect_size
    given = {"effect": effect is not None, "power": power is not None, "n": n is not None}
    if sum(given.values()) != 2:
        raise InputError(
            "give exactly two of: effect (--effect-size or --p2), --power, --n; "
            f"got {', '.join(k for k, v in given.items() if v) or 'none'}"
        )
    if power is not None:
        _check_prob("power", power)
        floor_power = alpha / 2 if alternative == "two-sided" else alpha
        if power <= floor_power:
            raise InputError(f"power must exceed {floor_power} (the power at no effect)")
    if effect is not None:
        if is_prop:
            assert p1 is not None
            _check_prob("p2", effect)
            if effect == p1:
                raise InputError("p1 and p2 must differ")
        elif not math.isfinite(effect) or effect == 0:
            raise InputError(f"effect size must be a non-zero number, got {effect}")
    if n is not None and n < math.ceil(problem.min_n()):
        raise InputError(f"n must be at least {math.ceil(problem.min_n())} per group, got {n}")

    notes: list[str] = []
    n_cont: float | None = None
    keep = 1.0 - dropout
    if not given["n"]:
        assert effect is not None and power is not None
        n_cont, n1_eval = _solve_n(problem, effect, power)
        n2_eval = math.ceil(problem.n2(n1_eval) - 1e-9)
        n1 = math.ceil(n1_eval / keep - 1e-9)
        n2 = math.ceil(n2_eval / keep - 1e-9)
        eval1, eval2 = float(n1_eval), float(n2_eval)
        solved: Literal["n", "power", "effect"] = "n"
    else:
        assert n is not None
        n1 = n
        n2 = math.ceil(problem.n2(n) - 1e-9)
        eval1, eval2 = n1 * keep, n2 * keep
        if problem.integer_n and dropout > 0:
            eval1, eval2 = float(math.floor(eval1)), float(math.floor(eval2))
            notes.append("Fisher exact power uses the evaluable n rounded down")
        if eval1 < problem.min_n():
            raise InputError(f"after dropout only {eval1:g} evaluable per group; too few")
        if effect is None:
            assert power is not None
            effect = _solve_effect(problem, eval1, power)
            solved = "effect"
        else:
            solved = "power"
    achieved = _power_at(problem, eval1, eval2, effect)

    if dropout > 0:
        notes.append(
            f"enrolment inflated for dropout: n_enrolled = ceil(n_evaluable / (1 - {dropout:g}))"
        )
    if ancova_rho is not None:
        notes.append(
            f"ANCOVA on a baseline correlated rho = {ancova_rho:g}: residual SD = SD * "
            "sqrt(1 - rho^2), one df for the covariate (n_ancova ~ n_t * (1 - rho^2), Borm 2007)"
        )
        if solved == "n":
            plain = sample_size(
                test,
                effect_size=effect_size,
                alpha=alpha,
                power=power,
                ratio=ratio,
                dropout=dropout,
                arms=arms,
                multiplicity=multiplicity,
                alternative=alternative,
            )
            notes.append(f"without the baseline adjustment: {plain.n_per_group} per group")
    if problem.comparisons > 1:
        if multiplicity == "dunnett":
            notes.append(
                f"{problem.comparisons} arms vs a shared control, Dunnett critical value "
                f"(family alpha {alpha:g}); power is per comparison"
            )
        else:
            notes.append(
                f"{problem.comparisons} arms vs a shared control, Bonferroni alpha = "
                f"{alpha:g}/{problem.comparisons}; power is per comparison"
            )
    if solved == "effect" and is_prop:
        notes.append("detectable effect: the p2 above p1 that reaches the power")
    if test in ("mann-whitney", "wilcoxon"):
        notes.append(
            "rank-test formulas assume normal data; small-n accuracy is poor (Mollan 2020)"
        )
    if problem.paired:
        per_arm = {"pairs": n1}
        evaluable = {"pairs": eval1}
    elif problem.comparisons == 1:
        per_arm = {"control": n1, "experimental": n2}
        evaluable = {"control": eval1, "experimental": eval2}
    else:
        per_arm = {"control": n1} | {
            f"experimental_{i + 1}": n2 for i in range(problem.comparisons)
        }
        evaluable = {"control": eval1} | {
            f"experimental_{i + 1}": eval2 for i in range(problem.comparisons)
        }
    return SampleSizeResult(
        test=test,
        method=problem.method,
        solved_for=solved,
        alternative=alternative,
        alpha=alpha,
        alpha_per_comparison=problem.alpha_per_comparison(),
        multiplicity=multiplicity if problem.comparisons > 1 else None,
        arms=arms,
        ratio=ratio,
        dropout=dropout,
        ancova_rho=ancova_rho,
        effect_size=None if is_prop else effect,
        p1=p1,
        p2=effect if is_prop else None,
        target_power=power,
        n_per_group=n1,
        n_per_arm=per_arm,
        total=sum(per_arm.values()),
        n_evaluable_per_arm=evaluable,
        n_continuous=n_cont,
        achieved_power=achieved,
        formula=problem.formula(),
        notes=notes,
    )


def _power_at(problem: _Problem, n1: float, n2: float, effect: float) -> float:
    """Power at explicit (integer or expected) arm sizes; rounding need not keep the ratio."""
    if problem.paired:
        return problem.power(n1, effect)
    return replace(problem, ratio=n2 / n1).power(n1, effect)
