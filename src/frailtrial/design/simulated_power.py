"""Power of a trial's primary analysis by simulation: many trials, each analysed by MMRM.

Each scenario is simulated with :func:`frailtrial.simulate.outcomes.simulate_outcomes` and
every trial is analysed with the primary analysis: MMRM of the change from baseline on
baseline + arm * visit, unstructured covariance, REML, Satterthwaite df, treatment minus
control at the primary visit (batched ``fit_many`` and ``estimate_many``). Power is the
share of trials with p <= alpha (Monte Carlo SE sqrt(p(1-p)/n)); the same design under no
effect gives the type I error. Grids over n, effect and dropout run locally or on a
dask.distributed cluster.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from frailtrial.errors import InputError
from frailtrial.simulate.outcomes import correlation_matrix, simulate_outcomes
from frailtrial.stats.mmrm import estimate_many, fit_many

FORMULA = "change ~ baseline + arm * visit"
ANALYSIS = (
    "MMRM: change ~ baseline + arm * visit, unstructured covariance, REML, "
    "Satterthwaite df; treatment - control at the primary visit"
)
Array = NDArray[Any]
Progress = Callable[[int], None]
QUANTILES = ("2.5%", "25%", "50%", "75%", "97.5%")


@dataclass(frozen=True)
class Scenario:
    """One design point: arms, sizes, visits, assumed mean change, SD, correlation, dropout.

    ``mean_change`` is (arms, visits), control first. ``dropout`` is the probability of
    leaving before each visit among those still in (one value applies to every visit).
    """

    n_per_arm: tuple[int, ...]
    visits: tuple[str, ...]
    mean_change: tuple[tuple[float, ...], ...]
    sd: float
    rho: float
    correlation: str = "ar1"
    dropout: tuple[float, ...] = (0.0,)
    primary_visit: str | None = None
    alpha: float = 0.05
    arms: tuple[str, ...] | None = None

    @property
    def primary(self) -> str:
        return self.primary_visit or self.visits[-1]

    @property
    def arm_names(self) -> tuple[str, ...]:
        if self.arms is not None:
            return self.arms
        k = len(self.n_per_arm)
        return (
            ("control", "treatment")
            if k == 2
            else ("control", *(f"treatment{i}" for i in range(1, k)))
        )

    @property
    def effects(self) -> tuple[float, ...]:
        """True treatment - control difference at the primary visit, per treatment arm."""
        j = self.visits.index(self.primary)
        return tuple(row[j] - self.mean_change[0][j] for row in self.mean_change[1:])

    def null(self) -> Scenario:
        """The same design with every arm following the control means."""
        return replace(self, mean_change=tuple(self.mean_change[0] for _ in self.mean_change))

    def validate(self) -> None:
        """Raise InputError for an inconsistent scenario."""
        if len(self.n_per_arm) < 2 or min(self.n_per_arm) < 2:
            raise InputError(f"need >= 2 arms with >= 2 participants, got {list(self.n_per_arm)}")
        if len(self.visits) < 2:
            raise InputError("the MMRM needs at least 2 post-baseline visits")
        if len(set(self.visits)) != len(self.visits):
            raise InputError(f"visit names must be distinct, got {list(self.visits)}")
        if self.primary not in self.visits:
            raise InputError(
                f"primary visit {self.primary!r} is not one of {', '.join(self.visits)}"
            )
        if len(self.mean_change) != len(self.n_per_arm) or any(
            len(r) != len(self.visits) for r in self.mean_change
        ):
            raise InputError(
                f"mean change must be arms x visits = {len(self.n_per_arm)} x {len(self.visits)}"
            )
        if not 0 < self.alpha < 1:
            raise InputError(f"alpha must be in (0, 1), got {self.alpha}")
        if not (math.isfinite(self.sd) and self.sd > 0):
            raise InputError(f"SD must be > 0, got {self.sd}")
        if len(self.dropout) not in (1, len(self.visits)):
            raise InputError(
                f"dropout: give one probability or one per visit ({len(self.visits)}), "
                f"got {len(self.dropout)}"
            )
        if any(not 0 <= d < 1 for d in self.dropout):
            raise InputError(f"dropout probabilities must be in [0, 1), got {list(self.dropout)}")
        correlation_matrix(len(self.visits) + 1, self.rho, self.correlation)


def ramp_means(
    n_arms: int, visits: Sequence[str], effect: float, primary: str
) -> list[list[float]]:
    """Control 0 everywhere; treatment arms rise linearly to ``effect`` at the primary visit
    and stay there."""
    j = list(visits).index(primary)
    ramp = [effect * (i + 1) / (j + 1) if i < j else effect for i in range(len(visits))]
    return [[0.0] * len(visits)] + [list(ramp) for _ in range(n_arms - 1)]


@dataclass(frozen=True)
class EffectSummary:
    """Distribution of the estimated treatment effect over the simulated trials."""

    true: float
    mean: float
    sd: float
    bias: float
    mean_se: float
    coverage_95: float
    quantiles: dict[str, float]


@dataclass(frozen=True)
class PowerResult:
    """Simulated power (and type I error) of the primary analysis for one scenario."""

    scenario: dict[str, Any]
    analysis: str
    n_sims: int
    n_converged: int
    power: list[float]  # per treatment arm
    power_mc_se: list[float]
    type1_error: list[float] | None
    type1_mc_se: list[float] | None
    n_null_sims: int
    estimated_effect: list[EffectSummary]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return asdict(self)


def _arm_at_visit(terms: list[str], arm: str, visit: str) -> Array:
    """Coefficients giving arm's difference from the reference arm at ``visit`` (treatment
    coding of ``arm * visit``; zero for the reference arm, no interaction at the reference
    visit)."""
    lvec = np.zeros(len(terms))
    if f"arm{arm}" in terms:
        lvec[terms.index(f"arm{arm}")] = 1.0
        if f"arm{arm}:visit{visit}" in terms:
            lvec[terms.index(f"arm{arm}:visit{visit}")] = 1.0
    return lvec


def _contrasts(terms: list[str], arms: Sequence[str], primary: str) -> list[Array]:
    """Treatment arm minus control at the primary visit, one vector per treatment arm."""
    control = _arm_at_visit(terms, arms[0], primary)
    return [_arm_at_visit(terms, arm, primary) - control for arm in arms[1:]]


def _run_chunk(scenario: Scenario, n: int, rng: np.random.Generator) -> tuple[Array, ...]:
    """Simulate and analyse ``n`` trials: estimates, se, df, p of shape (n, arms - 1) and
    whether each trial was analysable (every arm observed twice at every visit) and its
    fit converged."""
    sim = simulate_outcomes(
        n,
        scenario.n_per_arm,
        scenario.visits,
        np.asarray(scenario.mean_change),
        scenario.sd,
        scenario.rho,
        scenario.correlation,
        scenario.dropout if len(scenario.dropout) > 1 else scenario.dropout[0],
        scenario.arm_names,
        rng=rng,
    )
    # a trial is analysable when every arm has >= 2 observations at every visit
    per_arm = np.stack(
        [sim.observed[:, sim.arm_index == k, :].sum(axis=1) for k in range(len(sim.arms))],
        axis=1,
    )
    usable = np.flatnonzero((per_arm >= 2).all(axis=(1, 2)))
    out = [np.full((n, len(sim.arms) - 1), np.nan) for _ in range(4)]
    ok = np.zeros(n, dtype=bool)
    if usable.size == 0:
        return (*out, ok)
    long = sim.to_long_frame(usable.tolist(), categorical=False)  # us: order-free
    values, converged = _fit_contrasts(long, scenario)
    for target, value in zip(out, values, strict=True):
        target[usable] = value
    ok[usable] = converged & np.isfinite(values).all(axis=(0, 2))
    return (*out, ok)


def _fit_contrasts(long: pd.DataFrame, scenario: Scenario) -> tuple[Array, NDArray[np.bool_]]:
    """Batched MMRM fits of the trials of ``long`` (its ``trial`` column) and Satterthwaite
    inference on the primary contrasts (``fit_many`` + ``estimate_many``): (estimate, se,
    df, p) stacked as (4, trials, arms - 1), and convergence. A degenerate data set comes
    back from ``fit_many`` unconverged (with NaN inference) and is left out by the caller."""
    fits = fit_many(long, FORMULA, "participant_id", "visit", "us", "reml", dataset="trial")
    lmat = np.stack(_contrasts(fits[0].terms, scenario.arm_names, scenario.primary))
    table = estimate_many(fits, lmat, df="satterthwaite").sort_values(["fit", "row"])
    shape = (len(fits), lmat.shape[0])
    values = np.stack(
        [table[c].to_numpy(dtype=float).reshape(shape) for c in ("estimate", "se", "df", "p")]
    )
    return values, np.array([f.converged for f in fits])


def _chunk_result(scenario: Scenario, size: int, seed: np.random.SeedSequence) -> tuple[Array, ...]:
    """One chunk with its own seed: estimates, SEs, df, p of the converged trials."""
    *values, ok = _run_chunk(scenario, size, np.random.default_rng(seed))
    return tuple(v[ok] for v in values)


def _simulate(
    scenario: Scenario,
    n_sims: int,
    seed: np.random.SeedSequence,
    chunk: int,
    progress: Progress | None,
    workers: int,
) -> tuple[Array, ...]:
    """Estimates, SEs, df and p-values of the converged trials, chunk by chunk.

    Each chunk draws from its own child seed, so the result does not depend on
    ``workers`` (processes running chunks in parallel).
    """
    sizes = [min(chunk, n_sims - start) for start in range(0, n_sims, chunk)]
    seeds = seed.spawn(len(sizes))
    parts: list[tuple[Array, ...]] = []
    if workers <= 1 or len(sizes) == 1:
        for size, s in zip(sizes, seeds, strict=True):
            parts.append(_chunk_result(scenario, size, s))
            if progress is not None:
                progress(size)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(_chunk_result, scenario, size, s)
                for size, s in zip(sizes, seeds, strict=True)
            ]
            if progress is not None:
                for fut in as_completed(futures):
                    progress(sizes[futures.index(fut)])
            parts = [f.result() for f in futures]
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))


def _mc(rejections: NDArray[np.bool_]) -> tuple[list[float], list[float]]:
    rate = rejections.mean(axis=0)
    se = np.sqrt(rate * (1 - rate) / rejections.shape[0])
    return rate.tolist(), se.tolist()


def simulate_power(
    scenario: Scenario,
    n_sims: int = 1000,
    seed: int | np.random.SeedSequence | None = None,
    null_sims: int | None = None,
    chunk: int = 1000,
    progress: Progress | None = None,
    workers: int = 1,
) -> PowerResult:
    """Simulated power, type I error (``null_sims`` trials under no effect; 0 skips) and
    the distribution of the estimated effect at the primary visit. Trials are fitted
    ``chunk`` at a time, in ``workers`` local processes."""
    scenario.validate()
    if n_sims < 2:
        raise InputError(f"number of simulations must be >= 2, got {n_sims}")
    n_null = n_sims if null_sims is None else null_sims
    if n_null < 0:
        raise InputError(f"number of null simulations must be >= 0 (0 skips), got {n_null}")
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    alt_seq, null_seq = seq.spawn(2)
    est, se, df, p = _simulate(scenario, n_sims, alt_seq, chunk, progress, workers)
    if est.shape[0] < 2:
        raise InputError("fewer than 2 simulated trials converged; check the scenario")
    power, power_se = _mc(p <= scenario.alpha)
    type1 = type1_se = None
    notes = []
    if n_null > 0:
        p0 = _simulate(scenario.null(), n_null, null_seq, chunk, progress, workers)[3]
        if p0.shape[0] == 0:
            raise InputError("no simulated trial under the null could be analysed")
        type1, type1_se = _mc(p0 <= scenario.alpha)
        if p0.shape[0] < n_null:
            notes.append(f"type I error from the {p0.shape[0]} of {n_null} null trials analysed")
    summaries = []
    for k, true in enumerate(scenario.effects):
        e = est[:, k]
        q = np.quantile(e, [0.025, 0.25, 0.5, 0.75, 0.975])
        covered = np.abs(e - true) <= stats.t.ppf(0.975, df[:, k]) * se[:, k]
        summaries.append(
            EffectSummary(
                true=true,
                mean=float(e.mean()),
                sd=float(e.std(ddof=1)),
                bias=float(e.mean() - true),
                mean_se=float(se[:, k].mean()),
                coverage_95=float(covered.mean()),
                quantiles=dict(zip(QUANTILES, q.tolist(), strict=True)),
            )
        )
    if est.shape[0] < n_sims:
        notes.append(
            f"{n_sims - est.shape[0]} of {n_sims} trials were left out: fit not converged or "
            "an arm with fewer than 2 observations at a visit after dropout"
        )
    notes.append("coverage_95: share of 95% CIs (Satterthwaite t) containing the true effect")
    return PowerResult(
        scenario=asdict(scenario) | {"primary_visit": scenario.primary, "arms": scenario.arm_names},
        analysis=ANALYSIS,
        n_sims=n_sims,
        n_converged=int(est.shape[0]),
        power=power,
        power_mc_se=power_se,
        type1_error=type1,
        type1_mc_se=type1_se,
        n_null_sims=n_null,
        estimated_effect=summaries,
        notes=notes,
    )


@dataclass(frozen=True)
class GridPoint:
    """One point of a power grid and its result."""

    n_per_arm: int
    effect: float
    dropout: float
    result: PowerResult


def grid_scenarios(
    base: Scenario,
    n_values: Sequence[int],
    effect_values: Sequence[float] | None,
    dropout_values: Sequence[float] | None,
) -> list[tuple[int, float, float, Scenario]]:
    """All combinations of n per arm, effect at the primary visit and per-visit dropout.

    A grid effect rescales the treatment arms' differences from control so that the
    difference at the primary visit equals it (the shape over visits is kept).
    """
    base.validate()
    effects = list(effect_values) if effect_values else [base.effects[0]]
    drops = list(dropout_values) if dropout_values else [base.dropout[0]]
    points = []
    ns = list(n_values) or [base.n_per_arm[0]]
    for n, eff, drop in itertools.product(ns, effects, drops):
        means = _rescale(base, eff)
        sc = replace(
            base,
            n_per_arm=tuple(int(n) for _ in base.n_per_arm),
            mean_change=means,
            dropout=(float(drop),) if dropout_values else base.dropout,
        )
        sc.validate()
        points.append((int(n), float(eff), float(drop), sc))
    return points


def _rescale(base: Scenario, effect: float) -> tuple[tuple[float, ...], ...]:
    j = base.visits.index(base.primary)
    control = np.asarray(base.mean_change[0])
    rows = [tuple(control.tolist())]
    for row in base.mean_change[1:]:
        diff = np.asarray(row) - control
        if diff[j] == 0:
            shape = np.asarray(ramp_means(2, base.visits, 1.0, base.primary)[1])
        else:
            shape = diff / diff[j]
        rows.append(tuple((control + effect * shape).tolist()))
    return tuple(rows)


def power_grid(
    base: Scenario,
    n_values: Sequence[int],
    effect_values: Sequence[float] | None = None,
    dropout_values: Sequence[float] | None = None,
    n_sims: int = 1000,
    seed: int | None = None,
    null_sims: int | None = None,
    progress: Progress | None = None,
    client: Any = None,
    chunk: int = 1000,
    workers: int = 1,
) -> list[GridPoint]:
    """Simulated power at every grid point; with a dask ``client`` the points run on its
    workers (else in ``workers`` local processes). Each point and each chunk of trials has
    its own seed spawned from ``seed``, so results depend on ``seed`` and ``chunk`` only,
    not on where or how parallel they ran."""
    points = grid_scenarios(base, n_values, effect_values, dropout_values)
    seeds = np.random.SeedSequence(seed).spawn(len(points))
    if client is None:
        results = [
            simulate_power(sc, n_sims, s, null_sims, chunk, progress, workers)
            for (_, _, _, sc), s in zip(points, seeds, strict=True)
        ]
    else:
        from distributed import as_completed

        futures = [
            client.submit(simulate_power, sc, n_sims, s, null_sims, chunk, pure=False)
            for (_, _, _, sc), s in zip(points, seeds, strict=True)
        ]
        index = {f.key: i for i, f in enumerate(futures)}
        results_by: dict[int, PowerResult] = {}
        per_point = n_sims + (n_sims if null_sims is None else null_sims)
        for fut in as_completed(futures):
            results_by[index[fut.key]] = fut.result()
            if progress is not None:
                progress(per_point)
        results = [results_by[i] for i in range(len(points))]
    return [
        GridPoint(n_per_arm=n, effect=e, dropout=d, result=r)
        for (n, e, d, _), r in zip(points, results, strict=True)
    ]
