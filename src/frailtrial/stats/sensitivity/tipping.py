"""Tipping-point search: the delta at which the effect at a visit changes significance.

The imputations are computed once (:func:`.run.prepare_imputations`); each delta only
shifts the imputed values of the non-reference groups, so the grid and the root search
re-run the analysis and pooling alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from frailtrial.errors import InputError
from frailtrial.stats.roots import brent_root
from frailtrial.stats.sensitivity.run import Imputations

Array = NDArray[Any]


@dataclass(frozen=True)
class TippingPoint:
    """Effect at one visit over a grid of deltas, and the delta at which its significance
    changes (None when it does not within the grid)."""

    visit: str
    contrast: str
    alpha: float
    grid: pd.DataFrame  # delta, estimate, se, ci_low, ci_high, p_value, significant
    tipping_delta: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "visit": self.visit,
            "contrast": self.contrast,
            "alpha": self.alpha,
            "tipping_delta": self.tipping_delta,
            "grid": self.grid.to_dict(orient="records"),
        }


def tipping_point(
    imputations: Imputations,
    deltas: list[float] | Array,
    visit: Any = None,
    alpha: float = 0.05,
    bootstrap_ci: str = "percentile",
) -> TippingPoint:
    """Effect at ``visit`` (default: the last) of the first non-reference group for each
    delta of the grid (sorted); the tipping delta is where the p-value crosses ``alpha``
    first, between two grid points, solved to 1e-8 (the imputations are reused)."""
    grid = np.sort(np.asarray(deltas, dtype=float))
    if grid.size < 2 or not np.isfinite(grid).all():
        raise InputError("tipping point: give at least 2 finite deltas")
    visits = [str(v) for v in imputations.layout.visits]
    target = visits[-1] if visit is None else str(visit)
    if target not in visits:
        raise InputError(f"tipping point: visit {visit!r} not among {', '.join(visits)}")
    col = visits.index(target)

    def at(d: float) -> dict[str, float]:
        eff = imputations.pooled(float(d), 1 - alpha, bootstrap_ci)[0]
        return {k: float(v[0, col]) for k, v in eff.items()}

    table = pd.DataFrame([at(d) for d in grid])
    table.insert(0, "delta", grid)
    table["significant"] = table["p_value"] < alpha
    sig = table["significant"].to_numpy()
    change = np.flatnonzero(sig[1:] != sig[:-1])
    tip = None
    if change.size:
        k = int(change[0])
        tip = brent_root(lambda d: at(d)["p_value"] - alpha, grid[k], grid[k + 1], xtol=1e-8)
    contrast = f"{imputations.layout.levels[1]} - {imputations.layout.levels[0]}"
    return TippingPoint(target, contrast, alpha, table, tip)
