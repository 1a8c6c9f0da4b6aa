"""Repeated-measures outcomes of many simulated trials at once, from plain arguments.

Each participant has a baseline and one value per post-baseline visit, multivariate normal
with a common SD and an AR(1) or compound-symmetry correlation over all time points
(baseline included); arm means differ by an assumed change from baseline per arm and visit.
Dropout is monotone and completely at random: ``dropout[j]`` is the probability of leaving
before visit j among those still in. Everything is drawn for all trials in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from frailtrial.errors import InputError

Correlation = Literal["ar1", "cs"]
Array = NDArray[Any]


def correlation_matrix(n_times: int, rho: float, structure: str = "ar1") -> Array:
    """AR(1) (rho^|i-j|) or compound-symmetry (rho off the diagonal) correlation matrix."""
    if structure not in ("ar1", "cs"):
        raise InputError(f"correlation structure must be ar1 or cs, got {structure!r}")
    if not -1.0 < rho < 1.0 or (structure == "cs" and rho <= -1.0 / max(n_times - 1, 1)):
        raise InputError(f"correlation rho = {rho} does not give a valid {structure} matrix")
    idx = np.arange(n_times)
    if structure == "ar1":
        return np.asarray(rho ** np.abs(idx[:, None] - idx[None, :]), dtype=float)
    return np.where(idx[:, None] == idx[None, :], 1.0, rho)


@dataclass(frozen=True)
class SimulatedOutcomes:
    """Outcomes of ``n_trials`` trials with the same design.

    ``values`` is (trials, participants, 1 + visits): column 0 is the baseline;
    ``observed`` marks post-baseline values not lost to dropout (baseline always observed).
    """

    arms: tuple[str, ...]
    visits: tuple[str, ...]
    arm_index: Array  # (participants,) index into arms, same in every trial
    values: Array
    observed: NDArray[np.bool_]

    @property
    def n_trials(self) -> int:
        return int(self.values.shape[0])

    @property
    def change(self) -> Array:
        """Change from baseline at each post-baseline visit, NaN where not observed."""
        out = self.values[:, :, 1:] - self.values[:, :, :1]
        return np.where(self.observed, out, np.nan)

    def to_long_frame(
        self, trials: Sequence[int] | None = None, categorical: bool = True
    ) -> pd.DataFrame:
        """All picked trials (observed visits only) in one tidy long DataFrame with a
        ``trial`` column (0, 1, ... in the order picked), ready for ``fit_many(...,
        dataset="trial")``, which needs no concatenation.

        Columns: trial, participant_id, arm, visit, baseline, change. With ``categorical``
        arm and visit keep the given order (control and the first visit are the reference
        levels); without, they are plain strings (faster to build; levels then sort
        alphabetically).
        """
        picks = self._picks(trials)
        n_subj, n_vis = self.observed.shape[1], self.observed.shape[2]
        pid = np.repeat(np.arange(n_subj), n_vis)
        vcode = np.tile(np.arange(n_vis), n_subj)
        rows = self.observed[picks].reshape(-1)
        arm_codes = np.tile(self.arm_index[pid], picks.size)[rows]
        visit_codes = np.tile(vcode, picks.size)[rows]
        arm_col: Any
        visit_col: Any
        if categorical:
            arm_col = pd.Categorical.from_codes(arm_codes, categories=pd.Index(list(self.arms)))
            visit_col = pd.Categorical.from_codes(
                visit_codes, categories=pd.Index(list(self.visits)), ordered=True
            )
        else:
            arm_col = np.asarray(self.arms, dtype=object)[arm_codes]
            visit_col = np.asarray(self.visits, dtype=object)[visit_codes]
        values = self.values[picks]
        return pd.DataFrame(
            {
                "trial": np.repeat(np.arange(picks.size), n_subj * n_vis)[rows],
                "participant_id": np.tile(pid, picks.size)[rows],
                "arm": arm_col,
                "visit": visit_col,
                "baseline": np.repeat(values[:, :, 0], n_vis, axis=1).reshape(-1)[rows],
                "change": (values[:, :, 1:] - values[:, :, :1]).reshape(-1)[rows],
            }
        )

    def to_frames(
        self, trials: Sequence[int] | None = None, categorical: bool = True
    ) -> list[pd.DataFrame]:
        """One tidy long DataFrame per trial: consecutive slices of :meth:`to_long_frame`
        (without its ``trial`` column), so their row index continues across trials."""
        counts = self.observed[self._picks(trials)].sum(axis=(1, 2))
        ends = np.cumsum(counts)
        long = self.to_long_frame(trials, categorical).drop(columns="trial")
        return [long.iloc[b - k : b] for k, b in zip(counts, ends, strict=True)]

    def _picks(self, trials: Sequence[int] | None) -> NDArray[np.int64]:
        return np.arange(self.n_trials) if trials is None else np.asarray(trials, dtype=int)


def simulate_outcomes(
    n_trials: int,
    n_per_arm: Sequence[int],
    visits: Sequence[str],
    mean_change: Array | Sequence[Sequence[float]],
    sd: float,
    rho: float,
    correlation: str = "ar1",
    dropout: Sequence[float] | float = 0.0,
    arms: Sequence[str] | None = None,
    baseline_mean: float = 0.0,
    rng: np.random.Generator | int | None = None,
) -> SimulatedOutcomes:
    """Draw the outcomes of ``n_trials`` trials.

    ``mean_change`` is (arms, visits): the expected change from baseline per arm (control
    first) and post-baseline visit. ``dropout`` is one probability per visit (or one for
    every visit) of leaving before that visit among those still in the trial.
    """
    if n_trials < 1:
        raise InputError(f"number of simulated trials must be >= 1, got {n_trials}")
    sizes = [int(n) for n in n_per_arm]
    if len(sizes) < 2 or min(sizes) < 1:
        raise InputError(f"need >= 2 arms with >= 1 participant each, got {sizes}")
    arm_names = tuple(arms) if arms is not None else _default_arms(len(sizes))
    if len(arm_names) != len(sizes):
        raise InputError(f"{len(arm_names)} arm names for {len(sizes)} arms")
    visit_names = tuple(str(v) for v in visits)
    n_vis = len(visit_names)
    if n_vis < 1:
        raise InputError("need at least one post-baseline visit")
    means = np.asarray(mean_change, dtype=float)
    if means.shape != (len(sizes), n_vis):
        raise InputError(
            f"mean change must be arms x visits = {len(sizes)} x {n_vis}, got {means.shape}"
        )
    if not (np.isfinite(sd) and sd > 0):
        raise InputError(f"SD must be > 0, got {sd}")
    drop = np.broadcast_to(np.asarray(dropout, dtype=float), (n_vis,))
    if np.any((drop < 0) | (drop >= 1)):
        raise InputError(f"dropout probabilities must be in [0, 1), got {drop.tolist()}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

    corr = correlation_matrix(n_vis + 1, rho, correlation)
    chol = np.linalg.cholesky(corr) * sd
    arm_index = np.repeat(np.arange(len(sizes)), sizes)
    n_subj = arm_index.size
    mu = np.concatenate([np.zeros((len(sizes), 1)), means], axis=1) + baseline_mean
    noise = gen.standard_normal((n_trials, n_subj, n_vis + 1)) @ chol.T
    values = mu[arm_index][None, :, :] + noise
    # monotone dropout: the first visit missed is the first where a uniform falls below p_j
    leave = gen.random((n_trials, n_subj, n_vis)) < drop
    observed = np.cumsum(leave, axis=2) == 0
    return SimulatedOutcomes(
        arms=arm_names,
        visits=visit_names,
        arm_index=arm_index,
        values=values,
        observed=observed,
    )


def _default_arms(k: int) -> tuple[str, ...]:
    if k == 2:
        return ("control", "treatment")
    return ("control", *(f"treatment{i}" for i in range(1, k)))
