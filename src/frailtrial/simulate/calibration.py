"""What the virtual trial is calibrated to: published tables plus labelled assumptions.

Each built-in protocol has a calibration file (``simulate/calibrations/<name>.yaml``, package
data). It names the published tables it takes numbers from (``published:``) and holds every
number the publication does not give, with the reasons under ``assumptions``. This module
reads it and resolves one :class:`Calibration`: per arm (and visit) means, SDs, rates and
exact published counts, ready for the generators.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from frailtrial.errors import ConvergenceError, InputError
from frailtrial.protocol import Protocol
from frailtrial.protocol.loader import package_yaml_names, read_yaml, validation_problems
from frailtrial.protocol.published import PublishedTrial, load_published
from frailtrial.simulate.bounds import Bounds, variable_bounds

_PACKAGE = "frailtrial.simulate.calibrations"
_T = TypeVar("_T")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _MeanSD(_Strict):
    mean: float
    sd: float


class _BaselineEntry(_Strict):
    name: str
    kind: Literal["continuous", "binary", "categorical", "ordinal"]
    step: float = 0.01
    lower: float | None = None
    upper: float | None = None
    positive: bool = False
    cells: dict[str, _MeanSD] = Field(default_factory=dict)
    levels: list[str | int] = Field(default_factory=list)
    probs: dict[str, list[float]] = Field(default_factory=dict)


class _Outcomes(_Strict):
    steps: dict[str, float] = Field(default_factory=dict)
    lloq: dict[str, float] = Field(default_factory=dict)
    only_sex: dict[str, Literal["male", "female"]] = Field(default_factory=dict)
    baseline: dict[str, tuple[float, float]] = Field(default_factory=dict)
    shifts: dict[str, dict[str, list[float]]] = Field(default_factory=dict)


class _Attendance(_Strict):
    miss_probability: float = 0.0
    withdrawal_probability: float = 0.0
    withdrawal_days: tuple[int, int] = (31, 179)
    missed_reason: str = "did not attend"


class _AeTerm(_Strict):
    term: str
    body_system: str
    probability: float
    severity: Literal["mild", "moderate", "severe", "life_threatening", "fatal"] = "mild"
    serious: bool = False
    related: bool = False
    onset_day: tuple[int, int] | None = None


class _AdverseEvents(_Strict):
    onset_day: tuple[int, int] = (1, 180)
    duration_days: tuple[int, int] = (1, 14)
    terms: list[_AeTerm] = Field(default_factory=list)


class _Screening(_Strict):
    screened_per_randomized: float | None = None
    days_before_randomization: tuple[int, int] = (1, 28)
    baseline_days_before: tuple[int, int] = (0, 7)
    weights: dict[Literal["frailty", "age", "inclusion", "exclusion", "lab"], float]


class _Dosing(_Strict):
    lot_prefix: dict[str, str]
    infusions_per_lot: dict[str, int]


class _Correlation(_Strict):
    """corr(visit i, visit j) = floor + (1 - floor) * decay^|i - j| (an AR(1) on a floor)."""

    floor: float = Field(ge=0, lt=1)
    decay: float = Field(ge=0, lt=1)
    by_variable: dict[str, _Correlation] = Field(default_factory=dict)


class CalibrationFile(_Strict):
    """The calibration YAML as written."""

    protocol: str
    published: str | None = None
    start_date: str
    recruitment_days: int = Field(gt=0)
    assumptions: list[str]
    correlation: _Correlation
    height_cm: dict[Literal["male", "female"], tuple[float, float]]
    baseline: list[_BaselineEntry]
    outcomes: _Outcomes
    attendance: _Attendance
    adverse_events: _AdverseEvents
    screening: _Screening
    dosing: _Dosing


# Resolved calibration ------------------------------------------------------------------


@dataclass(frozen=True)
class Continuous:
    """A continuous characteristic: per-arm mean and SD (and the printed strings if any)."""

    name: str
    step: float
    bounds: Bounds
    mean: dict[str, float]
    sd: dict[str, float]
    printed: dict[str, tuple[str, str]] | None = None


@dataclass(frozen=True)
class Categorical:
    """A categorical, binary (levels 0/1) or ordinal characteristic: per-arm probabilities,
    and the published exact sorted values per arm for --match-published."""

    name: str
    kind: Literal["binary", "categorical", "ordinal"]
    levels: list[str | int]
    probs: dict[str, np.ndarray]
    exact: dict[str, list[str | int]] | None = None


@dataclass(frozen=True)
class Cell:
    """One outcome cell (variable x arm x visit): mean and SD, printed strings if published."""

    mean: float
    sd: float
    printed: tuple[str, str] | None = None


@dataclass(frozen=True)
class AeTerm:
    term: str
    body_system: str
    severity: str
    serious: bool
    related: bool
    probability: dict[str, float]
    onset_day: tuple[int, int]
    count: dict[str, int] | None = None


@dataclass(frozen=True)
class Calibration:
    """Everything the generators need, resolved per arm and visit."""

    protocol: str
    file: CalibrationFile
    published: PublishedTrial | None
    baseline: list[Continuous | Categorical]
    cells: dict[tuple[str, str, str], Cell]
    bounds: dict[str, Bounds]
    steps: dict[str, float]
    attend_rate: dict[tuple[str, str], float]
    withdraw_prob: dict[str, float]
    attended_exact: dict[tuple[str, str], int] | None
    withdrawal_day_exact: dict[str, list[int]]
    ae_terms: list[AeTerm]
    screened_per_randomized: float
    correlation: dict[str, np.ndarray] = field(repr=False)


def calibration_names() -> list[str]:
    """Protocols with a calibration shipped in frailtrial."""
    return package_yaml_names(_PACKAGE)


def _per_arm(values: dict[str, _T], arms: list[str], what: str) -> dict[str, _T]:
    if "all" in values:
        return dict.fromkeys(arms, values["all"])
    missing = [a for a in arms if a not in values]
    if missing:
        raise KeyError(f"{what} in arm {missing[0]!r}")
    return {a: values[a] for a in arms}


def ordinal_from_quartiles(
    median: float, q1: float, q3: float, n: int, lower: int, upper: int
) -> list[int]:
    """Sorted whole-number scores whose median and quartiles are the printed ones under the
    common quantile definitions (numpy linear, Weibull/SPSS, Hazen, inverted CDF).

    Fifths of the sample take q1 - 1, q1, median, q3, q3 + 1 (clipped to the scale)."""
    r = (np.arange(1, n + 1) - 0.5) / n
    values = np.select(
        [r <= 0.2, r < 0.4, r <= 0.6, r < 0.8],
        [max(lower, q1 - 1), q1, median, q3],
        default=min(upper, q3 + 1),
    ).astype(int)
    for method in ("linear", "weibull", "hazen", "inverted_cdf"):
        got = np.quantile(values, [0.25, 0.5, 0.75], method=method)
        if not np.allclose(got, [q1, median, q3]):
            raise ConvergenceError(
                f"no score pattern of {n} gives median {median} (IQR {q1}, {q3}) by {method}"
            )
    return [int(v) for v in values]


def _shares(values: list[str | int], levels: list[str | int]) -> np.ndarray:
    """The share of ``values`` at each level."""
    return np.array([values.count(lv) / len(values) for lv in levels])


def _baseline(
    f: CalibrationFile, p: Protocol, pub: PublishedTrial | None
) -> list[Continuous | Categorical]:
    arms = p.arm_names
    rows = {} if pub is None else {(r.name, r.level): r for r in pub.table1.rows}
    out: list[Continuous | Categorical] = []
    for e in f.baseline:
        bounds = Bounds(e.lower, e.upper, e.positive)
        if e.kind == "continuous":
            row = rows.get((e.name, None))
            if row is not None:
                printed = {a: (str(row.cells[a].mean), str(row.cells[a].sd)) for a in arms}
                mean = {a: float(printed[a][0]) for a in arms}
                sd = {a: float(printed[a][1]) for a in arms}
                out.append(Continuous(e.name, e.step, bounds, mean, sd, printed))
            else:
                cells = _per_arm(dict(e.cells), arms, e.name)
                mean = {a: c.mean for a, c in cells.items()}
                sd = {a: c.sd for a, c in cells.items()}
                out.append(Continuous(e.name, e.step, bounds, mean, sd))
            continue
        if e.kind == "binary" and (e.name, None) in rows:
            row = rows[(e.name, None)]
            exact: dict[str, list[str | int]] = {}
            probs: dict[str, np.ndarray] = {}
            for a in arms:
                k, n = int(row.cells[a].n or 0), pub.table1.n[a]  # type: ignore[union-attr]
                exact[a] = list[str | int]([0] * (n - k) + [1] * k)
                probs[a] = np.array([1 - k / n, k / n])
            out.append(Categorical(e.name, "binary", [0, 1], probs, exact))
            continue
        level_rows = [r for (name, lvl), r in rows.items() if name == e.name and lvl is not None]
        if e.kind == "categorical" and level_rows:
            levels: list[str | int] = [str(r.level) for r in level_rows]
            exact = {
                a: [lvl for r in level_rows for lvl in [str(r.level)] * int(r.cells[a].n or 0)]
                for a in arms
            }
            probs = {a: _shares(exact[a], levels) for a in arms}
            out.append(Categorical(e.name, "categorical", levels, probs, exact))
            continue
        if e.kind == "ordinal" and (e.name, None) in rows:
            row = rows[(e.name, None)]
            lo, hi = int(e.lower or 0), int(e.upper or 10)
            exact = {}
            for a in arms:
                c = row.cells[a]
                exact[a] = list[str | int](
                    ordinal_from_quartiles(
                        float(c.median or 0),
                        float(c.q1 or 0),
                        float(c.q3 or 0),
                        pub.table1.n[a],  # type: ignore[union-attr]
                        lo,
                        hi,
                    )
                )
            levels = list(range(lo, hi + 1))
            probs = {a: _shares(exact[a], levels) for a in arms}
            out.append(Categorical(e.name, "ordinal", levels, probs, exact))
            continue
        levels = list(e.levels) if e.levels else [0, 1]
        p_arm = _per_arm(dict(e.probs), arms, e.name)
        probs = {a: np.asarray(v, float) / float(np.sum(v)) for a, v in p_arm.items()}
        out.append(Categorical(e.name, e.kind, levels, probs))
    names = [c.name for c in out]
    missing = [c.name for c in p.baseline_characteristics if c.name not in names]
    if missing:
        raise KeyError(f"baseline characteristic {missing[0]!r}")
    return out


def _cells(
    f: CalibrationFile, p: Protocol, pub: PublishedTrial | None
) -> dict[tuple[str, str, str], Cell]:
    out: dict[tuple[str, str, str], Cell] = {}
    visits = [v.name for v in p.assessment_visits]
    for var in p.variables:
        if pub is not None:
            row = pub.table3.row(var.name)
            for arm in p.arm_names:
                for visit in visits:
                    c = row.cells[arm][visit]
                    ms = (str(c.mean), str(c.sd))
                    out[(var.name, arm, visit)] = Cell(float(ms[0]), float(ms[1]), ms)
            continue
        if var.name not in f.outcomes.baseline or var.name not in f.outcomes.shifts:
            raise KeyError(f"outcomes.baseline/shifts of variable {var.name!r}")
        mean0, sd = f.outcomes.baseline[var.name]
        shifts = f.outcomes.shifts[var.name]
        for arm in p.arm_names:
            if arm not in shifts:
                raise KeyError(f"outcomes.shifts.{var.name} in arm {arm!r}")
            deltas = [0.0, *shifts[arm]]
            if len(deltas) != len(visits):
                raise KeyError(f"outcomes.shifts.{var.name}.{arm} (one per follow-up visit)")
            for visit, d in zip(visits, deltas, strict=True):
                out[(var.name, arm, visit)] = Cell(mean0 + d, sd)
    return out


def _correlation(f: CalibrationFile, p: Protocol) -> dict[str, np.ndarray]:
    """Each variable's correlation matrix across the assessment visits."""
    n_visits = len(p.assessment_visits)
    lag = np.abs(np.subtract.outer(np.arange(n_visits), np.arange(n_visits)))
    out = {}
    for var in p.variables:
        c = f.correlation.by_variable.get(var.name, f.correlation)
        out[var.name] = c.floor + (1 - c.floor) * c.decay**lag
    return out


def load_calibration(protocol: Protocol, path: str | Path | None = None) -> Calibration:
    """The calibration in ``path`` (a YAML file like the built-in ones), else the built-in
    calibration of the protocol; InputError naming what is missing or wrong."""
    if path is None:
        if protocol.name not in calibration_names():
            raise InputError(
                f"protocol {protocol.name!r} has no built-in simulator calibration "
                f"(built-in: {', '.join(calibration_names())}); pass one with --calibration FILE"
            )
        source = f"{protocol.name} (built-in)"
        text = resources.files(_PACKAGE).joinpath(f"{protocol.name}.yaml").read_text("utf-8")
    else:
        source = str(path)
        try:
            text = Path(path).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"calibration {source}: cannot read ({exc})") from None
    data = read_yaml(text, f"calibration {source}")
    try:
        f = CalibrationFile.model_validate(data)
    except ValidationError as exc:
        listed = "; ".join(f"{where}: {msg}" for where, msg in validation_problems(exc))
        raise InputError(f"calibration {source}: {listed}") from None
    if f.protocol != protocol.name:
        raise InputError(
            f"calibration {source} is for protocol {f.protocol!r}, not {protocol.name!r}"
        )
    return resolve_calibration(protocol, f, source)


def resolve_calibration(protocol: Protocol, f: CalibrationFile, source: str) -> Calibration:
    """The calibration ``f`` resolved for ``protocol``; InputError naming a missing value."""
    try:
        return _resolve(protocol, f)
    except KeyError as exc:
        raise InputError(
            f"calibration {source}: no value for {exc.args[0]} of protocol {protocol.name!r}"
        ) from None


def _resolve(protocol: Protocol, f: CalibrationFile) -> Calibration:
    pub = load_published(f.published) if f.published else None
    arms = protocol.arm_names
    visits = [v.name for v in protocol.assessment_visits]
    if pub is not None:
        att = pub.attendance.visits
        attend_rate = {(v, a): att[v][a] / pub.n_randomized[a] for v in visits for a in arms}
        attended_exact: dict[tuple[str, str], int] | None = {
            (v, a): att[v][a] for v in visits for a in arms
        }
        withdraw_prob = dict.fromkeys(arms, 0.0)
        withdrawal_day_exact: dict[str, list[int]] = {a: [] for a in arms}
        for w in pub.attendance.withdrawals:
            withdraw_prob[w.arm] += w.count / pub.n_randomized[w.arm]
            withdrawal_day_exact[w.arm] += [w.day_approx] * w.count
        screened = pub.screening.screened / pub.screening.randomized
        ae_terms = [
            AeTerm(
                r.term,
                r.body_system,
                "mild",
                False,
                r.related,
                {a: int(r.cells[a].n or 0) / pub.table2.n[a] for a in arms},
                f.adverse_events.onset_day,
                {a: int(r.cells[a].n or 0) for a in arms},
            )
            for r in pub.table2.rows
        ]
    else:
        base = 1.0 - f.attendance.miss_probability
        attend_rate = {
            (v.name, a): 1.0 if v.kind == "baseline" else base
            for v in protocol.assessment_visits
            for a in arms
        }
        attended_exact = None
        withdraw_prob = dict.fromkeys(arms, f.attendance.withdrawal_probability)
        withdrawal_day_exact = {a: [] for a in arms}
        screened = f.screening.screened_per_randomized or 1.0
        ae_terms = [
            AeTerm(
                t.term,
                t.body_system,
                t.severity,
                t.serious,
                t.related,
                dict.fromkeys(arms, t.probability),
                t.onset_day or f.adverse_events.onset_day,
            )
            for t in f.adverse_events.terms
        ]
    steps = {v.name: f.outcomes.steps.get(v.name, 10.0**-v.decimals) for v in protocol.variables}
    return Calibration(
        protocol=protocol.name,
        file=f,
        published=pub,
        baseline=_baseline(f, protocol, pub),
        cells=_cells(f, protocol, pub),
        bounds={v.name: variable_bounds(protocol, v.name) for v in protocol.variables},
        steps=steps,
        attend_rate=attend_rate,
        withdraw_prob=withdraw_prob,
        attended_exact=attended_exact,
        withdrawal_day_exact=withdrawal_day_exact,
        ae_terms=ae_terms,
        screened_per_randomized=screened,
        correlation=_correlation(f, protocol),
    )
