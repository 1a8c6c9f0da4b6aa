"""Typed view of a publication's tables (baseline, adverse events, outcomes, attendance).

Numbers are the PRINTED strings, so that "76.0" and "9.0" keep their one decimal;
:func:`decimals` and :func:`printed_as` turn them into what a comparison needs. The simulator's
``--match-published`` mode and ``frailtrial replicate`` both read these objects.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from frailtrial.protocol.loader import load_packaged, package_yaml_names

_PACKAGE = "frailtrial.protocol.published"


def decimals(printed: str) -> int:
    """Decimals of a printed number: ``"76.0"`` -> 1, ``"20"`` -> 0."""
    return len(printed.split(".")[1]) if "." in printed else 0


def printed_as(value: float, printed: str) -> bool:
    """Whether ``value`` rounds to ``printed`` at the printed number of decimals."""
    return f"{value:.{decimals(printed)}f}" == printed


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cell(_Frozen):
    """One printed cell: mean/SD, median (Q1, Q3), or n (%); markers as printed."""

    mean: str | None = None
    sd: str | None = None
    median: str | None = None
    q1: str | None = None
    q3: str | None = None
    n: int | None = None
    pct: str | None = None
    markers: list[str] = Field(default_factory=list)


Summary = Literal["mean_sd", "median_iqr", "n_pct"]
_NEEDS: dict[str, tuple[str, ...]] = {
    "mean_sd": ("mean", "sd"),
    "median_iqr": ("median", "q1", "q3"),
    "n_pct": ("n", "pct"),
}


class BaselineRow(_Frozen):
    """A Table 1 row: a participants.csv column (and level for categories) by arm."""

    name: str
    label: str
    summary: Summary
    cells: dict[str, Cell]
    level: str | None = None
    group: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> BaselineRow:
        for arm, cell in self.cells.items():
            missing = [f for f in _NEEDS[self.summary] if getattr(cell, f) is None]
            if missing:
                raise ValueError(f"row {self.name} arm {arm}: {self.summary} needs {missing}")
        return self


class BaselineTable(_Frozen):
    title: str
    n: dict[str, int]
    rows: list[BaselineRow]
    notes: list[str] = Field(default_factory=list)


class AdverseEventRow(_Frozen):
    """A Table 2 row: participants with the term, by arm."""

    term: str
    body_system: str
    related: bool
    cells: dict[str, Cell]
    p: str | None = None
    note: str | None = None


class AdverseEventTable(_Frozen):
    title: str
    n: dict[str, int]
    serious_adverse_events: dict[str, int]
    rows: list[AdverseEventRow]
    notes: list[str] = Field(default_factory=list)


class OutcomeRow(_Frozen):
    """A Table 3 row: ``cells[arm][visit]`` holds the printed mean, SD and markers."""

    variable: str
    label: str
    cells: dict[str, dict[str, Cell]]

    @model_validator(mode="after")
    def _complete(self) -> OutcomeRow:
        for arm, by_visit in self.cells.items():
            for visit, cell in by_visit.items():
                if cell.mean is None or cell.sd is None:
                    raise ValueError(f"{self.variable} {arm} {visit}: needs mean and sd")
        return self


class TextChange(_Frozen):
    """A change from baseline printed in the text: mean ± SD and the p-value vs baseline."""

    variable: str
    arm: str
    visit: str
    mean: str
    sd: str
    p: str


class TextComparison(_Frozen):
    """A between-group p-value printed in the text (``visit`` may be ``all``)."""

    variable: str
    visit: str
    p: str
    what: str | None = None
    note: str | None = None


class OutcomeTable(_Frozen):
    title: str
    visits: list[str]
    markers_vs_baseline: dict[str, str]
    markers_vs_placebo: dict[str, str]
    rows: list[OutcomeRow]
    changes_from_baseline: list[TextChange] = Field(default_factory=list)
    between_group_p: list[TextComparison] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def row(self, variable: str) -> OutcomeRow:
        """The row of ``variable`` (KeyError if the table has none)."""
        for r in self.rows:
            if r.variable == variable:
                return r
        raise KeyError(variable)


class Withdrawal(_Frozen):
    arm: str
    count: int
    reason: str
    when: str
    day_approx: int


class Attendance(_Frozen):
    """Participants assessed per visit and arm; the scheduled and missed totals as printed."""

    scheduled_visits: int
    missed_visits: int
    missed_percent_printed: str
    visits: dict[str, dict[str, int]]
    withdrawals: list[Withdrawal] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class Screening(_Frozen):
    """The screening funnel (CONSORT top): screened, excluded, randomized."""

    screened: int
    excluded: int
    randomized: int
    period: str
    first_enrolled: str
    last_follow_up: str
    exclusion_reason: str


class PublishedTrial(_Frozen):
    """Everything a publication printed that frailtrial reproduces."""

    name: str
    protocol: str
    source: str
    arms: list[str]
    n_randomized: dict[str, int]
    screening: Screening
    attendance: Attendance
    table1: BaselineTable
    table2: AdverseEventTable
    table3: OutcomeTable


def published_names() -> list[str]:
    """Names of the publications shipped with frailtrial (one YAML file each)."""
    return package_yaml_names(_PACKAGE)


def load_published(name: str) -> PublishedTrial:
    """The published tables of a trial by name (e.g. ``huc-msc-2024``)."""
    return load_packaged(_PACKAGE, name, PublishedTrial, "published tables")
