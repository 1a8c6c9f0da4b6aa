"""The protocol of a trial as a pydantic model: identity, arms, randomization, blinding,
eligibility, visits, variables, endpoints, analysis plan and instrument conventions.

Structural rules (types, ranges, allowed values) live on the fields; rules that tie fields
together (block sizes against ratios, endpoints against visits) live in :func:`cross_check`,
and rules against the instrument library and the schedule of assessments in
:mod:`frailtrial.protocol.checks`, so that every problem of a protocol can be reported at
once, each with its path.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from frailtrial.instruments.options import (
    Eq5d5lValueSet,
    FriedCriteria,
    LloqSubstitution,
    Sf36Norms,
    Sf36Version,
    convention_options,
)
from frailtrial.stats.model_options import CovarianceName, DfMethod, MethodName

Role = Literal[
    "admin",
    "investigator",
    "coordinator",
    "outcome_assessor",
    "unblinded_pharmacist",
    "statistician",
    "monitor",
    "dsmb",
    "medical_monitor",
    "participant",
]
STAFF_ROLES: tuple[str, ...] = tuple(r for r in get_args(Role) if r != "participant")
"""The roles a person working on the trial can hold (everyone but the participant)."""
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]


SEX_LEVELS = ("male", "female")  # the levels of sex in protocols and the tidy dataset
PopulationName = Literal["itt", "safety", "per_protocol", "completers"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Identity(_Strict):
    """Who and what the trial is."""

    registry_id: str = Field(description="Registry number, e.g. NCT04314011")
    title: str
    short_title: str
    phase: Literal["I", "I/II", "II", "IIa", "IIb", "II/III", "III", "IV"]
    design: str = "randomized, double-blind, placebo-controlled"
    sites: list[str] = Field(min_length=1)
    citation: str | None = None


class DoseRule(_Strict):
    """How much each infusion holds: cells per kg of body weight, a fixed count, or placebo."""

    kind: Literal["per_kg", "fixed", "placebo"]
    cells_per_kg: Annotated[float, Field(gt=0)] | None = None
    cells: Annotated[float, Field(gt=0)] | None = None
    product: str
    route: Literal["intravenous", "intramuscular", "transendocardial"] = "intravenous"
    infusion_days: list[PositiveInt] = Field(min_length=1, description="Study days (1 = first)")
    volume_ml: Annotated[float, Field(gt=0)] | None = None


class Arm(_Strict):
    """One arm: name used in the dataset, role, allocation ratio and dose rule."""

    name: Name
    label: str
    role: Literal["active", "placebo"]
    ratio: PositiveInt
    dose: DoseRule


class Randomization(_Strict):
    """Allocation scheme. Block sizes must be multiples of the sum of the arm ratios;
    ``random_permuted_blocks`` draws each block's size at random from ``block_sizes``.
    Minimization (over ``strata`` as factors) gives the arm that minimizes imbalance with
    probability ``minimization_p`` (< 1, so the next arm cannot be foretold), another otherwise.
    """

    scheme: Literal["permuted_blocks", "random_permuted_blocks", "minimization", "simple"]
    block_sizes: list[PositiveInt] = Field(default_factory=list)
    strata: list[Name] = Field(default_factory=list)
    minimization_p: Annotated[float, Field(gt=0.5, lt=1)] = 0.8
    concealment: str = "central list, sequentially numbered"
    unit: Literal["participant"] = "participant"


class Blinding(_Strict):
    """Which roles are blinded to the allocation; the others may read an arm."""

    level: Literal["double", "single", "open"]
    blinded_roles: list[Role]
    unblinded_roles: list[Role]
    placebo_matching: str | None = None


class FrailtyCriterion(_Strict):
    """Inclusion by a frailty instrument's score range."""

    instrument: str
    score_min: float
    score_max: float


class Exclusion(_Strict):
    """A named yes/no exclusion item: answering yes excludes."""

    id: Name
    text: str


class LabThreshold(_Strict):
    """A lab eligibility threshold: value must lie in [minimum, maximum] (either may be open)."""

    variable: Name
    label: str
    unit: str
    minimum: float | None = None
    maximum: float | None = None
    relative_to_uln: bool = False


class Eligibility(_Strict):
    """Eligibility as data, evaluated by the EDC's screening service."""

    age_min: NonNegativeInt
    age_max: PositiveInt
    frailty: FrailtyCriterion
    inclusions: list[Exclusion] = Field(
        default_factory=list, description="Other yes/no items that must be yes to be included"
    )
    exclusions: list[Exclusion] = Field(default_factory=list)
    labs: list[LabThreshold] = Field(default_factory=list)
    other_instruments: list[FrailtyCriterion] = Field(default_factory=list)


class Visit(_Strict):
    """A scheduled visit: target study day (1 = first infusion) and its window in days."""

    name: Name
    label: str
    kind: Literal["screening", "baseline", "treatment", "follow_up"]
    day: int
    window_before: NonNegativeInt = 0
    window_after: NonNegativeInt = 0
    instruments: list[str] = Field(default_factory=list)
    samples: list[str] = Field(default_factory=list)


class Variable(_Strict):
    """An outcome variable as it appears in measurements.csv."""

    name: Name
    label: str
    unit: str | None = None
    instrument: str
    result: str = Field(description="Which result of the instrument's score the variable holds")
    sample: str | None = Field(
        default=None,
        description="The visit sample a laboratory variable is measured in (one of a visit's "
        "samples); the variable is collected at the visits that take this sample or list "
        "its instrument",
    )
    decimals: NonNegativeInt = 2
    lloq: Annotated[float, Field(gt=0)] | None = None


class Endpoint(_Strict):
    """An endpoint: variable, when it is judged, and which direction is benefit."""

    name: Name
    kind: Literal["primary", "secondary", "safety"]
    variable: Name
    visit: Name
    measure: Literal["change_from_baseline", "value", "incidence"] = "change_from_baseline"
    direction: Literal["higher", "lower"] = "higher"
    description: str | None = None


class BaselineCharacteristic(_Strict):
    """A row of Table 1: a column of participants.csv and how it is summarised."""

    name: Name
    label: str
    kind: Literal["continuous", "binary", "categorical", "ordinal"]
    unit: str | None = None
    summary: Literal["auto", "mean_sd", "median_iqr", "n_pct"] = "auto"
    group: str | None = None
    decimals: NonNegativeInt = 2
    levels: list[str] = Field(default_factory=list)

    @property
    def stratum_levels(self) -> list[str] | None:
        """The levels a stratum on this characteristic takes: the declared levels, no/yes
        for a binary one, None when it has none (it cannot stratify)."""
        if self.levels:
            return list(self.levels)
        return ["no", "yes"] if self.kind == "binary" else None


class Population(_Strict):
    """An analysis population and its definition."""

    name: PopulationName
    definition: str


class ModelSpec(_Strict):
    """A model of the analysis plan."""

    name: Name
    kind: Literal["mmrm", "random_intercept"]
    outcome: Literal["change_from_baseline", "value"]
    baseline_covariate: bool = True
    covariates: list[Name] = Field(default_factory=list)
    # the names the stats engine fits, from its one registry (frailtrial.stats.model_options)
    covariance: CovarianceName = "us"
    method: MethodName = "reml"
    df: DfMethod = "kenward_roger"
    role: Literal["primary", "supportive"] = "primary"

    @model_validator(mode="before")
    @classmethod
    def _random_intercept_df(cls, data: Any) -> Any:
        """A random-intercept model reports Satterthwaite df (the only method it has):
        that is its default, and any other df is refused rather than ignored."""
        if isinstance(data, dict) and data.get("kind") == "random_intercept":
            data = {**data, "df": data.get("df", "satterthwaite")}
            if data["df"] != "satterthwaite":
                raise ValueError(
                    f"df {data['df']!r}: a random_intercept model reports Satterthwaite df; "
                    "use df: satterthwaite (or leave df out)"
                )
        return data


IceStrategy = Literal["MAR", "JR", "CR", "CIR", "LMCF", "treatment_policy"]
ICE_STRATEGIES: tuple[str, ...] = get_args(IceStrategy)
"""How an intercurrent event's missing data are imputed: missing at random, jump to
reference, copy reference, copy increments from reference, last mean carried forward, or
treatment policy (data after the event are used as observed, missing ones imputed MAR)."""
IceEvent = Literal["withdrawal", "treatment_discontinuation"]
ICE_EVENTS: tuple[str, ...] = get_args(IceEvent)
"""The intercurrent events intercurrent_events.csv records."""
SensitivityMethod = Literal["condmean-jackknife", "condmean-bootstrap", "approx-bayes"]
SENSITIVITY_METHODS: tuple[str, ...] = get_args(SensitivityMethod)
SummaryMeasure = Literal["difference_in_means"]


class IntercurrentEvent(_Strict):
    """An intercurrent event of an estimand and the strategy that handles it."""

    event: IceEvent
    strategy: IceStrategy


class TippingPoint(_Strict):
    """The grid of deltas searched for the tipping point: ``steps`` evenly spaced values
    from ``low`` to ``high`` (added to the imputed values of the active arms)."""

    low: float
    high: float
    steps: Annotated[int, Field(ge=2, le=200)] = 20


class SensitivityAnalysis(_Strict):
    """A sensitivity analysis of an estimand: multiple imputation by ``method`` under
    ``strategy`` (every intercurrent event not under treatment policy; None: each
    participant's strategy in intercurrent_events.csv), imputed values of the active arms
    shifted by ``delta``, and optionally a tipping-point search. ``samples`` is required for
    the bootstrap and approximate Bayesian methods (the jackknife has one sample per
    participant)."""

    name: Name
    method: SensitivityMethod = "condmean-jackknife"
    strategy: IceStrategy | None = None
    delta: float = 0.0
    tipping_point: TippingPoint | None = None
    samples: PositiveInt | None = None
    seed: NonNegativeInt = 0


class Estimand(_Strict):
    """The ICH E9(R1) attributes of an endpoint's estimand (the treatment is each active
    arm vs the placebo arm) and the sensitivity analyses that stress its assumption."""

    endpoint: Name
    population: PopulationName
    variable: Name
    intercurrent_events: list[IntercurrentEvent] = Field(min_length=1)
    summary_measure: SummaryMeasure = "difference_in_means"
    sensitivity: list[SensitivityAnalysis] = Field(default_factory=list)

    def strategy_of(self, event: str) -> str | None:
        """The strategy this estimand declares for ``event`` (None when it has none)."""
        return next((i.strategy for i in self.intercurrent_events if i.event == event), None)


class AnalysisPlan(_Strict):
    """What the statistician committed to before unblinding."""

    populations: list[Population]
    primary_population: PopulationName = "itt"
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    normality_test: Literal["shapiro_wilk"] = "shapiro_wilk"
    normality_alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    between_groups: Literal["t_or_mann_whitney", "t", "mann_whitney"] = "t_or_mann_whitney"
    within_group: Literal["paired_t_or_wilcoxon", "paired_t", "wilcoxon"] = "paired_t_or_wilcoxon"
    categorical: Literal["chi_square", "fisher", "chi_square_or_fisher"] = "chi_square_or_fisher"
    multiplicity: Literal["bonferroni", "holm", "hochberg", "dunnett", "none"] = Field(
        "bonferroni",
        description="Adjustment across the active arms vs placebo (each model's effects at a "
        "visit) and across Table 3's post-baseline visits; dunnett applies to the model "
        "contrasts, p-value-only families then take bonferroni",
    )
    fixed_sequence: list[Name] = Field(
        default_factory=list,
        description="Endpoint names in testing order (hierarchical testing: an endpoint is "
        "tested only when every arm vs placebo was significant at alpha for each one before)",
    )
    within_group_alpha: Annotated[float, Field(gt=0, lt=1)] = 0.01
    models: list[ModelSpec] = Field(default_factory=list)
    estimands: list[Estimand] = Field(
        default_factory=list,
        description="Per endpoint: its estimand (ICH E9(R1)) and sensitivity analyses",
    )
    dose_response: bool = False
    te_sae_window_days: PositiveInt | None = None
    ae_collection_days: PositiveInt = 180
    markers_vs_baseline: dict[str, float] = Field(
        default_factory=dict, description="Table 3 marker -> p threshold, e.g. '*': 0.01"
    )
    markers_vs_control: dict[str, float] = Field(
        default_factory=dict, description="Table 3 marker -> p threshold vs the control arm"
    )


class InstrumentConventions(_Strict):
    """How instruments are scored and summarised in this trial (e.g. SF-36 v1, US 1990
    norms). Each field but ``sf36_summary`` sets one instrument option and takes that
    option's allowed values, both from the instruments' option registry
    (:data:`frailtrial.instruments.options.CONVENTIONS`); ``sf36_summary`` records which
    SF-36 summary the trial reports (its variables name the result, e.g. ``PCS_sum``)."""

    sf36_version: Sf36Version = "v2"
    sf36_norms: Sf36Norms = "us1998"
    sf36_summary: Literal["norm_based", "sum", "mean"] = "norm_based"
    eq5d_value_set: Eq5d5lValueSet = "UK"
    fried_criteria: FriedCriteria = "chs"
    cytokine_below_lloq: LloqSubstitution = "lloq/2"

    def options_for(self, instrument: str) -> dict[str, Any]:
        """The options these conventions give ``instrument`` (keyword arguments of its
        factory; empty when none applies)."""
        return convention_options(self, instrument)


class Enrollment(_Strict):
    """Planned numbers: randomized target and (if published) screened."""

    target_randomized: PositiveInt
    screened: PositiveInt | None = None


class Protocol(_Strict):
    """A trial protocol. ``name`` is how commands refer to it (e.g. ``huc-msc-2024``)."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    version: str = "1.0"
    identity: Identity
    enrollment: Enrollment
    arms: list[Arm] = Field(min_length=2)
    randomization: Randomization
    blinding: Blinding
    eligibility: Eligibility
    visits: list[Visit] = Field(min_length=2)
    variables: list[Variable] = Field(min_length=1)
    endpoints: list[Endpoint] = Field(min_length=1)
    baseline_characteristics: list[BaselineCharacteristic] = Field(default_factory=list)
    analysis: AnalysisPlan
    conventions: InstrumentConventions = InstrumentConventions()
    assumptions: list[str] = Field(
        default_factory=list, description="Facts the publication does not give, chosen by us"
    )

    # Convenience views used by every layer -------------------------------------------
    def arm(self, name: str) -> Arm:
        """The arm called ``name`` (KeyError if absent)."""
        for a in self.arms:
            if a.name == name:
                return a
        raise KeyError(name)

    @property
    def arm_names(self) -> list[str]:
        return [a.name for a in self.arms]

    @property
    def control_arm(self) -> Arm:
        """The placebo arm (cross_check guarantees exactly one)."""
        return next(a for a in self.arms if a.role == "placebo")

    @property
    def active_arms(self) -> list[Arm]:
        """The arms other than placebo, in protocol order."""
        return [a for a in self.arms if a.role != "placebo"]

    @property
    def baseline_visit(self) -> Visit:
        return next(v for v in self.visits if v.kind == "baseline")

    @property
    def assessment_visits(self) -> list[Visit]:
        """Baseline and every later visit at which outcomes are measured, in day order."""
        return [v for v in self.visits if v.kind != "screening"]

    @property
    def follow_up_visits(self) -> list[Visit]:
        """Post-baseline assessment visits, in day order."""
        return [v for v in self.visits if v.kind in ("treatment", "follow_up")]

    def variable(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(name)

    @property
    def primary_endpoint(self) -> Endpoint:
        return next(e for e in self.endpoints if e.kind == "primary")


def cross_check(p: Protocol) -> list[tuple[str, str]]:
    """Rules that tie fields together; returns (path, message) for every problem found."""
    problems: list[tuple[str, str]] = []

    def dupes(path: str, names: list[str]) -> None:
        seen: set[str] = set()
        for i, n in enumerate(names):
            if n in seen:
                problems.append((f"{path}[{i}].name", f"duplicate name {n!r}"))
            seen.add(n)

    dupes("arms", [a.name for a in p.arms])
    dupes("visits", [v.name for v in p.visits])
    dupes("variables", [v.name for v in p.variables])
    dupes("endpoints", [e.name for e in p.endpoints])
    dupes("baseline_characteristics", [b.name for b in p.baseline_characteristics])

    placebo = [i for i, a in enumerate(p.arms) if a.role == "placebo"]
    if len(placebo) != 1:
        problems.append(("arms", f"needs exactly one placebo arm, found {len(placebo)}"))
    for i, a in enumerate(p.arms):
        d = a.dose
        if d.kind == "per_kg" and d.cells_per_kg is None:
            problems.append((f"arms[{i}].dose.cells_per_kg", "required when kind is per_kg"))
        if d.kind == "fixed" and d.cells is None:
            problems.append((f"arms[{i}].dose.cells", "required when kind is fixed"))
        if d.kind == "placebo" and (d.cells is not None or d.cells_per_kg is not None):
            problems.append((f"arms[{i}].dose", "a placebo dose must not give a cell count"))
        if (a.role == "placebo") != (d.kind == "placebo"):
            problems.append((f"arms[{i}].dose.kind", "must be placebo exactly for a placebo arm"))
        if d.infusion_days != sorted(set(d.infusion_days)):
            problems.append((f"arms[{i}].dose.infusion_days", "must be increasing"))
    schedules = {tuple(a.dose.infusion_days) for a in p.arms}
    if len(schedules) > 1 and p.blinding.level != "open":
        problems.append(("arms", "blinded arms must share one infusion schedule"))

    total = sum(a.ratio for a in p.arms)
    r = p.randomization
    if r.scheme in ("permuted_blocks", "random_permuted_blocks"):
        if not r.block_sizes:
            problems.append(("randomization.block_sizes", "required for permuted blocks"))
        for i, b in enumerate(r.block_sizes):
            if b % total:
                problems.append(
                    (
                        f"randomization.block_sizes[{i}]",
                        f"{b} is not a multiple of the sum of arm ratios ({total})",
                    )
                )
    if r.scheme == "permuted_blocks" and len(r.block_sizes) > 1:
        problems.append(
            (
                "randomization.block_sizes",
                "permuted_blocks takes one size; for several use random_permuted_blocks",
            )
        )

    overlap = set(p.blinding.blinded_roles) & set(p.blinding.unblinded_roles)
    if overlap:
        problems.append(("blinding", f"roles both blinded and unblinded: {sorted(overlap)}"))

    e = p.eligibility
    if e.age_min > e.age_max:
        problems.append(("eligibility.age_min", "must not exceed age_max"))
    if e.frailty.score_min > e.frailty.score_max:
        problems.append(("eligibility.frailty.score_min", "must not exceed score_max"))
    for i, lab in enumerate(e.labs):
        if lab.minimum is None and lab.maximum is None:
            problems.append((f"eligibility.labs[{i}]", "needs a minimum or a maximum"))

    kinds = [v.kind for v in p.visits]
    if kinds.count("baseline") != 1:
        problems.append(
            ("visits", f"needs exactly one baseline visit, found {kinds.count('baseline')}")
        )
    days = [v.day for v in p.visits]
    if days != sorted(days) or len(set(days)) != len(days):
        problems.append(("visits", "target days must be strictly increasing in listed order"))

    visit_names = {v.name for v in p.visits}
    var_names = {v.name for v in p.variables}
    for i, ep in enumerate(p.endpoints):
        if ep.variable not in var_names and ep.measure != "incidence":
            problems.append((f"endpoints[{i}].variable", f"{ep.variable!r} is not a variable"))
        if ep.visit not in visit_names:
            problems.append((f"endpoints[{i}].visit", f"{ep.visit!r} is not a visit"))
    endpoint_kind = {ep.name: ep.measure for ep in p.endpoints}
    for i, name in enumerate(p.analysis.fixed_sequence):
        if name not in endpoint_kind:
            problems.append((f"analysis.fixed_sequence[{i}]", f"{name!r} is not an endpoint"))
        elif endpoint_kind[name] == "incidence":
            problems.append(
                (
                    f"analysis.fixed_sequence[{i}]",
                    f"{name!r} is an incidence endpoint; the fixed sequence takes endpoints "
                    "analysed by the plan's models (change_from_baseline or value)",
                )
            )
        elif all(m.outcome != endpoint_kind[name] for m in p.analysis.models):
            problems.append(
                (
                    f"analysis.fixed_sequence[{i}]",
                    f"{name!r}: no model of the plan has outcome {endpoint_kind[name]}",
                )
            )
    if len(set(p.analysis.fixed_sequence)) != len(p.analysis.fixed_sequence):
        problems.append(("analysis.fixed_sequence", "lists an endpoint twice"))
    n_primary = sum(ep.kind == "primary" for ep in p.endpoints)
    if n_primary != 1:
        problems.append(("endpoints", f"needs exactly one primary endpoint, found {n_primary}"))

    pops = {pop.name for pop in p.analysis.populations}
    if p.analysis.primary_population not in pops:
        problems.append(
            (
                "analysis.primary_population",
                f"{p.analysis.primary_population!r} is not among analysis.populations "
                f"({', '.join(sorted(pops)) or 'none'})",
            )
        )
    char_names = {b.name for b in p.baseline_characteristics}
    for i, m in enumerate(p.analysis.models):
        for j, c in enumerate(m.covariates):
            if c not in char_names:
                problems.append(
                    (
                        f"analysis.models[{i}].covariates[{j}]",
                        f"{c!r} is not a baseline characteristic "
                        f"({', '.join(sorted(char_names)) or 'none'})",
                    )
                )
    for j, s in enumerate(r.strata):
        if s not in char_names and s != "site":
            problems.append(
                (
                    f"randomization.strata[{j}]",
                    f"{s!r} is neither site nor a baseline characteristic "
                    f"({', '.join(sorted(char_names)) or 'none'})",
                )
            )
    return problems
