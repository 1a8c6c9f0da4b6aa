"""What every instrument shares: item schema, validation of answers, and the registry.

An instrument declares its items as data (:class:`Item`), so the simulator, the EDC forms and
the CLI read ranges from one place, and implements ``score`` with its own missing-item rule.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import importlib
import math
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from frailtrial.errors import InputError

ItemKind = Literal["integer", "number", "time", "choice", "boolean", "text", "date"]
TEXT_MAX = 500  # characters of a free-text item
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Item:
    """One answer an instrument takes: id as printed on the form, type, allowed values, unit."""

    id: str
    label: str
    kind: ItemKind = "integer"
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    unit: str | None = None
    required: bool = False

    def allowed(self) -> str:
        """Human-readable description of the allowed values, for error messages and help."""
        if self.kind == "time":
            return "a clock time HH:MM"
        if self.kind == "text":
            return f"text of up to {TEXT_MAX} characters"
        if self.kind == "date":
            return "a date YYYY-MM-DD"
        if self.kind == "boolean":
            return "true or false"
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        word = "an integer" if self.kind == "integer" else "a number"
        if self.minimum is not None and self.maximum is not None:
            return f"{word} from {_fmt(self.minimum)} to {_fmt(self.maximum)}"
        if self.minimum is not None:
            return f"{word} >= {_fmt(self.minimum)}"
        if self.maximum is not None:
            return f"{word} <= {_fmt(self.maximum)}"
        return word

    def check(self, value: Any, instrument: str) -> Any:
        """Return the value if allowed (None stays None); raise InputError naming item and value."""
        if value is None:
            if self.required:
                raise InputError(f"{instrument}: item {self.id!r} is required ({self.allowed()})")
            return None
        if not self._accepts(value):
            raise InputError(
                f"{instrument}: item {self.id!r} = {value!r} is not allowed; "
                f"expected {self.allowed()}"
            )
        if self.kind == "integer":
            return int(value)
        return float(value) if self.kind == "number" else value

    def _accepts(self, value: Any) -> bool:
        """Whether a non-missing value is allowed (the message is built only on rejection)."""
        if self.kind == "time":
            return isinstance(value, str) and _TIME.match(value) is not None
        if self.kind == "text":
            return isinstance(value, str) and 0 < len(value.strip()) <= TEXT_MAX
        if self.kind == "date":
            return isinstance(value, str) and _is_date(value)
        if self.kind == "boolean":
            return isinstance(value, bool)
        if self.kind == "choice":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.kind == "integer" and float(value) != int(value):
            return False
        return (self.minimum is None or value >= self.minimum) and (
            self.maximum is None or value <= self.maximum
        )


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def missing_items(instrument: Instrument, answers: Mapping[str, Any]) -> list[str]:
    """The items a complete form of ``instrument`` needs that ``answers`` leaves empty, in
    form order. An instrument states its own rule with ``required_items(answers)`` (e.g. a
    timed test needs its time unless "unable" is ticked); without one every item is needed."""
    rule = getattr(instrument, "required_items", None)
    needed = set(rule(answers)) if rule is not None else {i.id for i in instrument.items}
    return [i.id for i in instrument.items if i.id in needed and answers.get(i.id) is None]


def validate_answers(
    instrument: str, items: Sequence[Item], answers: Mapping[str, Any]
) -> dict[str, Any]:
    """Check every answer against the schema; unknown items are errors, absent ones are None."""
    known = {item.id: item for item in items}
    unknown = [k for k in answers if k not in known]
    if unknown:
        raise InputError(
            f"{instrument}: unknown item {unknown[0]!r}; allowed items: " + ", ".join(known)
        )
    return {item.id: item.check(answers.get(item.id), instrument) for item in items}


@runtime_checkable
class Instrument(Protocol):
    """An instrument: a name, its items, and a scoring function with its missing-item rule."""

    name: str
    title: str

    @property
    def items(self) -> Sequence[Item]: ...

    def score(self, answers: Mapping[str, Any]) -> Any: ...


@dataclass
class Registry:
    """Instruments by name. Each name maps to ``"module:attribute"`` under
    ``frailtrial.instruments``, imported the first time the name is asked for, so scoring one
    instrument loads only its module (numpy and pydantic only for those that use them)."""

    _where: dict[str, str]
    _factories: dict[str, Callable[..., Instrument]] = field(default_factory=dict)

    def names(self) -> list[str]:
        return sorted(self._where)

    def factory(self, name: str) -> Callable[..., Instrument]:
        """The callable registered under ``name``; its keyword parameters are its options."""
        if name not in self._factories:
            if name not in self._where:
                raise InputError(f"unknown instrument {name!r}; known: {', '.join(self.names())}")
            module, _, attribute = self._where[name].partition(":")
            loaded = importlib.import_module(f"frailtrial.instruments.{module}")
            self._factories[name] = getattr(loaded, attribute)
        return self._factories[name]

    def get(self, name: str, **options: Any) -> Instrument:
        return self.factory(name)(**options)


class FlatResult:
    """Base of the dataclass results: ``as_dict`` is the flat JSON form, every field under its
    own name."""

    def as_dict(self) -> dict[str, Any]:
        return result_as_dict(self)


def result_as_dict(result: Any) -> dict[str, Any]:
    """A score result as a flat dict under its published key names (dataclass or pydantic)."""
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    from pydantic import BaseModel  # only the pydantic-based instruments' results need it

    if isinstance(result, BaseModel):
        dumped: dict[str, Any] = result.model_dump(mode="json", by_alias=True)
        return dumped
    raise TypeError(
        f"an instrument result must be a dataclass or a pydantic model, not {type(result).__name__}"
    )


def _result_types(instrument: Instrument) -> dict[str, Any]:
    """Each result key with its declared type, read from the type ``score`` returns."""
    return _result_types_of(type(instrument))


@functools.cache
def _result_types_of(cls: type[Instrument]) -> dict[str, Any]:
    """The result types of an instrument class, read once (annotations do not change)."""
    rtype = typing.get_type_hints(cls.score)["return"]
    if dataclasses.is_dataclass(rtype):
        hints = typing.get_type_hints(rtype)
        return {f.name: hints[f.name] for f in dataclasses.fields(rtype)}
    return {f.alias or name: f.annotation for name, f in rtype.model_fields.items()}


def result_keys(instrument: Instrument) -> list[str]:
    """The keys ``result_as_dict`` gives for this instrument's results, read from its type."""
    return list(_result_types(instrument))


def numeric_result_keys(instrument: Instrument) -> list[str]:
    """The results that are numbers (int, float or a yes/no flag): the ones a protocol
    variable can hold, since a measurement is a number."""
    numeric = {int, float, bool, type(None)}
    return [
        key
        for key, hint in _result_types(instrument).items()
        if set(typing.get_args(hint) or (hint,)) <= numeric
    ]


SCORE_KEYS: tuple[str, ...] = ("score", "total", "value")
"""Result names that hold an instrument's overall score, in order of preference."""


def score_key(instrument: Instrument) -> str | None:
    """The result that is the instrument's overall score (what an eligibility range judges),
    or None when it has none."""
    keys = result_keys(instrument)
    return next((k for k in SCORE_KEYS if k in keys), None)


def result_range(instrument: Instrument, key: str) -> tuple[float | None, float | None]:
    """Valid range of one result: the instrument's own ``result_ranges`` entry, else the
    range of the item it passes through (same id), else unbounded."""
    declared: Mapping[str, tuple[float | None, float | None]] = getattr(
        instrument, "result_ranges", {}
    )
    if key in declared:
        return declared[key]
    for item in instrument.items:
        if item.id == key:
            return item.minimum, item.maximum
    return None, None
