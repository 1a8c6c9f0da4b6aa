"""Mixed model for repeated measures (MMRM), matching R mmrm / nlme::gls and SAS PROC MIXED.

Gaussian linear model with fixed effects from a formula and a within-subject covariance
over visits (``us``, ``cs``, ``csh``, ``ar1``, ``ar1h``, ``toep``, ``toeph``, ``adh``),
fitted by REML or ML with Newton steps on analytic derivatives (converged on the Newton
decrement, i.e. to the optimum, not short of it); subjects with missing visits are kept.

- :func:`mmrm` fits one data set;
- :func:`fit_many` fits a list of data sets with the same columns (simulated trials)
  together, vectorised over data sets, and returns one :class:`MmrmFit` each;
- :func:`estimate_many` tests one contrast in all of those fits at once.

Factor levels (visit, arm, other factors) follow a pandas Categorical's declared order,
else natural order (``week2 < week4 < week12``; :mod:`frailtrial.stats.levels`); the first
level is the reference, the visit order is the covariance order. Formulas may use
formulaic's transforms (``log(y)``, ``I(x * 2)``, ``C(arm, Treatment('placebo'))``,
``poly(x, 2)``).

Inference: coefficients, least-squares means (emmeans/SAS convention: equal weights over
the levels of other factors, numeric covariates at their mean), treatment contrasts per
visit and averaged over visits, with the degrees of freedom of
:data:`frailtrial.stats.model_options.DF_METHODS` (Satterthwaite, Kenward-Roger and its
linear variant, residual, between-within).
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from frailtrial.errors import ConvergenceError, InputError
from frailtrial.stats import (
    mmrm_anova,
    mmrm_compare,
    mmrm_contrasts,
    mmrm_predict,
    mmrm_summary,
)
from frailtrial.stats import mmrm_core as core
from frailtrial.stats.allocator import keep_freed_memory
from frailtrial.stats.blas_threads import one_blas_thread
from frailtrial.stats.covariance import Structure, make_structure
from frailtrial.stats.fit_results import check_conf_level, contrast_rows, inference_frame
from frailtrial.stats.mmrm_data import ModelFrame, build_frame, rank_problems
from frailtrial.stats.mmrm_df import (
    KenwardRoger,
    Parts,
    between_within,
    kenward_roger,
    residual_df,
    satterthwaite,
    satterthwaite_from_gradient,
    satterthwaite_many,
)
from frailtrial.stats.mmrm_sandwich import (
    empirical_satterthwaite,
    empirical_vcov,
    vcov_method,
)
from frailtrial.stats.model_options import covariance_structure, df_method, estimation_method

Array = NDArray[Any]
TAIL_CHUNK = 32  # data sets of the last chunks, that the workers finish together
CHUNK = 1000  # data sets optimised together (per-subject arrays ~20 MB at 30 x 6 x 13)
OPTIMIZER = (
    "Newton-Raphson on -2 log L: analytic Hessian (REML trace term dropped), chord steps "
    "with the exact gradient near the optimum, backtracking line search"
)

__all__ = ["MmrmFit", "estimate_many", "fit_many", "mmrm"]


class Solution:
    """The arrays of one fit_many call (B rows) and the per-fit views its MmrmFit objects
    hold: estimate_many takes rows of the arrays, instead of stacking the views again, for
    fits that still hold those very views."""

    def __init__(self, opt: core.Optimum) -> None:
        self.theta, self.beta, self.vcov, self.hess = opt.theta, opt.beta, opt.a, opt.hess
        self.exact = opt.exact
        self.theta_rows, self.beta_rows, self.vcov_rows = (
            list(opt.theta),
            list(opt.beta),
            list(opt.a),
        )
        self.hess_rows = [
            h if e else None for h, e in zip(list(opt.hess), opt.exact.tolist(), strict=True)
        ]

    def holds(self, fits: list[MmrmFit]) -> bool:
        """Whether every fit holds its own row's views of these arrays."""
        return all(
            f.solution is self
            and f.theta is self.theta_rows[f.index]
            and f.beta is self.beta_rows[f.index]
            and f.vcov is self.vcov_rows[f.index]
            and f.hessian is self.hess_rows[f.index]
            for f in fits
        )


@dataclass
class MmrmFit:
    """One fitted MMRM; inference is computed on demand."""

    frame: ModelFrame
    index: int  # position of this data set in the frame's batch
    structure: Structure
    method: str
    theta: Array
    beta: Array
    vcov: Array  # unadjusted covariance of beta, (X' V^-1 X)^-1
    sigma: Array  # (T, T) visit covariance
    neg2loglik: float
    converged: bool
    iterations: int
    gradient_norm: float
    newton_decrement: float
    reason: str = ""  # why the fit did not converge ("" when it did)
    # exact Hessian of -2 log L in theta at the optimum, when the optimiser gave it (us,
    # separable design): Satterthwaite's df of estimate_many need no second evaluation
    hessian: Array | None = field(default=None, repr=False)
    solution: Solution | None = field(default=None, repr=False, compare=False)
    data: pd.DataFrame | None = field(default=None, repr=False)  # the data mmrm() fitted
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    # ---- fit statistics -------------------------------------------------------------
    @property
    def terms(self) -> list[str]:
        """Coefficient names, R style (``(Intercept)``, ``ARMCDTRT:AVISITVIS2``)."""
        return self.frame.terms

    @property
    def visits(self) -> list[Any]:
        return self.frame.visits

    @property
    def loglik(self) -> float:
        """Log (restricted) likelihood."""
        return -0.5 * self.neg2loglik

    @property
    def n_obs(self) -> int:
        return int(self.frame.batch.mask[self.index].sum())

    @property
    def n_subjects(self) -> int:
        return int(self.frame.batch.mask[self.index].any(axis=1).sum())

    @property
    def n_theta(self) -> int:
        return self.structure.n_theta

    @property
    def n_params(self) -> int:
        """Parameters counted by AIC/BIC: covariance only for REML, plus beta for ML."""
        return self.n_theta + (0 if self.method == "reml" else len(self.beta))

    @property
    def aic(self) -> float:
        return self.neg2loglik + 2 * self.n_params

    @property
    def bic(self) -> float:
        return self.neg2loglik + self.n_params * float(np.log(self.n_subjects))

    # ---- pieces at the optimum ----------------------------------------------------------
    def _batch(self) -> core.Batch:
        return self.frame.batch.subset(np.array([self.index]))

    @cached_property
    def parts(self) -> Parts:
        """Exact derivatives at the optimum (one extra evaluation)."""
        batch = self._batch()
        reml = self.method == "reml"
        ev = core.evaluate(self.sigma[None], batch, reml, "exact")
        _, hess, jac = core.theta_derivatives(self.structure, self.theta[None], ev)
        assert ev.grad_sigma is not None and ev.hess_sigma is not None
        return Parts(
            phi=ev.a[0],
            w=ev.w[0],
            z=ev.z[0],
            x=batch.x[0],
            mask=batch.mask[0],
            grad_sigma=ev.grad_sigma[0],
            hess_sigma=ev.hess_sigma[0],
            jac=jac[0],
            hess_theta=hess[0],
            reml=reml,
        )

    def _kr(self, linear: bool) -> KenwardRoger:
        key = f"kr{linear}"
        if key not in self._cache:
            _, jac, second = self.structure.native_derivatives(self.sigma[None])
            self._cache[key] = kenward_roger(self.parts, jac[0], second[0], linear)
        return self._cache[key]

    # ---- inference -------------------------------------------------------------------
    def estimate(
        self,
        contrasts: Array,
        df: str = "satterthwaite",
        conf_level: float = 0.95,
        vcov: str = "model",
    ) -> pd.DataFrame:
        """Estimate, se, df, t, p and ``conf_level`` CI of each row of a contrast matrix
        (k, p); ``vcov``: the model-based covariance of beta or an empirical one
        (:mod:`frailtrial.stats.mmrm_sandwich`; Satterthwaite, residual or between-within
        df)."""
        df = df_method(df)
        check_conf_level(conf_level)
        lmat = np.atleast_2d(np.asarray(contrasts, dtype=float))
        est = lmat @ self.beta
        phi = self.beta_vcov(vcov, df)
        if df in ("kenward_roger", "kenward_roger_linear"):
            kr = self._kr(linear=df == "kenward_roger_linear")
            var = np.einsum("ip,pq,iq->i", lmat, kr.phi_adj, lmat)
            dfs = np.array([kr.df(self.vcov, row) for row in lmat])
        else:
            var = np.einsum("ip,pq,iq->i", lmat, phi, lmat)
            if df == "satterthwaite" and vcov_method(vcov) != "model":
                dfs = empirical_satterthwaite(self, vcov, lmat)
            elif df == "satterthwaite":
                dfs = satterthwaite(self.parts, lmat)
            elif df == "residual":
                dfs = np.full(lmat.shape[0], self.residual_df())
            else:
                dfs = between_within(self.parts, lmat)
        return inference_frame(est, np.sqrt(np.maximum(var, 0.0)), dfs, conf_level)

    def residual_df(self) -> float:
        """N minus the rank of the fixed-effects design."""
        return residual_df(self.n_obs, int(np.linalg.matrix_rank(self.parts.x[self.parts.mask])))

    def beta_vcov(self, vcov: str = "model", df: str = "satterthwaite") -> Array:
        """Covariance of beta: ``model`` ((X' V^-1 X)^-1) or an empirical one (``sandwich``,
        ``jackknife``, ``bias-reduced``), which takes Satterthwaite (Bell-McCaffrey),
        residual or between-within df, not Kenward-Roger (its own adjusted covariance)."""
        vcov = vcov_method(vcov)
        if vcov == "model":
            return self.vcov
        if df_method(df) not in ("satterthwaite", "residual", "between_within"):
            raise InputError(
                f"vcov {vcov!r}: Kenward-Roger df adjust the model-based covariance; with an "
                "empirical covariance use satterthwaite, residual or between-within"
            )
        key = f"vcov_{vcov}"
        if key not in self._cache:
            self._cache[key] = empirical_vcov(self, vcov)
        return self._cache[key]

    def coefficients(
        self, df: str = "satterthwaite", conf_level: float = 0.95, vcov: str = "model"
    ) -> pd.DataFrame:
        """Fixed effects with inference, one row per coefficient (R's names and coding)."""
        out = self.estimate(np.eye(len(self.beta)), df, conf_level, vcov)
        out.insert(0, "term", self.terms)
        return out

    def covariance_matrix(self) -> pd.DataFrame:
        """Estimated visit covariance matrix, visits in order."""
        labels = [str(v) for v in self.visits]
        return pd.DataFrame(self.sigma, index=labels, columns=labels)

    def covariance_parameters(self) -> pd.DataFrame:
        """Covariance parameters as SAS PROC MIXED lists them."""
        phi = self.structure.native_from_sigma(self.sigma[None])[0]
        return pd.DataFrame({"parameter": self.structure.native_names(), "estimate": phi})

    def default_specs(self) -> list[str]:
        """Factors for least-squares means: those crossed with the visit, and the visit."""
        visit = self.frame.visit
        crossed: list[str] = []
        for names in self.frame.column_factors:
            if visit in names:
                crossed += [p for p in names if p != visit]
        crossed = list(dict.fromkeys(crossed))
        if not crossed:
            crossed = [p for names in self.frame.column_factors for p in names if p != visit][:1]
        return [*crossed, visit] if visit in self.frame.factors else crossed

    def arm(self) -> str | None:
        """The treatment factor of :meth:`treatment_contrasts`: the first factor crossed
        with the visit (else the first factor of the model); None without one."""
        others = [s for s in self.default_specs() if s != self.frame.visit]
        return others[0] if others else None

    def levels(self) -> dict[str, list[str]]:
        """Level orders used by the fit: ``visit`` (also the covariance order), ``arm``
        (reference first; empty without a treatment factor) and every other factor."""
        arm = self.arm()
        out = {
            "visit": [str(v) for v in self.visits],
            "arm": [str(v) for v in self.frame.factors[arm]] if arm else [],
        }
        for name, levels in self.frame.factors.items():
            if name not in (self.frame.visit, arm):
                out.setdefault(name, [str(v) for v in levels])
        return out

    def _grid(self, specs: list[str]) -> tuple[pd.DataFrame, Array]:
        """Level combinations of ``specs`` and the matrix averaging the reference grid."""
        factors = self.frame.factors
        for s in specs:
            if s not in factors:
                raise InputError(
                    f"least-squares means by {s!r}: not a factor of the model "
                    f"(factors: {', '.join(factors)})"
                )
        names = list(factors)
        grid = pd.DataFrame(list(itertools.product(*(factors[v] for v in names))), columns=names)
        for var, means in self.frame.numerics.items():
            grid[var] = means[self.index]
        xg = np.asarray(self.frame.spec.get_model_matrix(grid, na_action="ignore"), dtype=float)
        keys = _keys(grid, specs)
        combos = pd.DataFrame(list(itertools.product(*(factors[v] for v in specs))), columns=specs)
        ckeys = _keys(combos, specs)
        lmat = np.stack([xg[(keys == k).to_numpy()].mean(axis=0) for k in ckeys])
        return combos, lmat

    def lsmeans(
        self,
        specs: list[str] | None = None,
        df: str = "satterthwaite",
        conf_level: float = 0.95,
        vcov: str = "model",
    ) -> pd.DataFrame:
        """Least-squares means for each combination of the levels of ``specs``."""
        specs = self.default_specs() if specs is None else specs
        combos, lmat = self._grid(specs)
        return pd.concat([combos, self.estimate(lmat, df, conf_level, vcov)], axis=1)

    def treatment_contrasts(
        self,
        arm: str | None = None,
        df: str = "satterthwaite",
        conf_level: float = 0.95,
        vcov: str = "model",
    ) -> pd.DataFrame:
        """Each arm level minus the reference (first) level, at each visit and averaged;
        levels in declared order (a Categorical's, ``C(arm, Treatment(ref))``'s reference
        first) or natural order."""
        head, lmat = self.treatment_contrast_matrix(arm)
        if head.empty:
            return head
        return pd.concat([head, self.estimate(lmat, df, conf_level, vcov)], axis=1)

    def treatment_contrast_matrix(self, arm: str | None = None) -> tuple[pd.DataFrame, Array]:
        """Labels and contrast matrix of :meth:`treatment_contrasts` (rows of beta weights),
        e.g. to pass to :func:`estimate_many`."""
        visit = self.frame.visit
        if arm is None:
            arm = self.arm()
            if arm is None:
                return pd.DataFrame(), np.zeros((0, len(self.beta)))
        if arm not in self.frame.factors:
            raise InputError(f"arm variable {arm!r} is not a factor of the model")
        time = visit if visit in self.frame.factors else None
        combos, lmat = self._grid([arm] if time is None else [arm, time])
        return contrast_rows(combos, lmat, arm, self.frame.factors[arm][0], time)

    # ---- more inference (modules mmrm_anova, mmrm_contrasts, mmrm_predict, ...) --------
    def type3(self, df: str = "satterthwaite", vcov: str = "model") -> pd.DataFrame:
        """Type III F tests of the model's terms (:mod:`frailtrial.stats.mmrm_anova`)."""
        return mmrm_anova.type3(self, df, vcov)

    def contrast(
        self,
        spec: str = "pairwise",
        factor: str | None = None,
        by_visit: bool = True,
        adjust: str = "none",
        df: str = "satterthwaite",
        vcov: str = "model",
        conf_level: float = 0.95,
    ) -> pd.DataFrame:
        """Named contrasts of LS means, emmeans-style (:mod:`frailtrial.stats.mmrm_contrasts`):
        ``pairwise``, ``trt.vs.ctrl`` or ``"LEVEL - LEVEL"``, per visit, adjusted."""
        return mmrm_contrasts.contrasts(self, spec, factor, by_visit, adjust, df, vcov, conf_level)

    def predict(self, data: pd.DataFrame | None = None) -> pd.DataFrame:
        """Marginal and conditional predictions (:mod:`frailtrial.stats.mmrm_predict`)."""
        return mmrm_predict.predict(self, data)

    def residuals(self, data: pd.DataFrame | None = None) -> pd.DataFrame:
        """Marginal (raw, Pearson, normalized) and conditional residuals."""
        return mmrm_predict.residuals(self, data)

    def lr_test(self, other: MmrmFit) -> dict[str, Any]:
        """Likelihood-ratio test of this fit's covariance (the null) against ``other``'s."""
        return mmrm_compare.lr_test(self, other)

    def summary(self, df: str = "satterthwaite", vcov: str = "model") -> str:
        """The fit summarised as R's ``summary(mmrm_fit)`` prints it."""
        return mmrm_summary.summary_text(self, df, vcov)

    def to_dict(
        self, df: str = "satterthwaite", conf_level: float = 0.95, vcov: str = "model"
    ) -> dict[str, Any]:
        """The JSON document of ``frailtrial stats mmrm --json`` (``df_method`` canonical)."""
        df = df_method(df)
        conf_level = check_conf_level(conf_level)
        vcov = vcov_method(vcov)
        opts: dict[str, Any] = {"df": df, "vcov": vcov, "conf_level": conf_level}
        lsm = self.lsmeans(**opts) if self.default_specs() else pd.DataFrame()
        con = self.treatment_contrasts(**opts)
        return {
            "formula": self.frame.formula,
            "covariance_structure": self.structure.name,
            "method": self.method,
            "df_method": df,
            "vcov": vcov,
            "conf_level": conf_level,
            "loglik": self.loglik,
            "neg2loglik": self.neg2loglik,
            "aic": self.aic,
            "bic": self.bic,
            "n_subjects": self.n_subjects,
            "n_obs": self.n_obs,
            "n_covariance_parameters": self.n_theta,
            "levels": self.levels(),
            "converged": self.converged,
            "convergence": {
                "optimizer": OPTIMIZER,
                "iterations": self.iterations,
                "gradient_norm": self.gradient_norm,
                "newton_decrement": self.newton_decrement,
            },
            "coefficients": self.coefficients(**opts).to_dict(orient="records"),
            "covariance": {
                "visits": [str(v) for v in self.visits],
                "matrix": self.sigma.tolist(),
                "parameters": self.covariance_parameters().to_dict(orient="records"),
            },
            "lsmeans": _records(lsm),
            "contrasts": _records(con),
        }


def estimate_many(
    fits: list[MmrmFit], contrasts: Array, df: str = "satterthwaite", conf_level: float = 0.95
) -> pd.DataFrame:
    """Contrasts of beta for every fit of one :func:`fit_many` call, vectorised.

    ``contrasts`` is a vector or a (k, p) matrix of beta weights (for instance from
    :meth:`MmrmFit.treatment_contrast_matrix`). Satterthwaite and residual df are computed
    batched (exact-Hessian evaluations of chunks of fits, in threads over the CPU cores);
    other methods per fit.
    Returns one row per fit and contrast row: ``fit``, ``row``, estimate, se, df, t, p and
    the ``conf_level`` interval ci_low, ci_high.
    """
    df = df_method(df)
    conf_level = check_conf_level(conf_level)
    if not fits:
        return pd.DataFrame()
    frame, structure, method = fits[0].frame, fits[0].structure, fits[0].method
    if any(f.frame is not frame for f in fits):
        raise InputError("estimate_many needs fits from one fit_many call")
    lmat = np.atleast_2d(np.asarray(contrasts, dtype=float))
    if df not in ("satterthwaite", "residual"):
        parts = [
            f.estimate(lmat, df, conf_level).assign(fit=i, row=np.arange(len(lmat)))
            for i, f in enumerate(fits)
        ]
        return _order(pd.concat(parts, ignore_index=True))
    idx = np.array([f.index for f in fits])
    sol = fits[0].solution  # fit_many's arrays, while every fit still holds its views
    if sol is not None and not sol.holds(fits):
        sol = None
    # the rows of fit_many's arrays: the arrays themselves for all fits in order (no copy)
    rows: NDArray[np.int64] | slice = idx
    if sol is not None and core.all_in_order(idx, sol.theta.shape[0]):
        rows = slice(None)
    beta = sol.beta[rows] if sol is not None else np.stack([f.beta for f in fits])
    phi = sol.vcov[rows] if sol is not None else np.stack([f.vcov for f in fits])
    est = np.einsum("kp,bp->bk", lmat, beta)
    phil = np.einsum("bpq,kq->bkp", phi, lmat)  # Phi l
    var = np.einsum("bkp,kp->bk", phil, lmat)
    if df == "residual":  # full-rank designs only (singular ones are rejected)
        dfs = np.broadcast_to((frame.batch.n_obs[idx] - lmat.shape[1])[:, None], var.shape)
    else:
        # each fit's exact Hessian from the optimiser, where it has one (else evaluated)
        if sol is not None:
            theta, hess, given = sol.theta[rows], sol.hess[rows], sol.exact[rows]
        else:
            theta = np.stack([f.theta for f in fits])
            unknown = np.full((theta.shape[1], theta.shape[1]), np.nan)
            hess = np.stack([unknown if f.hessian is None else f.hessian for f in fits])
            given = np.array([f.hessian is not None for f in fits])
        chunks = np.array_split(np.arange(len(fits)), max(1, min(8, len(fits) // 64)))

        def chunk_df(c: NDArray[np.int64]) -> Array:
            return _satterthwaite_df(
                frame.batch, idx[c], structure, method, theta[c], phil[c], var[c], hess[c],
                given[c],
            )  # fmt: skip

        with (
            one_blas_thread(),
            ThreadPoolExecutor(min(os.cpu_count() or 1, len(chunks))) as pool,
        ):
            dfs = np.concatenate(list(pool.map(chunk_df, chunks)))
    se = np.sqrt(np.maximum(var, 0.0))
    out = inference_frame(est.ravel(), se.ravel(), np.asarray(dfs, dtype=float).ravel(), conf_level)
    out.insert(0, "row", np.tile(np.arange(lmat.shape[0]), len(fits)))
    out.insert(0, "fit", np.repeat(np.arange(len(fits)), lmat.shape[0]))
    return out


def _satterthwaite_df(
    batch: core.Batch,
    rows: NDArray[np.int64],
    structure: Structure,
    method: str,
    theta: Array,
    phil: Array,
    var: Array,
    hess: Array,
    given: NDArray[np.bool_],
) -> Array:
    """Satterthwaite df (B, k) of contrasts with ``Phi l`` = ``phil`` (B, k, p) and variance
    ``var`` (B, k) of the data sets ``rows`` of ``batch``: from each fit's exact Hessian
    ``hess`` (B, P, P) where ``given``, else from an exact-Hessian evaluation at its
    ``theta``."""
    if given.all():  # (given only by the compiled optimiser: a separable design)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            msum = core.variance_gradient(structure.sigma(theta), batch, phil, rows)
            grad = core.variance_theta_gradient(structure, theta, msum)
            return satterthwaite_from_gradient(grad, hess, var)
    if given.any():
        out = np.empty(var.shape)
        for part in (given, ~given):
            idx = np.flatnonzero(part)
            out[idx] = _satterthwaite_df(
                batch, rows[idx], structure, method, theta[idx], phil[idx], var[idx],
                hess[idx], given[idx],
            )  # fmt: skip
        return out
    batch = batch.subset(rows)
    reml = method == "reml"
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        sigma = structure.sigma(theta)
        if batch.kron is not None:  # compiled, from the per-pattern sums
            ev, msum = core.exact_with_variance_gradient(sigma, batch, reml, phil)
            hess, grad = core.variance_chain_rule(structure, theta, ev, msum)
            return satterthwaite_from_gradient(grad, hess, var)
        ev = core.evaluate(sigma, batch, reml, "exact")
    _, hess, jac = core.theta_derivatives(structure, theta, ev)
    return satterthwaite_many(ev.z, jac, hess, phil, var)


def _order(frame: pd.DataFrame) -> pd.DataFrame:
    cols = ["fit", "row", "estimate", "se", "df", "t", "p", "ci_low", "ci_high"]
    return frame[cols]


def _keys(frame: pd.DataFrame, cols: list[str]) -> pd.Series:
    if not cols:
        return pd.Series([""] * len(frame))
    return frame[cols].astype(str).agg("\x1f".join, axis=1)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].astype(str)
    return [{str(k): v for k, v in row.items()} for row in out.to_dict(orient="records")]


def _check_options(covariance: str, method: str) -> tuple[str, str]:
    return covariance_structure(covariance), estimation_method(method)


def fit_many(
    datasets: list[pd.DataFrame] | pd.DataFrame,
    formula: str,
    subject: str,
    visit: str,
    covariance: str = "us",
    method: str = "reml",
    max_iter: int = 100,
    dataset: str | None = None,
) -> list[MmrmFit]:
    """Fit the same MMRM to many data sets at once (vectorised over data sets).

    ``datasets``: a list of data frames with the same columns, or one long data frame with
    a column ``dataset`` telling the data sets apart (cheaper: no concatenation; results
    in order of first appearance of its values). Factor levels and their order are the
    first data set's (declared or natural, as for :func:`mmrm`), applied to all: a value
    it lacks is an InputError; a data set lacking one of its levels (an arm) has a
    singular design and is flagged. Data sets that do not converge, or whose
    likelihood cannot be evaluated, come back with ``converged=False`` and a ``reason``
    (no exception), so a simulation can count them.
    """
    cov, meth = _check_options(covariance, method)
    data = datasets if isinstance(datasets, pd.DataFrame) else list(datasets)
    keep_freed_memory()  # the layout's large temporaries, not faulted in afresh each call
    # many small matrices: BLAS threads would only compete with the chunk threads
    with one_blas_thread():
        frame = build_frame(data, formula, subject, visit, dataset, strict=False, check_rank=False)
        return _fit_frame(frame, cov, meth, max_iter, check_rank=True)


def _solve(structure: Structure, batch: core.Batch, reml: bool, max_iter: int) -> core.Optimum:
    """Optimise one batch of data sets from the starting Sigma of ``core.start_sigma``; beta
    and its covariance come from the optimiser's last evaluation (at the optimum)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # degenerate data
        theta0 = structure.start(core.start_sigma(batch))
        return core.optimize(structure, batch, reml, theta0, max_iter=max_iter, exact_hessian=True)


def _chunks(n_sets: int, n_workers: int) -> list[NDArray[np.int64]]:
    """Consecutive chunks of the data sets, each half of what remains per worker (at most
    CHUNK, at least TAIL_CHUNK): large first, small last, so that the workers, taking the
    next chunk when free, finish within a small chunk's time of each other."""
    if n_workers == 1:
        return np.array_split(np.arange(n_sets), -(-n_sets // CHUNK))
    out, start = [], 0
    while start < n_sets:
        size = min(CHUNK, max(TAIL_CHUNK, -(-(n_sets - start) // (2 * n_workers))))
        out.append(np.arange(start, min(n_sets, start + size)))
        start += size
    return out


def _fit_frame(
    frame: ModelFrame, cov: str, meth: str, max_iter: int, check_rank: bool = False
) -> list[MmrmFit]:
    """Fit all data sets of a frame; large batches are split over the CPU cores (threads:
    the compiled kernels and numpy's batched linear algebra release the GIL) into chunks
    of at most ``CHUNK`` data sets, which bounds the memory of the work arrays, tapering
    to ``TAIL_CHUNK`` (:func:`_chunks`), so that a core that runs slower (a shared
    machine's) does not hold up the others: with four equal chunks per thread one core
    idled up to 32 ms at the end of 2,000 fits (~15 %), with tapered ones 1.5 ms.
    ``check_rank``: the frame was built without the check for singular designs,
    run here on each chunk (in the threads, not serially before them)."""
    structure = make_structure(cov, len(frame.visits))
    reml = meth == "reml"
    n_workers = max(1, min(os.cpu_count() or 1, frame.n_sets // 64))
    chunks = _chunks(frame.n_sets, n_workers)

    def solve(idx: NDArray[np.int64]) -> tuple[core.Optimum, dict[int, str]]:
        batch = frame.batch.subset(idx)
        found = rank_problems(batch, frame.columns, int(idx[0]), frame.n_sets) if check_rank else {}
        return _solve(structure, batch, reml, max_iter), found

    if len(chunks) == 1:
        solved = [solve(chunks[0])]
    else:
        with ThreadPoolExecutor(n_workers) as pool:
            solved = list(pool.map(solve, chunks))
    parts = [part for part, _ in solved]
    if check_rank:
        for _, found in solved:
            for s, message in found.items():
                frame.problems.setdefault(s, message)
        frame.problems = dict(sorted(frame.problems.items()))
    merged: dict[str, Any] = {
        f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(core.Optimum)
    }
    merged["reason"] = [r for p in parts for r in p.reason]
    sol = core.Optimum(**merged)
    with np.errstate(over="ignore", invalid="ignore"):  # degenerate data
        sigma = structure.sigma(sol.theta)
    grad_norm = np.linalg.norm(sol.grad, axis=1).tolist()
    f, converged = sol.f.tolist(), sol.converged.tolist()  # Python scalars, converted at once
    iterations, decrement = sol.iterations.tolist(), sol.decrement.tolist()
    arrays = Solution(sol)
    reasons = sol.reason
    if frame.problems:
        converged = [c and i not in frame.problems for i, c in enumerate(converged)]
        reasons = [frame.problems.get(i, r) for i, r in enumerate(reasons)]
    # views made by list() at C speed, fits made with positional arguments: object
    # creation is serial work, a few microseconds a fit are felt beside the threads
    return [
        MmrmFit(frame, i, structure, meth, *per_fit)
        for i, per_fit in enumerate(
            zip(
                arrays.theta_rows,
                arrays.beta_rows,
                arrays.vcov_rows,
                list(sigma),
                f,
                converged,
                iterations,
                grad_norm,
                decrement,
                reasons,
                arrays.hess_rows,
                [arrays] * len(f),
                strict=True,
            )
        )
    ]


def mmrm(
    data: pd.DataFrame,
    formula: str,
    subject: str,
    visit: str,
    covariance: str = "us",
    method: str = "reml",
    max_iter: int = 100,
) -> MmrmFit:
    """Fit one MMRM; raises :class:`ConvergenceError` if the optimiser does not converge."""
    cov, meth = _check_options(covariance, method)
    frame = build_frame([data], formula, subject, visit)
    fit = _fit_frame(frame, cov, meth, max_iter)[0]
    fit.data = data
    if not fit.converged:
        raise ConvergenceError(
            f"MMRM ({cov}, {meth.upper()}) did not converge ({fit.reason}): {OPTIMIZER} from "
            f"the starting estimate of the covariance ran {fit.iterations} iterations (limit "
            f"{max_iter}); gradient norm {fit.gradient_norm:.3g}, Newton decrement "
            f"{fit.newton_decrement:.3g}. Try a simpler covariance structure (e.g. 'ar1h' or "
            "'cs') or check the data for visits with very few observations."
        )
    return fit
