"""Eligibility from the protocol's criteria: pure, so forms can check live before saving.

Every unmet or unassessed criterion gives a reason in plain words; a person is eligible only
when there is none.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from frailtrial.errors import InputError
from frailtrial.protocol import Protocol
from frailtrial.protocol.model import FrailtyCriterion


class ScreeningInput(BaseModel):
    """What screening records about one person (the criteria's inputs); numbers are finite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    screening_id: str = Field(min_length=1, max_length=40)
    screened_on: dt.date = Field(ge=dt.date(1900, 1, 1), le=dt.date(2100, 12, 31))
    age: float = Field(ge=0, le=130)
    sex: str = Field(pattern="^(male|female)$")
    height_cm: float | None = Field(default=None, gt=0, le=250)
    weight_kg: float | None = Field(default=None, gt=0, le=400)
    frailty_score: float | None = None
    frailty_answers: dict[str, Any] | None = None
    other_scores: dict[str, float] = Field(default_factory=dict)
    inclusions: dict[str, bool] = Field(default_factory=dict)
    exclusions: dict[str, bool] = Field(default_factory=dict)
    labs: dict[str, float] = Field(default_factory=dict)
    uln: dict[str, float] = Field(default_factory=dict)
    baseline: dict[str, Any] = Field(default_factory=dict)
    investigator_exclusion: str | None = None


def _fmt(x: float) -> str:
    return f"{x:g}"


def score_answers(protocol: Protocol, name: str, answers: dict[str, Any]) -> dict[str, Any]:
    """Validate and score answers with the registered instrument; InputError when invalid."""
    from frailtrial import instruments
    from frailtrial.instruments.base import result_as_dict

    if not isinstance(answers, dict):
        raise InputError(f"{name}: answers must be a mapping of item to value")
    instrument = instruments.get(name, **protocol.conventions.options_for(name))
    return result_as_dict(instrument.score(answers))


def frailty_score(
    protocol: Protocol, criterion: FrailtyCriterion, inp: ScreeningInput
) -> float | None:
    """The frailty score: as entered, or scored from answers by the instrument."""
    if inp.frailty_answers is None:
        return inp.frailty_score
    from frailtrial.instruments.base import SCORE_KEYS

    values = score_answers(protocol, criterion.instrument, inp.frailty_answers)
    for key in SCORE_KEYS:
        if key in values:
            v = values[key]
            return None if v is None else float(v)
    raise InputError(f"{criterion.instrument}: its result has no score to judge eligibility")


def evaluate(protocol: Protocol, inp: ScreeningInput) -> list[str]:
    """Reasons the person is not eligible (empty when eligible)."""
    e = protocol.eligibility
    reasons: list[str] = []
    if not e.age_min <= inp.age <= e.age_max:
        reasons.append(f"age {_fmt(inp.age)} outside {e.age_min}-{e.age_max}")
    score = frailty_score(protocol, e.frailty, inp)
    name = e.frailty.instrument
    if score is None:
        reasons.append(f"{name} score not assessed")
    elif not e.frailty.score_min <= score <= e.frailty.score_max:
        reasons.append(
            f"{name} score {_fmt(score)} outside {_fmt(e.frailty.score_min)}-"
            f"{_fmt(e.frailty.score_max)}"
        )
    for crit in e.other_instruments:
        other = inp.other_scores.get(crit.instrument)
        if other is None:
            reasons.append(f"{crit.instrument} score not assessed")
        elif not crit.score_min <= other <= crit.score_max:
            reasons.append(
                f"{crit.instrument} score {_fmt(other)} outside "
                f"{_fmt(crit.score_min)}-{_fmt(crit.score_max)}"
            )
    for inc in e.inclusions:
        answer = inp.inclusions.get(inc.id)
        if answer is None:
            reasons.append(f"inclusion not assessed: {inc.id}")
        elif not answer:
            reasons.append(f"inclusion not met: {inc.id} ({inc.text})")
    for exc in e.exclusions:
        answer = inp.exclusions.get(exc.id)
        if answer is None:
            reasons.append(f"exclusion not assessed: {exc.id}")
        elif answer:
            reasons.append(f"exclusion: {exc.id} ({exc.text})")
    for lab in e.labs:
        value = inp.labs.get(lab.variable)
        if value is None:
            reasons.append(f"lab not measured: {lab.variable}")
            continue
        if lab.relative_to_uln:
            uln = inp.uln.get(lab.variable)
            if uln is None or uln <= 0:
                reasons.append(f"lab {lab.variable}: upper limit of normal not given")
                continue
            value = value / uln
        if lab.minimum is not None and value < lab.minimum:
            reasons.append(f"lab {lab.variable} {_fmt(value)} below {_fmt(lab.minimum)} {lab.unit}")
        if lab.maximum is not None and value > lab.maximum:
            reasons.append(f"lab {lab.variable} {_fmt(value)} above {_fmt(lab.maximum)} {lab.unit}")
    unknown = [k for k in inp.exclusions if k not in {x.id for x in e.exclusions}]
    unknown += [k for k in inp.inclusions if k not in {x.id for x in e.inclusions}]
    if unknown:
        raise InputError(
            f"screening {inp.screening_id}: {unknown[0]!r} is not a criterion of {protocol.name}"
        )
    if inp.investigator_exclusion:
        reasons.append(f"investigator: {inp.investigator_exclusion}")
    return reasons
