"""Monotone maps from a latent standard normal to a bounded variable with a given mean and SD.

A Gaussian copula: the latent scores carry the correlation, each cell (variable x arm x
visit) maps them by one increasing function chosen by the variable's range, so values can
never leave it:

- no bounds: ``a + b z`` (normal);
- a lower bound ``L`` only: ``L + exp(a + b z)`` (shifted log-normal);
- an upper bound only: the mirror image;
- both: ``L + (U - L) expit(a + b z)`` (logit-normal).

:func:`fit_population` picks ``(a, b)`` so the *distribution* has the target mean and SD
(Gauss-Hermite quadrature); :func:`fit_sample` picks them so a given *sample* has them
exactly, and :func:`round_to_printed` then rounds to a measurement step while keeping the
rounded mean and SD equal to printed values.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import expit

from frailtrial.errors import ConvergenceError
from frailtrial.protocol.published import decimals
from frailtrial.simulate.bounds import Bounds
from frailtrial.stats.roots import brent_root

_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(200)
_GH_WEIGHTS = _GH_WEIGHTS / _GH_WEIGHTS.sum()
_B_MAX = 60.0


@dataclass(frozen=True)
class Map:
    """``x = transform(a + b z)`` for one cell; ``family`` follows from the bounds."""

    family: str
    a: float
    b: float
    lower: float
    upper: float

    def __call__(self, z: np.ndarray) -> np.ndarray:
        t = self.a + self.b * z
        if self.family == "linear":
            return t
        if self.family == "log":
            return self.lower + np.exp(np.minimum(t, 700.0))
        if self.family == "neglog":
            return self.upper - np.exp(np.minimum(self.a - self.b * z, 700.0))
        return self.lower + (self.upper - self.lower) * expit(t)


def _family(bounds: Bounds) -> str:
    if bounds.lower is None and bounds.upper is None:
        return "linear"
    if bounds.upper is None:
        return "log"
    if bounds.lower is None:
        return "neglog"
    return "logit"


def _moments(x: np.ndarray, w: np.ndarray, ddof_factor: float) -> tuple[float, float]:
    m = float(np.dot(w, x))
    return m, float(np.sqrt(max(np.dot(w, (x - m) ** 2) * ddof_factor, 0.0)))


def _fit(
    z: np.ndarray, w: np.ndarray, ddof_factor: float, mean: float, sd: float, bounds: Bounds
) -> Map:
    family = _family(bounds)
    lower = bounds.lower if bounds.lower is not None else 0.0
    upper = bounds.upper if bounds.upper is not None else 0.0
    if sd <= 0:
        raise ConvergenceError(f"SD {sd} must be positive")
    if family == "linear":
        mz, sz = _moments(z, w, ddof_factor)
        b = sd / sz
        return Map(family, mean - b * mz, b, lower, upper)
    if family in ("log", "neglog"):
        # mirror an upper bound onto a lower one: x' = -x, z' = -z
        zz, target = (z, mean - lower)
        if family == "neglog":
            zz, target = (-z, upper - mean)
        if target <= 0:
            raise ConvergenceError(f"mean {mean} lies outside the range {bounds}")
        zmax = float(zz.max())

        def cv(b: float) -> float:
            y = np.exp(b * (zz - zmax))
            m, s = _moments(y, w, ddof_factor)
            return s / m

        want = sd / target
        if cv(_B_MAX) < want:
            raise ConvergenceError(f"SD {sd} too large for mean {mean} in {bounds}")
        b = brent_root(lambda v: cv(v) - want, 1e-9, _B_MAX, xtol=1e-12)
        a = float(np.log(target) - np.log(np.dot(w, np.exp(b * zz))))
        return Map(family, a, b, lower, upper)
    width = upper - lower
    p = (mean - lower) / width
    if not 0 < p < 1:
        raise ConvergenceError(f"mean {mean} lies outside the range {bounds}")

    def a_for(b: float) -> float:
        lo, hi = -b * float(z.max()) - 40.0, -b * float(z.min()) + 40.0
        return brent_root(lambda a: float(np.dot(w, expit(a + b * z))) - p, lo, hi, xtol=1e-13)

    def sd_for(b: float) -> float:
        return _moments(expit(a_for(b) + b * z), w, ddof_factor)[1] * width

    if sd_for(_B_MAX) < sd:
        raise ConvergenceError(f"SD {sd} too large for mean {mean} in {bounds}")
    b = brent_root(lambda v: sd_for(v) - sd, 1e-6, _B_MAX, xtol=1e-12)
    return Map(family, a_for(b), b, lower, upper)


@lru_cache(maxsize=4096)
def fit_population(mean: float, sd: float, bounds: Bounds) -> Map:
    """The map under which Z ~ N(0, 1) gives a variable with this mean and SD (cached)."""
    return _fit(_GH_NODES, _GH_WEIGHTS, 1.0, mean, sd, bounds)


def fit_sample(z: np.ndarray, mean: float, sd: float, bounds: Bounds) -> Map:
    """The map under which these latent scores have exactly this mean and SD (n - 1)."""
    n = len(z)
    if n < 2:
        raise ConvergenceError("a sample SD needs at least two values")
    return _fit(np.asarray(z, float), np.full(n, 1.0 / n), n / (n - 1), mean, sd, bounds)


def _step_decimals(step: float) -> int:
    text = f"{step:.10f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def round_values(x: np.ndarray, step: float, bounds: Bounds) -> np.ndarray:
    """Round to the measurement step and keep the result inside the bounds."""
    k = np.round(x / step)
    if bounds.lower is not None:
        k = np.maximum(k, np.ceil(bounds.lower / step) + (1 if bounds.positive else 0))
    if bounds.upper is not None:
        k = np.minimum(k, np.floor(bounds.upper / step))
    return np.round(k * step, _step_decimals(step))


def round_to_printed(
    x: np.ndarray,
    mean: str,
    sd: str,
    step: float,
    bounds: Bounds,
    rng: np.random.Generator,
    max_steps: int = 4000,
) -> np.ndarray:
    """Round ``x`` to ``step`` and nudge values by single steps until the sample mean and SD
    (n - 1) print as ``mean`` and ``sd``; values stay within the bounds.

    Works in integer multiples of the step, so the sums are exact. Greedy: each round takes
    the best single move (+-1 step, changes the mean) or pair move (+1 and -1, keeps the mean,
    changes the SD); when no move improves, a random pair move shakes it loose.
    """
    n = len(x)
    kmin = -(10**12) if bounds.lower is None else int(np.ceil(bounds.lower / step - 1e-9))
    if bounds.positive and bounds.lower is not None and kmin * step <= bounds.lower:
        kmin += 1
    kmax = 10**12 if bounds.upper is None else int(np.floor(bounds.upper / step + 1e-9))
    k = np.clip(np.round(x / step), kmin, kmax).astype(np.int64)
    m_t, s_t = float(mean), float(sd)
    tol_m = 0.5 * 10.0 ** -decimals(mean) * 0.98
    tol_s = 0.5 * 10.0 ** -decimals(sd) * 0.98

    def loss(s: np.ndarray, q: np.ndarray) -> np.ndarray:
        m = s * step / n
        var = np.maximum(q - s.astype(float) ** 2 / n, 0.0) / (n - 1) * step * step
        return ((m - m_t) / tol_m) ** 2 + ((np.sqrt(var) - s_t) / tol_s) ** 2

    def within(s: int, q: int) -> bool:
        m = s * step / n
        sdv = float(np.sqrt(max(q - s * s / n, 0.0) / (n - 1))) * step
        return abs(m - m_t) < tol_m and abs(sdv - s_t) < tol_s

    for _ in range(max_steps):
        s, q = int(k.sum()), int(np.dot(k, k))
        if within(s, q):
            return np.round(k * step, _step_decimals(step))
        here = float(loss(np.array([s]), np.array([q]))[0])
        up, down = k < kmax, k > kmin
        # single moves: +1 on i, -1 on i
        kf = k.astype(float)
        l_up = np.where(up, loss(np.full(n, s + 1), q + 2 * kf + 1), np.inf)
        l_dn = np.where(down, loss(np.full(n, s - 1), q - 2 * kf + 1), np.inf)
        # pair moves: +1 on i, -1 on j (i != j)
        qp = q + 2 * (kf[:, None] - kf[None, :]) + 2
        l_pair = loss(np.full((n, n), s), qp)
        l_pair[~up, :] = np.inf
        l_pair[:, ~down] = np.inf
        np.fill_diagonal(l_pair, np.inf)
        best = min(float(l_up.min()), float(l_dn.min()), float(l_pair.min()))
        if best >= here:
            i, j = rng.choice(n, size=2, replace=False)
            if up[i] and down[j]:
                k[i] += 1
                k[j] -= 1
            continue
        if best == float(l_up.min()):
            k[int(l_up.argmin())] += 1
        elif best == float(l_dn.min()):
            k[int(l_dn.argmin())] -= 1
        else:
            i, j = np.unravel_index(int(l_pair.argmin()), l_pair.shape)
            k[i] += 1
            k[j] -= 1
    raise ConvergenceError(
        f"could not round {n} values to step {step} with mean {mean} and SD {sd}"
    )


def match_printed(
    z: np.ndarray,
    mean: str,
    sd: str,
    step: float,
    bounds: Bounds,
    rng: np.random.Generator,
) -> np.ndarray:
    """Values from latent scores whose mean and SD print exactly as ``mean`` and ``sd``.

    Tries the measurement step first; if the printed pair cannot be reached at that step
    (e.g. a typo in the publication), finer steps down to 0.001.
    """
    mapped = fit_sample(z, float(mean), float(sd), bounds)(z)
    current = step
    while True:
        try:
            return round_to_printed(mapped, mean, sd, current, bounds, rng)
        except ConvergenceError:
            if current <= 0.001:
                raise
            current = current / 10
