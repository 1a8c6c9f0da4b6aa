"""The wording of the data-entry forms in the user's language: form titles, item labels, units,
response options, allowed values, range errors, score labels and the built-in protocols' own
wording (visit, arm and characteristic labels, eligibility criteria).

That wording is defined as data in English (the instrument items, the forms
:mod:`frailtrial.edc.collection` derives from the protocol, the protocol files), so it cannot be
marked in place; each string is looked up in the gettext catalog under the context ``"form"``
(the English msgids are listed in :mod:`frailtrial.web.form_words` so ``makemessages`` keeps
them). A string with no entry -- a user protocol's own wording, as its sponsor wrote it -- is
shown as written. Stored values stay codes; only what people read is translated.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from django.utils import translation
from django.utils.functional import lazy
from django.utils.translation import gettext, pgettext

from frailtrial.edc import collection
from frailtrial.instruments.base import TEXT_MAX, Item
from frailtrial.protocol import Protocol

CONTEXT = "form"
_CACHE: dict[tuple[int, str], tuple[collection.FormSpec, collection.FormSpec]] = {}


def word(text: str) -> str:
    """A label of a form or of a built-in protocol in the active language (as written when the
    catalog has no entry)."""
    return pgettext(CONTEXT, text) if text else text


def listing(words: Sequence[str]) -> str:
    """Words joined as a list is written in the active language ("a, b" / "a、b")."""
    return pgettext("list separator", ", ").join(words)


def option(code: str) -> str:
    """A stored response code (``lost_to_follow_up``) as people read it; the code in words
    ("lost to follow up") when the catalog has no word for it."""
    said = pgettext("form option", code)
    return code.replace("_", " ") if said == code else said


def _code(code: str) -> str:
    """A response code as an allowed value: its word, or the code itself (what is typed in
    the API and the CLI) when the catalog has none."""
    return pgettext("form option", code)


option_lazy = lazy(option, str)
""":func:`option` evaluated when shown (for choices declared at import)."""


def allowed(item: Item) -> str:
    """What an item takes, in the active language (:meth:`Item.allowed` in English)."""
    if item.kind == "time":
        return gettext("a clock time HH:MM")
    if item.kind == "text":
        return gettext("text of up to %(n)s characters") % {"n": TEXT_MAX}
    if item.kind == "date":
        return gettext("a date YYYY-MM-DD")
    if item.kind == "boolean":
        return gettext("true or false")
    if item.kind == "choice":
        return gettext("one of %(values)s") % {"values": listing([_code(c) for c in item.choices])}
    low, high = item.minimum, item.maximum
    ranges = {
        "integer": (
            gettext("an integer"),
            gettext("an integer from %(low)s to %(high)s"),
            gettext("an integer >= %(low)s"),
            gettext("an integer <= %(high)s"),
        ),
        "number": (
            gettext("a number"),
            gettext("a number from %(low)s to %(high)s"),
            gettext("a number >= %(low)s"),
            gettext("a number <= %(high)s"),
        ),
    }[item.kind]
    bounds = {"low": _fmt(low), "high": _fmt(high)}
    if low is not None and high is not None:
        return ranges[1] % bounds
    if low is not None:
        return ranges[2] % bounds
    if high is not None:
        return ranges[3] % bounds
    return ranges[0]


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else str(x)


def unit(text: str | None) -> str | None:
    """A unit in the active language ("years" -> "岁"; "kg" stays)."""
    return word(text) if text else text


def form(spec: collection.FormSpec) -> collection.FormSpec:
    """The form with its title, item labels and units in the active language (item ids,
    kinds, ranges and response codes unchanged, so answers check and score as before)."""
    key = (id(spec), translation.get_language() or "en")
    held = _CACHE.get(key)
    if held is not None and held[0] is spec:
        return held[1]
    if len(_CACHE) >= 512:
        _CACHE.clear()
    labs = {v.name: v for v in spec.variables}
    items = tuple(
        dataclasses.replace(i, label=_item_label(i, labs), unit=unit(i.unit)) for i in spec.items
    )
    done = dataclasses.replace(spec, title=_title(spec), items=items)
    _CACHE[key] = (spec, done)
    return done


def _title(spec: collection.FormSpec) -> str:
    if spec.kind == "lab_panel":
        labs = listing([word(v.label) for v in spec.variables])
        return gettext("Laboratory: %(labs)s") % {"labs": labs}
    return word(spec.title)


def _item_label(item: Item, labs: dict[str, Any]) -> str:
    var_name, sep, _ = item.id.partition(collection.SEP)
    var = labs.get(var_name) if sep else None
    if var is None or not item.label.startswith(f"{var.label}: "):
        return word(item.label)
    own = item.label[len(var.label) + 2 :]
    return gettext("%(lab)s: %(item)s") % {"lab": word(var.label), "item": word(own)}


def forms_at(protocol: Protocol, visit: str) -> list[collection.FormSpec]:
    """:func:`collection.forms_at`, worded in the active language."""
    return [form(f) for f in collection.forms_at(protocol, visit)]


def form_at(protocol: Protocol, visit: str, name: str) -> collection.FormSpec:
    """:func:`collection.form_at`, worded in the active language."""
    return form(collection.form_at(protocol, visit, name))


def log_forms() -> list[collection.FormSpec]:
    """The participant logs, worded in the active language."""
    return [form(f) for f in collection.LOG_FORMS.values()]


def shown(value: Any, item: Item | None = None) -> str:
    """A stored answer or score as people read it: yes/no, "missing", a choice's word."""
    if value is None:
        return gettext("missing")
    if value is True:
        return gettext("yes")
    if value is False:
        return gettext("no")
    if isinstance(value, str) and (item is None or item.kind == "choice"):
        return option(value)
    return collection.shown(value)


def answers(spec: collection.FormSpec, stored: dict[str, Any]) -> list[tuple[str, str]]:
    """A record's answers as (label, value) in the active language (``spec`` worded)."""
    items = {i.id: i for i in spec.items}
    return [
        (items[k].label if k in items else k, shown(v, items.get(k, _TYPED)))
        for k, v in stored.items()
    ]


_TYPED = Item("", "", kind="text")  # an answer no item of the form names: shown as stored


def result_label(protocol: Protocol, spec: collection.FormSpec, key: str) -> str:
    """:func:`collection.result_label` in the active language."""
    head, _, tail = key.partition("_")
    if head.isupper() and tail:
        return f"{head} ({word(tail.replace('_', ' '))})"
    for var in protocol.variables if spec.kind == "lab_panel" else ():
        if key == f"{var.name}_below_lloq":
            return gettext("%(lab)s below LLOQ") % {"lab": word(var.label)}
    return word(collection.result_label(protocol, spec, key))  # a variable's label, or words


def visit_labels(protocol: Protocol) -> dict[str, str]:
    """Each visit's label in the active language, by visit name."""
    return {v.name: word(v.label) for v in protocol.visits}
