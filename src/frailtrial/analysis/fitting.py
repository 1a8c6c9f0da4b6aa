"""The model-fitting half of ``analyze``: the plan's MMRMs and its estimands' sensitivity
analyses, run in a worker process (forked.py) while the parent builds Tables 1-3 and fits
the random-intercept models (numpy only: no engine to load)."""

from __future__ import annotations

import pandas as pd

from frailtrial.analysis.models import Fits, fit_kind
from frailtrial.analysis.populations import Populations
from frailtrial.analysis.sensitivity import Sensitivity, run_estimands
from frailtrial.protocol import Protocol


def warm_up() -> None:
    """What the worker does before the data arrives: import the model engines (numba,
    formulaic) and load the compiled kernels of a fit by fitting two tiny data sets."""
    import frailtrial.stats.sensitivity  # noqa: F401
    from frailtrial.stats.kernel_warmup import run_kernels

    run_kernels("us", contrasts=False)


def fit_plan(
    m: pd.DataFrame,
    protocol: Protocol,
    participants: pd.DataFrame,
    measurements: pd.DataFrame,
    populations: Populations,
    intercurrent_events: pd.DataFrame,
) -> tuple[Fits, Sensitivity]:
    """The plan's MMRMs (and dose-response model) on the primary population's measurements
    ``m`` (with their arm), then the estimands' sensitivity analyses beside them."""
    fits = fit_kind(m, protocol, participants, "mmrm")
    sensitivity = run_estimands(
        measurements, populations, participants, intercurrent_events, fits.effects(), protocol
    )
    return fits, sensitivity
