"""Every rule a protocol must pass beyond its field types: :func:`check` returns (path,
message) for each problem, the message saying what is wrong and what is allowed.

Besides :func:`frailtrial.protocol.model.cross_check`, it checks the protocol against the
instrument library (instruments and results exist, declared score ranges lie inside the
instrument's own range, which :func:`frailtrial.instruments.base.result_range` keeps in one
place) and against the schedule of assessments (endpoints are judged at post-baseline visits
that collect their variable; visit windows do not overlap), and it checks ids, strata and
the randomization scheme's settings.
"""

from __future__ import annotations

from collections.abc import Iterable

from frailtrial import instruments
from frailtrial.instruments.base import (
    numeric_result_keys,
    result_keys,
    result_range,
    score_key,
)
from frailtrial.protocol.model import (
    SEX_LEVELS,
    Estimand,
    FrailtyCriterion,
    Protocol,
    Variable,
    Visit,
    cross_check,
)

Problem = tuple[str, str]


def check(p: Protocol) -> list[Problem]:
    """Every problem of a (structurally valid) protocol, each with its path."""
    return [
        *cross_check(p),
        *_instruments(p),
        *_eligibility(p),
        *_schedule(p),
        *_endpoints(p),
        *_randomization(p),
        *_analysis(p),
        *_estimands(p),
        *_lists(p),
    ]


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def _listed(names: Iterable[str]) -> str:
    return ", ".join(names) or "none"


def _duplicates(path: str, field: str, values: list[str]) -> list[Problem]:
    """A problem at ``path[i].field`` for each value already seen at an earlier index."""
    first: dict[str, int] = {}
    out = []
    for i, v in enumerate(values):
        if v in first:
            out.append(
                (
                    f"{path}[{i}].{field}" if field else f"{path}[{i}]",
                    f"duplicate {field or 'entry'} {v!r} (also {path}[{first[v]}]); "
                    "each must be unique",
                )
            )
        first.setdefault(v, i)
    return out


def _unknown_instrument(name: str) -> str:
    return f"{name!r} is not an instrument; known: {_listed(instruments.names())}"


def _instruments(p: Protocol) -> list[Problem]:
    """Visits name registered instruments; variables name an instrument's numeric result."""
    known = set(instruments.names())
    out: list[Problem] = []
    for i, v in enumerate(p.visits):
        for j, name in enumerate(v.instruments):
            if name not in known:
                out.append((f"visits[{i}].instruments[{j}]", _unknown_instrument(name)))
    samples = {s for v in p.visits for s in v.samples}
    for i, var in enumerate(p.variables):
        if var.instrument not in known:
            out.append((f"variables[{i}].instrument", _unknown_instrument(var.instrument)))
        else:
            inst = instruments.get(var.instrument)
            numeric = numeric_result_keys(inst)
            if var.result not in result_keys(inst):
                out.append(
                    (
                        f"variables[{i}].result",
                        f"{var.result!r} is not a result of {var.instrument}; "
                        f"its numeric results: {_listed(numeric)}",
                    )
                )
            elif var.result not in numeric:
                out.append(
                    (
                        f"variables[{i}].result",
                        f"{var.result!r} of {var.instrument} is not a number and a variable "
                        f"holds numbers; numeric results: {_listed(numeric)}",
                    )
                )
        if var.sample is not None and var.sample not in samples:
            out.append(
                (
                    f"variables[{i}].sample",
                    f"{var.sample!r} is not a sample taken at any visit; "
                    f"samples: {_listed(sorted(samples))}",
                )
            )
    return out


def _score_range(path: str, c: FrailtyCriterion) -> list[Problem]:
    """A criterion's instrument has an overall score and [score_min, score_max] lies inside
    the instrument's range of it."""
    if c.instrument not in instruments.names():
        return [(f"{path}.instrument", _unknown_instrument(c.instrument))]
    inst = instruments.get(c.instrument)
    key = score_key(inst)
    if key is None:
        scored = [n for n in instruments.names() if score_key(instruments.get(n)) is not None]
        return [
            (
                f"{path}.instrument",
                f"{c.instrument} has no overall score to judge eligibility; "
                f"instruments with one: {_listed(scored)}",
            )
        ]
    lo, hi = result_range(inst, key)
    out = []
    for field, value in (("score_min", c.score_min), ("score_max", c.score_max)):
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            out.append(
                (
                    f"{path}.{field}",
                    f"{_fmt(value)} is outside the {c.instrument} {key} range; "
                    f"allowed: {_fmt(lo) or 'any'} to {_fmt(hi) or 'any'}",
                )
            )
    return out


def _eligibility(p: Protocol) -> list[Problem]:
    """Score ranges within their instruments; criterion ids and lab variables unique."""
    e = p.eligibility
    out = _score_range("eligibility.frailty", e.frailty)
    for i, c in enumerate(e.other_instruments):
        out += _score_range(f"eligibility.other_instruments[{i}]", c)
    out += _duplicates("eligibility.inclusions", "id", [x.id for x in e.inclusions])
    out += _duplicates("eligibility.exclusions", "id", [x.id for x in e.exclusions])
    out += _duplicates("eligibility.labs", "variable", [x.variable for x in e.labs])
    return out


def _schedule(p: Protocol) -> list[Problem]:
    """The windows of the scheduled (non-screening) visits do not share a day: a visit held
    on a day must belong to one visit only."""
    out = []
    scheduled = [(i, v) for i, v in enumerate(p.visits) if v.kind != "screening"]
    for a, (i, v) in enumerate(scheduled):
        lo, hi = v.day - v.window_before, v.day + v.window_after
        for j, w in scheduled[:a]:
            wlo, whi = w.day - w.window_before, w.day + w.window_after
            if lo <= whi and wlo <= hi:
                out.append(
                    (
                        f"visits[{i}]",
                        f"window (days {lo} to {hi}) overlaps the window of visits[{j}] "
                        f"{w.name!r} (days {wlo} to {whi}); the windows of scheduled visits "
                        "must not overlap",
                    )
                )
    return out


def collects(visit: Visit, var: Variable) -> bool:
    """Whether the visit's schedule of assessments measures the variable: it lists the
    variable's instrument, or takes the sample the variable is measured in."""
    return var.instrument in visit.instruments or (
        var.sample is not None and var.sample in visit.samples
    )


def _where_allowed(p: Protocol, var: Variable) -> str:
    """Which visits would collect the variable; a variable whose instrument no visit lists
    is told about ``sample`` (laboratory values come from a visit's samples)."""
    if var.sample:
        sample = f" or taking sample {var.sample!r}"
    elif all(var.instrument not in v.instruments for v in p.visits):
        sample = " (or, for a laboratory variable, taking the sample it names in `sample`)"
    else:
        sample = ""
    return f"allowed: a visit listing instrument {var.instrument!r}{sample}"


def _endpoints(p: Protocol) -> list[Problem]:
    """Endpoints are judged after baseline, at a visit that collects their variable (and a
    change from baseline needs the variable at baseline too)."""
    visits = {v.name: v for v in p.visits}
    variables = {v.name: v for v in p.variables}
    baselines = [v for v in p.visits if v.kind == "baseline"]
    post = _listed(v.name for v in p.follow_up_visits)
    out: list[Problem] = []
    for i, ep in enumerate(p.endpoints):
        visit = visits.get(ep.visit)
        if visit is None:
            continue  # cross_check reports it
        if visit.kind == "screening" or (visit.kind == "baseline" and ep.measure != "value"):
            what = "a screening visit" if visit.kind == "screening" else "the baseline visit"
            out.append(
                (
                    f"endpoints[{i}].visit",
                    f"{ep.visit!r} is {what}; an endpoint ({ep.measure.replace('_', ' ')}) "
                    f"is judged at a post-baseline visit ({post})",
                )
            )
            continue
        var = variables.get(ep.variable)
        if var is None or ep.measure == "incidence":
            continue
        if not collects(visit, var):
            out.append(
                (
                    f"endpoints[{i}].variable",
                    f"{var.name!r} is not collected at visit {ep.visit!r}; "
                    f"{_where_allowed(p, var)}",
                )
            )
        if ep.measure == "change_from_baseline" and len(baselines) == 1:
            base = baselines[0]
            if not collects(base, var):
                out.append(
                    (
                        f"endpoints[{i}].variable",
                        f"{var.name!r} is not collected at the baseline visit {base.name!r}, "
                        f"which a change from baseline needs; {_where_allowed(p, var)}",
                    )
                )
    return out


def _randomization(p: Protocol) -> list[Problem]:
    """Block sizes only for block schemes; every stratum has levels and appears once."""
    r = p.randomization
    out: list[Problem] = []
    if r.block_sizes and r.scheme not in ("permuted_blocks", "random_permuted_blocks"):
        out.append(
            (
                "randomization.block_sizes",
                f"{r.scheme} does not use blocks; remove block_sizes (only permuted_blocks "
                "and random_permuted_blocks take them)",
            )
        )
    chars = {c.name: (k, c) for k, c in enumerate(p.baseline_characteristics)}
    for j, s in enumerate(r.strata):
        if s in chars:
            k, c = chars[s]
            if c.stratum_levels is None:
                out.append(
                    (
                        f"randomization.strata[{j}]",
                        f"{s!r} ({c.kind}) has no levels to stratify on; allowed: site, a "
                        "binary characteristic or one with levels (give "
                        f"baseline_characteristics[{k}].levels)",
                    )
                )
    out += _duplicates("randomization.strata", "", list(r.strata))
    return out


def _analysis(p: Protocol) -> list[Problem]:
    """A model names each covariate once; Table 3 markers are p-value thresholds."""
    plan = p.analysis
    out: list[Problem] = []
    for i, m in enumerate(plan.models):
        out += _duplicates(f"analysis.models[{i}].covariates", "", list(m.covariates))
    for field, markers in (
        ("markers_vs_baseline", plan.markers_vs_baseline),
        ("markers_vs_control", plan.markers_vs_control),
    ):
        for mark, threshold in markers.items():
            if not 0 < threshold <= 1:
                out.append(
                    (
                        f"analysis.{field}.{mark}",
                        f"{threshold:g} is not a p-value threshold; allowed: above 0, at most 1",
                    )
                )
    return out


def _estimands(p: Protocol) -> list[Problem]:
    """Each estimand names an endpoint of the plan once, a population of the plan and the
    endpoint's variable; each event once; its sensitivity analyses are runnable."""
    endpoints = {e.name: e for e in p.endpoints}
    pops = [pop.name for pop in p.analysis.populations]
    out: list[Problem] = _duplicates(
        "analysis.estimands", "endpoint", [e.endpoint for e in p.analysis.estimands]
    )
    change_mmrm = any(
        m.kind == "mmrm" and m.outcome == "change_from_baseline" for m in p.analysis.models
    )
    for i, est in enumerate(p.analysis.estimands):
        path = f"analysis.estimands[{i}]"
        ep = endpoints.get(est.endpoint)
        if ep is None:
            out.append(
                (
                    f"{path}.endpoint",
                    f"{est.endpoint!r} is not an endpoint; allowed: {_listed(endpoints)}",
                )
            )
        elif ep.measure == "incidence":
            allowed = [e.name for e in p.endpoints if e.measure != "incidence"]
            out.append(
                (
                    f"{path}.endpoint",
                    f"{est.endpoint!r} is an incidence endpoint; an estimand with imputation "
                    f"takes a continuous endpoint ({_listed(allowed)})",
                )
            )
        elif est.variable != ep.variable:
            out.append(
                (
                    f"{path}.variable",
                    f"{est.variable!r} is not the variable of endpoint {ep.name!r}; "
                    f"allowed: {ep.variable}",
                )
            )
        if est.population not in pops:
            out.append(
                (
                    f"{path}.population",
                    f"{est.population!r} is not among analysis.populations; allowed: "
                    f"{_listed(pops)}",
                )
            )
        out += _duplicates(
            f"{path}.intercurrent_events", "event", [e.event for e in est.intercurrent_events]
        )
        out += _sensitivity(path, est, ep is not None and ep.measure == "change_from_baseline")
        if est.sensitivity and not change_mmrm:
            out.append(
                (
                    f"{path}.sensitivity",
                    "needs an mmrm model of change_from_baseline in analysis.models (the "
                    "imputation model takes its covariates and covariance); the plan has none",
                )
            )
    return out


def _sensitivity(path: str, est: Estimand, change: bool) -> list[Problem]:
    """Samples only (and always) for the resampling methods; a tipping-point grid that
    spans a range; sensitivity analyses of a change from baseline, each name once."""
    out = _duplicates(f"{path}.sensitivity", "name", [s.name for s in est.sensitivity])
    if est.sensitivity and not change:
        out.append(
            (
                f"{path}.sensitivity",
                "sensitivity analyses impute changes from baseline; allowed only for an "
                "endpoint with measure change_from_baseline",
            )
        )
    for j, s in enumerate(est.sensitivity):
        at = f"{path}.sensitivity[{j}]"
        if s.name == "primary":
            out.append(
                (
                    f"{at}.name",
                    "'primary' names the primary model's row beside the sensitivity analyses; "
                    "choose another name",
                )
            )
        if s.method == "condmean-jackknife" and s.samples is not None:
            out.append(
                (
                    f"{at}.samples",
                    "condmean-jackknife leaves out one participant at a time and takes no "
                    "samples; remove samples (allowed with condmean-bootstrap, approx-bayes)",
                )
            )
        if s.method != "condmean-jackknife" and s.samples is None:
            out.append((f"{at}.samples", f"is required for {s.method} (a positive integer)"))
        tp = s.tipping_point
        if tp is not None and not tp.low < tp.high:
            out.append(
                (
                    f"{at}.tipping_point",
                    f"low {tp.low:g} must be below high {tp.high:g} (the grid of deltas)",
                )
            )
    return out


def _lists(p: Protocol) -> list[Problem]:
    """A visit lists each instrument and sample once; a characteristic each level once."""
    out: list[Problem] = []
    for i, v in enumerate(p.visits):
        out += _duplicates(f"visits[{i}].instruments", "", list(v.instruments))
        out += _duplicates(f"visits[{i}].samples", "", list(v.samples))
    for i, c in enumerate(p.baseline_characteristics):
        out += _duplicates(f"baseline_characteristics[{i}].levels", "", list(c.levels))
        unknown = [lv for lv in c.levels if lv not in SEX_LEVELS]
        if c.name == "sex" and unknown:
            out.append(
                (
                    f"baseline_characteristics[{i}].levels",
                    f"{unknown[0]!r} is not a level of sex; allowed: {', '.join(SEX_LEVELS)} "
                    "(the dataset's participants.sex)",
                )
            )
    return out
