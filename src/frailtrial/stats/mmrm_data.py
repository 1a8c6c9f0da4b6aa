"""From data frames and a model formula to the padded subject x visit arrays of the MMRM.

The fixed-effects design comes from formulaic (treatment coding, reference = first level,
as R's factors), fitted on the first data set. Levels of factors (the visit, the arm, any
other non-numeric column) are in a pandas Categorical's declared order, else in natural
order (:mod:`frailtrial.stats.levels`); the visit order is also the order of the
covariance matrix. For many data sets the same columns are rebuilt with numpy from the
column names (indicator products and numeric variables), checked once against formulaic
on the first data set; formulas with transformations (``log(y)``, ``I(x * 2)``,
``C(x, Treatment('b'))``, ``poly(x, 2)``) fall back to formulaic on the stacked data.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from frailtrial.errors import InputError
from frailtrial.stats.fit_results import LEVEL_COLUMN, r_name
from frailtrial.stats.formula_engine import model_matrix, parse_formula
from frailtrial.stats.levels import is_factor, level_order, natural_order, ordered_factor
from frailtrial.stats.mmrm_core import (
    Batch,
    batched_cholesky,
    kron_arrays,
    make_batch,
    make_kron,
    normal_equations,
)
from frailtrial.stats.mmrm_kernels import (
    code_small_ints,
    number_within,
    place_rows,
    rank_suspects,
    scatter_constant,
)

Array = NDArray[Any]
PARALLEL_ROWS = 50_000  # rows from which the factor columns are coded in threads
try:  # pandas' own table for text (private: without it, pd.factorize does the same work)
    from pandas._libs.hashtable import StringHashTable as _StringTable
except ImportError:  # pragma: no cover - a pandas without it
    _StringTable = None


@dataclass
class ModelFrame:
    """Everything the fit and its inference need about the model's data."""

    formula: str
    outcome: str
    subject: str
    visit: str
    columns: list[str]  # formulaic column names
    terms: list[str]  # R-style coefficient names
    visits: list[Any]  # visit levels in order
    spec: Any  # formulaic ModelSpec of the right-hand side
    factors: dict[str, list[Any]]  # factor columns -> levels in order, reference first
    column_factors: list[tuple[str, ...]]  # factor columns in each design column
    numerics: dict[str, Array]  # numeric variables -> mean over the observations, per data set
    batch: Batch
    problems: dict[int, str] = field(default_factory=dict)  # data set -> why it cannot be fitted

    @property
    def n_sets(self) -> int:
        return self.batch.n_sets


def _check_columns(frame: pd.DataFrame, needed: list[str], where: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(
            f"{where}: unknown column(s) {', '.join(missing)}; "
            f"columns are: {', '.join(map(str, frame.columns))}"
        )


@lru_cache(maxsize=64)
def _parse(formula: str) -> tuple[str, tuple[frozenset[str], frozenset[str]]]:
    """The outcome of a formula and the names it uses: formulaic's required variables,
    and the other names inside its transforms (data columns among them are variables
    too, see :func:`_data_variables`); memoised on the formula."""
    try:
        parsed = parse_formula(formula)
    except Exception as exc:
        raise InputError(f"cannot parse formula {formula!r}: {exc}") from exc
    if not hasattr(parsed, "lhs") or len(parsed.lhs) != 1:
        raise InputError(f"formula {formula!r} must have one outcome: 'Y ~ terms'")
    return str(parsed.lhs[0]), _data_variables(parsed)


def _levels_present(col: pd.Series, present: NDArray[np.bool_]) -> list[Any]:
    """:func:`level_order` of ``col`` on the rows ``present`` (no missing values there)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()[present]
        seen = np.zeros(len(col.cat.categories), dtype=bool)
        seen[codes[codes >= 0]] = True
        return [c for c, s in zip(col.cat.categories, seen, strict=True) if s]
    return natural_order(pd.unique(col.to_numpy()[present]).tolist())


def _ordered(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``frame`` with its factor ``columns`` as Categoricals of the levels present, in
    declared or natural order, so that formulaic codes them in that order."""
    out = frame.copy()
    for c in columns:
        if is_factor(out[c]):
            out[c] = ordered_factor(out[c])
    return out


class _FastDesign:
    """Rebuilds formulaic's treatment-coded columns from their names with numpy."""

    def __init__(self, columns: list[str], factors: dict[str, list[Any]], numerics: set[str]):
        self.recipes: list[list[tuple[str, int | None]]] = []
        level_strings = {v: [str(x) for x in lv] for v, lv in factors.items()}
        for col in columns:
            recipe: list[tuple[str, int | None]] = []
            if col != "Intercept":
                for part in col.split(":"):
                    m = LEVEL_COLUMN.match(part)
                    if m and m["var"] in factors and m["lvl"] in level_strings[m["var"]]:
                        recipe.append((m["var"], level_strings[m["var"]].index(m["lvl"])))
                    elif part in numerics:
                        recipe.append((part, None))
                    else:
                        raise ValueError(part)
            self.recipes.append(recipe)

    def build(self, n: int, codes: dict[str, NDArray[np.int64]], values: dict[str, Array]) -> Array:
        out = np.ones((n, len(self.recipes)))
        for j, recipe in enumerate(self.recipes):
            for var, lvl in recipe:
                out[:, j] *= (codes[var] == lvl) if lvl is not None else values[var]
        return out


def _values(column: pd.Series) -> Any:
    """A column's values: a Categorical as it is (its codes are what coding needs: 0.1 ms
    for 360,000 rows, against ~1.5 ms to build them as objects and ~6 ms to hash those),
    any other column as a numpy array."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.array
    return column.to_numpy()


def _factorize(values: Any, size_hint: int | None = None) -> tuple[NDArray[np.intp], NDArray[Any]]:
    """``pd.factorize(values)``: codes (-1 for a missing value) and uniques. Text (an object
    array of str) goes through pandas' string hash table, which hashes the UTF-8 bytes
    without the GIL: half the time on a long frame, and two columns in threads overlap.
    That table takes any value that is not a str for missing, so unless every value it
    left uncoded is missing, the values take the general way. Sorted integers (a long
    frame's data-set numbers) are coded by counting their changes, other integers of a
    range not much wider than their number (subject numbers) through a table of the
    range (a compiled pass: a fifth of the hash table's time). A Categorical gives its
    codes and categories (codes in category order, not in order of appearance)."""
    if isinstance(values, pd.Categorical):
        return values.codes.astype(np.intp), np.asarray(values.categories)
    if values.dtype.kind in "iu" and values.size > 1 and (values[1:] >= values[:-1]).all():
        change = values[1:] != values[:-1]
        found = np.zeros(values.size, dtype=np.intp)
        np.cumsum(change, out=found[1:])
        return found, values[np.concatenate(([0], np.flatnonzero(change) + 1))]
    if values.dtype.kind == "i" and values.size > 1:
        lo, hi = int(values.min()), int(values.max())
        if hi - lo < 4 * values.size + 1024:
            table = np.full(hi - lo + 1, -1, dtype=np.intp)
            found = np.empty(values.size, dtype=np.intp)
            k = code_small_ints(values.astype(np.int64, copy=False), lo, table, found)
            present = np.flatnonzero(table >= 0)
            uniques = np.empty(k, dtype=values.dtype)
            uniques[table[present]] = present + lo
            return found, uniques
    if values.dtype == object and _StringTable is not None:
        uniques, found = _StringTable(size_hint or 1).factorize(values)
        unset = np.flatnonzero(found < 0)
        if unset.size == 0 or pd.isna(values[unset]).all():
            return found, uniques
    return pd.factorize(values, size_hint=size_hint)


def _codes(values: NDArray[Any], levels: list[Any], var: str, label: str) -> NDArray[np.int64]:
    """Index of each value in ``levels``; -1 for a missing value (the hash table starts
    small: sized for every row, it costs twice as much on a long frame)."""
    found, uniques = _factorize(values, 4 * len(levels) + 8)
    index = {lv: i for i, lv in enumerate(levels)}
    lut = np.array([index.get(u, -2) for u in uniques] + [-1], dtype=np.int64)
    codes = lut[found]
    if (codes == -2).any():
        bad = values[np.flatnonzero(codes == -2)[0]]
        raise InputError(
            f"{label}: column {var} has value {bad!r} not seen in the first data set "
            f"(levels: {', '.join(map(str, levels))})"
        )
    return codes


def _all_codes(
    columns: dict[str, tuple[NDArray[Any], list[Any]]], label: str, subjects: NDArray[Any]
) -> tuple[dict[str, NDArray[np.int64]], tuple[NDArray[np.intp], NDArray[Any]]]:
    """:func:`_codes` of each column, and the subject keys factorized; those of a long
    frame in threads (text is hashed without the GIL), the subjects meanwhile in the
    calling thread."""
    jobs = [(values, levels, var) for var, (values, levels) in columns.items()]
    if not jobs or len(subjects) < PARALLEL_ROWS:
        codes = {var: _codes(values, levels, var, label) for values, levels, var in jobs}
        return codes, _factorize(subjects)
    with ThreadPoolExecutor(min(len(jobs), os.cpu_count() or 1)) as pool:
        found = pool.map(lambda job: _codes(job[0], job[1], job[2], label), jobs)
        subject_codes = _factorize(subjects)
        return dict(zip(columns, found, strict=True)), subject_codes


def _numbers(values: NDArray[Any], var: str, label: str) -> NDArray[np.float64]:
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{label}: column {var} must be numeric ({exc})") from exc


def build_frame(
    datasets: list[pd.DataFrame] | pd.DataFrame,
    formula: str,
    subject: str,
    visit: str,
    dataset: str | None = None,
    strict: bool = True,
    check_rank: bool = True,
) -> ModelFrame:
    """Validate the inputs and lay out all data sets for fitting: a list of data frames,
    or one long data frame whose column ``dataset`` tells the data sets apart (in order of
    first appearance). A data set that cannot be fitted (a visit with fewer than 2
    observations, a singular design) raises InputError if ``strict``, else is listed in
    ``ModelFrame.problems``. ``check_rank=False`` (with ``strict=False``) leaves the
    singular designs to the caller (:func:`rank_problems`; fit_many runs it on each chunk
    in its threads)."""
    long: pd.DataFrame | None = None
    if isinstance(datasets, pd.DataFrame):
        if dataset is None:
            raise InputError(
                "one data frame given: pass a list of data frames, or name the column that "
                "tells the data sets apart (dataset=...)"
            )
        _check_columns(datasets, [dataset], "data")
        long = datasets
        set_codes, set_names = _factorize(long[dataset].to_numpy())
        if (set_codes < 0).any():
            raise InputError(f"column {dataset} has missing values; every row needs a data set")
        datasets = [long.iloc[np.flatnonzero(set_codes == 0)]]
    elif dataset is not None:
        raise InputError("dataset= names a column of one long data frame, not of a list")
    if not datasets:
        raise InputError("no data sets given")
    outcome, names = _parse(formula)
    first = datasets[0]
    variables = sorted(names[0] | {n for n in names[1] if n in first.columns})
    needed = [*variables, subject, visit]
    for i, d in enumerate(datasets):
        _check_columns(d, needed, "data" if len(datasets) == 1 else f"data set {i}")
    used = list(dict.fromkeys(needed))
    series0 = {c: first[c] for c in used}
    values0 = {c: _values(col) for c, col in series0.items()}
    missing0 = {c: pd.isna(v) for c, v in values0.items()}
    present0 = ~np.logical_or.reduce(list(missing0.values()))
    if not present0.any():
        raise InputError("no complete observations (outcome and covariates all present)")
    design = _design_spec(formula, first, series0, present0, used, variables)
    spec, columns, factors, numeric_vars = (
        design.spec,
        design.columns,
        design.code_levels,
        design.numeric_vars,
    )
    visits = _levels_present(series0[visit], ~missing0[visit])
    if len(visits) < 2:
        raise InputError(f"visit column {visit} has fewer than 2 distinct visits")

    if long is not None:
        _check_columns(long, needed, "data")
        big, set_id, n_sets = long, set_codes, len(set_names)
        cols = {c: _values(big[c]) for c in used}
    else:
        set_id = np.repeat(np.arange(len(datasets)), [len(d) for d in datasets])
        n_sets = len(datasets)
        if n_sets == 1:
            big, cols = first, values0
        else:  # one concatenation: faster than taking each frame's columns one by one
            big = pd.concat(datasets, ignore_index=True)
            cols = {c: _values(big[c]) for c in used}
    label = "data" if n_sets == 1 else "data sets"
    codes, (subj_codes, subj_uniques) = _all_codes(
        {v: (cols[v], factors.get(v, lv)) for v, lv in design.factors.items()},
        label,
        cols[subject],
    )
    vals = {v: _numbers(cols[v], v, label) for v in numeric_vars}
    y = _outcome(design, big, cols, used, label)
    if factors.get(visit) == visits:  # the visit is a factor of the model: coded already
        vcodes = codes[visit]
    else:
        vcodes = _codes(cols[visit], visits, visit, label)
    complete = ~np.isnan(y) & (vcodes >= 0) & (subj_codes >= 0)
    for arr in codes.values():
        complete &= arr >= 0
    for num in vals.values():
        complete &= ~np.isnan(num)
    # rows stay in place: a row's subject number ``local`` is -1 where it is not used
    local, n_subj = _subjects(set_id, subj_codes, complete, n_sets)
    n_max = int(n_subj.max()) if n_subj.size else 0
    if (n_subj == 0).any():
        raise InputError(f"data set {int(np.argmin(n_subj))} has no complete observations")
    t = len(visits)
    b = n_sets
    ya = np.zeros((b, n_max, t))
    mask = np.zeros((b, n_max, t), dtype=bool)
    per_visit = np.zeros((b, t), dtype=np.int64)
    sums = np.zeros((b, len(vals) + 1))
    first_inf = np.full(b, -1, dtype=np.int64)
    numbers = np.stack(list(vals.values())) if vals else np.zeros((0, y.size))
    i = place_rows(set_id, local, vcodes, y, numbers, ya, mask, per_visit, sums, first_inf)
    if i >= 0:
        raise InputError(
            f"subject {subj_uniques[subj_codes[i]]!r} has more than one row at visit "
            f"{visits[vcodes[i]]!r}; one row per subject and visit is allowed"
        )
    factored = None
    if design.fast is not None:
        factored = _separable(design.fast, visit, codes, vals, (set_id, local, vcodes), n_subj, t)
    if factored is None:
        rows = np.flatnonzero(local >= 0)
        x = _design(
            design,
            rows.size,
            {v: arr[rows] for v, arr in codes.items()},
            {v: arr[rows] for v, arr in vals.items()},
            label,
            lambda: _rows(big, rows, used),
        )
        if not np.isfinite(x).all():
            j = int(np.flatnonzero(~np.isfinite(x).all(axis=0))[0])
            raise InputError(
                f"design column {columns[j]} of {formula!r} is not finite for some "
                "observations (e.g. log of a value <= 0); transform only values where it is "
                "defined"
            )
        xa = np.zeros((b, n_max, t, x.shape[1]))
        xa[set_id[rows], local[rows], vcodes[rows]] = x
        batch = make_batch(ya, mask, xa)
    else:  # the design rows are built from the factors only when needed
        batch = make_kron(*factored, make_batch(ya, mask))
    problems: dict[int, str] = {}
    for s in np.flatnonzero(first_inf >= 0)[::-1]:
        where = f"at data row {first_inf[s] + 1}" if b == 1 else f"in data set {s}"
        problems[int(s)] = (
            f"outcome {design.outcome} is infinite {where} (-2 log L not finite at the "
            "starting values); give finite numbers, empty cells for missing"
        )
    for s, v in np.argwhere(per_visit < 2)[::-1]:
        where = "" if b == 1 else f" in data set {s}"
        problems[int(s)] = (
            f"visit {visits[v]!r}{where} has {per_visit[s, v]} subject(s) with an observation; "
            "each visit needs at least 2 to estimate its variance"
        )
    if check_rank or strict:
        for s, message in rank_problems(batch, columns).items():
            problems.setdefault(s, message)
    if problems and strict:
        raise InputError(problems[min(problems)])
    numerics = {v: sums[:, j] / sums[:, -1] for j, v in enumerate(vals)}
    return ModelFrame(
        formula=formula,
        outcome=outcome,
        subject=subject,
        visit=visit,
        columns=columns,
        terms=[r_name(c) for c in columns],
        visits=visits,
        spec=spec,
        factors=design.factors,
        column_factors=design.column_factors,
        numerics=numerics,
        batch=batch,
        problems=dict(sorted(problems.items())),
    )


def _subjects(
    set_id: NDArray[np.int64],
    subj_codes: NDArray[np.int64],
    used: NDArray[np.bool_],
    n_sets: int,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Number of each ``used`` row's subject within its data set (subjects in code order;
    -1 for a row not used) and the number of subjects of each data set: from a table of
    data sets x subject codes when it is small (the same subject codes recur in every
    data set), else by sorting."""
    span = int(subj_codes.max()) + 1 if subj_codes.size else 1
    number = np.empty(set_id.size, dtype=np.int64)
    if n_sets * span <= 8 * subj_codes.size + 4096:
        size = np.empty(n_sets, dtype=np.int64)
        number_within(set_id, subj_codes, used, span, number, size)
        return number, size
    rows = np.flatnonzero(used)
    key = set_id[rows].astype(np.int64) * span + subj_codes[rows]
    uniq, gidx = np.unique(key, return_inverse=True)
    uniq_set = uniq // span
    start = np.searchsorted(uniq_set, np.arange(n_sets))
    number[:] = -1
    number[rows] = gidx - start[set_id[rows]]
    return number, np.bincount(uniq_set, minlength=n_sets)


@dataclass(frozen=True)
class _DesignSpec:
    """formulaic's fitted formula and whether numpy can rebuild its columns.

    ``code_levels`` and ``numeric_vars`` are the data columns coded as factors (levels in
    formulaic's coding order) and used as numbers; ``factors`` has the same levels with
    the reference first (the base of ``C(x, Treatment(...))``) for LS means and contrasts.
    """

    spec: Any
    outcome: str
    lhs: Any  # formulaic ModelSpec of the outcome, None when it is a plain column
    columns: list[str]
    code_levels: dict[str, list[Any]]
    factors: dict[str, list[Any]]
    numeric_vars: set[str]
    column_factors: list[tuple[str, ...]]
    fast: _FastDesign | None


_SPECS: dict[tuple[Any, ...], _DesignSpec] = {}


def _design_spec(
    formula: str,
    first: pd.DataFrame,
    series: dict[str, pd.Series],
    present: NDArray[np.bool_],
    used: list[str],
    variables: list[str],
) -> _DesignSpec:
    """formulaic's model spec for the complete rows ``present`` of the first data set,
    memoised on the formula, the dtypes and the levels of the non-numeric variables (all
    it depends on: the factors are coded as Categoricals of their levels in
    :func:`level_order`)."""
    key_parts: list[Any] = [formula]
    for v in variables:
        col = series[v]
        if is_factor(col):
            key_parts.append((v, "category", tuple(_levels_present(col, present))))
        else:
            key_parts.append((v, str(col.dtype)))
    key = tuple(key_parts)
    if key in _SPECS:
        return _SPECS[key]
    clean0 = _ordered(first.loc[present, used].reset_index(drop=True), variables)
    try:
        with np.errstate(all="ignore"):  # log(0) and the like: reported below, not warned
            mm = model_matrix(formula, clean0, na_action="raise")
    except Exception as exc:
        raise InputError(f"cannot build the design of {formula!r}: {exc}") from exc
    spec = mm.model_spec.rhs
    columns = list(spec.column_names)
    raw = set(variables)
    code_levels: dict[str, list[Any]] = {}  # data columns coded as factors, coding order
    factors: dict[str, list[Any]] = {}
    numeric_vars: set[str] = set()
    for term, (kind, state) in spec.encoder_state.items():
        categorical = str(getattr(kind, "value", kind)) == "categorical"
        if term in raw:
            if categorical:
                code_levels[term] = list(state["categories"])
                factors.setdefault(term, code_levels[term])
            else:
                numeric_vars.add(term)
            continue
        used = [v for v in variables if v in _variables_of(spec, term)]
        for v in used:
            if categorical and len(used) == 1:  # C(x, ...): x is a factor
                levels = list(state["categories"])
                contrasts = getattr(state.get("contrasts"), "contrasts", None)
                base = getattr(contrasts, "base", None)
                if base in levels:  # C(x, Treatment(base)): the declared reference first
                    levels = [base, *(lv for lv in levels if lv != base)]
                factors.setdefault(v, levels)
            elif is_factor(clean0[v]):  # e.g. I(SEX == 'Male')
                factors.setdefault(v, level_order(clean0[v]))
            else:  # e.g. log(x), poly(x, 2)
                numeric_vars.add(v)
    numeric_vars -= set(factors)
    column_factors = _column_factors(spec, factors)
    fast: _FastDesign | None
    try:
        fast = _FastDesign(columns, code_levels, numeric_vars)
        codes0 = {v: _codes(clean0[v].to_numpy(), lv, v, "data") for v, lv in code_levels.items()}
        vals0 = {v: clean0[v].to_numpy(dtype=float) for v in numeric_vars}
        rebuilt = fast.build(len(clean0), codes0, vals0)
        if not np.allclose(rebuilt, np.asarray(mm.rhs, dtype=float), rtol=0, atol=1e-12):
            fast = None
    except (ValueError, KeyError, TypeError):
        fast = None
    lhs = mm.model_spec.lhs
    outcome = lhs.column_names[0] if len(lhs.column_names) == 1 else formula
    coded = sorted(v for v in lhs.required_variables if v in clean0 and is_factor(clean0[v]))
    if coded:  # a text column of one value would be one dummy column of ones
        raise InputError(
            f"the outcome of {formula!r} must be one numeric column: column {coded[0]} holds "
            "text, categories or true/false values (give numbers, e.g. 6MWD in metres)"
        )
    if len(lhs.column_names) != 1 or not pd.api.types.is_numeric_dtype(mm.lhs.iloc[:, 0]):
        raise InputError(f"the outcome of {formula!r} must be one numeric column")
    out = _DesignSpec(
        spec,
        outcome,
        None if outcome in variables else lhs,
        columns,
        code_levels,
        factors,
        numeric_vars,
        column_factors,
        fast,
    )
    if len(_SPECS) > 64:
        _SPECS.clear()
    _SPECS[key] = out
    return out


def _design(
    design: _DesignSpec,
    n: int,
    codes: dict[str, NDArray[np.int64]],
    vals: dict[str, Array],
    label: str,
    frame: Callable[[], pd.DataFrame],
) -> Array:
    """Design rows of the complete observations: numpy rebuild where it reproduces formulaic."""
    if design.fast is not None:
        return design.fast.build(n, codes, vals)
    try:
        with np.errstate(all="ignore"):
            matrix = design.spec.get_model_matrix(frame(), na_action="raise")
        return np.asarray(matrix, dtype=float)
    except Exception as exc:
        raise InputError(f"cannot build the design for {label}: {exc}") from exc


def _rows(big: pd.DataFrame, rows: NDArray[np.int64], used: list[str]) -> pd.DataFrame:
    return big.iloc[rows][used]


def _data_variables(parsed: Any) -> tuple[frozenset[str], frozenset[str]]:
    """Names a formula uses: formulaic's required variables, and the names inside
    transforms it does not list (``poly(x, 2)``), function names left out; the latter
    are data columns where the data have such a column."""
    names: set[str] = set()
    for part in (parsed.lhs, parsed.rhs):
        for term in part:
            for factor in term.factors:
                try:
                    tree = ast.parse(str(factor.expr), mode="eval")
                except SyntaxError:
                    continue
                called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
                names |= {
                    n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called
                }
    return frozenset(parsed.required_variables), frozenset(names)


def _variables_of(spec: Any, name: str) -> set[str]:
    """Names a formulaic factor (``C(SEX, Treatment('M'))``) refers to."""
    for factor, names in spec.factor_variables.items():
        if str(factor) == name:
            return set(names)
    return set()


def _column_factors(spec: Any, factors: dict[str, list[Any]]) -> list[tuple[str, ...]]:
    """For each design column, the factor columns of its term, in the term's order."""
    out: list[tuple[str, ...]] = []
    for structure in spec.structure:
        names: list[str] = []
        for factor in structure.term.factors:
            names += sorted(set(spec.factor_variables.get(factor, ())) & set(factors))
        out += [tuple(dict.fromkeys(names))] * len(structure.columns)
    return out


def _outcome(
    design: _DesignSpec,
    big: pd.DataFrame,
    cols: dict[str, Array],
    used: list[str],
    label: str,
) -> Array:
    """The outcome of every row (NaN where a model variable is missing): the column, or
    its transformation (``log(FEV1)``), which must be finite where the data are."""
    outcome = str(design.outcome)
    if design.lhs is None:
        return _numbers(cols[outcome], outcome, label)
    y = np.full(len(big), np.nan)
    present = big[used].notna().all(axis=1).to_numpy()
    try:
        with np.errstate(all="ignore"):
            rows = big.iloc[np.flatnonzero(present)][used]
            values = design.lhs.get_model_matrix(rows, na_action="ignore")
        y[present] = np.asarray(values, dtype=float).ravel()
    except Exception as exc:
        raise InputError(f"cannot compute the outcome {outcome} for {label}: {exc}") from exc
    bad = present & ~np.isfinite(y)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        names = sorted(design.lhs.required_variables)
        shown = ", ".join(f"{v} = {big[v].iloc[i]!r}" for v in names)
        raise InputError(
            f"outcome {outcome} is not finite at data row {i + 1} ({shown}); "
            "transform only values where it is defined"
        )
    return y


def _separable(
    fast: _FastDesign,
    visit: str,
    codes: dict[str, NDArray[np.int64]],
    vals: dict[str, Array],
    where: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]],
    n_subj: NDArray[np.int64],
    t: int,
) -> tuple[Array, Array, NDArray[np.int64], NDArray[np.int64]] | None:
    """Factors ``c`` (B, n, Pc), ``v`` (T, Pv) and column maps with ``X[n, a, j] =
    c[n, ci[j]] * v[a, vi[j]]`` when every column is a subject-level term (constant within
    each subject) times a visit-level term (a visit indicator or 1); else None. ``where``
    holds each row's data set, subject number (-1: the row is not used) and visit;
    ``n_subj`` each data set's number of subjects, ``t`` the number of visits."""
    set_id, local, vcodes = where
    b, n_max = n_subj.size, int(n_subj.max())
    if visit not in codes:
        return None
    subj_terms: list[tuple[tuple[str, int | None], ...]] = []
    visit_terms: list[tuple[tuple[str, int | None], ...]] = []
    ci: list[int] = []
    vi: list[int] = []
    for recipe in fast.recipes:
        s_part = tuple(part for part in recipe if part[0] != visit)
        v_part = tuple(part for part in recipe if part[0] == visit)
        if len(v_part) > 1:
            return None
        for part, terms, idx in ((s_part, subj_terms, ci), (v_part, visit_terms, vi)):
            if part not in terms:
                terms.append(part)
            idx.append(terms.index(part))
    if len(set(zip(ci, vi, strict=True))) < len(ci):
        return None
    # one column at a time, scattered and checked by a compiled loop
    c = np.zeros((len(subj_terms), b * n_max))
    for j, term in enumerate(subj_terms):
        col: Array | None = None  # the product of the term's parts (no copy of a lone number)
        for var, lvl in term:
            factor = (codes[var] == lvl) if lvl is not None else vals[var]
            col = np.asarray(factor, dtype=float) if col is None else col * factor
        if col is None:  # the intercept: 1 for every subject with a used row
            c[j] = (np.arange(n_max) < n_subj[:, None]).ravel()
        elif not scatter_constant(set_id, local, n_max, col, c[j]):
            return None  # a covariate varies within a subject
    design_code = np.full(t, -1)
    if codes[visit] is not vcodes:  # the visit coded apart from the model's factor
        rows = np.flatnonzero(local >= 0)
        design_code[vcodes[rows]] = codes[visit][rows]
        if not np.array_equal(design_code[vcodes[rows]], codes[visit][rows]):
            return None
    else:
        design_code = np.arange(t)
    v = np.ones((t, len(visit_terms)))
    for j, term in enumerate(visit_terms):
        for _, lvl in term:
            v[:, j] *= design_code == lvl
    # X = fast.build: the same products in the same order, times a 0/1 visit indicator,
    # so c[ci] * v[vi] reproduces it bit for bit
    return (
        np.ascontiguousarray(c.T).reshape(b, n_max, -1),
        v,
        np.array(ci, dtype=np.int64),
        np.array(vi, dtype=np.int64),
    )


def _correlation(xtx: Array) -> Array:
    scale = np.sqrt(np.clip(np.diagonal(xtx, axis1=1, axis2=2), 1e-300, None))
    return np.asarray(xtx / (scale[:, :, None] * scale[:, None, :]))


def rank_problems(
    batch: Batch, columns: list[str], first: int = 0, n_sets: int | None = None
) -> dict[int, str]:
    """Data sets with a singular (rank-deficient) fixed-effects design, with a message
    naming the aliased columns; ``batch`` holds data sets ``first``, ``first + 1``, ...
    of ``n_sets`` in all (default: all of them)."""
    b = batch.n_sets
    total = b if n_sets is None else n_sets
    # smallest eigenvalue below 1e-10 times the largest: a Cholesky factor of corr - 1e-10
    # tr(corr) I (tr >= largest eigenvalue) rules it out; the eigenvalues only where not
    if batch.kron is not None:  # compiled, from the per-pattern sums
        flagged = np.zeros(b, dtype=bool)
        with np.errstate(over="ignore", invalid="ignore"):
            rank_suspects(kron_arrays(batch, batch.kron), flagged)
        suspect = np.flatnonzero(flagged)
    else:
        corr = _correlation(normal_equations(batch)[0])
        trace = np.trace(corr, axis1=1, axis2=2)
        shifted = corr - (1e-10 * trace)[:, None, None] * np.eye(corr.shape[1])
        suspect = np.flatnonzero(~batched_cholesky(shifted)[1])
    singular = np.zeros(b, dtype=bool)
    if suspect.size:
        corr = _correlation(normal_equations(batch.subset(suspect))[0])
        vals = np.linalg.eigvalsh(corr)
        singular[suspect] = ~(vals[:, 0] >= 1e-10 * vals[:, -1])
    out = {}
    for s in np.flatnonzero(singular):
        x = batch.subset(np.array([s])).x[0].reshape(-1, len(columns))
        x = x[np.abs(x).sum(axis=1) > 0]
        zero = [c for j, c in enumerate(columns) if not np.any(x[:, j])]
        if not zero:
            from scipy.linalg import qr  # 0.15 s to import: only for a singular design

            r, piv = qr(x, mode="r", pivoting=True)
            diag = np.abs(np.diag(r))
            rank = int((diag > 1e-10 * diag[0]).sum())
            zero = [columns[j] for j in piv[rank:]]
        where = "" if total == 1 else f" in data set {first + s}"
        out[first + int(s)] = (
            f"singular fixed-effects design{where}: column(s) {', '.join(zero)} are all zero "
            "or linear combinations of the others; drop terms or levels without observations"
        )
    return out
