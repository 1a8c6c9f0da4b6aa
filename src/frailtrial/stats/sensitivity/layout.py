"""Long data and intercurrent events -> the subject x visit arrays of a sensitivity analysis.

Every subject gets a row at every visit (as rbmi's ``expand_locf``): a visit without a row
is added with the subject's covariates, which must then be constant within the subject.
The imputation model's design is built once for the observed group and once with the
group set to the reference (the means JR, CR and CIR borrow); the analysis model's design
once per group level (counterfactual least-squares means). The designs depend on the data
and the formulas only, not on the intercurrent events or strategies, so analyses of the
same data (an estimand's MAR, JR, CR and CIR) share them: the last few are kept (read-only,
but for the compiled kernels' factors: numba compiles again for read-only arrays) and
reused for data equal to theirs.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from frailtrial.errors import InputError
from frailtrial.stats.formula_engine import model_matrix, parse_formula
from frailtrial.stats.levels import level_order
from frailtrial.stats.mmrm_data import build_frame
from frailtrial.stats.sensitivity.strategies import STRATEGIES, mar_visits, strategy_name

Array = NDArray[Any]
Designs = tuple[Array, Array, tuple[Array, Array, NDArray[np.int64], NDArray[np.int64]] | None,
                Array, Array]  # fmt: skip
KEPT_DESIGNS = 8
_designs_lock = threading.Lock()
_designs_kept: OrderedDict[bytes, tuple[pd.DataFrame, list[tuple[str, str]], Designs]] = (
    OrderedDict()
)


@dataclass(frozen=True)
class Layout:
    """Arrays over n subjects and T visits (subjects in order of first appearance)."""

    subjects: list[Any]
    visits: list[Any]
    levels: list[str]  # group levels, the reference first
    group: NDArray[np.int64]  # (n,) index into levels
    y: Array  # (n, T) outcome, NaN where missing
    fit_mask: NDArray[np.bool_]  # (n, T) observed and used by the imputation model
    ice: NDArray[np.int64]  # (n,) visit index of the ICE, T without one
    strategy: NDArray[np.int64]  # (n,) index into STRATEGIES
    x_own: Array  # (n, T, p) imputation design
    x_ref: Array  # (n, T, p) imputation design with the group set to the reference
    kron: tuple[Array, Array, NDArray[np.int64], NDArray[np.int64]] | None  # c, v, ci, vi
    z: Array  # (n, T, q) analysis design
    z_level: Array  # (G, n, T, q) analysis design with the group set to each level

    @property
    def n(self) -> int:
        return len(self.subjects)

    @property
    def missing(self) -> NDArray[np.bool_]:
        return np.isnan(self.y)

    @property
    def shift(self) -> Array:
        """(n, T) 1 where a delta is added: the missing visits of the non-reference groups."""
        return (self.missing & (self.group != 0)[:, None]).astype(float)


def _outcome(formula: str, where: str) -> str:
    try:
        parsed = parse_formula(formula)
    except Exception as exc:
        raise InputError(f"{where} {formula!r}: cannot parse ({exc})") from exc
    if not hasattr(parsed, "lhs") or len(parsed.lhs) != 1:
        raise InputError(f"{where} {formula!r} must have one outcome: 'Y ~ terms'")
    return str(parsed.lhs[0])


def _variables(formula: str, columns: pd.Index) -> list[str]:
    return sorted(v for v in parse_formula(formula).required_variables if v in columns)


def build_layout(
    data: pd.DataFrame,
    formula: str,
    subject: str,
    visit: str,
    group: str,
    reference: str,
    analysis: str,
    ice: pd.DataFrame | None,
    strategy: str,
) -> Layout:
    """Validate the inputs and lay them out (see the module docstring)."""
    outcome = _outcome(formula, "--formula")
    if _outcome(analysis, "--analysis") != outcome:
        raise InputError(f"--analysis {analysis!r}: its outcome must be the imputed one, {outcome}")
    covariates = sorted(
        set(_variables(formula, data.columns) + _variables(analysis, data.columns))
        - {outcome, visit, subject}
    )
    needed = list(dict.fromkeys([subject, visit, group, outcome, *covariates]))
    absent = [c for c in needed if c not in data.columns]
    if absent:
        raise InputError(
            f"data: unknown column(s) {', '.join(absent)}; columns are: "
            f"{', '.join(map(str, data.columns))}"
        )
    frame = data[needed].copy()
    if frame[subject].isna().any() or frame[visit].isna().any():
        raise InputError(f"data: columns {subject} and {visit} must have no missing values")
    if not pd.api.types.is_numeric_dtype(frame[outcome]):
        raise InputError(f"data: outcome {outcome} must be numeric")
    visits = level_order(frame[visit])
    subjects = list(pd.unique(frame[subject]))
    if frame.duplicated([subject, visit]).any():
        row = frame[frame.duplicated([subject, visit])].iloc[0]
        raise InputError(
            f"data: subject {row[subject]!r} has more than one row at visit {row[visit]!r}; "
            "one row per subject and visit is allowed"
        )
    levels = _group_levels(frame[group], reference, group)
    full = _expand(frame, subject, visit, subjects, visits, [group, *covariates])
    n, t = len(subjects), len(visits)
    y = full[outcome].to_numpy(dtype=float).reshape(n, t)
    group_values = full[group].astype(str).to_numpy().reshape(n, t)[:, 0]
    code = np.array([levels.index(g) for g in group_values], dtype=np.int64)
    ice_index, codes = _ice(ice, subject, visit, subjects, visits, strategy)
    observed = ~np.isnan(y)
    fit_mask = observed & mar_visits(ice_index, codes, t)
    _check_fit_data(fit_mask, visits, ice_index, codes)
    full[group] = pd.Categorical(full[group].astype(str), categories=levels)
    x_own, x_ref, kron, z, z_level = _designs(
        full, formula, analysis, subject, visit, group, outcome, levels, n, t
    )
    return Layout(
        subjects=subjects,
        visits=visits,
        levels=levels,
        group=code,
        y=y,
        fit_mask=fit_mask,
        ice=ice_index,
        strategy=codes,
        x_own=x_own,
        x_ref=x_ref,
        kron=kron,
        z=z,
        z_level=z_level,
    )


def _designs(
    full: pd.DataFrame,
    formula: str,
    analysis: str,
    subject: str,
    visit: str,
    group: str,
    outcome: str,
    levels: list[str],
    n: int,
    t: int,
) -> Designs:
    """The imputation and analysis designs of ``full`` (see the module docstring): the kept
    ones of equal data and arguments, else built (and kept, read-only)."""
    args = (formula, analysis, subject, visit, group, outcome, *levels)
    digest = hashlib.sha256(repr(args).encode())
    dtypes = [(str(c), repr(d)) for c, d in full.dtypes.items()]  # a factor's levels in order
    digest.update(repr(dtypes).encode())
    digest.update(pd.util.hash_pandas_object(full, index=False).to_numpy().tobytes())
    key = digest.digest()
    with _designs_lock:  # layouts may be built in threads (a threaded server's requests)
        kept = _designs_kept.get(key)
        # equal data, not only an equal hash (equals() takes reordered factor levels as equal)
        if kept is not None and kept[0].equals(full) and kept[1] == dtypes:
            _designs_kept.move_to_end(key)
            return kept[2]
    x_own, x_ref, kron = _imputation_design(full, formula, subject, visit, group, outcome, n, t)
    z, z_level = _analysis_design(full, analysis, group, levels, n, t)
    designs: Designs = (x_own, x_ref, kron, z, z_level)
    # shared by the analyses of the same data: read-only (but for the compiled kernels'
    # factors, for which numba would compile read-only versions)
    for a in (x_own, x_ref, z, z_level):
        a.flags.writeable = False
    with _designs_lock:
        _designs_kept[key] = (full.copy(), dtypes, designs)
        while len(_designs_kept) > KEPT_DESIGNS:
            _designs_kept.popitem(last=False)
    return designs


def _group_levels(values: pd.Series, reference: str, group: str) -> list[str]:
    if values.isna().any():
        raise InputError(f"data: group column {group} has missing values")
    levels = [str(v) for v in level_order(values)]
    if reference not in levels:
        raise InputError(
            f"--reference {reference!r} is not a level of {group} (levels: {', '.join(levels)})"
        )
    if len(levels) < 2:
        raise InputError(f"group column {group} needs at least 2 levels, has {levels}")
    return [reference, *(lv for lv in levels if lv != reference)]


def _expand(
    frame: pd.DataFrame,
    subject: str,
    visit: str,
    subjects: list[Any],
    visits: list[Any],
    constant: list[str],
) -> pd.DataFrame:
    """One row per subject and visit, in subject then visit order; added rows take the
    subject's covariates, which must then be constant within the subject."""
    n, t = len(subjects), len(visits)
    subj = pd.Index(subjects).get_indexer(frame[subject])
    vis = pd.Index(visits).get_indexer(frame[visit])
    cell = subj * t + vis
    present = np.zeros(n * t, dtype=bool)
    present[cell] = True
    full = pd.DataFrame(
        {
            subject: np.repeat(np.array(subjects, dtype=object), t),
            visit: np.tile(np.array(visits, dtype=object), n),
        }
    )
    first = np.full(n, -1)
    first[subj[::-1]] = np.arange(len(frame))[::-1]  # each subject's first row
    for col in [c for c in frame.columns if c not in (subject, visit)]:
        values = frame[col].to_numpy()
        numeric = values.dtype.kind in "iuf"
        out = np.full(n * t, np.nan) if numeric else np.full(n * t, None, dtype=object)
        out[cell] = values
        if col in constant and not present.all():
            distinct = pd.DataFrame({"s": subj, "v": values}).groupby("s")["v"].nunique()
            added = ~present.reshape(n, t).all(axis=1)
            bad = np.flatnonzero(added & (distinct.reindex(range(n)).to_numpy() > 1))
            if bad.size:
                raise InputError(
                    f"data: {col} varies within subject {subjects[bad[0]]!r}, which has no row "
                    "at some visit; give a row for every visit (outcome empty where missing)"
                )
            out[~present] = np.repeat(values[first], t)[~present]
        full[col] = out
    for col in constant:
        if full[col].isna().any():
            row = full[full[col].isna()].iloc[0]
            raise InputError(
                f"data: {col} is missing for subject {row[subject]!r} at visit {row[visit]!r}; "
                "covariates are needed at every visit to impute it"
            )
    return full


def _ice(
    ice: pd.DataFrame | None,
    subject: str,
    visit: str,
    subjects: list[Any],
    visits: list[Any],
    strategy: str,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """ICE visit index (T without ICE) and strategy code per subject."""
    n, t = len(subjects), len(visits)
    ice_index = np.full(n, t, dtype=np.int64)
    codes = np.zeros(n, dtype=np.int64)
    default = strategy_name(strategy, "--strategy")
    if ice is None:
        return ice_index, codes
    absent = [c for c in (subject, visit) if c not in ice.columns]
    if absent:
        raise InputError(
            f"--ice: column(s) {', '.join(absent)} missing; it needs {subject}, {visit} and "
            "optionally strategy"
        )
    if ice[subject].duplicated().any():
        dup = ice.loc[ice[subject].duplicated(), subject].iloc[0]
        raise InputError(f"--ice: subject {dup!r} has more than one row; one ICE per subject")
    pos = {str(s): i for i, s in enumerate(subjects)}
    vpos = {str(v): j for j, v in enumerate(visits)}
    for k, row in enumerate(ice.itertuples(index=False)):
        rec = dict(zip(ice.columns, row, strict=True))
        where = f"--ice row {k + 2}"
        sid, vid = str(rec[subject]), str(rec[visit])
        if sid not in pos:
            raise InputError(f"{where}: subject {rec[subject]!r} is not in the data")
        if vid not in vpos:
            raise InputError(
                f"{where}: visit {rec[visit]!r} is not a visit of the data "
                f"(visits: {', '.join(map(str, visits))})"
            )
        raw = rec.get("strategy")
        name = default if raw is None or pd.isna(raw) else strategy_name(raw, where)
        ice_index[pos[sid]] = vpos[vid]
        codes[pos[sid]] = STRATEGIES.index(name)
    return ice_index, codes


def _check_fit_data(
    fit_mask: NDArray[np.bool_],
    visits: list[Any],
    ice: NDArray[np.int64],
    codes: NDArray[np.int64],
) -> None:
    per_visit = fit_mask.sum(axis=0)
    if (per_visit < 2).any():
        v = visits[int(np.argmin(per_visit))]
        raise InputError(
            f"visit {v!r} has {int(per_visit.min())} observation(s) before intercurrent events "
            "with a non-MAR strategy; the imputation model needs at least 2 per visit"
        )
    lmcf = (codes == STRATEGIES.index("LMCF")) & (ice == 0)
    if lmcf.any():
        raise InputError(
            "LMCF for an intercurrent event at the first visit: there is no earlier mean to "
            "carry forward (use another strategy for that subject)"
        )


def _imputation_design(
    full: pd.DataFrame,
    formula: str,
    subject: str,
    visit: str,
    group: str,
    outcome: str,
    n: int,
    t: int,
) -> tuple[Array, Array, tuple[Array, Array, NDArray[np.int64], NDArray[np.int64]] | None]:
    """Design rows at every visit, as observed and with the group set to the reference:
    the two are laid out as two data sets of one frame (numpy rebuilds the second)."""
    filled = full.copy()
    filled[outcome] = 0.0  # every row present: the design at every visit
    filled[visit] = pd.Categorical(filled[visit], categories=list(dict.fromkeys(filled[visit])))
    ref = filled.copy()
    ref[group] = pd.Categorical(
        [full[group].cat.categories[0]] * len(ref), categories=full[group].cat.categories
    )
    frame = build_frame([filled, ref], formula, subject, visit, strict=False)
    if 0 in frame.problems:
        raise InputError(f"--formula {formula!r}: {frame.problems[0]}")
    x = frame.batch.x
    kr = frame.batch.kron
    kron = None if kr is None else (kr.c[0].copy(), kr.v, kr.ci, kr.vi)
    return x[0].copy(), x[1].copy(), kron


def _analysis_design(
    full: pd.DataFrame, analysis: str, group: str, levels: list[str], n: int, t: int
) -> tuple[Array, Array]:
    """Analysis design rows as observed and with the group set to each level (one
    formulaic call on the stacked data)."""
    rhs = analysis.split("~", 1)[1]
    stacked = [full]
    for lv in levels:
        cf = full.copy()
        cf[group] = pd.Categorical([lv] * len(cf), categories=levels)
        stacked.append(cf)
    try:
        mm = model_matrix(rhs, pd.concat(stacked, ignore_index=True), na_action="raise")
    except Exception as exc:
        raise InputError(f"--analysis {analysis!r}: cannot build its design ({exc})") from exc
    rows = np.asarray(mm, dtype=float).reshape(len(levels) + 1, n, t, -1)
    z, z_level = rows[0], rows[1:]
    if np.allclose(z_level[1:], z_level[:1]):
        raise InputError(f"--analysis {analysis!r} must contain the group column {group}")
    return z, z_level
