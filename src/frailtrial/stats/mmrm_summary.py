"""A printed summary of an MMRM laid out as R's ``summary(mmrm_fit)``: the call, the data
used, the covariance structure, the df and coefficient-covariance methods, the fitting
method, AIC/BIC/logLik/deviance, the coefficient table with df, t and p (and R's
significance codes) and the estimated visit covariance."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from frailtrial.stats.mmrm_sandwich import vcov_method
from frailtrial.stats.model_options import df_method

if TYPE_CHECKING:
    from frailtrial.stats.mmrm import MmrmFit

STRUCTURE_NAMES = {
    "us": "unstructured",
    "cs": "compound symmetry",
    "csh": "heterogeneous compound symmetry",
    "ar1": "auto-regressive order one",
    "ar1h": "heterogeneous auto-regressive order one",
    "toep": "Toeplitz",
    "toeph": "heterogeneous Toeplitz",
    "adh": "heterogeneous ante-dependence",
}
DF_NAMES = {
    "satterthwaite": "Satterthwaite",
    "kenward_roger": "Kenward-Roger",
    "kenward_roger_linear": "Kenward-Roger-Linear",
    "residual": "Residual",
    "between_within": "Between-Within",
}
VCOV_NAMES = {
    "model": "Asymptotic",
    "sandwich": "Empirical",
    "jackknife": "Empirical-Jackknife",
    "bias-reduced": "Empirical-Bias-Reduced",
}


def _stars(p: float) -> str:
    for cut, mark in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return mark
    return ""


def _p_text(p: float) -> str:
    return "< 2e-16" if p < 2e-16 else f"{p:.3g}"


def summary_text(fit: MmrmFit, df: str = "satterthwaite", vcov: str = "model") -> str:
    """The summary as text (what ``frailtrial stats mmrm --summary`` prints)."""
    df, vcov = df_method(df), vcov_method(vcov)
    frame = fit.frame
    visits = [str(v) for v in fit.visits]
    if df in ("kenward_roger", "kenward_roger_linear"):
        vcov_label = "Kenward-Roger" + ("-Linear" if df == "kenward_roger_linear" else "")
    else:
        vcov_label = VCOV_NAMES[vcov]
    lines = [
        "mmrm fit",
        "",
        f"Formula:     {frame.formula} + {fit.structure.name}({frame.visit} | {frame.subject})",
        f"Data:        used {fit.n_obs} observations from {fit.n_subjects} subjects with "
        f"maximum {len(visits)} timepoints",
        f"Covariance:  {STRUCTURE_NAMES.get(fit.structure.name, fit.structure.name)} "
        f"({fit.n_theta} variance parameters)",
        f"Method:      {DF_NAMES[df]}",
        f"Vcov Method: {vcov_label}",
        f"Inference:   {fit.method.upper()}",
        "",
        "Model selection criteria:",
    ]
    crit = {"AIC": fit.aic, "BIC": fit.bic, "logLik": fit.loglik, "deviance": fit.neg2loglik}
    lines += _columns([list(crit)], [[f"{v:.1f}" for v in crit.values()]], "")
    coef = fit.coefficients(df, vcov=vcov)
    head = ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)", ""]
    body = [
        [
            f"{r.estimate:.5g}",
            f"{r.se:.5g}",
            f"{r.df:.1f}",
            f"{r.t:.3f}",
            _p_text(r.p),
            _stars(r.p),
        ]
        for r in coef.itertuples()
    ]
    lines += ["", "Coefficients:"]
    lines += _columns([head], body, list(coef["term"]))
    lines += ["---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1", ""]
    lines.append("Covariance estimate:")
    lines += _columns([visits], [[f"{v:.4f}" for v in row] for row in fit.sigma], visits)
    if not fit.converged:
        lines += ["", f"Warning: the fit did not converge ({fit.reason})"]
    return "\n".join(lines)


def _columns(head: list[list[str]], body: list[list[str]], rows: list[str] | str) -> list[str]:
    """Right-aligned columns under a header, with row labels left-aligned."""
    labels = [rows] * len(body) if isinstance(rows, str) else rows
    width_label = max([len(s) for s in labels] + [0])
    cols = np.array(head + body, dtype=object)
    widths = [max(len(str(c)) for c in cols[:, j]) for j in range(cols.shape[1])]

    def line(label: str, cells: list[str]) -> str:
        return (
            label.ljust(width_label)
            + " "
            + " ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
        )

    out = [line("", head[0])] + [line(lb, row) for lb, row in zip(labels, body, strict=True)]
    return [line.rstrip() for line in out]
