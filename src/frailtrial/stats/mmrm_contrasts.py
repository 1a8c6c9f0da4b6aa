"""emmeans-style named contrasts of an MMRM's least-squares means, with their adjustment.

A contrast is named as in emmeans: ``pairwise`` (every level minus every later level,
``placebo - dose_low``), ``trt.vs.ctrl`` (every level minus the reference, the factor's
first level) or a difference of two level names (``"200M - 100M"``). They are computed at
each visit (a family per visit, emmeans' ``| visit``), or on the means averaged over the
visits. Adjustments within a family: ``none``, ``bonferroni``, ``holm``, ``hochberg``
(R's ``p.adjust``; their intervals Bonferroni's, as emmeans), ``tukey`` (Tukey-Kramer,
pairwise only) and ``dunnett`` (single-step max-|t| over the family's joint correlation,
emmeans' ``mvt``; :func:`frailtrial.stats.multiplicity.dunnett`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from frailtrial.errors import InputError
from frailtrial.stats.distributions import t_ppf
from frailtrial.stats.model_options import CONTRAST_ADJUSTMENTS, df_method
from frailtrial.stats.multiplicity import PMethod, adjust_p, dunnett
from frailtrial.stats.samples import check_conf_level

if TYPE_CHECKING:
    from frailtrial.stats.mmrm import MmrmFit

Array = NDArray[Any]


def contrast_pairs(levels: list[str], spec: str) -> list[tuple[str, str]]:
    """(level, minus level) pairs named by ``spec``, in emmeans' order."""
    key = spec.strip()
    if key == "pairwise":
        return [(a, b) for i, a in enumerate(levels) for b in levels[i + 1 :]]
    if key == "trt.vs.ctrl":
        return [(a, levels[0]) for a in levels[1:]]
    pieces = key.split(" - ")
    splits = [
        (" - ".join(pieces[:i]).strip(), " - ".join(pieces[i:]).strip())
        for i in range(1, len(pieces))
    ]  # every " - " may be the minus: level names may hold one ("Drug A - 10 mg")
    named = [(a, b) for a, b in splits if a in levels and b in levels]
    if len(named) > 1:
        raise InputError(
            f"contrast {spec!r}: ambiguous, it reads as "
            + " or ".join(f"'{a}' minus '{b}'" for a, b in named)
        )
    if not named:
        if len(splits) != 1 or not all(splits[0]):
            raise InputError(
                f"contrast {spec!r}: use pairwise, trt.vs.ctrl or 'LEVEL - LEVEL' "
                f"(levels: {', '.join(levels)})"
            )
        missing = next(p for p in splits[0] if p not in levels)
        raise InputError(f"contrast {spec!r}: no level {missing!r} (levels: {', '.join(levels)})")
    if named[0][0] == named[0][1]:
        raise InputError(f"contrast {spec!r}: a level minus itself")
    return named


def _joint_cov(fit: MmrmFit, lmat: Array, df: str, vcov: str) -> Array:
    if df in ("kenward_roger", "kenward_roger_linear"):
        phi = fit._kr(linear=df == "kenward_roger_linear").phi_adj
    else:
        phi = fit.beta_vcov(vcov, df)
    return lmat @ phi @ lmat.T


def contrasts(
    fit: MmrmFit,
    spec: str = "pairwise",
    factor: str | None = None,
    by_visit: bool = True,
    adjust: str = "none",
    df: str = "satterthwaite",
    vcov: str = "model",
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Named contrasts of the least-squares means of ``factor`` (default: the treatment
    factor), per visit or averaged over visits, adjusted within each family: one row per
    contrast with contrast, visit, estimate, se, df, t, p, ci_low, ci_high, adjust."""
    df = df_method(df)
    check_conf_level(conf_level)
    adjust = adjust.strip().lower()
    if adjust not in CONTRAST_ADJUSTMENTS:
        raise InputError(f"adjust {adjust!r}: unknown; allowed: {', '.join(CONTRAST_ADJUSTMENTS)}")
    factor = factor or fit.arm()
    others = [f for f in fit.frame.factors if f != fit.frame.visit]
    if factor is None or factor not in others:
        raise InputError(
            f"contrasts of {factor or 'a treatment'}: the model has "
            + (f"the factors {', '.join(others)}" if others else "no factor besides the visit")
        )
    if adjust == "tukey" and spec.strip() != "pairwise":
        raise InputError("adjust tukey is for pairwise contrasts; use dunnett (max-|t|) here")
    levels = [str(v) for v in fit.frame.factors[factor]]
    pairs = contrast_pairs(levels, spec)
    visit = fit.frame.visit
    by = [factor, visit] if by_visit and visit in fit.frame.factors else [factor]
    combos, grid = fit._grid(by)
    keys = combos.astype(str)
    visits: list[Any] = [str(v) for v in fit.frame.factors[visit]] if len(by) == 2 else [None]
    out = []
    for v in visits:
        rows = []
        for a, b in pairs:
            sel_a = (keys[factor] == a) & ((keys[visit] == v) if v is not None else True)
            sel_b = (keys[factor] == b) & ((keys[visit] == v) if v is not None else True)
            rows.append(grid[sel_a.to_numpy()][0] - grid[sel_b.to_numpy()][0])
        lmat = np.stack(rows)
        res = fit.estimate(lmat, df, conf_level, vcov)
        res.insert(0, "contrast", [f"{a} - {b}" for a, b in pairs])
        res.insert(1, visit, v if v is not None else "overall")
        out.append(_adjust(res, _joint_cov(fit, lmat, df, vcov), adjust, len(levels), conf_level))
    return pd.concat(out, ignore_index=True)


def _adjust(
    res: pd.DataFrame, cov: Array, adjust: str, n_levels: int, level: float
) -> pd.DataFrame:
    """Adjusted p-values and simultaneous intervals of one family."""
    k = len(res)
    est, se, dfs = (res[c].to_numpy(dtype=float) for c in ("estimate", "se", "df"))
    res["adjust"] = adjust if k > 1 else "none"
    if k == 1 or adjust == "none":
        return res
    alpha = 1.0 - level
    if adjust in ("bonferroni", "holm", "hochberg"):
        res["p"] = adjust_p(res["p"].to_numpy(dtype=float), cast(PMethod, adjust))
        half = t_ppf(1.0 - alpha / (2 * k), dfs) * se
    elif adjust == "tukey":
        from scipy import stats as sps  # 0.5 s to import: only for Tukey's adjustment

        q = np.abs(est / se) * np.sqrt(2.0)
        res["p"] = sps.studentized_range.sf(q, n_levels, dfs)
        uniq, inv = np.unique(dfs, return_inverse=True)  # the quantile is slow: once per df
        crit = np.array([sps.studentized_range.ppf(level, n_levels, d) for d in uniq])[inv]
        half = crit / np.sqrt(2.0) * se
    else:
        sim = dunnett(est, cov, float(np.mean(dfs)), alpha)
        res["p"] = sim.p_adjusted
        half = sim.critical_value * se
    res["ci_low"] = est - half
    res["ci_high"] = est + half
    return res
