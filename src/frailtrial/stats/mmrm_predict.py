"""Predictions and residuals of a fitted MMRM, as R mmrm's ``predict`` and ``residuals``.

- :func:`predict`: the marginal mean ``x' beta`` of each row (with its standard error
  ``sqrt(x' Phi x)``) and, conditional on the observed outcomes of the same subject in the
  data, ``mu_m + Sigma_mo Sigma_oo^-1 (y_o - mu_o)`` for a row without an outcome (an
  observed row predicts itself), with the conditional standard deviation
  ``sqrt(Sigma_mm - Sigma_mo Sigma_oo^-1 Sigma_om)`` (beta taken as known).
- :func:`residuals`: marginal residuals ``e = y - x' beta``, raw (R's ``response``),
  ``pearson`` (``e / sqrt(Sigma_jj)``) and ``normalized`` (``L^-1 e`` with ``L`` the lower
  Cholesky factor of the subject's observed ``Sigma_oo``, in visit order, as nlme); and
  conditional residuals ``y_j - E[y_j | the subject's other observed visits]``, raw and
  standardised by the conditional standard deviation (``(W e)_j / W_jj`` and
  ``(W e)_j / sqrt(W_jj)`` with ``W = Sigma_oo^-1``).

Subjects are processed per missingness pattern (one factorisation per pattern).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from frailtrial.errors import InputError
from frailtrial.figure_files import check_plot_path

if TYPE_CHECKING:
    from frailtrial.stats.mmrm import MmrmFit

Array = NDArray[Any]


def _layout(fit: MmrmFit, data: pd.DataFrame) -> dict[str, Any]:
    """Rows of ``data`` with complete predictors, their design, visit index, subject and
    outcome (the conditional mean needs it: a column, NaN where unknown)."""
    frame = fit.frame
    for col in (frame.subject, frame.visit):
        if col not in data.columns:
            raise InputError(f"data: no column {col!r}")
    if frame.outcome not in data.columns:
        raise InputError(
            f"data: no outcome column {frame.outcome!r} (give it, NaN where unknown; a "
            "transformed outcome is not supported here)"
        )
    used = [c for c in (*frame.factors, *frame.numerics) if c != frame.outcome]
    missing = [c for c in used if c not in data.columns]
    if missing:
        raise InputError(f"data: no column {missing[0]!r} of the model")
    ok = data[[*used, frame.subject, frame.visit]].notna().all(axis=1).to_numpy()
    rows = data.loc[ok]
    vindex = {v: i for i, v in enumerate(frame.visits)}
    vis = rows[frame.visit].map(vindex)
    if vis.isna().any():
        bad = rows[frame.visit][vis.isna()].iloc[0]
        raise InputError(
            f"data: visit {bad!r} is not one of the model's "
            f"({', '.join(str(v) for v in frame.visits)})"
        )
    try:
        x = np.asarray(frame.spec.get_model_matrix(rows, na_action="raise"), dtype=float)
    except Exception as exc:
        raise InputError(f"data: cannot build the model's design ({exc})") from exc
    subj, _ = pd.factorize(rows[frame.subject])
    vcode = vis.to_numpy(dtype=np.int64)
    t = len(frame.visits)
    cell = subj * t + vcode
    if np.bincount(cell).max(initial=0) > 1:
        raise InputError("data: a subject has more than one row at a visit")
    y = pd.to_numeric(rows[frame.outcome], errors="coerce").to_numpy(dtype=float)
    n = int(subj.max()) + 1 if subj.size else 0
    return {"ok": ok, "x": x, "cell": cell, "n": n, "t": t, "y": y}


def _padded(values: Array, cell: Array, n: int, t: int) -> Array:
    out = np.zeros(n * t)
    out[cell] = values
    return out.reshape(n, t)


def _by_pattern(mask: NDArray[np.bool_]) -> list[tuple[NDArray[np.bool_], NDArray[np.int64]]]:
    """(pattern, subjects) for each distinct row of ``mask``."""
    pats, inv = np.unique(mask, axis=0, return_inverse=True)
    return [(pats[k], np.flatnonzero(inv.ravel() == k)) for k in range(len(pats))]


def predict(fit: MmrmFit, data: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per row of ``data`` (default: the fitted data): subject, visit, ``fitted``
    (x' beta), ``se_fit``, ``predicted`` (conditional on the subject's observed outcomes)
    and ``conditional_sd``; NaN where a predictor is missing."""
    data = _data(fit, data)
    lay = _layout(fit, data)
    x, cell, n, t = lay["x"], lay["cell"], lay["n"], lay["t"]
    mu = x @ fit.beta
    se = np.sqrt(np.maximum(np.einsum("ip,pq,iq->i", x, fit.vcov, x), 0.0))
    observed = ~np.isnan(lay["y"])
    mu_pad = _padded(mu, cell, n, t)
    y_pad = _padded(np.where(observed, lay["y"], 0.0), cell, n, t)
    obs_pad = _padded(observed.astype(float), cell, n, t).astype(bool)
    pred = mu_pad.copy()
    var = np.broadcast_to(np.diag(fit.sigma), (n, t)).copy()
    sigma = fit.sigma
    for pat, subs in _by_pattern(obs_pad):
        if not pat.any():
            continue
        s_oo_inv = np.linalg.inv(sigma[np.ix_(pat, pat)])
        gain = sigma[np.ix_(~pat, pat)] @ s_oo_inv  # (m, o)
        dev = (y_pad[subs] - mu_pad[subs])[:, pat]  # (s, o)
        pred[np.ix_(subs, ~pat)] += dev @ gain.T
        pred[np.ix_(subs, pat)] = y_pad[np.ix_(subs, pat)]
        cvar = np.diag(sigma)[~pat] - np.einsum("mo,mo->m", gain, sigma[np.ix_(~pat, pat)])
        var[np.ix_(subs, ~pat)] = cvar
        var[np.ix_(subs, pat)] = 0.0
    out = _frame(fit, data)
    out.loc[lay["ok"], "fitted"] = mu
    out.loc[lay["ok"], "se_fit"] = se
    out.loc[lay["ok"], "predicted"] = pred.reshape(-1)[cell]
    out.loc[lay["ok"], "conditional_sd"] = np.sqrt(np.maximum(var.reshape(-1)[cell], 0.0))
    return out


def residuals(fit: MmrmFit, data: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per row of ``data`` (default: the fitted data): subject, visit, ``fitted``,
    marginal ``response``, ``pearson``, ``normalized`` and ``conditional``,
    ``conditional_standardized`` residuals; NaN where the outcome or a predictor is
    missing."""
    data = _data(fit, data)
    lay = _layout(fit, data)
    x, cell, n, t, y = lay["x"], lay["cell"], lay["n"], lay["t"], lay["y"]
    mu = x @ fit.beta
    observed = ~np.isnan(y)
    resid = np.where(observed, y - mu, 0.0)
    e_pad = np.zeros(n * t)
    e_pad[cell[observed]] = resid[observed]
    e_pad = e_pad.reshape(n, t)
    obs_pad = np.zeros(n * t, dtype=bool)
    obs_pad[cell[observed]] = True
    obs_pad = obs_pad.reshape(n, t)
    norm = np.zeros((n, t))
    cond = np.zeros((n, t))
    cstd = np.zeros((n, t))
    for pat, subs in _by_pattern(obs_pad):
        if not pat.any():
            continue
        s_oo = fit.sigma[np.ix_(pat, pat)]
        low = np.linalg.cholesky(s_oo)
        e = e_pad[np.ix_(subs, pat)]  # (s, o)
        norm[np.ix_(subs, pat)] = np.linalg.solve(low, e.T).T
        w = np.linalg.inv(s_oo)
        we = e @ w  # (W e)' per subject
        cond[np.ix_(subs, pat)] = we / np.diag(w)
        cstd[np.ix_(subs, pat)] = we / np.sqrt(np.diag(w))
    out = _frame(fit, data)
    ok = lay["ok"]
    vcode = cell % t
    take = np.where(observed, 1.0, np.nan)
    out.loc[ok, "fitted"] = mu
    out.loc[ok, "response"] = resid * take
    out.loc[ok, "pearson"] = resid / np.sqrt(np.diag(fit.sigma)[vcode]) * take
    out.loc[ok, "normalized"] = norm.reshape(-1)[cell] * take
    out.loc[ok, "conditional"] = cond.reshape(-1)[cell] * take
    out.loc[ok, "conditional_standardized"] = cstd.reshape(-1)[cell] * take
    return out


def _data(fit: MmrmFit, data: pd.DataFrame | None) -> pd.DataFrame:
    if data is not None:
        return data
    if fit.data is None:
        raise InputError("no data: pass the data (the fit was not made by mmrm())")
    return fit.data


def _frame(fit: MmrmFit, data: pd.DataFrame) -> pd.DataFrame:
    """Subject and visit of every row of ``data``, positionally indexed."""
    return data[[fit.frame.subject, fit.frame.visit]].reset_index(drop=True)


def diagnostics_plot(fit: MmrmFit, path: str, data: pd.DataFrame | None = None) -> str:
    """A 2 x 2 figure (PNG, SVG or PDF by the extension): normalized residuals against
    fitted values, their normal Q-Q plot, Pearson residuals by visit, observed against
    fitted."""
    out = check_plot_path(path)
    res = residuals(fit, data).dropna(subset=["response"])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats as sps

    fig, axes = plt.subplots(2, 2, figsize=(9, 7.5))
    ax = axes[0, 0]
    ax.scatter(res["fitted"], res["normalized"], s=8, alpha=0.6)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xlabel="fitted", ylabel="normalized residual", title="Residuals vs fitted")
    ax = axes[0, 1]
    osm, osr = sps.probplot(res["normalized"], dist="norm", fit=False)
    ax.scatter(osm, osr, s=8, alpha=0.6)
    lim = [min(osm.min(), osr.min()), max(osm.max(), osr.max())]
    ax.plot(lim, lim, color="grey", lw=0.8)
    ax.set(xlabel="normal quantile", ylabel="normalized residual", title="Normal Q-Q")
    ax = axes[1, 0]
    visits = [str(v) for v in fit.frame.visits]
    groups = [res["pearson"][res[fit.frame.visit].astype(str) == v] for v in visits]
    ax.boxplot(groups, tick_labels=visits)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xlabel=fit.frame.visit, ylabel="Pearson residual", title="Residuals by visit")
    ax = axes[1, 1]
    observed = res["fitted"] + res["response"]
    ax.scatter(res["fitted"], observed, s=8, alpha=0.6)
    lim = [min(res["fitted"].min(), observed.min()), max(res["fitted"].max(), observed.max())]
    ax.plot(lim, lim, color="grey", lw=0.8)
    ax.set(xlabel="fitted", ylabel="observed", title="Observed vs fitted")
    fig.suptitle(f"MMRM {fit.structure.name} {fit.method.upper()}: {fit.frame.formula}")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return str(out)
