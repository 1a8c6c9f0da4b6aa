"""What is collected at each visit, derived from the protocol: its forms and their items.

A visit collects
- each instrument it lists (items from the instrument library);
- a laboratory panel per sample it takes that protocol variables are measured in (e.g. the
  four cytokines in ``edta_plasma_cytokines``): the sample date, then each variable's
  instrument items (value, LLOQ, below-LLOQ flag for a cytokine) under ``<variable>__<item>``;
- vital signs and weight (every assessment visit: the pharmacy doses by the latest weight);
- at the baseline visit, one form per group of the protocol's baseline characteristics that
  screening does not record (medical history and comorbidities, medication, laboratory).

Pure: no Django, so pages, API, services and tests read one definition. A form is complete
when none of its required items is empty (:func:`frailtrial.instruments.base.missing_items`:
each instrument's own rule).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from frailtrial import instruments
from frailtrial.dataset.schema import DEMOGRAPHICS
from frailtrial.edc.eligibility import score_answers
from frailtrial.errors import InputError
from frailtrial.instruments.base import Item, missing_items
from frailtrial.protocol import Protocol
from frailtrial.protocol.model import BaselineCharacteristic, Variable

FormKind = Literal["instrument", "lab_panel", "vital_signs", "baseline", "log"]
VITAL_SIGNS = "vital_signs"
SAMPLE_DATE = "sample_date"
SEP = "__"  # <variable>__<item> in a laboratory panel

VITAL_ITEMS: tuple[Item, ...] = (
    Item("weight_kg", "Weight", kind="number", minimum=20, maximum=300, unit="kg"),
    Item("systolic_bp", "Systolic blood pressure", minimum=50, maximum=260, unit="mmHg"),
    Item("diastolic_bp", "Diastolic blood pressure", minimum=30, maximum=160, unit="mmHg"),
    Item("heart_rate", "Heart rate", minimum=20, maximum=250, unit="/min"),
    Item("temperature_c", "Temperature", kind="number", minimum=30, maximum=43, unit="°C"),
)
VITAL_REQUIRED = ("weight_kg", "systolic_bp", "diastolic_bp", "heart_rate")


@dataclass(frozen=True)
class FormSpec:
    """One form of a visit: its name (the CRF's ``instrument``), title, kind and items."""

    name: str
    title: str
    kind: FormKind
    items: tuple[Item, ...]
    variables: tuple[Variable, ...] = ()
    required: tuple[str, ...] | None = None  # None: the instrument's own rule


VITALS_FORM = FormSpec(
    VITAL_SIGNS, "Vital signs and weight", "vital_signs", VITAL_ITEMS, required=VITAL_REQUIRED
)


@dataclass(frozen=True)
class Scored:
    """A form's scores, the protocol variables it gives, their below-LLOQ flags, and the
    required items left empty."""

    scores: dict[str, Any]
    values: dict[str, float]
    below_lloq: dict[str, bool] | None
    missing: list[str]


ROUTES = ("oral", "intravenous", "subcutaneous", "intramuscular", "inhaled", "topical", "other")
DEVIATION_CATEGORIES = (
    "eligibility",
    "consent",
    "randomization",
    "dosing",
    "visit_window",
    "missed_assessment",
    "other",
)
END_STATUSES = ("completed", "withdrawn", "lost_to_follow_up", "died", "other")
LOG_FORMS: dict[str, FormSpec] = {
    f.name: f
    for f in (
        FormSpec(
            "concomitant_medication",
            "Concomitant medication",
            "log",
            (
                Item("drug", "Medication (generic name)", kind="text"),
                Item("indication", "Indication", kind="text"),
                Item("dose", "Dose and frequency", kind="text"),
                Item("route", "Route", kind="choice", choices=ROUTES),
                Item("started_on", "Start date", kind="date"),
                Item("ended_on", "End date", kind="date"),
                Item("ongoing", "Ongoing", kind="boolean"),
            ),
            required=("drug", "indication", "started_on", "ongoing"),
        ),
        FormSpec(
            "protocol_deviation",
            "Protocol deviation",
            "log",
            (
                Item("occurred_on", "Date of the deviation", kind="date"),
                Item("category", "Category", kind="choice", choices=DEVIATION_CATEGORIES),
                Item("major", "Major deviation (affects the per-protocol set)", kind="boolean"),
                Item("description", "What happened", kind="text"),
                Item("action", "Action taken", kind="text"),
            ),
            required=("occurred_on", "category", "major", "description"),
        ),
        FormSpec(
            "treatment_discontinuation",
            "Treatment discontinuation",
            "log",
            (
                Item("on", "Date study treatment stopped (no further dose)", kind="date"),
                Item("reason", "Reason", kind="text"),
            ),
            required=("on", "reason"),
        ),
        FormSpec(
            "end_of_study",
            "End of study",
            "log",
            (
                Item("status", "Status at the end of study", kind="choice", choices=END_STATUSES),
                Item("on", "Date", kind="date"),
                Item("reason", "Reason (when not completed)", kind="text"),
            ),
            required=("status", "on"),
        ),
    )
}
ONCE = ("end_of_study", "treatment_discontinuation")  # one per participant


def _humanize(name: str) -> str:
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def baseline_forms(protocol: Protocol) -> list[FormSpec]:
    """The baseline characteristics screening does not record, one form per group."""
    frailty = f"{protocol.eligibility.frailty.instrument}_score"
    groups: dict[str, list[BaselineCharacteristic]] = {}
    for c in protocol.baseline_characteristics:
        if c.name in DEMOGRAPHICS or c.name == frailty:
            continue
        groups.setdefault(c.group or "Other baseline characteristics", []).append(c)
    out = []
    for group, chars in groups.items():
        items = tuple(_characteristic_item(c) for c in chars)
        name = ("baseline_" + _slug(group))[:40]
        out.append(FormSpec(name, group, "baseline", items))
    return out


def _characteristic_item(c: BaselineCharacteristic) -> Item:
    if c.kind == "binary":
        return Item(c.name, c.label, kind="boolean")
    if c.kind == "categorical":
        return Item(c.name, c.label, kind="choice", choices=tuple(c.levels))
    return Item(c.name, c.label, kind="number", unit=c.unit)


def lab_panel(protocol: Protocol, sample: str) -> FormSpec | None:
    """The laboratory form of a sample: its date and each variable measured in it."""
    variables = tuple(v for v in protocol.variables if v.sample == sample)
    if not variables:
        return None
    items: list[Item] = [Item(SAMPLE_DATE, "Sample date", kind="date")]
    required: list[str] = [SAMPLE_DATE]
    for var in variables:
        inst = instruments.get(var.instrument, **protocol.conventions.options_for(var.instrument))
        for it in inst.items:
            unit = (var.unit or it.unit) if it.unit else None
            items.append(
                Item(
                    f"{var.name}{SEP}{it.id}",
                    f"{var.label}: {it.label}",
                    kind=it.kind,
                    minimum=it.minimum,
                    maximum=it.maximum,
                    choices=it.choices,
                    unit=unit,
                )
            )
    return FormSpec(
        sample,
        "Laboratory: " + ", ".join(v.label for v in variables),
        "lab_panel",
        tuple(items),
        variables=variables,
        required=tuple(required),
    )


_CACHE: dict[int, tuple[Protocol, dict[str, tuple[FormSpec, ...]]]] = {}


def forms_at(protocol: Protocol, visit: str) -> list[FormSpec]:
    """Every form collected at ``visit``, in the order shown (InputError for no such visit).

    Built once per protocol object and visit (a save, a page and the dashboard ask often);
    the cache holds the protocol itself, so its id is not reused while cached."""
    held = _CACHE.get(id(protocol))
    if held is None or held[0] is not protocol:
        if len(_CACHE) >= 32:
            _CACHE.clear()
        held = _CACHE[id(protocol)] = (protocol, {})
    if visit not in held[1]:
        held[1][visit] = tuple(_build_forms(protocol, visit))
    return list(held[1][visit])


def _build_forms(protocol: Protocol, visit: str) -> list[FormSpec]:
    spec = next((v for v in protocol.visits if v.name == visit), None)
    if spec is None:
        raise InputError(f"{visit!r} is not a visit of {protocol.name}")
    out: list[FormSpec] = []
    for name in spec.instruments:
        inst = instruments.get(name, **protocol.conventions.options_for(name))
        out.append(FormSpec(name, inst.title.split(" (")[0], "instrument", tuple(inst.items)))
    for sample in spec.samples:
        panel = lab_panel(protocol, sample)
        if panel is not None:
            out.append(panel)
    if spec.kind != "screening":
        out.append(VITALS_FORM)
    if spec.kind == "baseline":
        out += baseline_forms(protocol)
    return out


def form_at(protocol: Protocol, visit: str, name: str) -> FormSpec:
    """The form ``name`` of ``visit``; InputError naming what the visit collects otherwise."""
    forms = forms_at(protocol, visit)
    for f in forms:
        if f.name == name:
            return f
    raise InputError(
        f"{name} is not collected at {visit} (collected: {', '.join(f.name for f in forms)})"
    )


def next_open(
    protocol: Protocol, visit: str, current: str, saved: Mapping[str, Mapping[str, Any]]
) -> str | None:
    """The visit's next form after ``current`` (then from the start) that is not complete,
    given the saved answers per form name; None when every other form is complete."""
    forms = forms_at(protocol, visit)
    at = next((i for i, f in enumerate(forms) if f.name == current), -1)
    for f in forms[at + 1 :] + forms[: max(at, 0)]:
        answers = saved.get(f.name)
        if answers is None or missing(protocol, f, answers):
            return f.name
    return None


def _split(answers: Mapping[str, Any], var: str) -> dict[str, Any]:
    prefix = var + SEP
    return {k[len(prefix) :]: v for k, v in answers.items() if k.startswith(prefix)}


def _check_items(spec: FormSpec, answers: Mapping[str, Any]) -> dict[str, Any]:
    known = {i.id: i for i in spec.items}
    unknown = [k for k in answers if k not in known]
    if unknown:
        raise InputError(
            f"{spec.name}: unknown item {unknown[0]!r}; allowed items: {', '.join(known)}"
        )
    return {k: known[k].check(v, spec.name) for k, v in answers.items()}


def check_items(spec: FormSpec, answers: Mapping[str, Any]) -> dict[str, Any]:
    """Each answer checked against its item (InputError naming the item); unknown items are
    errors."""
    if not isinstance(answers, Mapping):
        raise InputError(f"{spec.name}: answers must be a mapping of item to value")
    return _check_items(spec, answers)


def missing(protocol: Protocol, spec: FormSpec, answers: Mapping[str, Any]) -> list[str]:
    """The required items ``answers`` leaves empty, in form order."""
    if spec.name == "end_of_study" and answers.get("status") not in (None, "completed"):
        spec = FormSpec(
            spec.name, spec.title, spec.kind, spec.items, required=("status", "on", "reason")
        )
    if spec.kind == "instrument":
        inst = instruments.get(spec.name, **protocol.conventions.options_for(spec.name))
        return missing_items(inst, answers)
    needed = set(spec.required or (i.id for i in spec.items))
    if spec.kind == "lab_panel":
        for var in spec.variables:
            inst = instruments.get(
                var.instrument, **protocol.conventions.options_for(var.instrument)
            )
            sub = missing_items(inst, _split(answers, var.name))
            needed |= {f"{var.name}{SEP}{i}" for i in sub}
    return [i.id for i in spec.items if i.id in needed and answers.get(i.id) is None]


def score(protocol: Protocol, spec: FormSpec, answers: Mapping[str, Any]) -> Scored:
    """Validate and score a form's answers; InputError naming the item when one is invalid."""
    if not isinstance(answers, Mapping):
        raise InputError(f"{spec.name}: answers must be a mapping of item to value")
    values: dict[str, float] = {}
    flags: dict[str, bool] | None = None
    if spec.kind == "instrument":
        scores = score_answers(protocol, spec.name, dict(answers))
        for var in protocol.variables:
            ours = var.instrument == spec.name and var.sample is None
            if ours and scores.get(var.result) is not None:
                values[var.name] = float(scores[var.result])
    else:
        checked = _check_items(spec, answers)
        scores = {}
        if spec.kind == "lab_panel":
            flags = {}
            for var in spec.variables:
                sub = _split(checked, var.name)
                if all(v is None for v in sub.values()):
                    continue
                result = score_answers(protocol, var.instrument, sub)
                value, flag = result.get(var.result), result.get("below_lloq")
                scores[var.name] = value
                if flag is not None:
                    scores[f"{var.name}_below_lloq"] = flag
                    flags[var.name] = bool(flag)
                if value is not None:
                    values[var.name] = float(value)
            flags = {k: v for k, v in flags.items() if k in values} or None
    return Scored(scores, values, flags, missing(protocol, spec, answers))


def result_label(protocol: Protocol, spec: FormSpec, key: str) -> str:
    """A score's label for people: ``PCS_mean`` -> "PCS (mean)"; else the protocol variable's
    label when one holds the result (``vas`` -> "EQ-VAS", ``il8_below_lloq`` -> "IL-8 below
    LLOQ"); else the key in words."""
    head, _, tail = key.partition("_")
    if head.isupper() and tail:
        return f"{head} ({tail.replace('_', ' ')})"
    for var in protocol.variables:
        if spec.kind == "instrument" and var.instrument == spec.name and var.result == key:
            return var.label
        if spec.kind == "lab_panel" and key == var.name:
            return var.label
        if spec.kind == "lab_panel" and key == f"{var.name}_below_lloq":
            return f"{var.label} below LLOQ"
    return _humanize(key)


def shown(value: Any) -> str:
    """A stored value as people read it: yes/no, "missing", numbers without noise."""
    if value is None:
        return "missing"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
