"""A calibration derived from the protocol alone, for a protocol without a built-in one.

Every number it holds is a labelled assumption: ages uniform-ish within the eligibility range,
levels equally likely, plausible BMI and heights, each outcome centred in its instrument's
declared range (:func:`~frailtrial.simulate.bounds.variable_bounds`, the one source of
ranges), **no treatment effect** (every shift 0: the null hypothesis), a modest correlation
across visits, and default attendance, adverse events, screening and lots. ``frailtrial
simulate`` prints the assumptions and writes the file next to the dataset, so that the user
can edit it (e.g. the shifts of an alternative hypothesis) and pass it back with
``--calibration``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from frailtrial import instruments
from frailtrial.errors import InputError
from frailtrial.instruments.base import result_range, score_key
from frailtrial.protocol import Protocol
from frailtrial.protocol.model import SEX_LEVELS, BaselineCharacteristic
from frailtrial.simulate.bounds import Bounds, variable_bounds
from frailtrial.simulate.calibration import CalibrationFile, calibration_names

START_DATE = "2020-01-06"  # with a year of recruitment and follow-up, every date is past
RECRUITMENT_DAYS = 365
CORRELATION = {"floor": 0.3, "decay": 0.5}
HEIGHT_CM = {"male": (174.0, 7.0), "female": (161.0, 6.5)}
BMI = (27.0, 4.5, 16.0, 45.0)
MISS, WITHDRAW = 0.05, 0.05
AE_TERMS = [
    {
        "term": "Fall",
        "body_system": "Injury, poisoning and procedural complications",
        "probability": 0.10,
        "severity": "mild",
    },
    {
        "term": "Pneumonia requiring hospitalization",
        "body_system": "Infections and infestations",
        "probability": 0.03,
        "severity": "severe",
        "serious": True,
    },
]
SCREENING = {
    "screened_per_randomized": 2.0,
    "days_before_randomization": (1, 28),
    "baseline_days_before": (0, 7),
    "weights": {"frailty": 30.0, "age": 10.0, "inclusion": 5.0, "exclusion": 3.0, "lab": 3.0},
}


def _g(x: float) -> str:
    return f"{x:g}"


def outcome_baseline(bounds: Bounds) -> tuple[float, float, str]:
    """Baseline mean and SD of a variable from its declared range, and why.

    Both limits: the midpoint, SD an eighth of the range (the values stay well inside it).
    One limit: 100 ± 25 above a lower limit, 0.25 ± 0.1 (times the limit's size) below an
    upper one. No range: 50 ± 10 (the T-score convention of norm-based scores)."""
    lo, hi = bounds.lower, bounds.upper
    if lo is not None and hi is not None:
        return (lo + hi) / 2, (hi - lo) / 8, f"midpoint of its range {_g(lo)}-{_g(hi)}, SD 1/8"
    if lo is not None:
        return lo + 100.0, 25.0, f"its range has only a lower limit ({_g(lo)})"
    if hi is not None:
        size = max(1.0, abs(hi))
        return hi - 0.25 * size, 0.1 * size, f"its range has only an upper limit ({_g(hi)})"
    return 50.0, 10.0, "no range declared (T-score convention)"


def _ordinal_levels(p: Protocol, c: BaselineCharacteristic) -> tuple[list[int], str]:
    """Whole-number levels of an ordinal characteristic: the protocol's, else the eligibility
    range of the frailty score it names, else the score range of the instrument it names,
    else 0-4."""
    if c.levels:
        try:
            return [int(v) for v in c.levels], "the protocol's levels"
        except ValueError:
            raise InputError(
                f"baseline_characteristics.{c.name}: ordinal levels {c.levels} are not whole "
                "numbers, which the simulator draws; pass --calibration FILE"
            ) from None
    prefix = c.name.split("_")[0]
    frailty = p.eligibility.frailty
    if prefix == frailty.instrument:
        lo, hi = int(frailty.score_min), int(frailty.score_max)
        return list(range(lo, hi + 1)), f"the eligibility range of {frailty.instrument}"
    if prefix in instruments.names():
        ins = instruments.get(prefix)
        key = score_key(ins)
        if key is not None:
            lo_r, hi_r = result_range(ins, key)
            if lo_r is not None and hi_r is not None:
                return list(range(int(lo_r), int(hi_r) + 1)), f"the score range of {prefix}"
    return list(range(5)), "its scale is not known to frailtrial"


def _baseline(p: Protocol) -> tuple[list[dict[str, Any]], list[str]]:
    e = p.eligibility
    mid, sd = (e.age_min + e.age_max) / 2, (e.age_max - e.age_min) / 6
    entries: list[dict[str, Any]] = [
        {
            "name": "age",
            "kind": "continuous",
            "step": 1.0,
            "lower": float(e.age_min),
            "upper": float(e.age_max),
            "cells": {"all": {"mean": mid, "sd": sd}},
        },
        {
            "name": "sex",
            "kind": "categorical",
            "levels": list(SEX_LEVELS),
            "probs": {"all": [0.5, 0.5]},
        },
        {
            "name": "bmi",
            "kind": "continuous",
            "step": 0.01,
            "lower": BMI[2],
            "upper": BMI[3],
            "cells": {"all": {"mean": BMI[0], "sd": BMI[1]}},
        },
    ]
    notes = [
        f"age {_g(mid)} ± {_g(round(sd, 2))} years within the eligibility range "
        f"{e.age_min}-{e.age_max}",
        "men and women equally likely",
        f"BMI {_g(BMI[0])} ± {_g(BMI[1])} kg/m² within {_g(BMI[2])}-{_g(BMI[3])}",
    ]
    grouped: dict[str, list[str]] = {}  # what is assumed -> the characteristics it is for
    for c in p.baseline_characteristics:
        if c.name in ("age", "sex", "bmi"):  # sex has SEX_LEVELS (protocol validation)
            continue
        if c.kind == "continuous":
            entries.append(
                {
                    "name": c.name,
                    "kind": "continuous",
                    "step": 10.0**-c.decimals,
                    "cells": {"all": {"mean": 50.0, "sd": 10.0}},
                }
            )
            grouped.setdefault("50 ± 10 (its scale is not known to frailtrial)", []).append(c.name)
            continue
        if c.kind == "binary":
            levels: list[str | int] = [0, 1]
            why = "no/yes"
        elif c.kind == "ordinal":
            ints, why = _ordinal_levels(p, c)
            levels = list[str | int](ints)
        elif c.levels:
            levels, why = list[str | int](c.levels), "the protocol's levels"
        else:
            levels, why = ["level_1", "level_2"], "the protocol names no levels"
        share = 1 / len(levels)
        entries.append(
            {
                "name": c.name,
                "kind": c.kind,
                "levels": levels,
                "probs": {"all": [share] * len(levels)},
            }
        )
        said = f"levels {', '.join(map(str, levels))} ({why}) equally likely"
        grouped.setdefault(said, []).append(c.name)
    notes += [f"{', '.join(names)}: {said}" for said, names in grouped.items()]
    return entries, notes


def derived_calibration(protocol: Protocol, given: str | Path | None) -> CalibrationFile | None:
    """The calibration a simulation of ``protocol`` derives: none when a calibration file is
    ``given`` or the protocol has a built-in one, else :func:`default_calibration`."""
    if given is not None or protocol.name in calibration_names():
        return None
    return default_calibration(protocol)


def default_calibration(protocol: Protocol) -> CalibrationFile:
    """The calibration of ``protocol`` derived from the protocol alone (see the module)."""
    p = protocol
    baseline, base_notes = _baseline(p)
    follow_ups = [v.name for v in p.assessment_visits if v.kind != "baseline"]
    outcome_base: dict[str, tuple[float, float]] = {}
    outcome_notes = []
    for var in p.variables:
        mean, sd, why = outcome_baseline(variable_bounds(p, var.name))
        outcome_base[var.name] = (mean, sd)
        unit = f" {var.unit}" if var.unit else ""
        outcome_notes.append(f"{var.name} {_g(mean)} ± {_g(sd)}{unit} ({why})")
    shifts = {var.name: {a: [0.0] * len(follow_ups) for a in p.arm_names} for var in p.variables}
    last_day = max(v.day for v in p.assessment_visits)
    w1 = max(2, last_day - 1)
    w0 = min(31, w1)
    ae_days = p.analysis.ae_collection_days
    return CalibrationFile.model_validate(
        {
            "protocol": p.name,
            "start_date": START_DATE,
            "recruitment_days": RECRUITMENT_DAYS,
            "assumptions": [
                "ASSUMPTION: this calibration is derived from the protocol alone "
                "(no published data); edit any number and pass the file back with "
                "--calibration.",
                "ASSUMPTION: baseline - "
                + "; ".join(base_notes)
                + "; height "
                + ", ".join(f"{s} {m:g} ± {d:g} cm" for s, (m, d) in HEIGHT_CM.items())
                + ".",
                "ASSUMPTION: outcome baselines, SD constant over visits - "
                + "; ".join(outcome_notes)
                + ".",
                "ASSUMPTION: no treatment effect (null hypothesis) - every change from "
                "baseline is 0 in every arm (outcomes.shifts: one value per follow-up visit "
                f"{', '.join(follow_ups)}).",
                f"ASSUMPTION: within-person correlation across visits {CORRELATION['floor']:g}"
                f" + {1 - CORRELATION['floor']:g} * {CORRELATION['decay']:g}^|i - j|.",
                f"ASSUMPTION: each follow-up visit missed with probability {MISS:g}; "
                f"{WITHDRAW:g} withdraw, on a day uniform in {w0}-{w1}.",
                "ASSUMPTION: adverse events the same in every arm - "
                + ", ".join(
                    f"{t['term']} {t['probability']:g}" + (" (serious)" if t.get("serious") else "")
                    for t in AE_TERMS
                )
                + f", onset uniform in days 1-{ae_days}; none related to treatment.",
                f"ASSUMPTION: {SCREENING['screened_per_randomized']:g} screened per "
                f"randomized; recruitment over {RECRUITMENT_DAYS} days from {START_DATE}; "
                "cell lots supply 5 infusions each, placebo lots 10.",
            ],
            "correlation": CORRELATION,
            "height_cm": HEIGHT_CM,
            "baseline": baseline,
            "outcomes": {"baseline": outcome_base, "shifts": shifts},
            "attendance": {
                "miss_probability": MISS,
                "withdrawal_probability": WITHDRAW,
                "withdrawal_days": (w0, w1),
            },
            "adverse_events": {
                "onset_day": (1, ae_days),
                "duration_days": (1, 14),
                "terms": AE_TERMS,
            },
            "screening": SCREENING,
            "dosing": {
                "lot_prefix": {a.name: "PLB-" if a.role == "placebo" else "LOT-" for a in p.arms},
                "infusions_per_lot": {a.name: 10 if a.role == "placebo" else 5 for a in p.arms},
            },
        }
    )


def calibration_yaml(f: CalibrationFile) -> str:
    """``f`` as a calibration YAML file that ``--calibration`` reads back to the same values."""
    head = (
        f"# Simulator calibration of protocol {f.protocol}, derived by frailtrial from the\n"
        "# protocol alone: every number is an ASSUMPTION (listed under assumptions). Edit it,\n"
        "# e.g. outcomes.shifts for a treatment effect, and pass it back with --calibration.\n"
    )
    data = f.model_dump(mode="json")
    data["assumptions"] = _Block(data["assumptions"])
    return head + yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=95,
        default_flow_style=None,
    )


class _Block(list[str]):
    """A list written one item a line (the assumptions), whatever the flow style."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Block, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=False)
)
