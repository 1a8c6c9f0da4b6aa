"""Data for the sensitivity-analysis tests: rbmi's antidepressant example and its ICEs,
and small simulated trials with dropout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REF = Path(__file__).resolve().parent / "reference"
FORMULA = "CHANGE ~ BASVAL*VISIT + THERAPY*VISIT"
ANALYSIS = "CHANGE ~ THERAPY + BASVAL"


def antidepressant() -> pd.DataFrame:
    """rbmi's antidepressant_data (608 rows), THERAPY with PLACEBO first."""
    data = pd.read_csv(REF / "antidepressant_data.csv")
    data["THERAPY"] = pd.Categorical(data["THERAPY"], ["PLACEBO", "DRUG"])
    return data


def antidepressant_ice(strategy: str | None = None) -> pd.DataFrame:
    """rbmi's quickstart ICEs: each subject's first visit with a missing CHANGE, subject
    3618 (intermittent missing only) left out: 43 subjects."""
    wide = antidepressant().pivot(index="PATIENT", columns="VISIT", values="CHANGE")
    wide = wide.reindex(columns=[4, 5, 6, 7])
    rows = [
        {"PATIENT": pid, "VISIT": int(wide.columns[np.argmax(row.isna().to_numpy())])}
        for pid, row in wide.iterrows()
        if row.isna().any() and pid != 3618
    ]
    out = pd.DataFrame(rows)
    if strategy is not None:
        out["strategy"] = strategy
    return out


def antidepressant_args(strategy: str = "MAR") -> dict[str, Any]:
    """Keyword arguments of run_sensitivity for the rbmi example."""
    return {
        "formula": FORMULA,
        "subject": "PATIENT",
        "visit": "VISIT",
        "group": "THERAPY",
        "reference": "PLACEBO",
        "analysis": ANALYSIS,
        "ice": antidepressant_ice(),
        "strategy": strategy,
    }


def simulated(seed: int, n: int = 40, visits: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A two-arm trial with monotone dropout (long data without the missing rows) and
    its ICE table (first missing visit)."""
    rng = np.random.default_rng(seed)
    arm = np.where(np.arange(n) % 2 == 0, "PLACEBO", "DRUG")
    base = rng.normal(20, 4, n)
    lag = np.abs(np.subtract.outer(np.arange(visits), np.arange(visits)))
    chol = np.linalg.cholesky(9.0 * 0.6**lag)
    y = (
        -0.3 * base[:, None]
        + np.linspace(-1, -4, visits)
        - (arm == "DRUG")[:, None] * np.linspace(0.5, 3, visits)
        + rng.standard_normal((n, visits)) @ chol.T
    )
    drop = np.where(rng.uniform(size=n) < 0.35, rng.integers(1, visits, n), visits)
    keep = np.arange(visits)[None, :] < drop[:, None]
    ids, vis = np.nonzero(keep)
    data = pd.DataFrame(
        {
            "PATIENT": ids + 1000,
            "VISIT": vis + 1,
            "THERAPY": pd.Categorical(arm[ids], ["PLACEBO", "DRUG"]),
            "BASVAL": base[ids],
            "CHANGE": y[ids, vis],
        }
    )
    dropped = np.flatnonzero(drop < visits)
    ice = pd.DataFrame({"PATIENT": dropped + 1000, "VISIT": drop[dropped] + 1})
    return data, ice


def simulated_args(ice: pd.DataFrame, strategy: str = "MAR") -> dict[str, Any]:
    return {
        "formula": FORMULA,
        "subject": "PATIENT",
        "visit": "VISIT",
        "group": "THERAPY",
        "reference": "PLACEBO",
        "analysis": ANALYSIS,
        "ice": ice,
        "strategy": strategy,
    }
