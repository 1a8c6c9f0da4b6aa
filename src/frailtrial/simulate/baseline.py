"""Baseline characteristics of virtual participants, calibrated per arm to Table 1."""

from __future__ import annotations

import numpy as np
import pandas as pd

from frailtrial.simulate.bounds import Bounds
from frailtrial.simulate.calibration import Calibration, Categorical, Continuous
from frailtrial.simulate.marginals import fit_population, match_printed, round_values


def _continuous(
    spec: Continuous, arms: np.ndarray, rng: np.random.Generator, exact: bool
) -> np.ndarray:
    out = np.empty(len(arms))
    z = rng.standard_normal(len(arms))
    for arm in spec.mean:
        idx = np.flatnonzero(arms == arm)
        if not len(idx):
            continue
        if exact and spec.printed is not None:
            mean, sd = spec.printed[arm]
            out[idx] = match_printed(z[idx], mean, sd, spec.step, spec.bounds, rng)
        else:
            mapped = fit_population(spec.mean[arm], spec.sd[arm], spec.bounds)(z[idx])
            out[idx] = round_values(mapped, spec.step, spec.bounds)
    return out


def _categorical(
    spec: Categorical, arms: np.ndarray, rng: np.random.Generator, exact: bool
) -> np.ndarray:
    out = np.empty(len(arms), dtype=object)
    for arm, probs in spec.probs.items():
        idx = np.flatnonzero(arms == arm)
        if not len(idx):
            continue
        if exact and spec.exact is not None:
            values = np.array(spec.exact[arm], dtype=object)
            out[idx] = rng.permutation(values)
        else:
            levels = np.array(spec.levels, dtype=object)
            out[idx] = levels[rng.choice(len(levels), size=len(idx), p=probs)]
    return out


def draw_baseline(
    cal: Calibration,
    arms: np.ndarray,
    rng: np.random.Generator,
    exact: bool,
    given: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """One row per participant: every baseline characteristic, height_cm and weight_kg.

    ``exact`` gives each arm the published Table 1 values exactly (mean and SD to the
    printed decimals, exact counts, the printed median and IQR). ``given`` holds
    characteristics already drawn (the stratification factors, known before allocation)."""
    cols: dict[str, np.ndarray] = {}
    for spec in cal.baseline:
        if isinstance(spec, Continuous):
            values = _continuous(spec, arms, rng, exact)
            whole = spec.step >= 1 and float(spec.step).is_integer()
            cols[spec.name] = values.astype(np.int64) if whole else values
        else:
            values = (
                given[spec.name]
                if given and spec.name in given
                else _categorical(spec, arms, rng, exact)
            )
            cols[spec.name] = values.astype(int) if spec.kind != "categorical" else values
    frame = pd.DataFrame(cols)
    sex = frame["sex"].to_numpy() if "sex" in frame else np.full(len(arms), "female")
    frame["sex"] = sex
    height = np.empty(len(arms))
    for level, (mean, sd) in cal.file.height_cm.items():
        idx = np.flatnonzero(sex == level)
        z = rng.standard_normal(len(idx))
        height[idx] = round_values(mean + sd * z, 0.1, Bounds(120.0, 210.0))
    frame["height_cm"] = height
    frame["weight_kg"] = np.round(frame["bmi"].to_numpy() * (height / 100.0) ** 2, 2)
    return frame
