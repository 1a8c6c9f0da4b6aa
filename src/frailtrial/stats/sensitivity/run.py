"""Public API: reference-based and delta-adjusted sensitivity analyses (as R rbmi).

``prepare_imputations`` fits the imputation MMRM to the data and to every resampled data
set in one batch and imputes them; ``Imputations.result(delta)`` analyses and pools them
(a delta only shifts imputed values, so a grid of deltas reuses the imputations);
``run_sensitivity`` does both (:mod:`.tipping` searches a grid of deltas).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from frailtrial.errors import ConvergenceError, InputError
from frailtrial.stats.model_options import covariance_structure
from frailtrial.stats.samples import check_conf_level
from frailtrial.stats.sensitivity import pooling
from frailtrial.stats.sensitivity.analysis import (
    AncovaParts,
    ancova_parts,
    concatenate,
    jackknife_parts,
)
from frailtrial.stats.sensitivity.fitting import Fits, fit_jackknife, fit_samples
from frailtrial.stats.sensitivity.imputation import impute, missing_patterns
from frailtrial.stats.sensitivity.layout import Layout, build_layout
from frailtrial.stats.sensitivity.strategies import STRATEGIES

Array = NDArray[Any]
METHODS = ("condmean-jackknife", "condmean-bootstrap", "approx-bayes")
BOOTSTRAP_CI = ("percentile", "normal")
DEFAULT_SAMPLES = {"condmean-bootstrap": 1000, "approx-bayes": 20}
REDRAWS = 10  # rounds of redrawing bootstrap samples whose MMRM fit failed
IMPUTED_AT_ONCE = 2e6  # completed outcomes imputed and analysed at a time (16 MB)


@dataclass(frozen=True)
class SensitivityResult:
    """Pooled effects (each non-reference group minus the reference, per visit) and
    least-squares means (per group and visit)."""

    method: str
    pooling: str
    reference: str
    levels: list[str]
    delta: float
    conf_level: float
    n_subjects: int
    n_samples: int
    seed: int | None
    intercurrent_events: dict[str, int]
    effects: pd.DataFrame
    lsmeans: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``frailtrial stats sensitivity --json``."""
        return {
            "method": self.method,
            "pooling": self.pooling,
            "reference": self.reference,
            "levels": self.levels,
            "delta": self.delta,
            "conf_level": self.conf_level,
            "n_subjects": self.n_subjects,
            "n_samples": self.n_samples,
            "seed": self.seed,
            "intercurrent_events": self.intercurrent_events,
            "effects": self.effects.to_dict(orient="records"),
            "lsmeans": self.lsmeans.to_dict(orient="records"),
        }


@dataclass(frozen=True)
class Imputations:
    """The imputation model's fits of one method, and the analysis of their completed data
    sets at any delta (:class:`AncovaParts`): the data sets themselves are not kept (a
    jackknife's are n + 1 of n subjects each), but for approx-bayes' random draws."""

    layout: Layout
    method: str
    fits: Fits  # sample 0 the full data, but for approx-bayes
    parts: AncovaParts
    seed: int | None
    draws: Array | None = field(default=None, repr=False)  # approx-bayes' (B, n, T)

    def __repr__(self) -> str:
        lay = self.layout
        return (
            f"Imputations({self.method}: {self.parts.n_sets} data sets, {lay.n} subjects, "
            f"{len(lay.visits)} visits)"
        )

    @property
    def n_samples(self) -> int:
        """Resampled data sets (the full-data analysis not counted)."""
        return self.parts.n_sets - (0 if self.method == "approx-bayes" else 1)

    def completed(self, samples: Any = slice(None)) -> Array:
        """The completed outcomes (B', n, T) of ``samples`` (an index of the fits: 0 is the
        full data, but for approx-bayes), without a delta."""
        if self.draws is not None:
            return self.draws[samples]
        beta, sigma = self.fits.beta[samples], self.fits.sigma[samples]
        if beta.ndim == 1:
            return impute(self.layout, beta[None], sigma[None])[0]
        return impute(self.layout, beta, sigma)

    def pooled(
        self, delta: float = 0.0, conf_level: float = 0.95, bootstrap_ci: str = "percentile"
    ) -> tuple[pooling.Pooled, pooling.Pooled, str]:
        """Pooled effects (G-1, T) and least-squares means (G, T) as arrays, and the pooling
        method, with ``delta`` added to every imputed value of the non-reference groups."""
        check_pooling(delta, conf_level, bootstrap_ci)
        fit = self.parts.at(delta)
        if self.method == "condmean-jackknife":
            return (
                pooling.jackknife(fit.effect, conf_level),
                pooling.jackknife(fit.lsmean, conf_level),
                "jackknife",
            )
        if self.method == "condmean-bootstrap":
            pool = (
                pooling.bootstrap_percentile
                if bootstrap_ci == "percentile"
                else pooling.bootstrap_normal
            )
            return (
                pool(fit.effect, conf_level),
                pool(fit.lsmean, conf_level),
                (f"bootstrap ({bootstrap_ci})"),
            )
        df = float(fit.df[0])
        return (
            pooling.rubin(fit.effect, fit.effect_se, df, conf_level),
            pooling.rubin(fit.lsmean, fit.lsmean_se, df, conf_level),
            "rubin",
        )

    def result(
        self, delta: float = 0.0, conf_level: float = 0.95, bootstrap_ci: str = "percentile"
    ) -> SensitivityResult:
        """Analyse and pool with ``delta`` added to every imputed value of the
        non-reference groups."""
        eff, lsm, how = self.pooled(delta, conf_level, bootstrap_ci)
        lay = self.layout
        ref = lay.levels[0]
        visits = [str(v) for v in lay.visits]
        effects = _table(eff, "contrast", [f"{lv} - {ref}" for lv in lay.levels[1:]], visits)
        lsmeans = _table(lsm, "group", lay.levels, visits)
        with_ice = lay.ice < len(lay.visits)
        events = {s: int((with_ice & (lay.strategy == k)).sum()) for k, s in enumerate(STRATEGIES)}
        return SensitivityResult(
            method=self.method,
            pooling=how,
            reference=ref,
            levels=lay.levels,
            delta=float(delta),
            conf_level=conf_level,
            n_subjects=lay.n,
            n_samples=self.n_samples,
            seed=self.seed,
            intercurrent_events={k: v for k, v in events.items() if v},
            effects=effects,
            lsmeans=lsmeans,
        )


def check_pooling(delta: float, conf_level: float, bootstrap_ci: str) -> None:
    """InputError unless ``delta`` is finite, ``conf_level`` in (0, 1) and ``bootstrap_ci``
    one of :data:`BOOTSTRAP_CI`."""
    check_conf_level(conf_level)
    if bootstrap_ci not in BOOTSTRAP_CI:
        raise InputError(f"bootstrap CI {bootstrap_ci!r}: allowed {', '.join(BOOTSTRAP_CI)}")
    if not np.isfinite(delta):
        raise InputError(f"delta {delta}: must be a finite number")


def _table(
    pooled: dict[str, Array], key: str, labels: list[str], visits: list[str]
) -> pd.DataFrame:
    g, t = pooled["estimate"].shape
    out = pd.DataFrame({key: np.repeat(labels, t), "visit": np.tile(visits, g)})
    for col in ("estimate", "se", "ci_low", "ci_high", "p_value", "df"):
        if col in pooled:
            out[col] = np.asarray(pooled[col], dtype=float).ravel()
    return out


def prepare_imputations(
    data: pd.DataFrame,
    *,
    formula: str,
    subject: str,
    visit: str,
    group: str,
    reference: str,
    analysis: str,
    ice: pd.DataFrame | None = None,
    strategy: str = "MAR",
    method: str = "condmean-jackknife",
    samples: int | None = None,
    seed: int | None = None,
    covariance: str = "us",
) -> Imputations:
    """Fit the imputation MMRM (REML, ``covariance``) to the data and to every resampled
    data set of ``method`` in one batch, and impute the missing visits.

    ``ice``: one row per subject with an intercurrent event: the subject column, the visit
    column (the first visit affected) and optionally ``strategy`` (else ``strategy``).
    ``method``: ``condmean-jackknife`` (conditional mean, leave-one-subject-out),
    ``condmean-bootstrap`` (conditional mean, ``samples`` bootstrap samples stratified by
    group) or ``approx-bayes`` (``samples`` bootstrap fits, one random imputation each).
    """
    if method not in METHODS:
        raise InputError(f"method {method!r}: allowed {', '.join(METHODS)}")
    if method == "condmean-jackknife" and samples is not None:
        raise InputError(
            "--samples is for condmean-bootstrap and approx-bayes (the jackknife "
            "has one sample per subject)"
        )
    n_draw = DEFAULT_SAMPLES.get(method, 0) if samples is None else int(samples)
    if method != "condmean-jackknife" and n_draw < 2:
        raise InputError(f"samples {samples}: need at least 2")
    covariance = covariance_structure(covariance)
    layout = build_layout(data, formula, subject, visit, group, reference, analysis, ice, strategy)
    n = layout.n
    rng = np.random.default_rng(seed)
    shift = layout.shift
    draws = None
    if method == "condmean-jackknife":
        fits = fit_jackknife(layout, covariance)
        _require(fits, "jackknife")
        if _from_sums(layout):
            parts = jackknife_parts(layout, fits.beta, fits.sigma, shift)
        else:
            parts = _analysed(layout, fits, _left_out(n), shift, None)
    else:
        idx, fits = _bootstrap_fits(layout, rng, n_draw, method == "condmean-bootstrap", covariance)
        if method == "condmean-bootstrap":
            counts = np.zeros((idx.shape[0], n))
            np.add.at(counts, (np.arange(idx.shape[0])[:, None], idx), 1.0)
        else:
            counts = np.ones((idx.shape[0], n))
            draws = impute(layout, fits.beta, fits.sigma, rng)
        parts = _analysed(layout, fits, lambda rows: counts[rows], shift, draws)
    return Imputations(layout, method, fits, parts, seed, draws)


def _from_sums(layout: Layout) -> bool:
    """Whether a jackknife is analysed from per-pattern sums (O(n) per pattern) rather than
    from its n + 1 completed data sets (O(n^2)): when these exceed IMPUTED_AT_ONCE
    and the missingness patterns have 8 subjects each on average (a pattern's sums cost
    about as much as 8 subjects' completed data in every sample: with a pattern per
    subject, as under scattered missing visits, the data sets are cheaper)."""
    n, t = layout.n, len(layout.visits)
    return (n + 1) * n * t > IMPUTED_AT_ONCE and 8 * len(missing_patterns(layout)) <= n


def _analysed(
    layout: Layout,
    fits: Fits,
    counts: Callable[[slice], Array],
    shift: Array,
    draws: Array | None,
) -> AncovaParts:
    """:func:`ancova_parts` of the completed data sets (``draws``, else the conditional
    means of ``fits``), imputed and analysed a chunk of samples at a time; ``counts``
    gives the subject multiplicities (samples, n) of a slice of the samples."""
    b = fits.beta.shape[0]
    size = max(1, int(IMPUTED_AT_ONCE // (layout.n * len(layout.visits))))
    parts = []
    for start in range(0, b, size):
        rows = slice(start, min(b, start + size))
        y = draws[rows] if draws is not None else impute(layout, fits.beta[rows], fits.sigma[rows])
        parts.append(ancova_parts(layout, y, shift, counts(rows)))
    return concatenate(parts)


def _left_out(n: int) -> Callable[[slice], Array]:
    """The multiplicities of the jackknife's samples: all 1, but 0 for subject j in sample
    j + 1 (made a slice at a time: all of them are (n + 1) x n)."""

    def counts(rows: slice) -> Array:
        samples = np.arange(rows.start, rows.stop)
        return (samples[:, None] - 1 != np.arange(n)[None, :]).astype(float)

    return counts


def _require(fits: Fits, what: str) -> None:
    bad = np.flatnonzero(~fits.converged)
    if bad.size:
        raise ConvergenceError(
            f"the imputation MMRM did not converge for {bad.size} {what} sample(s) "
            f"(first: sample {bad[0]}, {fits.reason[bad[0]]}); try a simpler --covariance"
        )


def _bootstrap_fits(
    layout: Layout, rng: np.random.Generator, n_draw: int, with_full: bool, covariance: str
) -> tuple[NDArray[np.int64], Fits]:
    """Bootstrap samples stratified by group (rbmi's default), first the full data when
    ``with_full``; samples whose fit fails are drawn again."""
    strata = [np.flatnonzero(layout.group == g) for g in range(len(layout.levels))]

    def draw(k: int) -> NDArray[np.int64]:
        return np.concatenate(
            [s[rng.integers(0, s.size, size=(k, s.size))] for s in strata], axis=1
        )

    idx = draw(n_draw)
    if with_full:
        idx = np.vstack([np.arange(layout.n)[None], idx])
    fits = fit_samples(layout, idx, covariance=covariance)
    if with_full and not fits.converged[0]:
        _require(Fits(fits.beta[:1], fits.sigma[:1], fits.converged[:1], fits.reason[:1]), "full")
    for _ in range(REDRAWS):
        bad = np.flatnonzero(~fits.converged)
        if bad.size == 0:
            break
        idx[bad] = draw(bad.size)
        again = fit_samples(layout, idx[bad], covariance=covariance)
        fits.beta[bad], fits.sigma[bad], fits.converged[bad] = (
            again.beta,
            again.sigma,
            again.converged,
        )
        for k, i in enumerate(bad):
            fits.reason[i] = again.reason[k]
    _require(fits, "bootstrap")
    return idx, fits


def run_sensitivity(
    data: pd.DataFrame,
    *,
    formula: str,
    subject: str,
    visit: str,
    group: str,
    reference: str,
    analysis: str,
    ice: pd.DataFrame | None = None,
    strategy: str = "MAR",
    method: str = "condmean-jackknife",
    delta: float = 0.0,
    samples: int | None = None,
    seed: int | None = None,
    conf_level: float = 0.95,
    bootstrap_ci: str = "percentile",
    covariance: str = "us",
) -> SensitivityResult:
    """One sensitivity analysis: :func:`prepare_imputations`, then analysis and pooling
    with ``delta`` added to the imputed values of the non-reference groups (the pooling
    options are checked first: a bad one is refused before the fits, not after them)."""
    check_pooling(delta, conf_level, bootstrap_ci)
    imputations = prepare_imputations(
        data,
        formula=formula,
        subject=subject,
        visit=visit,
        group=group,
        reference=reference,
        analysis=analysis,
        ice=ice,
        strategy=strategy,
        method=method,
        samples=samples,
        seed=seed,
        covariance=covariance,
    )
    return imputations.result(delta, conf_level, bootstrap_ci)
