"""Linear mixed model with a random intercept per participant (the HUC-MSC paper's "mixed
effect maximum likelihood regression"), matching R ``lme4::lmer`` + ``lmerTest`` + emmeans.

    from frailtrial.stats.lmm import fit_random_intercept
    fit = fit_random_intercept(df, "value ~ arm * visit", subject="participant_id")  # ML
    fit.coefficients()                    # term, estimate, se, df (Satterthwaite), t, p, CI
    fit.intercept_var, fit.residual_var, fit.loglik, fit.aic, fit.bic
    fit.group_time_test("arm", "visit")   # Wald chi-square, Satterthwaite F, ML LR test
    fit.treatment_contrasts("arm")        # each arm vs the reference arm at each visit
    fit.lsmeans(["arm", "visit"], conf_level=0.9)       # emmeans-style marginal means
    fit.level_contrast("arm", {"high": 0.5, "low": 0.5, "placebo": -1}, "visit")

One data set is fitted as a batch of one by :mod:`frailtrial.stats.lmm_many` (model,
likelihood, optimiser and Satterthwaite df are described there); :class:`RandomInterceptFit`
is one data set of such a batch, with the results interface of
:class:`frailtrial.stats.fit_results.FitResults` that the MMRM's fit has too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from frailtrial.errors import ConvergenceError, InputError
from frailtrial.stats.distributions import chi2_sf, f_sf
from frailtrial.stats.fit_results import (
    ESTIMATE_COLUMNS,
    check_conf_level,
    contrast_rows,
    inference_frame,
)
from frailtrial.stats.lmm_many import (
    FloatArray,
    Method,
    RandomInterceptBatch,
    check_df,
    fit_many_random_intercept,
)


@dataclass(frozen=True)
class InteractionTest:
    """Test that all coefficients of one term (e.g. arm:visit) are zero.

    Wald chi-square on ``df`` degrees of freedom; the F statistic (Wald / df) with
    Satterthwaite denominator df as lmerTest's ``anova``; the likelihood-ratio test of
    ML fits with and without the term (the model is refitted by ML when it was REML, as
    R's ``anova(..., refit=TRUE)``).
    """

    term: str
    df: int
    wald_chi2: float
    p_wald: float
    f: float
    ddf: float
    p_f: float
    lr_chi2: float
    p_lr: float


@dataclass(frozen=True)
class RandomInterceptFit:
    """Data set ``index`` of a :class:`RandomInterceptBatch`; inference on demand, with the
    batch's df method by default (``satterthwaite`` or ``normal``: z tests, infinite df)."""

    batch: RandomInterceptBatch
    index: int = 0

    # ------------------------------------------------------------ fit statistics

    @property
    def formula(self) -> str:
        return self.batch.formula

    @property
    def subject(self) -> str:
        return self.batch.subject

    @property
    def method(self) -> Method:
        return self.batch.method

    @property
    def df_method(self) -> str:
        """Default df method of the inference methods."""
        return self.batch.df_method

    @property
    def terms(self) -> list[str]:
        """Coefficient names, R style (``(Intercept)``, ``armplacebo:visitd180``)."""
        return self.batch.terms

    @property
    def beta(self) -> FloatArray:
        return self.batch.beta[self.index]

    @property
    def vcov(self) -> FloatArray:
        """(X'V^-1 X)^-1 at the estimates."""
        return self.batch.vcov[self.index]

    @property
    def intercept_var(self) -> float:
        """Between-subject variance tau2 (0 for a singular fit)."""
        return float(self.batch.intercept_var[self.index])

    @property
    def residual_var(self) -> float:
        return float(self.batch.residual_var[self.index])

    @property
    def icc(self) -> float:
        """Intraclass correlation tau2 / (tau2 + sigma2)."""
        return self.intercept_var / (self.intercept_var + self.residual_var)

    @property
    def loglik(self) -> float:
        """Log-likelihood (restricted for REML), as lme4's ``logLik``."""
        return float(self.batch.loglik[self.index])

    @property
    def aic(self) -> float:
        return float(self.batch.aic[self.index])

    @property
    def bic(self) -> float:
        return float(self.batch.bic[self.index])

    @property
    def n_obs(self) -> int:
        return int(self.batch.n_obs[self.index])

    @property
    def n_subjects(self) -> int:
        return int(self.batch.n_subjects[self.index])

    @property
    def n_dropped(self) -> int:
        """Rows dropped for a missing value in a formula variable or the subject."""
        return int(self.batch.n_dropped[self.index])

    @property
    def converged(self) -> bool:
        return bool(self.batch.converged[self.index])

    @property
    def singular(self) -> bool:
        """The between-subject variance is on its boundary 0 (lme4's singular fit)."""
        return bool(self.batch.singular[self.index])

    # ------------------------------------------------------------ inference

    def estimate(
        self, contrasts: FloatArray, df: str | None = None, conf_level: float = 0.95
    ) -> pd.DataFrame:
        """Estimate, se, df, t, p and ``conf_level`` CI of each row of a (k, p) matrix of
        beta weights (a vector for one row); df is infinite for ``df="normal"``."""
        est, var, dfs = self.batch.moments(contrasts, df, self.index)
        if dfs is not None and np.isnan(dfs).any():
            raise ConvergenceError(
                "Satterthwaite df: the Hessian of the deviance in (tau/sigma, sigma) is "
                "singular at the estimates; use df='normal'"
            )
        return inference_frame(est[0], np.sqrt(var[0]), None if dfs is None else dfs[0],
                               conf_level)  # fmt: skip

    def coefficients(self, df: str | None = None, conf_level: float = 0.95) -> pd.DataFrame:
        """Fixed effects with inference, one row per coefficient (R's names and coding)."""
        out = self.estimate(np.eye(len(self.terms)), df, conf_level)
        out.insert(0, "term", self.terms)
        return out

    def default_specs(self) -> list[str]:
        """Factors of least-squares means and treatment contrasts: those of the first
        interaction of two factors (e.g. arm:visit), else the first factor."""
        factors = self.batch.factors
        for term in self.batch._spec.terms:
            names = [str(f) for f in term.factors]
            if len(names) == 2 and all(n in factors for n in names):
                return names
        return list(factors)[:1]

    def levels(self) -> dict[str, list[str]]:
        """Every factor of the formula -> its levels in the fit's order, reference first."""
        return self.batch.factors

    def lsmeans(
        self, specs: list[str] | None = None, df: str | None = None, conf_level: float = 0.95
    ) -> pd.DataFrame:
        """Marginal means over the levels of ``specs`` (default :meth:`default_specs`):
        emmeans' reference grid, other factors weighted equally, numeric covariates at their
        mean."""
        specs = self.default_specs() if specs is None else list(specs)
        combos, lmat = self.batch.grid(specs, self.batch.numeric_means(self.index))
        return pd.concat([combos, self.estimate(lmat, df, conf_level)], axis=1)

    def treatment_contrasts(
        self,
        arm: str | None = None,
        df: str | None = None,
        conf_level: float = 0.95,
        *,
        time: str | None = None,
        reference: str | None = None,
    ) -> pd.DataFrame:
        """Each level of ``arm`` minus ``reference`` (default: the first level) at each level
        of ``time`` and averaged over them (``overall``): emmeans' ``trt.vs.ctrl``. Default
        ``arm`` and ``time``: the two factors of :meth:`default_specs` (no ``time`` when
        the arm crosses no other factor: one contrast per level, averaged over the rest)."""
        specs = self.default_specs()
        if arm is None:
            if not specs:
                return pd.DataFrame(columns=["contrast", *ESTIMATE_COLUMNS])
            arm = specs[0]
        if time is None and len(specs) == 2 and arm in specs:
            time = specs[1] if specs[0] == arm else specs[0]
        levels = self.batch.levels(arm)
        ref = levels[0] if reference is None else reference
        if ref not in levels:
            raise InputError(f"{arm!r} has no level {ref!r}; levels: {', '.join(levels)}")
        combos, lmat = self.batch.grid(
            [arm] if time is None else [arm, time], self.batch.numeric_means(self.index)
        )
        head, rows = contrast_rows(combos, lmat, arm, ref, time)
        return pd.concat([head, self.estimate(rows, df, conf_level)], axis=1)

    def level_contrast(
        self,
        group: str,
        weights: dict[str, float],
        time: str | None = None,
        df: str | None = None,
        conf_level: float = 0.95,
    ) -> pd.DataFrame:
        """sum_l weights[l] * marginal mean(group = l), at each level of ``time`` (or once,
        averaged, when ``time`` is None): e.g. a dose-response trend {"placebo": -1,
        "low": 0, "high": 1}. Levels not named get weight 0."""
        levels = self.batch.levels(group)
        unknown = [k for k in weights if k not in levels]
        if unknown:
            raise InputError(
                f"{group!r} has no level(s) {', '.join(map(repr, unknown))}; "
                f"levels: {', '.join(levels)}"
            )
        specs = [group] if time is None else [group, time]
        combos, lmat = self.batch.grid(specs, self.batch.numeric_means(self.index))
        w = combos[group].map(lambda lv: weights.get(lv, 0.0)).to_numpy(dtype=float)
        if time is None:
            return self.estimate(w @ lmat, df, conf_level)
        times = self.batch.levels(time)
        rows = np.stack([(w * (combos[time] == t).to_numpy()) @ lmat for t in times])
        head = pd.DataFrame({time: times})
        return pd.concat([head, self.estimate(rows, df, conf_level)], axis=1)

    def group_time_test(self, group: str, time: str, df: str | None = None) -> InteractionTest:
        """Test of the ``group:time`` interaction (in either order in the formula)."""
        dfm = check_df(self.df_method if df is None else df)
        cols = self.batch.term_columns({group, time})
        b = self.beta[cols]
        c = self.vcov[np.ix_(cols, cols)]
        q = len(cols)
        wald = float(b @ np.linalg.solve(c, b))
        f = wald / q
        ddf = self._f_ddf(cols, c) if dfm == "satterthwaite" else math.inf
        full = self.loglik if self.method == "ml" else self.batch.ml_loglik(self.index)
        keep = [k for k in range(self.beta.size) if k not in cols]
        lr = max(0.0, 2 * (full - self.batch.ml_loglik(self.index, keep)))
        p_wald = float(chi2_sf(wald, q))
        p_f = p_wald if math.isinf(ddf) else float(f_sf(f, q, ddf))
        return InteractionTest(
            f"{group}:{time}", q, wald, p_wald, f, ddf, p_f, lr, float(chi2_sf(lr, q))
        )

    def _f_ddf(self, cols: list[int], c: FloatArray) -> float:
        """lmerTest's denominator df: Satterthwaite df of the eigen-directions of L C L'."""
        _, evecs = np.linalg.eigh(c)
        lmat = np.zeros((len(cols), self.beta.size))
        lmat[:, cols] = evecs.T
        _, _, dfs = self.batch.moments(lmat, "satterthwaite", self.index)
        assert dfs is not None
        arr = dfs[0]
        if arr.size == 1 or np.all(np.abs(arr - arr[0]) < 1e-8):
            return float(arr[0])
        if np.any(arr <= 2):
            return 2.0
        e = float(np.sum(arr / (arr - 2)))
        return 2 * e / (e - arr.size)

    def to_dict(self, df: str | None = None, conf_level: float = 0.95) -> dict[str, Any]:
        """Plain JSON-ready summary: fit statistics, coefficients, least-squares means and
        treatment contrasts of :meth:`default_specs` (infinite df written as null)."""
        dfm = check_df(self.df_method if df is None else df)
        level = check_conf_level(conf_level)
        specs = self.default_specs()
        return {
            "formula": self.formula,
            "subject": self.subject,
            "method": self.method,
            "df_method": dfm,
            "conf_level": level,
            "loglik": self.loglik,
            "aic": self.aic,
            "bic": self.bic,
            "n_subjects": self.n_subjects,
            "n_obs": self.n_obs,
            "n_dropped": self.n_dropped,
            "levels": self.levels(),
            "converged": self.converged,
            "singular": self.singular,
            "intercept_var": self.intercept_var,
            "residual_var": self.residual_var,
            "icc": self.icc,
            "coefficients": _records(self.coefficients(dfm, level)),
            "lsmeans": _records(self.lsmeans(specs, dfm, level)) if specs else [],
            "contrasts": _records(self.treatment_contrasts(None, dfm, level)),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values; infinite or missing numbers as None."""
    out = []
    for row in frame.to_dict(orient="records"):
        rec: dict[str, Any] = {}
        for k, v in row.items():
            if isinstance(v, bool | np.bool_):
                rec[str(k)] = bool(v)
            elif isinstance(v, int | np.integer):
                rec[str(k)] = int(v)
            elif isinstance(v, float | np.floating):
                rec[str(k)] = float(v) if math.isfinite(v) else None
            else:
                rec[str(k)] = str(v)
        out.append(rec)
    return out


def fit_random_intercept(
    data: pd.DataFrame,
    formula: str,
    subject: str,
    *,
    method: str = "ml",
    df: str = "satterthwaite",
) -> RandomInterceptFit:
    """Fit ``formula`` with a random intercept per ``subject`` by ML (default) or REML: one
    data set as a batch of one of :func:`fit_many_random_intercept`. ``df`` is the default
    df method of the fit's inference (``satterthwaite`` or ``normal``).

    Raises InputError for an unknown column, a non-numeric response, fewer than two
    subjects, too few observations or a singular design; ConvergenceError when the
    between-subject variance is unbounded relative to the residual variance.
    """
    fit = RandomInterceptFit(fit_many_random_intercept([data], formula, subject,
                                                       method=method, df=df))  # fmt: skip
    if not fit.converged:
        raise ConvergenceError(
            "random-intercept model: the between-subject variance is unbounded relative to "
            "the residual variance (the profiled deviance still falls at log(tau2/sigma2) = "
            "10, the end of the search grid)"
        )
    return fit
