"""Type III F tests of the MMRM's fixed effects, as SAS PROC MIXED (``htype=3``) and R mmrm
(``car::Anova(fit, type = "III")``).

The hypothesis of a term is "its coefficients are zero" in the design coded with sum-to-zero
contrasts (``contr.sum``); it is carried to the fitted coding by ``T = (X_s' X_s)^-1 X_s' X``
(both designs span the same space), so a main effect is tested averaged over the levels of
the factors it interacts with, and at zero of the numeric covariates it interacts with
(SAS's convention). The F statistic is ``(L b)' (L Phi L')^-1 (L b) / q`` with:

- Satterthwaite: the df of the ``q`` eigen-directions of ``L Phi L'`` pooled as SAS and
  lmerTest do (``E = sum nu_m / (nu_m - 2)``, ``df = 2 E / (E - q)``); this depends on the
  basis of the hypothesis, and ``L`` is written in SAS's (each level minus the reference
  level, per factor), not in the sum-to-zero one of R mmrm's ``car::Anova``; with the model-based
  or (Bell-McCaffrey df, as R mmrm) an empirical covariance;
- Kenward-Roger: the adjusted covariance, the scaled F (``lambda F``) and its df;
- residual, between-within: with either covariance of beta.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from frailtrial.errors import InputError
from frailtrial.stats.distributions import chi2_sf, f_sf
from frailtrial.stats.formula_engine import model_matrix
from frailtrial.stats.mmrm_df import between_within
from frailtrial.stats.model_options import df_method

if TYPE_CHECKING:
    from frailtrial.stats.mmrm import MmrmFit

Array = NDArray[Any]


def _sum_coded_formula(fit: MmrmFit) -> tuple[str, list[tuple[str, list[int], str]]]:
    """The right-hand side with every factor in ``C(var, contr.sum)`` and, per term of the
    fitted design, its label, its columns in the fitted design and its sum-coded label."""
    spec = fit.frame.spec
    states = spec.encoder_state
    pieces, terms = [], []
    for term, cols in spec.term_indices.items():
        label = str(term)
        if label == "1":
            continue
        factors = []
        for factor in term.factors:
            expr = str(factor.expr)
            kind, _ = states.get(expr, (None, None))
            if str(getattr(kind, "value", kind)) == "categorical":
                names = [v for v in fit.frame.factors if re.search(rf"\b{re.escape(v)}\b", expr)]
                if len(names) != 1:
                    raise InputError(f"type III tests: cannot recode the factor {expr!r}")
                expr = f"C({names[0]}, contr.sum)"
            factors.append(expr)
        sum_label = ":".join(factors)
        pieces.append(sum_label)
        terms.append((label, list(cols), sum_label))
    return " + ".join(pieces), terms


def type3_contrasts(fit: MmrmFit) -> dict[str, Array]:
    """Type III hypothesis matrix (q, p) of each term, in the fitted coding."""
    if fit.data is None:
        raise InputError("type III tests need the fit's data: fit the model with mmrm()")
    spec = fit.frame.spec
    if "1" not in [str(t) for t in spec.term_indices]:
        raise InputError("type III tests need a model with an intercept")
    rhs, terms = _sum_coded_formula(fit)
    used = [c for c in (*fit.frame.factors, *fit.frame.numerics, fit.frame.outcome)]
    rows = fit.data.dropna(subset=[c for c in used if c in fit.data.columns])
    try:
        x_fit = np.asarray(spec.get_model_matrix(rows, na_action="raise"), dtype=float)
        summed = model_matrix("1 + " + rhs, rows, na_action="raise")
    except Exception as exc:
        raise InputError(f"type III tests: cannot build the sum-coded design ({exc})") from exc
    x_sum = np.asarray(summed, dtype=float)
    trans, *_ = np.linalg.lstsq(x_sum, x_fit, rcond=None)
    if not np.allclose(x_sum @ trans, x_fit, atol=1e-8 * max(1.0, np.abs(x_fit).max())):
        raise InputError("type III tests: the sum-coded design does not span the fitted one")
    index = {str(t): (t, c) for t, c in summed.model_spec.term_indices.items()}
    out = {}
    for label, _, sum_label in terms:
        key = next((k for k in index if _same_term(k, sum_label)), None)
        if key is None:
            raise InputError(f"type III tests: term {label!r} not found in the sum coding")
        term, cols = index[key]
        lmat = _reference_basis(fit, summed, term, cols) @ trans[cols]
        lmat[np.abs(lmat) < 1e-10] = 0.0
        out[label] = lmat
    return out


def _reference_basis(fit: MmrmFit, summed: Any, term: Any, cols: list[int]) -> Array:
    """Rows taking a term's sum-coded coefficients to SAS's basis of the same hypothesis:
    each level minus the reference level (ours: the first), per factor, Kronecker over the
    factors (formulaic's first factor varies fastest). The F statistic does not depend on
    the basis; the pooled Satterthwaite df of a multi-df test does, and SAS's is this."""
    states = summed.model_spec.encoder_state
    first_name = str(summed.columns[cols[0]])
    blocks = []
    for factor in term.factors:
        expr = str(factor.expr)
        kind, state = states.get(expr, (None, {}))
        if str(getattr(kind, "value", kind)) != "categorical":
            continue
        levels = [str(v) for v in state["categories"]]
        if f"{expr}[S." not in first_name:  # coded by all its levels: the identity
            blocks.append(np.eye(len(levels)))
            continue
        var = expr[2:].split(",")[0].strip()  # C(var, contr.sum)
        ref = levels.index(str(fit.frame.factors[var][0]))
        k = len(levels)
        all_levels = np.vstack([np.eye(k - 1), -np.ones((1, k - 1))])  # sum-to-zero effects
        minus_ref = np.delete(np.eye(k), ref, axis=0) - np.eye(k)[ref]
        blocks.append(minus_ref @ all_levels)
    basis: Array = np.eye(1)
    for block in blocks:  # the first factor varies fastest: it is the innermost factor
        basis = np.kron(block, basis)
    if basis.shape != (len(cols), len(cols)):
        raise InputError(f"type III tests: cannot lay out the columns of term {term!s}")
    return basis


def _same_term(a: str, b: str) -> bool:
    """Terms are equal up to the order of their factors."""
    return sorted(a.replace(" ", "").split(":")) == sorted(b.replace(" ", "").split(":"))


def f_test(
    fit: MmrmFit, lmat: Array, df: str = "satterthwaite", vcov: str = "model"
) -> dict[str, float]:
    """F test of ``L beta = 0`` (rows of ``lmat`` linearly independent): num_df, den_df,
    chisq (Wald, unscaled), F and their p-values."""
    df = df_method(df)
    lmat = np.atleast_2d(np.asarray(lmat, dtype=float))
    q = lmat.shape[0]
    est = lmat @ fit.beta
    if df in ("kenward_roger", "kenward_roger_linear"):
        if vcov != "model":
            fit.beta_vcov(vcov, df)  # raises: KR has its own adjusted covariance
        kr = fit._kr(linear=df == "kenward_roger_linear")
        wald = float(est @ np.linalg.solve(lmat @ kr.phi_adj @ lmat.T, est))
        den, scale = kr.df_scale(fit.vcov, lmat)
        f_value = scale * wald / q
    else:
        phi = fit.beta_vcov(vcov, df)
        wald = float(est @ np.linalg.solve(lmat @ phi @ lmat.T, est))
        f_value = wald / q
        if df == "satterthwaite":
            _, vecs = np.linalg.eigh(lmat @ phi @ lmat.T)
            den = _pool_satterthwaite(fit.estimate(vecs.T @ lmat, df, vcov=vcov)["df"].to_numpy())
        elif df == "residual":
            den = fit.residual_df()
        else:
            den = float(between_within(fit.parts, lmat).min())
    return {
        "num_df": float(q),
        "den_df": den,
        "chisq": wald,
        "F": f_value,
        "p_chisq": float(chi2_sf(wald, q)),
        "p": float(f_sf(f_value, q, den)),
    }


def _pool_satterthwaite(nu: Array) -> float:
    """One denominator df from the df of q independent 1-df directions (SAS, lmerTest)."""
    if nu.size == 1 or np.allclose(nu, nu.mean(), rtol=0, atol=1e-8):
        return float(nu.mean())
    if (nu <= 2).any():
        return 2.0
    e = float((nu / (nu - 2)).sum())
    return 2 * e / (e - nu.size)


def type3(fit: MmrmFit, df: str = "satterthwaite", vcov: str = "model") -> pd.DataFrame:
    """Type III tests, one row per term: effect, num_df, den_df, chisq, F, p_chisq, p."""
    rows = []
    for label, lmat in type3_contrasts(fit).items():
        keep = _independent_rows(lmat)
        rows.append({"effect": label, **f_test(fit, lmat[keep], df, vcov)})
    return pd.DataFrame(rows)


def _independent_rows(lmat: Array) -> NDArray[np.bool_]:
    """Rows of ``lmat`` kept so that they are linearly independent (greedy, in order)."""
    keep = np.zeros(lmat.shape[0], dtype=bool)
    for i in range(lmat.shape[0]):
        trial = keep.copy()
        trial[i] = True
        if np.linalg.matrix_rank(lmat[trial]) == trial.sum():
            keep = trial
    return keep
