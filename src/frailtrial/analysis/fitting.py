"""The model-fitting half of ``analyze``: the plan's models and its estimands' sensitivity
analyses, run in a worker process (forked.py) while the parent builds Tables 1-3."""

from __future__ import annotations

import pandas as pd

from frailtrial.analysis.models import Models, fit_models
from frailtrial.analysis.populations import Populations
from frailtrial.analysis.sensitivity import Sensitivity, run_estimands
from frailtrial.protocol import Protocol


def warm_up() -> None:
    """What the worker does before the data arrives: import the model engines (numba,
    formulaic) and load their compiled kernels by fitting two tiny data sets."""
    import frailtrial.stats.lmm_many
    import frailtrial.stats.sensitivity  # noqa: F401
    from frailtrial.stats.kernel_warmup import run_kernels

    run_kernels("us")


def fit_plan(
    m: pd.DataFrame,
    protocol: Protocol,
    participants: pd.DataFrame,
    primary: pd.Series,
    measurements: pd.DataFrame,
    populations: Populations,
    intercurrent_events: pd.DataFrame,
) -> tuple[Models, Sensitivity]:
    """The plan's models on the primary population's measurements ``m`` (with their arm),
    then the estimands' sensitivity analyses beside them."""
    fitted = fit_models(m, protocol, participants, primary)
    sensitivity = run_estimands(
        measurements, populations, participants, intercurrent_events, fitted.effects, protocol
    )
    return fitted, sensitivity
