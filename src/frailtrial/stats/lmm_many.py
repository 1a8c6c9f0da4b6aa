"""Random-intercept fits of many data sets at once, vectorized over data sets: the one engine
of the random-intercept model (:func:`frailtrial.stats.lmm.fit_random_intercept` fits one
data set as a batch of one, as ``mmrm`` is a batch of one of ``fit_many``).

    from frailtrial.stats.lmm_many import fit_many_random_intercept
    batch = fit_many_random_intercept(trials, "value ~ arm * visit", "participant_id")
    batch.beta, batch.loglik, batch.converged              # arrays, one row per data set
    eff = batch.treatment_contrast("arm", "msc", "visit", "d180")
    power = (eff.p < 0.05).mean()

Model: y_ij = x_ij' beta + u_i + e_ij, u_i ~ N(0, tau2), e_ij ~ N(0, sigma2), so each
participant's covariance is V_i = sigma2 I + tau2 J, as R ``lme4::lmer(y ~ x + (1 | id))``.
The design of all data sets is built in one formulaic call (factor levels shared; the
declared order of a pandas Categorical, else natural order -- week2 < week4 < week12 -- as
the MMRM; the first level is the reference). The likelihood is profiled in closed form: with
gamma = tau2 / sigma2 only per-subject sums of X and y enter, and the profiled deviance of
every data set is evaluated in one batched numpy step. A grid in log gamma brackets each
optimum, then bisection and false position on the analytic derivative narrow all brackets
together to ~1e-12; gamma = 0 (lme4's "singular fit") is taken when the deviance increases
from there. ML or REML; log-likelihoods, AIC (p + 2 parameters) and BIC (log of the number
of observations) are lme4's.

Inference: vcov(beta) = (X'V^-1 X)^-1 at the estimates; Satterthwaite df as lmerTest
(gradient of the contrast variance in (theta = tau / sigma, sigma), covariance of (theta,
sigma) from the Hessian of the beta-profiled deviance, computed on first use), or
``"normal"`` for z tests. Rows with a missing value in a formula variable or the subject are
dropped and counted in ``n_dropped``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import product
from typing import Literal, cast, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

from frailtrial.errors import InputError
from frailtrial.stats.fit_results import inference, r_name
from frailtrial.stats.formula_engine import ModelSpec, model_matrix, parse_formula
from frailtrial.stats.levels import is_factor, ordered_factor

FloatArray = npt.NDArray[np.float64]
Method = Literal["ml", "reml"]
DfMethod = Literal["satterthwaite", "normal"]
DF_METHODS: tuple[DfMethod, ...] = get_args(DfMethod)
"""Satterthwaite (lmerTest) or normal (z tests, infinite df)."""
_LOG2PI = math.log(2 * math.pi)
_GRID = np.linspace(-15.0, 10.0, 11)  # log(tau2 / sigma2) start points
_KEY = "__dataset__"


def check_method(method: str) -> Method:
    """``ml`` or ``reml``; InputError otherwise."""
    if method not in ("ml", "reml"):
        raise InputError(f"method must be 'ml' or 'reml', got {method!r}")
    return cast(Method, method)


def check_df(df: str) -> DfMethod:
    """A df method of the random-intercept model (:data:`DF_METHODS`); InputError otherwise."""
    if df not in DF_METHODS:
        raise InputError(f"df must be one of {', '.join(map(repr, DF_METHODS))}, got {df!r}")
    return cast(DfMethod, df)


@dataclass(frozen=True)
class BatchEstimate:
    """One linear combination of the fixed effects in every data set (arrays of length D);
    ``df`` is None for z tests."""

    estimate: FloatArray
    se: FloatArray
    df: FloatArray | None
    t: FloatArray
    p: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray


@dataclass(frozen=True)
class _Stats:
    """Per data set sufficient statistics of the design and response."""

    xtx: FloatArray  # (D, p, p)
    xty: FloatArray  # (D, p)
    yty: FloatArray  # (D,)
    sx: FloatArray  # (D, M, p) per-subject sums, zero-padded
    sy: FloatArray  # (D, M)
    n_i: FloatArray  # (D, M)
    n: FloatArray  # (D,)
    p: int

    def take(self, idx: npt.NDArray[np.intp]) -> _Stats:
        """The statistics of the data sets ``idx``."""
        return _Stats(self.xtx[idx], self.xty[idx], self.yty[idx], self.sx[idx], self.sy[idx],
                      self.n_i[idx], self.n[idx], self.p)  # fmt: skip

    def columns(self, cols: npt.NDArray[np.intp]) -> _Stats:
        """The statistics of the design restricted to the columns ``cols``."""
        return _Stats(self.xtx[:, cols][:, :, cols], self.xty[:, cols], self.yty,
                      self.sx[:, :, cols], self.sy, self.n_i, self.n, int(cols.size))  # fmt: skip


@dataclass(frozen=True)
class RandomInterceptBatch:
    """Results of :func:`fit_many_random_intercept`, arrays indexed by data set; ``terms``
    are R's coefficient names, ``df_method`` the default df of the inference methods."""

    formula: str
    subject: str
    method: Method
    df_method: DfMethod
    terms: list[str]
    n_obs: npt.NDArray[np.int64]
    n_subjects: npt.NDArray[np.int64]
    n_dropped: npt.NDArray[np.int64]
    beta: FloatArray
    vcov: FloatArray
    intercept_var: FloatArray
    residual_var: FloatArray
    loglik: FloatArray
    aic: FloatArray
    bic: FloatArray
    converged: npt.NDArray[np.bool_]
    singular: npt.NDArray[np.bool_]
    _stats: _Stats = field(repr=False)
    _spec: ModelSpec = field(repr=False)
    _frame: pd.DataFrame = field(repr=False)

    # ------------------------------------------------------------ inference

    @cached_property
    def varpar_cov(self) -> FloatArray:
        """Covariance of (theta, sigma) per data set, (D, 2, 2): twice the inverse Hessian
        of the beta-profiled deviance (NaN where that Hessian is singular)."""
        gamma = self.intercept_var / self.residual_var
        hess = _hessian(self._stats, np.sqrt(gamma), np.sqrt(self.residual_var), self.method)
        det = hess[:, 0, 0] * hess[:, 1, 1] - hess[:, 0, 1] ** 2
        adj = np.stack([np.stack([hess[:, 1, 1], -hess[:, 0, 1]], 1),
                        np.stack([-hess[:, 1, 0], hess[:, 0, 0]], 1)], 1)  # fmt: skip
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = adj / np.where(det != 0, det, np.nan)[:, None, None]
        return np.asarray(2 * inv, dtype=np.float64)

    def moments(
        self, contrasts: FloatArray, df: str | None = None, index: int | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        """Estimates, variances and df (None for z tests) of the rows of a (k, p) matrix of
        beta weights, shape (D, k), or (1, k) for the data set ``index`` alone."""
        method = check_df(self.df_method if df is None else df)
        lmat = np.atleast_2d(np.asarray(contrasts, dtype=float))
        if lmat.ndim != 2 or lmat.shape[1] != len(self.terms):
            raise InputError(
                f"contrasts must have {len(self.terms)} columns (one per coefficient), "
                f"got shape {np.shape(contrasts)}"
            )
        sel = np.arange(self.beta.shape[0]) if index is None else np.array([index])
        est = self.beta[sel] @ lmat.T
        cw = np.einsum("dpq,kq->dkp", self.vcov[sel], lmat)  # C l per data set and row
        var = np.einsum("dkp,kp->dk", cw, lmat)
        if method == "normal":
            return est, var, None
        grad = _vcov_gradient(
            self._stats.take(sel), self.intercept_var[sel], self.residual_var[sel], cw
        )
        denom = np.einsum("dki,dij,dkj->dk", grad, self.varpar_cov[sel], grad)
        with np.errstate(divide="ignore", invalid="ignore"):
            dfs = np.where(denom > 0, 2 * var * var / denom, np.inf)
        dfs[np.isnan(denom)] = np.nan  # singular Hessian of the variance parameters
        return est, var, dfs

    def estimate(
        self, weights: FloatArray, conf_level: float = 0.95, df: str | None = None
    ) -> BatchEstimate:
        """weights' beta in every data set with SE, df, t, p and the ``conf_level`` CI."""
        w = np.asarray(weights, dtype=float)
        if w.shape != (len(self.terms),):
            raise InputError(f"weights must have length {len(self.terms)}, got shape {w.shape}")
        est, var, dfs = self.moments(w[None], df)
        se = np.sqrt(var[:, 0])
        dfv = None if dfs is None else dfs[:, 0]
        t, p, lo, hi = inference(est[:, 0], se, dfv, conf_level)
        return BatchEstimate(est[:, 0], se, dfv, t, p, lo, hi)

    def coefficient(
        self, term: str, conf_level: float = 0.95, df: str | None = None
    ) -> BatchEstimate:
        """One coefficient by R's name (e.g. ``armplacebo``, ``armplacebo:visitd180``)."""
        if term not in self.terms:
            raise InputError(f"unknown term {term!r}; terms: {', '.join(self.terms)}")
        w = np.zeros(len(self.terms))
        w[self.terms.index(term)] = 1.0
        return self.estimate(w, conf_level, df)

    def treatment_contrast(
        self,
        group: str,
        level: str,
        time: str | None = None,
        time_level: str | None = None,
        conf_level: float = 0.95,
        reference: str | None = None,
        df: str | None = None,
    ) -> BatchEstimate:
        """``level`` of ``group`` minus ``reference`` (default: the first level), at
        ``time_level`` of ``time``, other factors averaged equally; numeric covariates at
        their mean over all data sets, which matters only when a covariate interacts with
        ``group`` or ``time``."""
        levels = self.levels(group)
        ref = levels[0] if reference is None else reference
        if level not in levels or ref not in levels or level == ref:
            raise InputError(
                f"{group!r}: need two different levels among {', '.join(levels)}; "
                f"got {level!r} vs {ref!r}"
            )
        specs = [group]
        if time is not None:
            if time_level not in self.levels(time):
                raise InputError(f"{time!r} has no level {time_level!r}")
            specs.append(time)
        combos, lmat = self._grid_at_means(tuple(specs))
        keys = [tuple(r) for r in combos.to_numpy()]
        at = (time_level,) if time is not None else ()
        w = lmat[keys.index((level, *at))] - lmat[keys.index((ref, *at))]
        return self.estimate(w, conf_level, df)

    # ------------------------------------------------------------ the reference grid

    @property
    def factors(self) -> dict[str, list[str]]:
        """Categorical variables of the formula -> their levels, reference first."""
        return {k: [str(v) for v in s[1]["categories"]]
                for k, s in self._spec.encoder_state.items() if "categories" in s[1]}  # fmt: skip

    def levels(self, factor: str) -> list[str]:
        """Levels of one categorical variable of the formula; InputError for another name."""
        factors = self.factors
        if factor not in factors:
            raise InputError(
                f"{factor!r} is not a categorical variable of the formula {self.formula!r}"
                f" (categorical: {', '.join(factors) or 'none'})"
            )
        return factors[factor]

    def numeric_means(self, index: int | None = None) -> dict[str, float]:
        """Numeric variables of the formula -> their mean in data set ``index`` (all data
        sets together when None): where the reference grid holds them."""
        frame = self._frame if index is None else self._frame[self._frame[_KEY] == index]
        names = [k for k, s in self._spec.encoder_state.items() if "categories" not in s[1]]
        return {k: float(frame[k].mean()) for k in names}

    @cached_property
    def _grids_at_means(self) -> dict[tuple[str, ...], tuple[pd.DataFrame, FloatArray]]:
        return {}

    def _grid_at_means(self, specs: tuple[str, ...]) -> tuple[pd.DataFrame, FloatArray]:
        """:meth:`grid` at the numeric means of all data sets, built once per ``specs``: the
        contrasts of every arm at every visit read the same grid (a formulaic design each)."""
        if specs not in self._grids_at_means:
            self._grids_at_means[specs] = self.grid(list(specs), self.numeric_means())
        return self._grids_at_means[specs]

    def grid(self, specs: list[str], numerics: dict[str, float]) -> tuple[pd.DataFrame, FloatArray]:
        """Level combinations of ``specs`` (product order) and the rows of beta weights of
        their marginal means: emmeans' reference grid, every factor crossed with equal
        weights, numeric covariates at ``numerics``."""
        factors = self.factors
        for s in specs:
            self.levels(s)
        names = list(factors)
        full = pd.DataFrame(list(product(*(factors[v] for v in names))), columns=names)
        for v in names:
            full[v] = pd.Categorical(full[v], categories=factors[v])
        for v, mean in numerics.items():
            full[v] = mean
        xg = np.asarray(self._spec.get_model_matrix(full), dtype=float)
        shape = tuple(len(factors[s]) for s in specs)
        codes = [full[s].cat.codes.to_numpy() for s in specs]
        key = np.ravel_multi_index(codes, shape) if specs else np.zeros(len(full), dtype=np.intp)
        size = int(np.prod(shape))
        sums = np.zeros((size, xg.shape[1]))
        np.add.at(sums, key, xg)
        lmat = sums / np.bincount(key, minlength=size)[:, None]
        combos = pd.DataFrame(list(product(*(factors[s] for s in specs))), columns=specs)
        return combos, lmat

    def term_columns(self, factors: set[str]) -> list[int]:
        """Design columns of the formula term made of exactly ``factors`` (e.g. arm:visit)."""
        for term, sl in self._spec.term_slices.items():
            if {str(f) for f in term.factors} == factors:
                return list(range(sl.start, sl.stop))
        raise InputError(
            f"the formula {self.formula!r} has no term {':'.join(sorted(factors))}; "
            f"terms: {', '.join(str(t) for t in self._spec.terms)}"
        )

    def ml_loglik(self, index: int, cols: list[int] | None = None) -> float:
        """ML log-likelihood of data set ``index`` with the design columns ``cols`` (all
        when None): the likelihood-ratio test's full and reduced models."""
        s = self._stats.take(np.array([index]))
        if cols is not None:
            s = s.columns(np.asarray(cols, dtype=np.intp))
        gamma, _ = _optimize(s, "ml")
        return float(-_profile(s, gamma, "ml")[0][0] / 2)


# ---------------------------------------------------------------- likelihood


def _stats(
    x: FloatArray, y: FloatArray, dataset: npt.NDArray[np.intp], subj: npt.NDArray[np.intp],
    n_sets: int,
) -> tuple[_Stats, npt.NDArray[np.int64]]:  # fmt: skip
    """Sufficient statistics per data set; subjects renumbered 0..m_d - 1 within each."""
    p = x.shape[1]
    # subject index within its data set
    first = np.zeros(subj.max() + 1, dtype=np.intp)
    sub_set = np.zeros(subj.max() + 1, dtype=np.intp)
    sub_set[subj] = dataset
    order = np.argsort(sub_set, kind="stable")
    counts = np.bincount(sub_set, minlength=n_sets)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    first[order] = np.arange(order.size) - np.repeat(starts, counts)
    local = first[subj]
    big_m = int(counts.max())
    sx = np.zeros((n_sets, big_m, p))
    np.add.at(sx, (dataset, local), x)
    sy = np.zeros((n_sets, big_m))
    np.add.at(sy, (dataset, local), y)
    n_i = np.zeros((n_sets, big_m))
    np.add.at(n_i, (dataset, local), 1.0)
    # rows are grouped by data set: pad them to (D, R, p) for batched cross products
    rows = np.bincount(dataset, minlength=n_sets)
    row_start = np.concatenate([[0], np.cumsum(rows)[:-1]])
    pos = np.arange(dataset.size) - row_start[dataset]
    xp = np.zeros((n_sets, int(rows.max()), p))
    xp[dataset, pos] = x
    yp = np.zeros((n_sets, int(rows.max())))
    yp[dataset, pos] = y
    xtx = np.matmul(xp.transpose(0, 2, 1), xp)
    xty = np.einsum("dri,dr->di", xp, yp)
    yty = np.bincount(dataset, weights=y * y, minlength=n_sets).astype(float)
    n = np.bincount(dataset, minlength=n_sets).astype(float)
    return _Stats(xtx, xty, yty, sx, sy, n_i, n, p), counts.astype(np.int64)


def _profile(
    s: _Stats, gamma: FloatArray, method: Method
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """-2 log-likelihood with beta and sigma2 profiled out at gamma = tau2 / sigma2, its
    derivative in gamma, beta, A^-1 = (X'V^-1 X)^-1 / sigma2 and the RSS, per data set."""
    g = gamma[:, None]
    c = g / (1 + s.n_i * g)
    sxt = s.sx.transpose(0, 2, 1)  # (D, p, M)
    a = s.xtx - np.matmul(sxt * c[:, None, :], s.sx)
    b = s.xty - np.matmul(sxt, (c * s.sy)[:, :, None])[:, :, 0]
    r = s.yty - (c * s.sy**2).sum(axis=1)
    a_inv = np.linalg.inv(a)
    beta = np.matmul(a_inv, b[:, :, None])[:, :, 0]
    rss = np.maximum(r - (b * beta).sum(axis=1), 1e-300)
    logdet_v = np.log1p(s.n_i * g).sum(axis=1)
    # derivatives: d rss / d gamma = -sum c_i' (sy_i - sx_i beta)^2 (envelope theorem),
    # c_i' = 1 / (1 + n_i gamma)^2; d log|A| = tr(A^-1 dA) = -sum c_i' sx_i' A^-1 sx_i
    cp = 1 / (1 + s.n_i * g) ** 2
    resid = s.sy - np.matmul(s.sx, beta[:, :, None])[:, :, 0]
    drss = -(cp * resid**2).sum(axis=1)
    dlogdet_v = (s.n_i / (1 + s.n_i * g)).sum(axis=1)
    if method == "ml":
        dev = s.n * (_LOG2PI + np.log(rss / s.n) + 1) + logdet_v
        ddev = s.n * drss / rss + dlogdet_v
    else:
        k = s.n - s.p
        logdet_a = np.linalg.slogdet(a)[1]
        dev = k * (_LOG2PI + np.log(rss / k) + 1) + logdet_v + logdet_a
        quad = (np.matmul(s.sx, a_inv) * s.sx).sum(axis=2)
        ddev = k * drss / rss + dlogdet_v - (cp * quad).sum(axis=1)
    return dev, ddev, beta, a_inv, rss


def _optimize(s: _Stats, method: Method) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Optimal gamma per data set (see the module docstring) and convergence flags (False
    where the deviance still falls at the end of the grid: tau2 / sigma2 unbounded)."""
    d = s.n.size
    dev0, ddev0, *_ = _profile(s, np.zeros(d), method)
    devs = np.stack([_profile(s, np.full(d, math.exp(t)), method)[0] for t in _GRID])
    k = np.argmin(devs, axis=0)
    top = _GRID.size - 1
    boundary = (ddev0 >= 0) & (dev0 <= devs[k, np.arange(d)])
    lo = _GRID[np.maximum(k - 1, 0)]
    hi = _GRID[np.minimum(k + 1, top)]
    g_lo = np.exp(lo)
    slope_lo = g_lo * _profile(s, g_lo, method)[1]
    boundary |= slope_lo >= 0
    converged = k < top
    for _ in range(16):  # bisection: bracket width 5 / 2^16 ~ 8e-5 in log gamma
        mid = (lo + hi) / 2
        up = _slope(s, mid, method) > 0
        hi = np.where(up, mid, hi)
        lo = np.where(up, lo, mid)
    f_lo, f_hi = _slope(s, lo, method), _slope(s, hi, method)
    for _ in range(4):  # Illinois false position: superlinear on the nearly linear slope
        with np.errstate(divide="ignore", invalid="ignore"):
            new = np.where(f_hi != f_lo, hi - f_hi * (hi - lo) / (f_hi - f_lo), (lo + hi) / 2)
        new = np.clip(new, lo, hi)
        f_new = _slope(s, new, method)
        up = f_new > 0
        hi, lo = np.where(up, new, hi), np.where(up, lo, new)
        f_lo = np.where(up, f_lo / 2, f_new)
        f_hi = np.where(up, f_new, f_hi / 2)
    best = np.where(np.abs(f_lo) < np.abs(f_hi), lo, hi)
    gamma = np.where(boundary, 0.0, np.exp(best))
    return gamma, converged | boundary


def _slope(s: _Stats, t: FloatArray, method: Method) -> FloatArray:
    """Derivative of the profiled deviance in t = log gamma."""
    g = np.exp(t)
    return np.asarray(g * _profile(s, g, method)[1], dtype=float)


def _deviance_varpar(s: _Stats, theta: FloatArray, sigma: FloatArray, method: Method) -> FloatArray:
    """-2 log-likelihood at (theta = tau / sigma, sigma) with beta at its GLS estimate
    (lmerTest's ``devfun_vp``), per data set."""
    gamma = theta * theta
    _, _, _, a_inv, rss = _profile(s, gamma, method)
    s2 = sigma * sigma
    logdet_v = np.log1p(s.n_i * gamma[:, None]).sum(axis=1)
    dev = s.n * (_LOG2PI + np.log(s2)) + logdet_v + rss / s2
    if method == "reml":
        dev = dev - np.linalg.slogdet(a_inv)[1] - s.p * (np.log(s2) + _LOG2PI)
    return np.asarray(dev, dtype=float)


def _hessian(s: _Stats, theta: FloatArray, sigma: FloatArray, method: Method) -> FloatArray:
    """Central-difference Hessian (with one Richardson step) per data set, (D, 2, 2)."""
    x = np.stack([theta, sigma], axis=1)

    def f(v: FloatArray) -> FloatArray:
        return _deviance_varpar(s, v[:, 0], v[:, 1], method)

    def once(h: FloatArray) -> FloatArray:
        out = np.empty((x.shape[0], 2, 2))
        f0 = f(x)
        e = [np.stack([h[:, 0], np.zeros_like(h[:, 0])], 1),
             np.stack([np.zeros_like(h[:, 1]), h[:, 1]], 1)]  # fmt: skip
        for i in range(2):
            out[:, i, i] = (f(x + e[i]) - 2 * f0 + f(x - e[i])) / h[:, i] ** 2
        cross = f(x + e[0] + e[1]) - f(x + e[0] - e[1]) - f(x - e[0] + e[1]) + f(x - e[0] - e[1])
        out[:, 0, 1] = out[:, 1, 0] = cross / (4 * h[:, 0] * h[:, 1])
        return out

    h = 1e-3 * np.maximum(np.abs(x), 1e-2)
    return (4 * once(h / 2) - once(h)) / 3


def _vcov_gradient(s: _Stats, tau2: FloatArray, s2: FloatArray, cw: FloatArray) -> FloatArray:
    """Gradient of w' C w in (theta, sigma) per data set and contrast row: cw = C w of shape
    (D, k, p); returns (D, k, 2)."""
    sigma = np.sqrt(s2)[:, None]
    theta = np.sqrt(tau2 / s2)[:, None]
    s2k = s2[:, None]
    denom = s2[:, None] + s.n_i * tau2[:, None]  # (D, M)
    u = np.einsum("dmi,dki->dkm", s.sx, cw)  # per-subject sx' C w
    # dC = C (X'V^-1 dV V^-1 X) C: d(w'Cw)/d tau2 = sum (sx' C w)^2 / denom^2, and
    # d/d s2 = w'C X'V^-2 X C w
    q_tau = (u**2 / denom[:, None, :] ** 2).sum(axis=2)
    c = (tau2[:, None] / denom)[:, None, :]
    q_s2 = (
        np.einsum("dki,dij,dkj->dk", cw, s.xtx, cw)
        - ((2 * c - s.n_i[:, None, :] * c * c) * u**2).sum(axis=2)
    ) / s2k**2
    g_theta = q_tau * 2 * theta * s2k
    g_sigma = q_tau * 2 * theta * theta * sigma + q_s2 * 2 * sigma
    return np.stack([g_theta, g_sigma], axis=2)


# ---------------------------------------------------------------- design and entry


def _design(
    data: pd.DataFrame, formula: str, subject: str, keep: tuple[str, ...] = ()
) -> tuple[pd.DataFrame, ModelSpec, FloatArray, FloatArray]:
    """The complete rows of ``data`` (formula variables, subject and ``keep`` columns;
    factors ordered as the MMRM orders them), the formula's design spec, X and y."""
    if not isinstance(data, pd.DataFrame):
        raise InputError("data must be a pandas DataFrame")
    try:
        parsed = parse_formula(formula)
        needed = sorted(parsed.required_variables)
    except Exception as exc:
        raise InputError(f"cannot parse the formula {formula!r}: {exc}") from None
    if "~" not in formula:
        raise InputError(f"the formula {formula!r} needs a response: 'y ~ terms'")
    missing = [v for v in [*needed, subject] if v not in data.columns]
    if missing:
        raise InputError(
            f"unknown column(s) {', '.join(map(repr, missing))}; "
            f"the data has: {', '.join(map(str, data.columns))}"
        )
    cols = list(dict.fromkeys([*needed, subject, *keep]))
    frame = data[cols].copy()
    frame = frame[frame.notna().all(axis=1)].reset_index(drop=True)
    for c in needed:  # factors: declared (Categorical) or natural order, as the MMRM
        if is_factor(frame[c]):
            frame[c] = ordered_factor(frame[c])
    try:
        mm = model_matrix(formula, frame, na_action="raise")
    except Exception as exc:
        raise InputError(f"cannot build the design of {formula!r}: {exc}") from None
    if mm.lhs.shape[1] != 1:
        raise InputError(f"the response of {formula!r} must be one numeric column")
    response = [v for v in parsed.lhs.required_variables if v in frame.columns]
    if any(not pd.api.types.is_numeric_dtype(frame[v]) for v in response):
        raise InputError(f"the response of {formula!r} must be numeric")
    y = np.asarray(mm.lhs, dtype=float).ravel()
    if y.size == 0:
        raise InputError(f"no complete rows for {formula!r} (every row misses a value)")
    if np.ptp(y) == 0:
        raise InputError(f"the response of {formula!r} is constant; nothing to model")
    return frame, mm.rhs.model_spec, np.asarray(mm.rhs, dtype=float), y


def fit_many_random_intercept(
    datasets: Sequence[pd.DataFrame],
    formula: str,
    subject: str,
    *,
    method: str = "ml",
    df: str = "satterthwaite",
) -> RandomInterceptBatch:
    """Fit ``formula`` with a random intercept per ``subject`` to every data set (same
    columns in each) by ML (default, as the HUC-MSC paper) or REML; ``df`` is the default
    df method of the batch's inference (Satterthwaite or normal).

    Raises InputError for an empty list, unknown columns, a non-numeric or constant
    response, a data set with fewer than two subjects, too few observations or a singular
    design (named by its index when there are several data sets).
    """
    meth, dfm = check_method(method), check_df(df)
    if len(datasets) == 0:
        raise InputError("no data sets to fit")
    n_sets = len(datasets)
    where = (lambda i: f"data set {i}: ") if n_sets > 1 else (lambda i: "")
    for i, frame in enumerate(datasets):
        if not isinstance(frame, pd.DataFrame):
            raise InputError(f"{where(i)}data must be a pandas DataFrame")
        if subject not in frame.columns:
            raise InputError(
                f"{where(i)}unknown column {subject!r} (the subject); "
                f"the data has: {', '.join(map(str, frame.columns))}"
            )
    sizes = np.array([len(f) for f in datasets])
    allrows = datasets[0] if n_sets == 1 else pd.concat(datasets, ignore_index=True)
    allrows = allrows.assign(**{_KEY: np.repeat(np.arange(n_sets), sizes)})
    frame, spec, x, y = _design(allrows, formula, subject, keep=(_KEY,))
    dataset = frame[_KEY].to_numpy(dtype=np.intp)
    # subjects numbered per (data set, subject) in order of appearance, as factorizing the
    # pairs would, but through one integer key (a MultiIndex of strings is ~20x slower)
    within, _ = pd.factorize(frame[subject], use_na_sentinel=False)
    subj, _ = pd.factorize(dataset.astype(np.int64) * (int(within.max()) + 1) + within)
    stats, n_subjects = _stats(x, y, dataset, subj.astype(np.intp), n_sets)
    n_obs = np.bincount(dataset, minlength=n_sets).astype(np.int64)
    few = np.flatnonzero(n_subjects < 2)
    if few.size:
        i = int(few[0])
        raise InputError(
            f"{where(i)}a random intercept needs at least 2 subjects in {subject!r} with "
            f"complete rows, got {int(n_subjects[i])}"
        )
    eig_min = np.linalg.eigvalsh(stats.xtx)[:, 0]
    scale = np.abs(np.diagonal(stats.xtx, axis1=1, axis2=2)).max(axis=1)
    bad = np.flatnonzero((eig_min <= 1e-10 * scale) | (n_obs <= stats.p + 1))
    if bad.size:
        raise InputError(
            f"{where(int(bad[0]))}singular fixed-effects design or too few observations "
            f"for {stats.p} fixed effects and 2 variances (the formula's columns are linearly "
            "dependent, e.g. a factor level without observations)"
        )
    gamma, converged = _optimize(stats, meth)
    dev, _, beta, a_inv, rss = _profile(stats, gamma, meth)
    s2 = rss / (stats.n if meth == "ml" else stats.n - stats.p)
    loglik = -dev / 2
    npar = stats.p + 2
    return RandomInterceptBatch(
        formula, subject, meth, dfm, [r_name(c) for c in spec.column_names], n_obs,
        n_subjects, sizes - n_obs, beta, s2[:, None, None] * a_inv, gamma * s2, s2, loglik,
        -2 * loglik + 2 * npar, -2 * loglik + npar * np.log(stats.n), converged, gamma == 0.0,
        stats, spec, frame,
    )  # fmt: skip
