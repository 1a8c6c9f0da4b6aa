"""Instrument options in one place: the allowed values of each choice option, the protocol
conventions that set them, and the checks of values given as Python values or as strings
(from a command line).

The instruments' factories annotate their options with the types below and check them with
:func:`option_choice`; ``frailtrial score`` reads the annotations; the protocol model's
``conventions`` use the same types and :data:`CONVENTIONS` says which option of which
instrument each convention sets (:func:`convention_options`). Each check returns the typed
value or raises InputError naming the instrument, the option, the value and what is allowed.
Nothing heavy is imported here: the protocol model loads it at start-up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

from frailtrial.errors import InputError

# the allowed values of each choice option, by instrument
CfsVersion = Literal["2.0", "csha"]
Eq5d5lValueSet = Literal["CN", "UK", "US"]
Eq5d3lValueSet = Literal["CN", "UK"]
FriedCriteria = Literal["chs", "awgs2019", "jchs"]
GripHand = Literal["dominant", "either"]
EgfrUnit = Literal["mg/dL", "umol/L"]
LloqSubstitution = Literal["lloq", "lloq/2", "lloq/sqrt2", "missing", "zero"]
Sf36Version = Literal["v1", "v2"]
Sf36Norms = Literal["us1990", "us1998"]
Sf36Scoring = Literal["sf36", "rand36"]
WalkTrials = Literal["fastest", "mean"]


@dataclass(frozen=True)
class Convention:
    """A field of a protocol's ``conventions:`` that sets one option of one instrument."""

    instrument: str
    option: str


CONVENTIONS: dict[str, Convention] = {
    "sf36_version": Convention("sf36", "version"),
    "sf36_norms": Convention("sf36", "norms"),
    "eq5d_value_set": Convention("eq5d5l", "value_set"),
    "fried_criteria": Convention("fried", "criteria"),
    "cytokine_below_lloq": Convention("cytokine", "substitution"),
}
"""Protocol convention -> the instrument option it sets (the protocol model's fields carry
the option's type above)."""


def convention_options(conventions: Any, instrument: str) -> dict[str, Any]:
    """The options a protocol's ``conventions`` (an object with the fields of
    :data:`CONVENTIONS`) give ``instrument``, as keyword arguments of its factory."""
    return {
        c.option: getattr(conventions, field)
        for field, c in CONVENTIONS.items()
        if c.instrument == instrument
    }


_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


def option_bool(instrument: str, name: str, value: Any) -> bool:
    """``value`` as a bool; accepts true/false, yes/no, 1/0 as strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise InputError(
        f"{instrument}: option {name}={value!r} is not allowed; expected true or false"
    )


def option_number(
    instrument: str, name: str, value: Any, low: float, high: float, *, integer: bool = False
) -> float:
    """``value`` as a finite number in [low, high] (an integer when ``integer``)."""
    word = "an integer" if integer else "a number"
    bad = InputError(
        f"{instrument}: option {name}={value!r} is not allowed; expected {word} from "
        f"{low:g} to {high:g}"
    )
    if isinstance(value, bool):
        raise bad
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise bad from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad
    if not low <= value <= high or (integer and float(value) != int(value)):
        raise bad
    return int(value) if integer else float(value)


def option_choice(instrument: str, name: str, value: Any, allowed: Any) -> Any:
    """``value`` if it is one of the values of the Literal type ``allowed`` (returned as Any so
    it fits a field of that type)."""
    choices = get_args(allowed)
    if value not in choices:
        raise InputError(
            f"{instrument}: option {name}={value!r} is not allowed; expected one of "
            + ", ".join(choices)
        )
    return value
