"""Linear mixed model with a random intercept per participant (the HUC-MSC paper's "mixed
effect maximum likelihood regression"), matching R ``lme4::lmer`` + ``lmerTest``.

    from frailtrial.stats.lmm import fit_random_intercept
    fit = fit_random_intercept(df, "value ~ arm * visit", subject="participant_id")  # ML
    fit.coefficients            # term, estimate, se, df (Satterthwaite), t, p, ci_low, ci_high
    fit.intercept_var, fit.residual_var, fit.loglik, fit.aic, fit.bic
    fit.group_time_test("arm", "visit")      # Wald chi-square, Satterthwaite F, ML LR test
    fit.treatment_contrasts("arm", "visit")  # each arm vs the reference arm at each visit
    fit.lsmeans("arm", "visit")              # emmeans-style marginal means
    fit.level_contrast("arm", {"high": 0.5, "low": 0.5, "placebo": -1}, "visit")

Model: y_ij = x_ij' beta + u_i + e_ij, u_i ~ N(0, tau2), e_ij ~ N(0, sigma2), so each
participant's covariance is V_i = sigma2 I + tau2 J. Fixed effects come from a formulaic
formula with treatment coding (reference = first level: the category order of a pandas
Categorical, else natural order -- week2 < week4 < week12 -- as the MMRM). The likelihood
is profiled in closed form:
with gamma = tau2 / sigma2 only per-participant sums of X and y enter, so one evaluation
costs O(n_subjects p^2); a coarse grid over log gamma brackets the optimum and Brent's root
finder on the analytic derivative locates it to machine precision (the boundary gamma = 0,
lme4's "singular fit", is checked explicitly). For many data sets at once (simulated
trials) see :mod:`frailtrial.stats.lmm_many`. ML (default, as the paper) or REML; the
log-likelihoods, AIC (p + 2 parameters) and BIC (log of the number of observations) are
lme4's.

Inference: vcov(beta) = (X'V^-1 X)^-1 at the estimates; degrees of freedom by Satterthwaite
as lmerTest (gradient of the contrast variance in (theta, sigma), covariance of (theta,
sigma) from the Hessian of the beta-profiled deviance), or ``df="normal"`` for z tests.
Rows with a missing value in a formula variable or the subject are dropped and counted
in ``n_dropped``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from itertools import product
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from formulaic import Formula, model_matrix
from formulaic.model_spec import ModelSpec
from scipy import linalg, optimize, special
from scipy import stats as sps

from frailtrial.errors import ConvergenceError, InputError
from frailtrial.stats.levels import is_factor, ordered_factor

FloatArray = npt.NDArray[np.float64]
Method = Literal["ml", "reml"]
DfMethod = Literal["satterthwaite", "normal"]
_LOG2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class Coefficient:
    """One fixed effect; ``df`` is None for z tests (``df="normal"``)."""

    term: str
    estimate: float
    se: float
    df: float | None
    t: float
    p: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Estimate:
    """A linear combination of the fixed effects: a marginal mean or a contrast.

    ``levels`` names the factor levels it refers to; for contrasts ``reference`` names the
    level subtracted (None for marginal means).
    """

    levels: dict[str, str]
    reference: str | None
    estimate: float
    se: float
    df: float | None
    t: float
    p: float
    ci_low: float
    ci_high: float


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
class _Data:
    """Per-subject sufficient statistics of the design and response."""

    xtx: FloatArray
    xty: FloatArray
    yty: float
    sx: FloatArray  # (m, p) per-subject column sums of X
    sy: FloatArray  # (m,) per-subject sums of y
    n_i: FloatArray  # (m,) observations per subject
    n: int
    p: int


@dataclass(frozen=True)
class _Profile:
    """Quantities of the profiled likelihood at one gamma = tau2 / sigma2."""

    dev: float
    ddev: float
    beta: FloatArray
    a_inv: FloatArray
    rss: float


@dataclass(frozen=True)
class RandomInterceptFit:
    """A fitted random-intercept model; see the module docstring."""

    formula: str
    subject: str
    method: Method
    df_method: DfMethod
    n_obs: int
    n_subjects: int
    n_dropped: int
    coefficients: tuple[Coefficient, ...]
    intercept_var: float
    residual_var: float
    loglik: float
    aic: float
    bic: float
    converged: bool
    singular: bool
    beta: FloatArray = field(repr=False)
    vcov: FloatArray = field(repr=False)
    _data: _Data = field(repr=False)
    _spec: ModelSpec = field(repr=False)
    _frame: pd.DataFrame = field(repr=False)
    _varpar_cov: FloatArray | None = field(repr=False)

    @property
    def terms(self) -> list[str]:
        """Column names of the fixed-effects design (formulaic's names)."""
        return [c.term for c in self.coefficients]

    @property
    def icc(self) -> float:
        """Intraclass correlation tau2 / (tau2 + sigma2)."""
        return self.intercept_var / (self.intercept_var + self.residual_var)

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready summary (no arrays): what a results.json needs."""
        return {
            "formula": self.formula,
            "subject": self.subject,
            "method": self.method,
            "df_method": self.df_method,
            "n_obs": self.n_obs,
            "n_subjects": self.n_subjects,
            "n_dropped": self.n_dropped,
            "loglik": self.loglik,
            "aic": self.aic,
            "bic": self.bic,
            "intercept_var": self.intercept_var,
            "residual_var": self.residual_var,
            "icc": self.icc,
            "converged": self.converged,
            "singular": self.singular,
            "coefficients": [asdict(c) for c in self.coefficients],
        }

    # ------------------------------------------------------------ linear combinations

    def estimate(
        self,
        weights: FloatArray,
        conf_level: float = 0.95,
        levels: dict[str, str] | None = None,
        reference: str | None = None,
    ) -> Estimate:
        """Estimate of weights' beta with SE, df, t, p and CI."""
        w = np.asarray(weights, dtype=float)
        if w.shape != self.beta.shape:
            raise InputError(f"weights must have length {self.beta.size}, got shape {w.shape}")
        est = float(w @ self.beta)
        var = float(w @ self.vcov @ w)
        se = math.sqrt(var)
        df = self._df(w, var)
        t, p, lo, hi = _inference(est, se, df, conf_level)
        return Estimate(levels or {}, reference, est, se, df, t, p, lo, hi)

    def _df(self, w: FloatArray, var: float) -> float | None:
        if self.df_method == "normal":
            return None
        grad = _vcov_gradient(self._data, self._varpar(), self.vcov, w)
        return _satterthwaite(var, grad, self._varpar_cov)

    def _varpar(self) -> tuple[float, float]:
        sigma = math.sqrt(self.residual_var)
        return math.sqrt(self.intercept_var) / sigma, sigma

    def lsmeans(self, *factors: str, conf_level: float = 0.95) -> list[Estimate]:
        """Marginal means over the grid of ``factors`` (emmeans' reference grid: other
        factors weighted equally, numeric covariates at their mean)."""
        grid, rows = self._grid(factors)
        return [
            self.estimate(row, conf_level, dict(zip(factors, key, strict=True)))
            for key, row in zip(grid, rows, strict=True)
        ]

    def treatment_contrasts(
        self,
        group: str,
        time: str | None = None,
        conf_level: float = 0.95,
        reference: str | None = None,
    ) -> list[Estimate]:
        """Each level of ``group`` minus ``reference`` (default: the first level), at each
        level of ``time`` (or averaged over the other factors when ``time`` is None);
        emmeans' ``trt.vs.ctrl``."""
        levels = self._levels(group)
        ref = levels[0] if reference is None else reference
        if ref not in levels:
            raise InputError(f"{group!r} has no level {ref!r}; levels: {', '.join(levels)}")
        others = [lv for lv in levels if lv != ref]
        per_level = {
            g: self.level_contrast(group, {g: 1.0, ref: -1.0}, time, conf_level) for g in others
        }
        out = []
        for i in range(len(per_level[others[0]]) if others else 0):  # time outer, as emmeans
            for g in others:
                est = per_level[g][i]
                out.append(replace(est, levels={group: g, **est.levels}, reference=ref))
        return out

    def level_contrast(
        self,
        group: str,
        weights: dict[str, float],
        time: str | None = None,
        conf_level: float = 0.95,
    ) -> list[Estimate]:
        """sum_l weights[l] * marginal mean(group = l), at each level of ``time`` (or once,
        averaged, when ``time`` is None): e.g. a dose-response trend {"placebo": -1,
        "low": 0, "high": 1}. Levels not named get weight 0."""
        levels = self._levels(group)
        unknown = [k for k in weights if k not in levels]
        if unknown:
            raise InputError(
                f"{group!r} has no level(s) {', '.join(map(repr, unknown))}; "
                f"levels: {', '.join(levels)}"
            )
        factors = (group,) if time is None else (group, time)
        grid, rows = self._grid(factors)
        table = dict(zip(grid, rows, strict=True))
        times: list[str | None] = [None] if time is None else list(self._levels(time))
        out = []
        for t in times:
            w = sum(
                (wt * table[(lv,) if t is None else (lv, t)] for lv, wt in weights.items()),
                start=np.zeros(self.beta.size),
            )
            lv_map = {} if t is None or time is None else {time: t}
            out.append(self.estimate(w, conf_level, lv_map))
        return out

    def group_time_test(self, group: str, time: str) -> InteractionTest:
        """Test of the ``group:time`` interaction (in either order in the formula)."""
        cols = self._term_columns({group, time})
        b = self.beta[cols]
        c = self.vcov[np.ix_(cols, cols)]
        q = len(cols)
        wald = float(b @ np.linalg.solve(c, b))
        f = wald / q
        ddf = self._f_ddf(cols, c) if self.df_method == "satterthwaite" else math.inf
        full = self if self.method == "ml" else _refit_ml(self)
        keep = np.setdiff1d(np.arange(self.beta.size), cols)
        reduced = _fit_arrays(_subset(full._data, keep), "ml")
        lr = max(0.0, 2 * (full.loglik - reduced[0]))
        return InteractionTest(
            f"{group}:{time}", q, wald, float(sps.chi2.sf(wald, q)), f, ddf,
            float(sps.chi2.sf(wald, q) if math.isinf(ddf) else sps.f.sf(f, q, ddf)), lr,
            float(sps.chi2.sf(lr, q)),
        )  # fmt: skip

    def _f_ddf(self, cols: list[int], c: FloatArray) -> float:
        """lmerTest's denominator df: Satterthwaite df of the eigen-directions of L C L'."""
        evals, evecs = np.linalg.eigh(c)
        nu = []
        for k in range(len(cols)):
            w = np.zeros(self.beta.size)
            w[cols] = evecs[:, k]
            nu.append(self._df(w, float(evals[k])) or math.inf)
        arr = np.asarray(nu)
        if arr.size == 1 or np.all(np.abs(arr - arr[0]) < 1e-8):
            return float(arr[0])
        if np.any(arr <= 2):
            return 2.0
        e = float(np.sum(arr / (arr - 2)))
        return 2 * e / (e - arr.size)

    # ------------------------------------------------------------ reference grid

    def _levels(self, factor: str) -> list[str]:
        state = self._spec.encoder_state.get(factor)
        if state is None or "categories" not in state[1]:
            raise InputError(
                f"{factor!r} is not a categorical variable of the formula {self.formula!r}"
            )
        return [str(v) for v in state[1]["categories"]]

    def _term_columns(self, factors: set[str]) -> list[int]:
        for term, sl in self._spec.term_slices.items():
            names = {str(f) for f in term.factors}
            if names == factors:
                return list(range(sl.start, sl.stop))
        raise InputError(
            f"the formula {self.formula!r} has no term {':'.join(sorted(factors))}; "
            f"terms: {', '.join(str(t) for t in self._spec.terms)}"
        )

    def _grid(self, factors: tuple[str, ...]) -> tuple[list[tuple[str, ...]], list[FloatArray]]:
        cats = {
            k: [str(v) for v in s[1]["categories"]]
            for k, s in self._spec.encoder_state.items()
            if "categories" in s[1]
        }
        for f in factors:
            if f not in cats:
                raise InputError(f"{f!r} is not a categorical variable of {self.formula!r}")
        others = [k for k in cats if k not in factors]
        nums = [k for k, s in self._spec.encoder_state.items() if "categories" not in s[1]]
        keys = list(product(*(cats[f] for f in factors)))
        combos = list(product(*(cats[o] for o in others)))
        rows = []
        for key in keys:
            grid = pd.DataFrame(
                [dict(zip(factors, key, strict=True)) | dict(zip(others, c, strict=True))
                 for c in combos]
            )  # fmt: skip
            for f in [*factors, *others]:
                grid[f] = pd.Categorical(grid[f], categories=cats[f])
            for v in nums:
                grid[v] = float(self._frame[v].mean())
            mm = np.asarray(self._spec.get_model_matrix(grid), dtype=float)
            rows.append(mm.mean(axis=0))
        return [tuple(k) for k in keys], rows


# ---------------------------------------------------------------- likelihood


def _sufficient(x: FloatArray, y: FloatArray, codes: npt.NDArray[np.intp], m: int) -> _Data:
    sx = np.zeros((m, x.shape[1]))
    np.add.at(sx, codes, x)
    sy = np.bincount(codes, weights=y, minlength=m).astype(float)
    n_i = np.bincount(codes, minlength=m).astype(float)
    return _Data(x.T @ x, x.T @ y, float(y @ y), sx, sy, n_i, int(y.size), int(x.shape[1]))


def _subset(d: _Data, cols: npt.NDArray[np.intp]) -> _Data:
    return _Data(
        d.xtx[np.ix_(cols, cols)], d.xty[cols], d.yty, d.sx[:, cols], d.sy, d.n_i, d.n,
        int(cols.size),
    )  # fmt: skip


def _profile(d: _Data, gamma: float, method: Method) -> _Profile:
    """-2 log-likelihood with beta and sigma2 profiled out, at gamma = tau2 / sigma2, and its
    derivative with respect to gamma."""
    c = gamma / (1 + d.n_i * gamma)
    a = d.xtx - (d.sx * c[:, None]).T @ d.sx
    b = d.xty - d.sx.T @ (c * d.sy)
    r = d.yty - float(c @ d.sy**2)
    try:
        chol = linalg.cho_factor(a, lower=True)
    except linalg.LinAlgError:
        raise InputError(
            "singular fixed-effects design: the formula's columns are linearly dependent"
        ) from None
    beta = linalg.cho_solve(chol, b)
    rss = max(r - float(b @ beta), 1e-300)
    logdet_v = float(np.log1p(d.n_i * gamma).sum())
    logdet_a = 2 * float(np.log(np.diag(chol[0])).sum())
    a_inv = linalg.cho_solve(chol, np.eye(d.p))
    # derivatives: d rss / d gamma = -sum c_i' (sy_i - sx_i beta)^2 (envelope theorem),
    # c_i' = 1 / (1 + n_i gamma)^2; d log|A| = tr(A^-1 dA) = -sum c_i' sx_i' A^-1 sx_i
    cp = 1 / (1 + d.n_i * gamma) ** 2
    drss = -float(cp @ (d.sy - d.sx @ beta) ** 2)
    dlogdet_v = float((d.n_i / (1 + d.n_i * gamma)).sum())
    if method == "ml":
        dev = d.n * (_LOG2PI + math.log(rss / d.n) + 1) + logdet_v
        ddev = d.n * drss / rss + dlogdet_v
    else:
        k = d.n - d.p
        dev = k * (_LOG2PI + math.log(rss / k) + 1) + logdet_v + logdet_a
        dlogdet_a = -float(cp @ np.einsum("ij,jk,ik->i", d.sx, a_inv, d.sx))
        ddev = k * drss / rss + dlogdet_v + dlogdet_a
    return _Profile(dev, ddev, beta, a_inv, rss)


_GRID = np.linspace(-15.0, 10.0, 11)  # log(tau2 / sigma2) start points


def _optimize(d: _Data, method: Method) -> tuple[float, _Profile, bool]:
    """Optimal gamma >= 0 of the profiled deviance, its profile, and convergence.

    A coarse grid in log gamma brackets the minimum; Brent's root finder on the analytic
    derivative then locates it to machine precision. gamma = 0 is chosen when the deviance
    increases from there (lme4's singular fit).
    """
    at_zero = _profile(d, 0.0, method)
    devs = [_profile(d, math.exp(t), method).dev for t in _GRID]
    k = int(np.argmin(devs))
    if at_zero.ddev >= 0 and at_zero.dev <= devs[k]:
        return 0.0, at_zero, True
    if k == _GRID.size - 1:
        raise ConvergenceError(
            "random-intercept model: the between-subject variance is unbounded relative to "
            f"the residual variance (searched log(tau2/sigma2) up to {_GRID[-1]:g})"
        )

    def slope(t: float) -> float:
        g = math.exp(t)
        return g * _profile(d, g, method).ddev

    lo, hi = float(_GRID[max(k - 1, 0)]), float(_GRID[k + 1])
    if slope(lo) >= 0:  # minimum below the grid: between gamma = 0 and exp(-15)
        return 0.0, at_zero, True
    while slope(hi) <= 0:
        if hi >= _GRID[-1]:
            raise ConvergenceError(
                "random-intercept model: no minimum of the profiled deviance found for "
                f"log(tau2/sigma2) in [{_GRID[0]:g}, {_GRID[-1]:g}] (grid, then Brent)"
            )
        hi += float(_GRID[1] - _GRID[0])
    t_opt, info = optimize.brentq(slope, lo, hi, xtol=1e-13, rtol=1e-15, full_output=True)
    gamma = math.exp(float(t_opt))
    return gamma, _profile(d, gamma, method), bool(info.converged)


def _fit_arrays(d: _Data, method: Method) -> tuple[float, float, float, _Profile, bool]:
    """loglik, tau2, sigma2, profile at the optimum, converged."""
    gamma, prof, ok = _optimize(d, method)
    s2 = prof.rss / (d.n if method == "ml" else d.n - d.p)
    return -prof.dev / 2, gamma * s2, s2, prof, ok


def _deviance_varpar(d: _Data, theta: float, sigma: float, method: Method) -> float:
    """-2 log-likelihood at (theta = tau / sigma, sigma) with beta at its GLS estimate
    (lmerTest's ``devfun_vp``)."""
    gamma = theta * theta
    prof = _profile(d, gamma, method)  # beta, its RSS and (X'V^-1 X)^-1 (times sigma2)
    s2 = sigma * sigma
    dev = d.n * (_LOG2PI + math.log(s2)) + float(np.log1p(d.n_i * gamma).sum()) + prof.rss / s2
    if method == "reml":
        dev -= float(np.linalg.slogdet(prof.a_inv)[1]) + d.p * (math.log(s2) + _LOG2PI)
    return dev


def _hessian(fn: Callable[[float, float], float], x: FloatArray) -> FloatArray:
    """Central-difference Hessian of fn(x0, x1) with one Richardson extrapolation step."""

    def at(v: FloatArray) -> float:
        return fn(float(v[0]), float(v[1]))

    def once(h: FloatArray) -> FloatArray:
        out = np.empty((2, 2))
        f0 = at(x)
        e = np.diag(h)
        for i in range(2):
            out[i, i] = (at(x + e[i]) - 2 * f0 + at(x - e[i])) / h[i] ** 2
        out[0, 1] = out[1, 0] = (
            at(x + e[0] + e[1]) - at(x + e[0] - e[1]) - at(x - e[0] + e[1]) + at(x - e[0] - e[1])
        ) / (4 * h[0] * h[1])
        return out

    h = 1e-3 * np.maximum(np.abs(x), 1e-2)
    return (4 * once(h / 2) - once(h)) / 3


def _vcov_gradient(
    d: _Data, varpar: tuple[float, float], vcov: FloatArray, w: FloatArray
) -> FloatArray:
    """Gradient of w' (X'V^-1 X)^-1 w with respect to (theta, sigma)."""
    theta, sigma = varpar
    s2 = sigma * sigma
    tau2 = theta * theta * s2
    denom = s2 + d.n_i * tau2
    cw = vcov @ w
    u = d.sx @ cw  # per-subject sx' C w
    # d(X'V^-1X)/d tau2 = -sum sx sx' / denom^2 ; d/d s2 = -X'V^-2 X
    q_tau = float((u**2 / denom**2).sum())
    c = tau2 / denom
    q_s2 = (float(cw @ d.xtx @ cw) - float(((2 * c - d.n_i * c * c) * u**2).sum())) / s2**2
    # dC = C (X'V^-1 dV V^-1 X) C, so d(w'Cw)/d tau2 = q_tau, d/d s2 = q_s2
    dtau2 = np.array([2 * theta * s2, 2 * theta * theta * sigma])
    ds2 = np.array([0.0, 2 * sigma])
    return q_tau * dtau2 + q_s2 * ds2


def _satterthwaite(var: float, grad: FloatArray, varpar_cov: FloatArray | None) -> float | None:
    if varpar_cov is None:
        return None
    denom = float(grad @ varpar_cov @ grad)
    return 2 * var * var / denom if denom > 0 else math.inf


def _inference(
    est: float, se: float, df: float | None, conf_level: float
) -> tuple[float, float, float, float]:
    if not 0 < conf_level < 1:
        raise InputError(f"conf_level must lie strictly between 0 and 1, got {conf_level}")
    t = est / se if se > 0 else math.nan
    if df is None or math.isinf(df):
        p = float(2 * special.ndtr(-abs(t)))
        q = float(special.ndtri(0.5 + conf_level / 2))
    else:
        p = float(2 * special.stdtr(df, -abs(t)))
        q = float(special.stdtrit(df, 0.5 + conf_level / 2))
    return t, p, est - q * se, est + q * se


# ---------------------------------------------------------------- public entry


def fit_random_intercept(
    data: pd.DataFrame,
    formula: str,
    subject: str,
    *,
    method: Method = "ml",
    df: DfMethod = "satterthwaite",
    conf_level: float = 0.95,
) -> RandomInterceptFit:
    """Fit ``formula`` with a random intercept per ``subject`` by ML or REML.

    Raises InputError for an unknown column, a non-numeric response, fewer than two
    subjects, too few observations or a singular design.
    """
    if method not in ("ml", "reml"):
        raise InputError(f"method must be 'ml' or 'reml', got {method!r}")
    if df not in ("satterthwaite", "normal"):
        raise InputError(f"df must be 'satterthwaite' or 'normal', got {df!r}")
    frame, n_dropped, spec, x, y, codes, m = _design(data, formula, subject)
    d = _sufficient(x, y, codes, m)
    if d.n <= d.p + 1:
        raise InputError(f"{d.n} observations cannot estimate {d.p} fixed effects and 2 variances")
    loglik, tau2, s2, prof, ok = _fit_arrays(d, method)
    vcov = s2 * prof.a_inv
    se = np.sqrt(np.diag(vcov))
    varpar = (math.sqrt(tau2 / s2), math.sqrt(s2))
    varpar_cov: FloatArray | None = None
    if df == "satterthwaite":
        hess = _hessian(
            lambda th, sg: _deviance_varpar(d, th, sg, method), np.asarray(varpar, dtype=float)
        )
        try:
            varpar_cov = np.asarray(2 * np.linalg.inv(hess), dtype=np.float64)
        except np.linalg.LinAlgError:
            raise ConvergenceError(
                "Satterthwaite df: the Hessian of the deviance is singular; use df='normal'"
            ) from None
    coefs = []
    names = list(spec.column_names)
    for k, name in enumerate(names):
        w = np.zeros(d.p)
        w[k] = 1.0
        dfk = (
            _satterthwaite(float(vcov[k, k]), _vcov_gradient(d, varpar, vcov, w), varpar_cov)
            if df == "satterthwaite"
            else None
        )
        t, p, lo, hi = _inference(float(prof.beta[k]), float(se[k]), dfk, conf_level)
        coefs.append(Coefficient(name, float(prof.beta[k]), float(se[k]), dfk, t, p, lo, hi))
    npar = d.p + 2
    return RandomInterceptFit(
        formula, subject, method, df, d.n, m, n_dropped, tuple(coefs), tau2, s2, loglik,
        -2 * loglik + 2 * npar, -2 * loglik + npar * math.log(d.n), ok, tau2 == 0.0,
        prof.beta, vcov, d, spec, frame, varpar_cov,
    )  # fmt: skip


def _refit_ml(fit: RandomInterceptFit) -> RandomInterceptFit:
    if fit.method == "ml":
        return fit
    return fit_random_intercept(fit._frame, fit.formula, fit.subject, method="ml", df="normal")


def _design(
    data: pd.DataFrame, formula: str, subject: str, keep: tuple[str, ...] = ()
) -> tuple[pd.DataFrame, int, ModelSpec, FloatArray, FloatArray, npt.NDArray[np.intp], int]:
    if not isinstance(data, pd.DataFrame):
        raise InputError("data must be a pandas DataFrame")
    try:
        parsed = Formula(formula)
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
    complete = frame.notna().all(axis=1)
    n_dropped = int((~complete).sum())
    frame = frame[complete].reset_index(drop=True)
    for c in needed:  # factors: declared (Categorical) or natural order, as the MMRM
        if is_factor(frame[c]):
            frame[c] = ordered_factor(frame[c])
    try:
        mm = model_matrix(formula, frame, na_action="raise")
    except Exception as exc:
        raise InputError(f"cannot build the design of {formula!r}: {exc}") from None
    lhs = mm.lhs
    if lhs.shape[1] != 1:
        raise InputError(f"the response of {formula!r} must be one numeric column")
    response = [v for v in Formula(formula).lhs.required_variables if v in frame.columns]
    if any(not pd.api.types.is_numeric_dtype(frame[v]) for v in response):
        raise InputError(f"the response of {formula!r} must be numeric")
    y = np.asarray(lhs, dtype=float).ravel()
    if np.ptp(y) == 0:
        raise InputError(f"the response of {formula!r} is constant; nothing to model")
    x = np.asarray(mm.rhs, dtype=float)
    codes, uniques = pd.factorize(frame[subject])
    m = len(uniques)
    if m < 2:
        raise InputError(f"a random intercept needs at least 2 subjects in {subject!r}, got {m}")
    return frame, n_dropped, mm.rhs.model_spec, x, y, codes.astype(np.intp), m
