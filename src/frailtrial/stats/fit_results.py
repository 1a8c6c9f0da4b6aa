"""The results interface shared by the mixed-model fits, and the pieces they share.

:class:`FitResults` is what a fitted mixed model offers, whichever engine fitted it
(:class:`frailtrial.stats.mmrm.MmrmFit`, :class:`frailtrial.stats.lmm.RandomInterceptFit`):
coefficient names in R's spelling, beta and its covariance, likelihood and size, and the
inference methods -- :meth:`~FitResults.estimate` of a contrast matrix, the coefficients,
least-squares means, treatment contrasts and the JSON document -- each with a df method and
a confidence level (default 0.95). Each returns a DataFrame with the columns
:data:`ESTIMATE_COLUMNS` (after any label columns), so a caller (the analysis, the report,
the CLI) can take either fit.

:func:`inference_frame` turns estimates, standard errors and df into those columns (t test,
or z test where df is infinite); :func:`r_name` spells a formulaic design column as R does.
"""

from __future__ import annotations

import math
import re
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from frailtrial.stats.samples import check_conf_level
from frailtrial.stats.special_functions import special

Array = NDArray[Any]
ESTIMATE_COLUMNS = ("estimate", "se", "df", "t", "p", "ci_low", "ci_high")
"""Columns of every inference table, in order; ``df`` is infinite for z tests."""
LEVEL_COLUMN = re.compile(r"^(?P<var>.+?)\[(?P<t>T\.)?(?P<lvl>.*)\]$")
"""A formulaic design column of one factor level (``ARMCD[T.TRT]``, ``C(arm)[placebo]``)."""


def r_name(column: str) -> str:
    """formulaic column name -> R's coefficient name (``ARMCD[T.TRT]`` -> ``ARMCDTRT``)."""
    if column == "Intercept":
        return "(Intercept)"
    return ":".join(LEVEL_COLUMN.sub(r"\g<var>\g<lvl>", part) for part in column.split(":"))


def inference(
    estimate: ArrayLike, se: ArrayLike, df: ArrayLike | None, conf_level: float = 0.95
) -> tuple[Array, Array, Array, Array]:
    """t, two-sided p and the ``conf_level`` interval (low, high) of estimates with standard
    errors ``se`` on ``df`` degrees of freedom (None or infinite: normal); broadcasts."""
    level = check_conf_level(conf_level)
    est = np.asarray(estimate, dtype=float)
    s = np.asarray(se, dtype=float)
    nu = np.asarray(math.inf if df is None else df, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = est / s
    p = 2 * special.stdtr(nu, -np.abs(t))
    half = special.stdtrit(nu, 0.5 + level / 2) * s
    return t, p, est - half, est + half


def inference_frame(
    estimate: ArrayLike, se: ArrayLike, df: ArrayLike | None, conf_level: float = 0.95
) -> pd.DataFrame:
    """The :data:`ESTIMATE_COLUMNS` table of :func:`inference` (one row per estimate)."""
    est = np.atleast_1d(np.asarray(estimate, dtype=float))
    s = np.atleast_1d(np.asarray(se, dtype=float))
    nu = np.broadcast_to(np.asarray(math.inf if df is None else df, dtype=float), est.shape)
    t, p, lo, hi = inference(est, s, nu, conf_level)
    return pd.DataFrame(dict(zip(ESTIMATE_COLUMNS, (est, s, nu, t, p, lo, hi), strict=True)))


@runtime_checkable
class FitResults(Protocol):
    """A fitted mixed model's results; ``df`` names a df method the fit supports (its own
    default when omitted), ``conf_level`` the level of the intervals."""

    @property
    def terms(self) -> list[str]:
        """Coefficient names, R style (``(Intercept)``, ``ARMCDTRT:AVISITVIS2``)."""

    @property
    def beta(self) -> Array:
        """Fixed-effect estimates, in the order of :attr:`terms`."""

    @property
    def vcov(self) -> Array:
        """Model-based covariance of :attr:`beta`."""

    @property
    def method(self) -> str:
        """``reml`` or ``ml``."""

    @property
    def loglik(self) -> float:
        """Log (restricted) likelihood at the optimum."""

    @property
    def aic(self) -> float: ...

    @property
    def bic(self) -> float: ...

    @property
    def n_obs(self) -> int: ...

    @property
    def n_subjects(self) -> int: ...

    @property
    def converged(self) -> bool: ...

    def estimate(self, contrasts: Array, df: str = ..., conf_level: float = ...) -> pd.DataFrame:
        """One row of :data:`ESTIMATE_COLUMNS` per row of a (k, p) matrix of beta weights."""

    def coefficients(self, df: str = ..., conf_level: float = ...) -> pd.DataFrame:
        """``term`` and :data:`ESTIMATE_COLUMNS`, one row per coefficient."""

    def lsmeans(
        self, specs: list[str] | None = ..., df: str = ..., conf_level: float = ...
    ) -> pd.DataFrame:
        """Least-squares means (emmeans' reference grid) over the levels of ``specs``."""

    def treatment_contrasts(
        self, arm: str | None = ..., df: str = ..., conf_level: float = ...
    ) -> pd.DataFrame:
        """``contrast`` (``level - reference``), the time factor's level (or ``overall``)
        and :data:`ESTIMATE_COLUMNS`."""

    def to_dict(self, df: str = ..., conf_level: float = ...) -> dict[str, Any]:
        """JSON-ready summary: fit statistics, coefficients, lsmeans, contrasts."""


def contrast_rows(
    combos: pd.DataFrame, lmat: Array, arm: str, reference: str, time: str | None
) -> tuple[pd.DataFrame, Array]:
    """Labels and rows of beta weights of each level of ``arm`` minus ``reference`` at each
    level of ``time`` and averaged over them (``overall``, with two levels or more): the
    layout of :meth:`FitResults.treatment_contrasts`. ``combos``/``lmat``: the reference
    grid of (arm, time) or (arm,) and its rows, levels in order."""
    levels = list(dict.fromkeys(combos[arm]))
    times: list[Any] = list(dict.fromkeys(combos[time])) if time is not None else [None]
    at = combos[time] if time is not None else [None] * len(combos)
    index = {(a, t): k for k, (a, t) in enumerate(zip(combos[arm], at, strict=True))}
    rows: list[Array] = []
    labels: list[tuple[str, Any]] = []
    for lvl in (v for v in levels if v != reference):
        diffs = [lmat[index[(lvl, t)]] - lmat[index[(reference, t)]] for t in times]
        rows += diffs
        labels += [(f"{lvl} - {reference}", t) for t in times]
        if len(times) > 1:
            rows.append(np.mean(diffs, axis=0))
            labels.append((f"{lvl} - {reference}", "overall"))
    columns = ["contrast", time] if time is not None else ["contrast", "_"]
    head = pd.DataFrame(labels, columns=columns)
    if time is None:
        head = head.drop(columns="_")
    width = lmat.shape[1]
    return head, np.stack(rows) if rows else np.zeros((0, width))
